"""A faithful fake Rocket.Chat server for tests.

`FakeRocketChat` holds the server's state (users, tokens, 2FA, rooms, messages, settings,
clock, outbox, request log, faults) and serves it as an ASGI app (`fake.asgi_app`), in-process
through `httpx.ASGITransport` or on a loopback port with `serve(fake)`. The behaviour follows
rocketchat-server-behaviour.md; defaults are a production server's.
"""

from __future__ import annotations

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
