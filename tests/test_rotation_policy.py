"""The daemon's rotation policy (design section 4), and what `whoami`/`status` say of it.

`RotationPolicy.check` runs in-process against the fake (through an ASGI transport) with
an injected clock: the token's age is whatever the test says, nothing sleeps. The pieces
are built as the daemon builds them: a Session, the FileTokenStore, the AuditLog and the
StateDB in one state directory.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import pathlib
import typing
from collections.abc import AsyncIterator, Iterator

import pyotp
import pytest
from click.testing import CliRunner
from loguru import logger
from pydantic import SecretStr

from botkit._audit import AuditLog
from botkit._cli import cli as botkit_cli
from botkit._config import Settings
from botkit._daemon import RotationPolicy, token_audit_job
from botkit._http import httpx
from botkit._services import TokenServices
from botkit._session import Credentials, Session
from botkit._state import AUDIT_FILE, STATE_DB
from botkit._storage import StateDB
from botkit._tokens import FileTokenStore, TokenRecord, TokenSlot, open_token_store
from botkit._twofactor import SecondFactorProvider, TotpProvider
from botkit.testing import FakeRocketChat, RunningServer, User, serve

URL = "http://rocketchat.test"
OLD = "botkit-20261001T090000Z"
T0 = datetime.datetime(2026, 10, 1, 9, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


@dataclasses.dataclass
class World:
    """The fake, the bot and the daemon's pieces, with a clock the test moves."""

    fake: FakeRocketChat
    bot: User
    admin: User
    state: pathlib.Path
    settings: Settings
    session: Session
    store: FileTokenStore
    audit: AuditLog
    db: StateDB
    warnings: list[str]
    now: datetime.datetime = T0

    def clock(self) -> datetime.datetime:
        return self.now

    def policy(self, provider: SecondFactorProvider | None = None) -> RotationPolicy:
        services = TokenServices(self.settings, self.session, self.store, self.audit)
        return RotationPolicy(services, provider, self.db, self.clock)

    def events(self, name: str) -> list[dict[str, typing.Any]]:
        return self.audit.read(event=name)

    def dms(self) -> list[str]:
        room = self.fake.create_dm([self.bot, self.admin])
        return [m["msg"] for m in self.fake.room_messages(room)]

    def generated(self) -> int:
        return sum(e.route == "users.generatePersonalAccessToken" for e in self.fake.request_log)


def _settings(state: pathlib.Path, **tokens: typing.Any) -> Settings:
    return Settings(server={"url": URL}, state={"dir": state},
                    tokens={"admin_user": "alice", **tokens})


@pytest.fixture
def totp_secret() -> str:
    return pyotp.random_base32()


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    seen: list[str] = []
    sink = logger.add(lambda m: seen.append(str(m.record["message"])), level="WARNING")
    yield seen
    logger.remove(sink)


async def _world(
    tmp_path: pathlib.Path, warnings: list[str], totp_secret: str, *, bypass: bool = False
) -> tuple[World, typing.Callable[[], typing.Awaitable[None]]]:
    fake = FakeRocketChat()
    # Roles user and bot: may create tokens, and no rate limit.
    bot = fake.add_user("bot", "pw", totp_secret=totp_secret, roles=["user", "bot"])
    admin = fake.add_user("alice", "pw")
    secret = fake.create_pat(bot, OLD, bypass_two_factor=bypass)
    state = tmp_path / "state"
    settings = _settings(state, bypass_two_factor=bypass)
    store = open_token_store(settings)
    store.save(TokenRecord(server_url=URL, user_id=bot.id, username="bot", current=TokenSlot(
        name=OLD, secret=SecretStr(secret), created_at=T0, bypass_two_factor=bypass)))
    transport = httpx.ASGITransport(app=fake.asgi_app, client=("127.0.0.1", 50000))
    audit = AuditLog(state / AUDIT_FILE, actor="daemon")
    session = Session(base_url=URL, credentials=Credentials(bot.id, SecretStr(secret), OLD),
                      audit=audit.sink(), transport=transport)
    db = StateDB(state / STATE_DB)
    await db.open()
    world = World(fake, bot, admin, state, settings, session, store, audit, db, warnings)

    async def close() -> None:
        await db.close()
        await session.aclose()

    return world, close


@pytest.fixture
async def world(
    tmp_path: pathlib.Path, warnings: list[str], totp_secret: str
) -> AsyncIterator[World]:
    made, close = await _world(tmp_path, warnings, totp_secret)
    yield made
    await close()


@pytest.fixture
async def bypass_world(
    tmp_path: pathlib.Path, warnings: list[str], totp_secret: str
) -> AsyncIterator[World]:
    made, close = await _world(tmp_path, warnings, totp_secret, bypass=True)
    yield made
    await close()


def _totp(world: World, secret: str) -> TotpProvider:
    return TotpProvider(SecretStr(secret), clock=world.fake.clock.timestamp)


# --- not due ---------------------------------------------------------------------------------


