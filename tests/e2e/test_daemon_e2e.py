"""`botkit run` end to end: a real daemon subprocess against the fake on loopback."""

from __future__ import annotations

import asyncio
import datetime
import json
import signal
import subprocess
import textwrap

import pytest

from botkit._state import STATE_DB
from botkit._storage import StateDB
from botkit.testing import GENERAL_ROOM_ID, RunningServer, User

from .conftest import TIMEOUT, Cli, wait_for

PASSWORD = "daemon test password"

GOOD_PLUGIN = '''
from botkit import Context, Plugin

plugin = Plugin("ticker", version="1.0")

@plugin.job(interval="0.2s")
async def tick(ctx: Context[None]) -> None:
    count = await ctx.store.update("ticks", lambda n: n + 1, 0)
    await ctx.chat.post("#general", f"tick {count}")
'''

BAD_PLUGINS = {
    "raiser.py": '''
from botkit import Plugin
plugin = Plugin("raiser")

@plugin.job(interval="0.2s")
async def boom(ctx) -> None:
    raise RuntimeError("this job always fails")
''',
    "hanger.py": '''
import asyncio
from botkit import Plugin
plugin = Plugin("hanger")

@plugin.job(interval="0.3s", timeout="0.1s")
async def hang(ctx) -> None:
    await asyncio.sleep(3600)
''',
    "broken.py": "import no_such_module_anywhere\n",
}

SLOW_PLUGIN = '''
import asyncio, pathlib
from botkit import Context, Plugin

plugin = Plugin("slow")

@plugin.job(interval="0.5s", max_instances=1)
async def work(ctx: Context[None]) -> None:
    pathlib.Path(__file__).with_name("started").write_text("yes")
    await asyncio.sleep(1.5)
    await ctx.chat.post("#general", "drained")
'''

def _bootstrap(cli: Cli, server: RunningServer) -> User:
    user = server.fake.add_user("bot", PASSWORD, roles=["user", "bot"])
    result = cli.run("bootstrap", input=f"{PASSWORD}\n")
    assert result.returncode == 0, result.stderr
    return user

def _texts(server: RunningServer) -> list[str]:
    return [str(m["msg"]) for m in server.fake.room_messages(GENERAL_ROOM_ID)]

def _stop(cli: Cli, process: subprocess.Popen[str]) -> str:
    """SIGTERM, wait for the exit, and return the daemon's log."""
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=TIMEOUT)
    return cli.log

def test_jobs_fire_and_failures_stay_isolated(cli: Cli, server: RunningServer) -> None:
    _bootstrap(cli, server)
    (cli.home / "plugins" / "ticker.py").write_text(GOOD_PLUGIN)
    for name, code in BAD_PLUGINS.items():
        (cli.home / "plugins" / name).write_text(code)
    daemon = cli.start("run", log=True)
    try:
        wait_for(lambda: sum(t.startswith("tick") for t in _texts(server)) >= 4)
        status = cli.run("status", "--json")
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert report["daemon"]["running"] is True
        outcomes = {job["name"]: job["last_outcome"] for job in report["jobs"]}
        wait_for(lambda: _outcome(cli, "hanger.hang") == "timeout")
        assert outcomes["raiser.boom"] == "error"
        assert "botkit.rotation" in outcomes and "botkit.token_audit" in outcomes
    finally:
        err = _stop(cli, daemon)
    assert daemon.returncode == 0, err
    ticks = [t for t in _texts(server) if t.startswith("tick")]
    assert ticks == [f"tick {n}" for n in range(1, len(ticks) + 1)]  # none lost, none twice
    assert "plugin broken disabled" in err
    assert "RuntimeError: this job always fails" in err
    plugins = json.loads(cli.run("plugins", "list", "--json").stdout)
    broken = next(p for p in plugins if p["name"] == "broken")
    assert broken["enabled"] is False and "no_such_module_anywhere" in broken["reason"]
    events = [json.loads(line)["event"] for line in (cli.state / "audit.jsonl").open()]
    assert events[-1] == "daemon.stopped" and "daemon.started" in events
    assert cli.run("status").stdout.startswith("daemon:   not running")

def _outcome(cli: Cli, job: str) -> str | None:
    jobs = json.loads(cli.run("jobs", "list", "--json").stdout)
    return next(j["last_outcome"] for j in jobs if j["name"] == job)

def test_sigterm_drains_a_running_job(cli: Cli, server: RunningServer) -> None:
    _bootstrap(cli, server)
    (cli.home / "plugins" / "slow.py").write_text(SLOW_PLUGIN)
    daemon = cli.start("run", log=True)
    wait_for(lambda: (cli.home / "plugins" / "started").exists())
    err = _stop(cli, daemon)
    assert daemon.returncode == 0, err
    assert _texts(server).count("drained") == 1
    assert "waiting up to" in err

def test_second_signal_cancels_at_once(cli: Cli, server: RunningServer) -> None:
    _bootstrap(cli, server)
    (cli.home / "plugins" / "slow.py").write_text(SLOW_PLUGIN.replace("1.5", "60"))
    daemon = cli.start("run", log=True)
    wait_for(lambda: (cli.home / "plugins" / "started").exists())
    daemon.send_signal(signal.SIGTERM)
    wait_for(lambda: "waiting up to" in cli.log)
    daemon.send_signal(signal.SIGTERM)
    daemon.communicate(timeout=TIMEOUT)
    assert daemon.returncode == 0
    assert _outcome(cli, "slow.work") == "cancelled"

def _read_log(cli: Cli) -> str:
    path = cli.home / "daemon.log"
    return path.read_text() if path.exists() else ""

