"""pytest fixtures for testing against the fake Rocket.Chat server.

Registered through the `pytest11` entry point, so it loads in every pytest run of an
environment where botkit is installed: it imports nothing heavy at import time (starlette and
uvicorn are the optional `testing` extra) and only builds a server when a fixture is used.

Fixtures:
- `rocketchat_fake`: a fresh `FakeRocketChat` served on a loopback port; the value is a
  `RunningServer` (`.fake` for state and control, `.url` for clients).
- `bot_user`: a `BotUser` on that server (roles `user` and `bot`) with a PAT already created.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from botkit.testing._server import RunningServer

__all__ = ["BotUser", "bot_user", "rocketchat_fake", "run_job"]


@dataclass(frozen=True)
class BotUser:
    """A bot account on the fake, with the plaintext of its PAT (test data only)."""

    url: str
    user_id: str
    username: str
    password: str
    token_name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """REST authentication headers for this bot (§1.1)."""
        return {"X-User-Id": self.user_id, "X-Auth-Token": self.token}

    def __repr__(self) -> str:  # the token never shows in test output
        return f"BotUser(username={self.username!r}, user_id={self.user_id!r}, url={self.url!r})"


@pytest.fixture
def rocketchat_fake() -> Iterator[RunningServer]:
    """A fresh fake Rocket.Chat (production defaults) listening on 127.0.0.1, any free port."""
    from botkit.testing import FakeRocketChat, serve

    with serve(FakeRocketChat()) as server:
        yield server


@pytest.fixture
def bot_user(rocketchat_fake: RunningServer) -> BotUser:
    """User `bot` (roles `user`, `bot`; no 2FA method enabled) with the PAT `botkit-test`."""
    fake = rocketchat_fake.fake
    password = "bot-password"
    user = fake.add_user("bot", password, name="Bot", roles=["user", "bot"])
    token = fake.create_pat(user, "botkit-test")
    return BotUser(
        url=rocketchat_fake.url,
        user_id=user.id,
        username=user.username,
        password=password,
        token_name="botkit-test",
        token=token,
    )


async def run_job(
    server: RunningServer, bot: BotUser, plugin: str, job: str, **options: Any
) -> Any:
    """Run one plugin job once against `server` as `bot` and return its result.

    To be completed when the plugin runtime lands: build settings for `server.url` with
    `bot.user_id`/`bot.token` as the env-injected credentials, load `plugin`, run `job`.
    """
    raise NotImplementedError("run_job needs the plugin runtime (botkit plugins)")
