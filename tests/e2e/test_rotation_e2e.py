"""Rotation end to end, including a crash at every step boundary (SIGKILL) and recovery.

After any crash and a restart (`botkit token reconcile`, what the daemon does at start),
there is exactly one botkit token on the server, it is the one in the store's current
slot, it works, and the audit chain verifies.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pyotp
import pytest

from botkit.testing import RunningServer, User

from .conftest import TIMEOUT, Cli, wait_for

PASSWORD = "rotation test password"


def _bootstrap_totp(cli: Cli, server: RunningServer) -> tuple[User, str]:
    secret = pyotp.random_base32()
    user = server.fake.add_user("bot", PASSWORD, totp_secret=secret)
    cli.write_config('\n[tokens]\nname_prefix = "botkit"\n', username="bot")
    result = cli.run("bootstrap", input=f"{PASSWORD}\n{pyotp.TOTP(secret).now()}\n")
    assert result.returncode == 0, result.stderr
    return user, secret


def _current(cli: Cli) -> dict[str, str]:
    record = json.loads((cli.state / "token.json").read_text())
    return dict(record["slots"]["current"])


def _assert_settled(cli: Cli, server: RunningServer, user: User, env: dict[str, str]) -> str:
    """Exactly one botkit token on the server, the stored current one, working; chain OK."""
    current = _current(cli)
    record = json.loads((cli.state / "token.json").read_text())
    assert record["slots"]["pending"] is None and record["slots"]["previous"] is None
    assert [t.name for t in user.pats()] == [current["name"]]
    whoami = cli.run("whoami", env=env)
    assert whoami.returncode == 0, whoami.stderr
    verify = cli.run("audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    return current["name"]


def test_rotation_with_totp_secret_needs_no_prompt(cli: Cli, server: RunningServer) -> None:
    user, secret = _bootstrap_totp(cli, server)
    env = {"BOTKIT_AUTH__TOTP_SECRET": secret}
    before = _current(cli)["name"]
    server.fake.clock.advance(2)  # a new name: names are per second
    result = cli.run("token", "rotate", env=env)
    assert result.returncode == 0, result.stderr
    after = _assert_settled(cli, server, user, env)
    assert after != before
    assert f"rotated: {before} -> {after}" in result.stdout
    # One 2FA answer served the whole rotation: the removal rode the trusted window.
    removals = [e for e in server.fake.request_log
                if e.route == "users.removePersonalAccessToken"]
    assert len(removals) == 1 and not removals[0].two_factor_headers
    assert removals[0].token_name == before
    events = [json.loads(line)["event"] for line in (cli.state / "audit.jsonl").open()]
    tail = events[events.index("rotation.started"):]
    assert tail == ["rotation.started", "2fa.challenge", "token.created", "token.verified",
                    "token.promoted", "token.removed", "rotation.completed"]


def test_rotation_with_a_bypass_token(cli: Cli, server: RunningServer) -> None:
    user = server.fake.add_user("bot", PASSWORD, totp_secret=pyotp.random_base32())
    token = server.fake.create_pat(user, "botkit-20200101T000000Z", bypass_two_factor=True)
    assert cli.run("bootstrap", "--token", input=f"{user.id}\n{token}\n").returncode == 0
    cli.write_config("\n[tokens]\nbypass_two_factor = true\n")
    result = cli.run("token", "rotate")
    assert result.returncode == 0, result.stderr
    name = _assert_settled(cli, server, user, {})
    assert user.find_pat(name) is not None and user.find_pat(name).bypass_two_factor  # type: ignore[union-attr]
    assert not any(e.two_factor_headers for e in server.fake.request_log)


def test_rotation_for_an_email_user_answers_on_stdin(cli: Cli, server: RunningServer) -> None:
    user = server.fake.add_user("bot", PASSWORD, email="bot@example.org", email2fa=True)
    token = server.fake.create_pat(user, "botkit-20200101T000000Z")
    assert cli.run("bootstrap", "--token", input=f"{user.id}\n{token}\n").returncode == 0
    process = cli.start("token", "rotate")
    assert process.stdin is not None
    mail = wait_for(lambda: server.fake.outbox)
    process.stdin.write(f"{mail[0].code}\n")
    process.stdin.flush()
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err
    assert len(server.fake.outbox) == 1  # the removal used the trusted window: no 2nd mail
    _assert_settled(cli, server, user, {})
    assert mail[0].code not in out + err


def test_failing_audit_write_stops_rotation_before_the_server_changes(
    cli: Cli, server: RunningServer
) -> None:
    user, secret = _bootstrap_totp(cli, server)
    before = [t.name for t in user.pats()]
    log = cli.state / "audit.jsonl"
    log.rename(cli.state / "audit.moved")
    log.mkdir()  # the audit log can no longer be appended to
    result = cli.run("token", "rotate", env={"BOTKIT_AUTH__TOTP_SECRET": secret})
    assert result.returncode == 1
    assert "audit log" in result.stderr
    assert [t.name for t in user.pats()] == before
    assert not any(e.route == "users.generatePersonalAccessToken"
                   for e in server.fake.request_log if e.token_name in before)


# Kills the process at one step boundary of `botkit token rotate`.
_CRASH_DRIVER = r"""
import os, signal, sys
from botkit import _audit, _tokens
from botkit._cli import main

