"""A faithful fake Rocket.Chat server for tests.

`FakeRocketChat` holds the server's state (users, tokens, 2FA, rooms, messages, settings,
clock, outbox, request log, faults) and serves it as an ASGI app (`fake.asgi_app`), in-process
through `httpx.ASGITransport` or on a loopback port with `serve(fake)`. The behaviour follows
rocketchat-server-behaviour.md; defaults are a production server's.

Names are imported on first use: the pytest plugin lives in this package and loads in every
pytest run, so importing the package must not pull in starlette or uvicorn (the optional
`testing` extra).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botkit.testing._app import DroppedConnection
    from botkit.testing._clock import Clock
    from botkit.testing._fake import GENERAL_ROOM_ID, FakeRocketChat
    from botkit.testing._faults import Fault, Faults
    from botkit.testing._model import (
        LoginToken,
        OutboxEmail,
        RequestLogEntry,
        Room,
        Subscription,
        User,
    )
    from botkit.testing._server import RunningServer, serve
    from botkit.testing._twofactor import fingerprint

__all__ = [
    "GENERAL_ROOM_ID",
    "Clock",
    "DroppedConnection",
    "FakeRocketChat",
    "Fault",
    "Faults",
    "LoginToken",
    "OutboxEmail",
    "RequestLogEntry",
    "Room",
    "RunningServer",
    "Subscription",
    "User",
    "fingerprint",
    "serve",
]

_WHERE = {
    "GENERAL_ROOM_ID": "_fake",
    "Clock": "_clock",
    "DroppedConnection": "_app",
    "FakeRocketChat": "_fake",
    "Fault": "_faults",
    "Faults": "_faults",
    "LoginToken": "_model",
    "OutboxEmail": "_model",
    "RequestLogEntry": "_model",
    "Room": "_model",
    "RunningServer": "_server",
    "Subscription": "_model",
    "User": "_model",
    "fingerprint": "_twofactor",
    "serve": "_server",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'botkit.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"botkit.testing.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
