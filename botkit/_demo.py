"""`botkit demo`: the whole life cycle against the embedded fake Rocket.Chat, on loopback.

Starts the fake with a demo user who has TOTP, bootstraps with the demo secret (no
prompt), runs the daemon with the example plugins on fast schedules, lets the daemon
rotate its own token midway, then prints what happened and verifies the audit chain.
Needs no configuration and writes only to a temporary folder.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import pathlib
import secrets
import tempfile
import typing

import click

from botkit._audit import read as read_audit
from botkit._audit import verify as verify_audit
from botkit._bootstrap import bootstrap_with_password
from botkit._config import load_settings
from botkit._daemon import Daemon
from botkit._logging import configure_logging
from botkit._services import open_audit, open_session, token_services
from botkit._state import AUDIT_FILE, STATE_DB
from botkit._storage import StateDB
from botkit.errors import BotkitError, ConfigError

if typing.TYPE_CHECKING:
    from botkit.testing import FakeRocketChat

__all__ = ["DemoReport", "find_example_plugins", "print_report", "run_demo"]

DEMO_USER = "demo-bot"
ADMIN_USER = "alice"


def find_example_plugins() -> pathlib.Path | None:
    """The `plugins/` folder shipped beside the botkit package (a source checkout)."""
    candidates = [
        pathlib.Path(__file__).resolve().parent.parent / "plugins",
        pathlib.Path.cwd() / "plugins",
    ]
    return next((p for p in candidates if (p / "reminders.py").is_file()), None)


class _Scripted:
    """Answers bootstrap's one question (the password) without a human."""

    def __init__(self, password: str) -> None:
        self._password = password

    async def ask(self, question: str, *, secret: bool) -> str:
        return self._password

    def say(self, text: str) -> None:
        click.echo(f"  {text}", err=True)


@dataclasses.dataclass
class DemoReport:
    """What the demo saw, for the summary and for tests."""

    messages: dict[str, list[str]]
    first_token: str
    rotations: list[tuple[str, str]]
    job_outcomes: dict[str, collections.Counter[str]]
    audit_records: int
    audit_ok: bool
    audit_reason: str | None
    server_tokens: list[str]

    @property
    def ok(self) -> bool:
        """The life cycle completed: messages, a rotation, one token, an intact chain."""
        return (
            self.audit_ok and bool(self.rotations) and len(self.server_tokens) == 1
            and any(self.messages.values())
        )


def _config_text(url: str, state: pathlib.Path, plugins: pathlib.Path, totp: str,
                 seconds: float) -> str:
    # One rotation, a little past the middle of the run.
    rotate_after = max(2.0, round(seconds * 0.55, 1))
    return f"""
[server]
url = "{url}"
timeout = "10s"

[auth]
username = "{DEMO_USER}"
totp_secret = "{totp}"

[tokens]
rotate_after = "{rotate_after}s"
warn_before = "1s"
check_interval = "1s"
audit_interval = "1h"

[scheduler]
shutdown_timeout = "5s"

[state]
dir = "{state}"

[logging]
level = "INFO"

[plugins]
paths = ["{plugins}"]

[plugins.reminders]
reminders = [
  {{ every = "2s", room = "#general", text = "Stand-up in 10 minutes" }},
  {{ every = "5s", room = "@{ADMIN_USER}", text = "Remember to approve the release" }},
]
[plugins.reminders.schedule]
tick = {{ interval = "1s" }}

[plugins.token_report]
admin = "{ADMIN_USER}"
max_age = "30d"
[plugins.token_report.schedule]
weekly = {{ interval = "7s" }}

[plugins.channel_digest]
channels = ["general"]
report_room = "#general"
[plugins.channel_digest.schedule]
daily = {{ interval = "6s" }}
"""


def _seed(fake: FakeRocketChat, password: str, totp: str) -> None:
    """A demo bot with TOTP, an admin, and a little chatter for the channel digest."""
    fake.add_user(DEMO_USER, password, name="Demo Bot", totp_secret=totp,
                  email="demo-bot@example.org", roles=["user", "bot"])
    alice = fake.add_user(ADMIN_USER, secrets.token_urlsafe(12), name="Alice",
                          roles=["user", "admin"])
    bob = fake.add_user("bob", secrets.token_urlsafe(12), name="Bob")
    from botkit.testing import GENERAL_ROOM_ID

    for user, text in [(alice, "Morning all"), (bob, "Deploy is green"),
                       (alice, "Release at 4pm"), (bob, "ack"), (alice, "Thanks!")]:
        fake.add_message(GENERAL_ROOM_ID, user, text)


