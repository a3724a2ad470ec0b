"""pytest fixtures for testing against the fake Rocket.Chat server.

Registered through the `pytest11` entry point, so it loads in every pytest run of an
environment where botkit is installed: it imports nothing heavy at import time (starlette and
uvicorn are the optional `testing` extra) and only builds a server when a fixture is used.

Fixtures:
- `rocketchat_fake`: a fresh `FakeRocketChat` served on a loopback port; the value is a
  `RunningServer` (`.fake` for state and control, `.url` for clients).
- `bot_user`: a `BotUser` on that server (roles `user` and `bot`) with a PAT already created.
- `run_job`: a `JobRunner`: `await run_job(plugin, "tick", settings={...})` runs one job
  of a plugin once against that server, as that bot, and returns its `RunResult`.
"""

from __future__ import annotations

import datetime
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from botkit._plugin import Plugin
    from botkit._scheduler import RunResult
    from botkit.testing._server import RunningServer

__all__ = ["BotUser", "JobRunner", "bot_user", "rocketchat_fake", "run_job"]


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


@dataclass
class JobRunner:
    """Runs one plugin job once against the fake, as the bot, like `botkit jobs run`.

    The plugin's store lives in a state database under the test's tmp_path, so that a
    second run sees what the first one stored. Audit events the job wrote are kept in
    `audit_events` as (event, details).
    """

    server: RunningServer
    bot: BotUser
    state_dir: pathlib.Path
    audit_events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def __call__(
        self,
        plugin: Plugin,
        job: str,
        *,
        settings: dict[str, Any] | None = None,
        scheduled_time: datetime.datetime | None = None,
        check: bool = True,
    ) -> RunResult:
        """Run `<plugin>.<job>` once; raises JobError if it fails (unless `check=False`)."""
        from pydantic import SecretStr

        from botkit._chat import Chat
        from botkit._config import SchedulerConfig
        from botkit._context import ContextFactory
        from botkit._loader import LoadedPlugin
        from botkit._scheduler import Scheduler
        from botkit._session import Credentials, Session
        from botkit._storage import StateDB

        async def audit(event: str, details: dict[str, Any]) -> None:
            self.audit_events.append((event, details))

        loaded = LoadedPlugin(plugin.name, plugin, "test",
                              settings=plugin.validate_settings(settings or {}))
        credentials = Credentials(self.bot.user_id, SecretStr(self.bot.token), self.bot.token_name)
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        async with (
            Session(base_url=self.server.url, credentials=credentials) as session,
            StateDB(self.state_dir / "state.db") as db,
        ):
            factory = ContextFactory(db=db, rest=session, chat=Chat(session), audit=audit,
                                     rest_for_plugin=session.for_plugin)
            scheduler = Scheduler(SchedulerConfig(), db, factory)
            scheduler.add_plugin_jobs([loaded])
            return await scheduler.run_now(
                f"{plugin.name}.{job}", check=check, scheduled_time=scheduled_time
            )


@pytest.fixture
def run_job(
    rocketchat_fake: RunningServer, bot_user: BotUser, tmp_path: pathlib.Path
) -> JobRunner:
    """`await run_job(plugin, "job_name", settings={...})` against the fake, as `bot_user`."""
    return JobRunner(rocketchat_fake, bot_user, tmp_path / "botkit-state")