step = os.environ["CRASH_AT"]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

original_record = _audit.AuditLog.record
async def record(self, event, **details):
    if step == "before:" + event:
        die()
    result = await original_record(self, event, **details)
    if step == "after:" + event:
        die()
    return result
_audit.AuditLog.record = record

for name in ("with_pending", "clear_previous"):
    original = getattr(_tokens.TokenRecord, name)
    def wrapped(self, *args, _name=name, _original=original):
        if step == "in:" + _name:
            die()
        return _original(self, *args)
    setattr(_tokens.TokenRecord, name, wrapped)

sys.argv = ["botkit", "token", "rotate", "--config", sys.argv[1]]
main()
"""

STEPS = [
    "after:rotation.started",      # intent written, nothing created yet
    "in:with_pending",             # the server created the token, the store does not know it
    "after:token.created",         # stored as pending, not verified
    "after:token.verified",        # verified, not promoted
    "after:token.promoted",        # promoted (old is previous), old not removed
    "after:token.removed",         # removal recorded, not sent
    "in:clear_previous",           # old removed on the server, previous not cleared
    "before:rotation.completed",   # everything done but the last record
]


@pytest.mark.parametrize("step", STEPS)
def test_crash_at_every_step_boundary(cli: Cli, server: RunningServer, step: str) -> None:
    user, secret = _bootstrap_totp(cli, server)
    env = {"BOTKIT_AUTH__TOTP_SECRET": secret}
    server.fake.clock.advance(2)
    crashed = subprocess.run(
        [sys.executable, "-c", _CRASH_DRIVER, str(cli.config)], capture_output=True,
        text=True, timeout=TIMEOUT, env={**cli.env, **env, "CRASH_AT": step}, cwd=cli.home,
        check=False,
    )
    assert crashed.returncode == -9, crashed.stderr
    assert len(user.pats()) >= 1
    again = cli.run("token", "reconcile", env=env)
    assert again.returncode == 0, again.stderr
    _assert_settled(cli, server, user, env)
    # And the next rotation works from the reconciled state.
    server.fake.clock.advance(2)
    assert cli.run("token", "rotate", env=env).returncode == 0
    _assert_settled(cli, server, user, env)


def test_dropped_connection_after_the_server_created_the_token(
    cli: Cli, server: RunningServer
) -> None:
    user, secret = _bootstrap_totp(cli, server)
    env = {"BOTKIT_AUTH__TOTP_SECRET": secret}
    before = _current(cli)["name"]
    server.fake.clock.advance(2)
    server.fake.faults.drop_after_commit("users.generatePersonalAccessToken")
    failed = cli.run("token", "rotate", env=env)
    assert failed.returncode == 4
    assert len(user.pats()) == 2  # the server made it; botkit never saw it
    again = cli.run("token", "reconcile", env=env)
    assert again.returncode == 0, again.stderr
    assert "removed orphan" in again.stdout
    assert _assert_settled(cli, server, user, env) == before


def test_a_user_with_both_methods_can_switch_to_an_emailed_code(
    cli: Cli, server: RunningServer
) -> None:
    """No TOTP secret configured, authenticator out of reach: typing `email` at the TOTP
    prompt mails a code, and the answer is sent with `x-2fa-method: email`."""
    user = server.fake.add_user("bot", PASSWORD, totp_secret=pyotp.random_base32(),
                                email="bot@example.org", email2fa=True)
    token = server.fake.create_pat(user, "botkit-20200101T000000Z")
    assert cli.run("bootstrap", "--token", input=f"{user.id}\n{token}\n").returncode == 0
    process = cli.start("token", "rotate")
    assert process.stdin is not None
    process.stdin.write("email\n")
    process.stdin.flush()
    mail = wait_for(lambda: server.fake.outbox)
    process.stdin.write(f"{mail[0].code}\n")
    process.stdin.flush()
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err
    assert len(server.fake.outbox) == 1
    assert mail[0].code not in out + err
    _assert_settled(cli, server, user, {})