def test_revoked_token_stops_the_daemon_with_exit_3(cli: Cli, server: RunningServer) -> None:
    user = _bootstrap(cli, server)
    (cli.home / "plugins" / "ticker.py").write_text(GOOD_PLUGIN)
    daemon = cli.start("run", log=True)
    wait_for(lambda: any(t.startswith("tick") for t in _texts(server)))
    user.login_tokens.clear()  # an admin revoked every token of the bot
    daemon.communicate(timeout=TIMEOUT)
    err = cli.log
    assert daemon.returncode == 3, err
    assert err.strip().splitlines()[-1].startswith("botkit: error: the server rejected")
    rejected = [e for e in server.fake.request_log if e.status == 401]
    assert 1 <= len(rejected) <= 3  # stops instead of hammering the server
    events = [json.loads(line)["event"] for line in (cli.state / "audit.jsonl").open()]
    assert "token.rejected" in events and events[-1] == "daemon.stopped"

def test_missing_token_is_exit_3_with_a_hint(cli: Cli) -> None:
    result = cli.run("run")
    assert result.returncode == 3
    assert "run `botkit bootstrap`" in result.stderr

CRON_PLUGIN = '''
from botkit import Context, Plugin

plugin = Plugin("daily", version="1.0")

@plugin.job(cron="{cron}", misfire_grace="{grace}")
async def report(ctx: Context[None]) -> None:
    await ctx.chat.post("#general", "daily report")
'''

@pytest.mark.parametrize(("grace", "runs"), [("1h", 1), ("1m", 0)])
def test_restart_runs_a_missed_job_once_within_grace(
    cli: Cli, server: RunningServer, grace: str, runs: int
) -> None:
    """The daemon was down when the daily job was due 10 minutes ago."""
    _bootstrap(cli, server)
    now = datetime.datetime.now(datetime.UTC).replace(second=0, microsecond=0)
    due = now - datetime.timedelta(minutes=10)
    cron = f"{due.minute} {due.hour} * * *"
    (cli.home / "plugins" / "daily.py").write_text(CRON_PLUGIN.format(cron=cron, grace=grace))

    async def seed() -> None:  # the last run the daemon saw was yesterday's
        async with StateDB(cli.state / STATE_DB) as db:
            yesterday = due - datetime.timedelta(days=1)
            await db.record_run("daily.report", yesterday, yesterday, yesterday, "ok", None)

    asyncio.run(seed())
    daemon = cli.start("run", log=True)
    wait_for(lambda: _outcome(cli, "daily.report") in ("ok", "missed")
             and _outcome_time(cli) >= due)
    _stop(cli, daemon)
    assert _texts(server).count("daily report") == runs
    assert _outcome(cli, "daily.report") == ("ok" if runs else "missed")

def _outcome_time(cli: Cli) -> datetime.datetime:
    jobs = json.loads(cli.run("jobs", "list", "--json").stdout)
    job = next(j for j in jobs if j["name"] == "daily.report")
    return datetime.datetime.fromisoformat(job["last_run_at"])

README_CHECK = textwrap.dedent("placeholder")


def test_jobs_run_once_now_and_jobs_list(cli: Cli, server: RunningServer) -> None:
    _bootstrap(cli, server)
    (cli.home / "plugins" / "ticker.py").write_text(GOOD_PLUGIN)
    (cli.home / "plugins" / "raiser.py").write_text(BAD_PLUGINS["raiser.py"])
    ok = cli.run("jobs", "run", "ticker.tick")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ticker.tick: ok in ")
    assert _texts(server) == ["tick 1"]
    failed = cli.run("jobs", "run", "raiser.boom")
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1] == (
        "botkit: error: job raiser.boom error: RuntimeError: this job always fails"
    )
    unknown = cli.run("jobs", "run", "nope.nothing")
    assert unknown.returncode == 1 and "ticker.tick" in unknown.stderr  # names the known jobs
    listing = cli.run("jobs", "list")
    assert listing.returncode == 0
    rows = {line.split()[0]: line for line in listing.stdout.splitlines()[1:]}
    assert set(rows) == {"ticker.tick", "raiser.boom", "botkit.rotation", "botkit.token_audit"}
    assert " ok " in rows["ticker.tick"] and " error " in rows["raiser.boom"]
    plugins = cli.run("plugins", "list")
    assert "ticker               enabled" in plugins.stdout


def test_cli_rotation_while_the_daemon_runs_is_followed(cli: Cli, server: RunningServer) -> None:
    """`botkit token rotate` removes the token the daemon uses; the daemon must notice
    the store changed and carry on with the new token instead of stopping with exit 3."""
    import pyotp

    secret = pyotp.random_base32()
    server.fake.add_user("bot", PASSWORD, totp_secret=secret, roles=["user", "bot"])
    env = {"BOTKIT_AUTH__TOTP_SECRET": secret}
    assert cli.run("bootstrap", input=f"{PASSWORD}\n", env=env).returncode == 0
    (cli.home / "plugins" / "ticker.py").write_text(GOOD_PLUGIN)
    daemon = cli.start("run", log=True, env=env)
    wait_for(lambda: any(t.startswith("tick") for t in _texts(server)))
    server.fake.clock.advance(2)  # a new token name (names are per second)
    rotated = cli.run("token", "rotate", env=env)
    assert rotated.returncode == 0, rotated.stderr
    new_name = json.loads((cli.state / "token.json").read_text())["slots"]["current"]["name"]
    wait_for(lambda: any(e.token_name == new_name and e.route == "chat.sendMessage"
                         for e in server.fake.request_log))
    assert daemon.poll() is None, cli.log  # still running
    log = _stop(cli, daemon)
    assert daemon.returncode == 0, log
    assert f"now using token {new_name}" in log