def _collect_messages(fake: FakeRocketChat) -> dict[str, list[str]]:
    bot = fake.find_user(DEMO_USER)
    posted: dict[str, list[str]] = collections.defaultdict(list)
    for room in fake.rooms.values():
        for message in fake.room_messages(room.id):
            if bot is not None and message.get("u", {}).get("_id") == bot.id:
                label = f"#{room.name}" if room.name else f"@{ADMIN_USER}"
                posted[label].append(str(message.get("msg", "")))
    return dict(posted)


async def _job_outcomes(state: pathlib.Path) -> dict[str, collections.Counter[str]]:
    outcomes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    async with StateDB(state / STATE_DB) as db:
        for run in await db.recent_runs(limit=10_000):
            outcomes[run.job][run.outcome] += 1
    return dict(outcomes)


async def _run(fake: FakeRocketChat, url: str, home: pathlib.Path, plugins: pathlib.Path,
               seconds: float | None) -> DemoReport:
    password = secrets.token_urlsafe(16)
    totp = "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(32))
    _seed(fake, password, totp)
    config = home / "botkit.toml"
    config.write_text(_config_text(url, home / "state", plugins, totp, seconds or 20.0))
    settings = load_settings(config)
    configure_logging(settings.logging)

    click.echo(f"1. bootstrap: log in as {DEMO_USER} (TOTP answered from the demo secret)")
    audit = open_audit(settings)
    async with open_session(settings, audit=audit) as session:
        result = await bootstrap_with_password(
            token_services(settings, session, audit), _Scripted(password)
        )
    click.echo(f"   stored token {result.token_name} (...{result.last_chars})")

    length = "until Ctrl-C" if seconds is None else f"for {seconds:g} seconds"
    click.echo(f"2. daemon: running the example plugins {length}; it rotates its token "
               f"when the token is {settings.tokens.rotate_after.total_seconds():g}s old")
    daemon = Daemon(settings)
    timer: asyncio.TimerHandle | None = None
    if seconds is not None:
        timer = asyncio.get_running_loop().call_later(seconds, daemon.request_stop)
    try:
        await daemon.run()
    finally:
        if timer is not None:
            timer.cancel()

    log = settings.state.dir / AUDIT_FILE
    records = read_audit(log, since=None, event=None)
    rotations = [
        (str(r["details"].get("old_token")), str(r["details"].get("token")))
        for r in records if r["event"] == "rotation.completed"
    ]
    verdict = verify_audit(log)
    bot = fake.find_user(DEMO_USER)
    return DemoReport(
        messages=_collect_messages(fake),
        first_token=result.token_name,
        rotations=rotations,
        job_outcomes=await _job_outcomes(settings.state.dir),
        audit_records=verdict.records,
        audit_ok=verdict.ok,
        audit_reason=verdict.reason,
        server_tokens=[str(t.name) for t in bot.pats()] if bot is not None else [],
    )


def print_report(report: DemoReport) -> None:
    """The summary the demo ends with."""
    total = sum(len(texts) for texts in report.messages.values())
    click.echo("\n3. what happened")
    click.echo(f"   messages posted: {total}")
    for room, texts in sorted(report.messages.items()):
        first = texts[0].splitlines()[0]
        click.echo(f"     {room}: {len(texts)} (first: {first!r})")
    if report.rotations:
        for old, new in report.rotations:
            click.echo(f"   rotation: {old} -> {new} (by the daemon, no prompt)")
    else:
        click.echo("   rotation: none happened")
    for job, counts in sorted(report.job_outcomes.items()):
        shown = ", ".join(f"{outcome} x{n}" for outcome, n in sorted(counts.items()))
        click.echo(f"   job {job}: {shown}")
    click.echo(f"   tokens on the server now: {', '.join(report.server_tokens) or 'none'}")
    if report.audit_ok:
        click.echo(f"   audit verify: OK ({report.audit_records} records, chain intact)")
    else:
        click.echo(f"   audit verify: FAILED ({report.audit_reason})")


def run_demo(seconds: float | None, plugins: pathlib.Path | None) -> DemoReport:
    """Run the demo in a temporary folder; returns what happened."""
    try:
        from botkit.testing import FakeRocketChat, serve
    except ImportError:
        raise ConfigError(
            "botkit demo needs the fake server, which is in the testing extra",
            hint="pip install 'botkit[testing]'",
        ) from None
    folder = plugins or find_example_plugins()
    if folder is None:
        raise ConfigError(
            "the example plugins were not found",
            hint="run botkit demo from a botkit checkout, or pass --plugins PATH",
        )
    fake = FakeRocketChat()
    with tempfile.TemporaryDirectory(prefix="botkit-demo-") as tmp, serve(fake) as server:
        click.echo(f"0. fake Rocket.Chat listening at {server.url}")
        report = asyncio.run(_run(fake, server.url, pathlib.Path(tmp), folder, seconds))
    print_report(report)
    if not report.ok:
        raise BotkitError("the demo did not complete its life cycle (see above)")
    return report