async def test_not_due_does_nothing(world: World, totp_secret: str) -> None:
    world.now = T0 + 26 * DAY  # rotate_after 30d, warn_before 3d: four days to go
    for provider in (None, _totp(world, totp_secret)):
        await world.policy(provider).check()
    assert world.generated() == 0
    assert world.store.load().current.name == OLD  # type: ignore[union-attr]
    assert world.audit.read() == []
    assert world.warnings == [] and world.dms() == []


async def test_within_warn_before_but_unattended_waits_silently(
    world: World, totp_secret: str
) -> None:
    world.now = T0 + 29 * DAY
    await world.policy(_totp(world, totp_secret)).check()
    assert world.generated() == 0 and world.warnings == [] and world.audit.read() == []


# --- due and unattended ----------------------------------------------------------------------


async def test_due_with_a_totp_secret_rotates(world: World, totp_secret: str) -> None:
    world.now = T0 + 30 * DAY
    await world.policy(_totp(world, totp_secret)).check()
    record = world.store.load()
    assert record is not None and record.current is not None
    new = record.current.name
    assert new == "botkit-20261031T090000Z"  # named by the injected clock
    assert record.pending is None and record.previous is None
    assert [t.name for t in world.bot.pats()] == [new]
    assert world.session.credentials is not None and world.session.credentials.name == new
    assert await world.session.get("me")  # the live session uses the new token
    assert [e["details"]["token"] for e in world.events("rotation.completed")] == [new]
    assert world.events("rotation.failed") == [] and world.dms() == []


async def test_due_with_a_bypass_token_and_no_provider_rotates(bypass_world: World) -> None:
    world = bypass_world
    world.now = T0 + 31 * DAY
    await world.policy(None).check()
    record = world.store.load()
    assert record is not None and record.current is not None
    assert record.current.name != OLD and record.current.bypass_two_factor
    assert [t.name for t in world.bot.pats()] == [record.current.name]
    assert not any(e.two_factor_headers for e in world.fake.request_log)
    assert len(world.events("rotation.completed")) == 1


# --- no unattended way: warn -----------------------------------------------------------------


async def test_within_warn_before_warns_once_a_day(world: World) -> None:
    world.now = T0 + 28 * DAY  # due in 2 days
    for hour in range(3):  # the hourly check, three times on one day
        world.now = T0 + 28 * DAY + datetime.timedelta(hours=hour)
        await world.policy(None).check()
    assert world.generated() == 0
    assert world.store.load().current.name == OLD  # type: ignore[union-attr]
    assert len(world.warnings) == 3
    assert f"rotation of token {OLD} is due in 2d" in world.warnings[0]
    assert "cannot rotate it unattended" in world.warnings[0]
    assert "botkit token rotate" in world.warnings[0]
    failed = world.events("rotation.failed")
    assert [(r["actor"], r["details"]["token"], r["details"]["reason"],
             r["details"]["overdue"]) for r in failed] == [
        ("daemon", OLD, "needs a human for 2FA", False)]
    assert world.dms() == [world.warnings[0]]

    # The state database remembers: a restarted daemon (a new policy object on a freshly
    # opened database) does not repeat today's reminder.
    await world.db.close()
    world.db = StateDB(world.state / STATE_DB)
    await world.db.open()
    world.now = T0 + 28 * DAY + datetime.timedelta(hours=5)
    await world.policy(None).check()
    assert len(world.events("rotation.failed")) == 1 and len(world.dms()) == 1

    world.now = T0 + 29 * DAY  # the next day: one more reminder
    await world.policy(None).check()
    assert len(world.events("rotation.failed")) == 2
    assert world.dms()[-1].endswith("(or set [auth] totp_secret)")
    assert "is due in 1d" in world.dms()[-1]
    assert world.audit.verify().ok


async def test_overdue_without_a_way_says_overdue(world: World) -> None:
    world.now = T0 + 32 * DAY
    await world.policy(None).check()
    assert world.generated() == 0
    assert len(world.warnings) == 1
    assert f"rotation of token {OLD} is overdue by 2d" in world.warnings[0]
    failed = world.events("rotation.failed")
    assert len(failed) == 1 and failed[0]["details"]["overdue"] is True
    assert failed[0]["details"]["due_in_seconds"] == -2 * 86400
    assert world.dms() == [world.warnings[0]]


async def test_a_failed_reminder_does_not_fail_the_check(world: World) -> None:
    world.settings = _settings(world.state, admin_user="nobody")  # no such user
    world.now = T0 + 28 * DAY
    await world.policy(None).check()
    assert len(world.events("rotation.failed")) == 1
    assert any("cannot send the rotation reminder to @nobody" in w for w in world.warnings)


async def test_without_admin_user_only_logs_and_audits(world: World) -> None:
    world.settings = _settings(world.state, admin_user=None)
    world.now = T0 + 28 * DAY
    await world.policy(None).check()
    assert len(world.events("rotation.failed")) == 1 and world.dms() == []
    assert not any(e.route == "im.create" for e in world.fake.request_log)


