"""Fixtures for the fake Rocket.Chat server's own tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from botkit.testing import FakeRocketChat, User

#: A fixed instant the fake clock starts at in these tests.
T0 = datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC)
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def fake() -> FakeRocketChat:
    server = FakeRocketChat()
    server.clock.freeze(T0)
    return server


@pytest.fixture
async def client(fake: FakeRocketChat) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fake.asgi_app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://fake", headers={"User-Agent": "botkit-test/1"}
    ) as http:
        yield http


def auth(user: User, token: str, **extra: str) -> dict[str, str]:
    return {"X-User-Id": user.id, "X-Auth-Token": token, **extra}


def totp_now(fake: FakeRocketChat, secret: str = TOTP_SECRET, offset_steps: int = 0) -> str:
    import pyotp

    return str(pyotp.TOTP(secret).at(int(fake.clock.timestamp()) + 30 * offset_steps))


def rl_headers(response: httpx.Response) -> dict[str, Any]:
    return {k: v for k, v in response.headers.items() if k.startswith("x-ratelimit")}
