from pydantic import BaseModel

from botkit._plugin import Plugin


class Settings(BaseModel):
    room: str
    limit: int = 10


plugin = Plugin("strict", settings=Settings)