# --- the daemon's token audit job ------------------------------------------------------------


async def test_token_audit_job_logs_and_audits_the_findings(world: World) -> None:
    world.fake.create_pat(world.bot, "ci-deploy")
    # A token this install asked for (its audit log says so) but never stored: an orphan.
    await world.audit.record("token.requested", token="botkit-20200101T000000Z")
    world.fake.create_pat(world.bot, "botkit-20200101T000000Z")
    await token_audit_job(TokenServices(world.settings, world.session, world.store, world.audit),
                          lambda: datetime.datetime.now(datetime.UTC) + 31 * DAY)
    assert {w.split(":")[1].strip() for w in world.warnings} == {
        "unknown", "orphaned", "stale"}
    [record] = world.events("audit.findings")
    assert record["actor"] == "daemon"
    assert record["details"]["kinds"] == ["orphaned", "stale", "unknown"]
    assert record["details"]["count"] == 5  # three stale tokens, one unknown, one orphan
    assert len(world.bot.pats()) == 3  # the daemon's audit only reports


# --- whoami and status -----------------------------------------------------------------------


@pytest.fixture
def running() -> Iterator[RunningServer]:
    with serve(FakeRocketChat()) as server:
        yield server


def _cli_home(
    tmp_path: pathlib.Path, server: RunningServer, *, age: datetime.timedelta,
    bypass: bool = False, extra: str = "",
) -> pathlib.Path:
    """A config and a token file whose current token is `age` old by the real clock."""
    user = server.fake.add_user("bot", "pw", roles=["user", "bot"])
    name = "botkit-20261001T090000Z"
    secret = server.fake.create_pat(user, name, bypass_two_factor=bypass)
    state = tmp_path / "state"
    FileTokenStore(state).save(TokenRecord(
        server_url=server.url, user_id=user.id, username="bot", current=TokenSlot(
            name=name, secret=SecretStr(secret),
            created_at=datetime.datetime.now(datetime.UTC) - age, bypass_two_factor=bypass)))
    config = tmp_path / "botkit.toml"
    config.write_text(
        f'[server]\nurl = "{server.url}"\n[state]\ndir = "{state}"\n'
        f'[plugins]\npaths = ["{tmp_path / "plugins"}"]\n{extra}', encoding="utf-8")
    return config


def _run(config: pathlib.Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(botkit_cli, [*args, "--config", str(config)], env=env)
    assert result.exit_code == 0, result.output
    return result.output


HUMAN = ("botkit cannot rotate unattended (no TOTP secret, token not bypass-2FA): "
         "run `botkit token rotate`")


def test_whoami_and_status_say_a_human_must_rotate_within_warn_before(
    tmp_path: pathlib.Path, running: RunningServer
) -> None:
    config = _cli_home(tmp_path, running, age=28 * DAY)  # due in 2 days, warn_before 3d
    whoami = _run(config, "whoami")
    rotation = next(line for line in whoami.splitlines() if line.startswith("rotation:"))
    assert rotation.startswith("rotation: due in 1d23h")
    assert rotation.endswith(HUMAN)
    report = json.loads(_run(config, "whoami", "--json"))
    assert report["rotation_unattended"] is False and report["needs_human"] is True
    assert "a human must run `botkit token rotate`" in _run(config, "status")
    assert json.loads(_run(config, "status", "--json"))["token"]["needs_human"] is True


def test_whoami_overdue_without_a_way_says_so(
    tmp_path: pathlib.Path, running: RunningServer
) -> None:
    config = _cli_home(tmp_path, running, age=32 * DAY)
    rotation = next(line for line in _run(config, "whoami").splitlines()
                    if line.startswith("rotation:"))
    assert rotation.startswith("rotation: overdue by 2d")
    assert rotation.endswith(HUMAN)
    assert "rotation: overdue: run `botkit token rotate`" in _run(config, "status")


def test_whoami_outside_warn_before_needs_nobody_yet(
    tmp_path: pathlib.Path, running: RunningServer
) -> None:
    config = _cli_home(tmp_path, running, age=10 * DAY)
    whoami = _run(config, "whoami")
    assert "rotation: due in 19d23h" in whoami
    assert "cannot rotate unattended" not in whoami
    assert json.loads(_run(config, "whoami", "--json"))["needs_human"] is False


@pytest.mark.parametrize("way", ["totp", "bypass"])
def test_whoami_within_warn_before_with_an_unattended_way(
    tmp_path: pathlib.Path, running: RunningServer, way: str
) -> None:
    config = _cli_home(tmp_path, running, age=28 * DAY, bypass=way == "bypass")
    env = {"BOTKIT_AUTH__TOTP_SECRET": pyotp.random_base32()} if way == "totp" else None
    whoami = _run(config, "whoami", env=env)
    assert "rotation: due in 1d23h" in whoami and "(the daemon rotates it unattended)" in whoami
    assert "cannot rotate unattended" not in whoami
    status = _run(config, "status", env=env)
    assert "(unattended)" in status and "a human must" not in status
