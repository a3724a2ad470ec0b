"""A well-formed plugin with settings, two jobs and hooks."""

from __future__ import annotations

from pydantic import BaseModel

from botkit._context import Context
from botkit._plugin import Plugin


class Settings(BaseModel):
    room: str = "general"
    greeting: str = "Good morning"


plugin = Plugin("hello", version="1.0", description="Greets the team", settings=Settings)


@plugin.job(cron="0 9 * * mon-fri", misfire_grace="10m")
async def morning(ctx: Context[Settings]) -> None:
    await ctx.chat.post(ctx.settings.room, ctx.settings.greeting)


@plugin.job(interval="5m", timeout="30s", jitter="10s")
def poll(ctx: Context[Settings]) -> None:
    """A sync job: runs in a worker thread."""


@plugin.on_start
async def started(ctx: Context[Settings]) -> None:
    await ctx.store.set("started", True)
