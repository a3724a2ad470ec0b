"""`botkit token list` and `botkit token audit` end to end: the real CLI against the fake.

Each finding kind is set up through the fake's control API. Time: the CLI judges age with
its own real clock, while the server's `createdAt` comes from the fake's clock. A token is
made "old" by moving the fake's clock back while it is created (and forward again after):
its `createdAt` is then weeks before the real now however long a subprocess takes to
start. (`rotate_after = "1s"` would only work after a real second had passed: a sleep.)
"""

from __future__ import annotations

import datetime
import json
import typing

import pyotp
from pydantic import SecretStr

from botkit._tokens import FileTokenStore, TokenRecord, TokenSlot
from botkit.testing import RunningServer, User

from .conftest import Cli

PASSWORD = "inventory test password"
CURRENT = "botkit-20261101T090000Z"
ORPHAN = "botkit-20200101T000000Z"
DAY = 86400.0


class Bot(typing.NamedTuple):
    user: User
    totp_secret: str
    pat: str  # the stored current token

    @property
    def env(self) -> dict[str, str]:
        # The 2FA answer `--fix` needs to remove a token (the user has TOTP).
        return {"BOTKIT_AUTH__TOTP_SECRET": self.totp_secret}


def _store(cli: Cli, server: RunningServer, user: User, **slots: tuple[str, str]) -> None:
    """Write the token file the way bootstrap leaves it (slot -> (name, secret)).

    Written through the store itself rather than `botkit bootstrap`: this file tests the
    inventory, and the slots' dates then come from the server's own listing.
    """
    made: dict[str, TokenSlot] = {}
    for slot, (name, secret) in slots.items():
        pat = user.find_pat(name)
        created = pat.created_at if pat is not None and pat.created_at else (
            datetime.datetime.now(datetime.UTC))
        made[slot] = TokenSlot(name=name, secret=SecretStr(secret), created_at=created,
                               bypass_two_factor=bool(pat and pat.bypass_two_factor))
    FileTokenStore(cli.state).save(TokenRecord(
        server_url=server.url, user_id=user.id, username=user.username, **made,
    ))


def _bot(cli: Cli, server: RunningServer, *, age_days: float = 0, extra: str = "") -> Bot:
    """User `bot` (roles user and bot: no rate limit, may create tokens) with TOTP and one
    botkit token, stored as current; `age_days` back-dates the token on the server."""
    secret = pyotp.random_base32()
    user = server.fake.add_user("bot", PASSWORD, totp_secret=secret, roles=["user", "bot"])
    pat = _make(server, user, CURRENT, age_days=age_days)
    _store(cli, server, user, current=(CURRENT, pat))
    cli.write_config(extra)
    return Bot(user, secret, pat)


def _make(
    server: RunningServer, user: User, name: str, *, age_days: float = 0, bypass: bool = False
) -> str:
    """A PAT created on the server `age_days` ago (by the fake's clock)."""
    clock = server.fake.clock
    clock.advance(-age_days * DAY)
    try:
        return server.fake.create_pat(user, name, bypass_two_factor=bypass)
    finally:
        clock.advance(age_days * DAY)


def _orphan(cli: Cli, server: RunningServer, user: User, *, age_days: float = 0) -> str:
    """A token this install asked for, that the server made, that never reached the store:
    what a crash between `users.generatePersonalAccessToken` and saving leaves behind."""
    from botkit._audit import AuditLog

    AuditLog(cli.state / "audit.jsonl").record_sync("token.requested", token=ORPHAN)
    return _make(server, user, ORPHAN, age_days=age_days)


def _delete_on_server(server: RunningServer, user: User, name: str) -> None:
    with server.fake.lock:
        pat = user.find_pat(name)
        assert pat is not None
        user.login_tokens.remove(pat)


def _findings(cli: Cli, *args: str, env: dict[str, str] | None = None) -> tuple[
    int, dict[str, typing.Any]
]:
    result = cli.run("token", "audit", "--json", *args, env=env)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)  # the whole stdout: one document


def _kinds(document: dict[str, typing.Any]) -> set[tuple[str, str | None]]:
    return {(f["kind"], f["token"]) for f in document["findings"]}


def _audit_records(cli: Cli, event: str) -> list[dict[str, typing.Any]]:
    shown = cli.run("audit", "show", "--json", "--event", event)
    assert shown.returncode == 0, shown.stderr
    return typing.cast("list[dict[str, typing.Any]]", json.loads(shown.stdout))


def _chain_verifies(cli: Cli) -> None:
    verify = cli.run("audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _error_line(stderr: str) -> str:
    """The one `botkit: error:` line (warnings may come before it, never a traceback)."""
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("botkit: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


# --- a clean state ---------------------------------------------------------------------------


def test_only_botkits_current_token_is_no_finding(cli: Cli, server: RunningServer) -> None:
    _bot(cli, server)
    result = cli.run("token", "audit")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no findings: 1 token(s) checked" in result.stdout
    code, document = _findings(cli)
    assert code == 0 and document == {"findings": [], "fixed": []}
    records = _audit_records(cli, "audit.findings")
    assert [r["details"]["count"] for r in records] == [0, 0]  # one record per run
    _chain_verifies(cli)


# --- token list ------------------------------------------------------------------------------


def test_token_list_shows_server_tokens_beside_the_slots_and_no_secret(
    cli: Cli, server: RunningServer
) -> None:
    bot = _bot(cli, server)
    pending = _make(server, bot.user, "botkit-20261102T090000Z")
    previous = "previous token secret that the server no longer has"
    hand_made = _make(server, bot.user, "ci-deploy", bypass=True)
    _store(cli, server, bot.user, current=(CURRENT, bot.pat),
           pending=("botkit-20261102T090000Z", pending),
           previous=("botkit-20261001T090000Z", previous))

    listed = cli.run("token", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert {n: (r["slot"], r["on_server"], r["bypass_two_factor"]) for n, r in rows.items()} == {
        CURRENT: ("current", True, False),
        "botkit-20261102T090000Z": ("pending", True, False),
        "ci-deploy": (None, True, True),
        "botkit-20261001T090000Z": ("previous", False, False),
    }
    assert rows[CURRENT]["last_chars"] == bot.pat[-6:]
    assert rows["ci-deploy"]["botkit_named"] is False

    text = cli.run("token", "list")
    assert text.returncode == 0, text.stderr
    lines = {line.split()[0]: line.split() for line in text.stdout.splitlines()[1:]}
    assert lines[CURRENT][-3:] == ["yes", "current", "no"]
    assert lines["botkit-20261102T090000Z"][-3:] == ["yes", "pending", "no"]
    assert lines["botkit-20261001T090000Z"][-3:] == ["no", "previous", "no"]
    assert lines["ci-deploy"][-3:] == ["yes", "-", "yes"]

    stored = json.loads((cli.state / "token.json").read_text())["slots"]
    secrets = [stored[slot]["secret"] for slot in ("current", "pending", "previous")]
    assert secrets[0] == bot.pat
    for secret in [*secrets, hand_made]:
        for output in (listed.stdout, listed.stderr, text.stdout, text.stderr):
            assert secret not in output


# --- each finding ----------------------------------------------------------------------------


def test_each_finding_kind_is_reported_with_exit_1(cli: Cli, server: RunningServer) -> None:
    bot = _bot(cli, server, extra="[tokens]\nmax_tokens = 3\n")
    _make(server, bot.user, "ci-deploy")
    _orphan(cli, server, bot.user)
    _make(server, bot.user, "laptop-admin", bypass=True)

    code, document = _findings(cli)
    assert code == 1
    assert _kinds(document) == {
        ("unknown", "ci-deploy"),
        ("orphaned", ORPHAN),
        ("unknown", "laptop-admin"),
        ("bypass-2fa", "laptop-admin"),
        ("too-many", None),
    }
    assert [f["token"] for f in document["findings"] if f["fixable"]] == [ORPHAN]
    assert document["fixed"] == []

    text = cli.run("token", "audit")
    assert text.returncode == 1
    assert f"orphaned: {ORPHAN}" in text.stdout
    assert "unknown: ci-deploy" in text.stdout
    assert "bypass-2fa: laptop-admin bypasses 2FA" in text.stdout
    assert "too-many: 4 personal access tokens exist, more than max_tokens (3)" in text.stdout
    assert "no findings" not in text.stdout

    records = _audit_records(cli, "audit.findings")
    assert len(records) == 2
    assert records[-1]["details"]["count"] == 5
    assert records[-1]["details"]["kinds"] == [
        "bypass-2fa", "orphaned", "too-many", "unknown"]
    _chain_verifies(cli)


def test_a_token_older_than_rotate_after_is_stale(cli: Cli, server: RunningServer) -> None:
    _bot(cli, server, age_days=40)  # the default rotate_after is 30 days
    code, document = _findings(cli)
    assert code == 1
    assert _kinds(document) == {("stale", CURRENT)}
    assert "40 days old" in document["findings"][0]["message"]
    # rotate_after comes from the configuration.
    cli.write_config('[tokens]\nrotate_after = "60d"\n')
    code, document = _findings(cli)
    assert code == 0 and document["findings"] == []


def test_fix_removes_exactly_the_orphan(cli: Cli, server: RunningServer) -> None:
    bot = _bot(cli, server)
    _make(server, bot.user, "ci-deploy")
    _make(server, bot.user, "laptop-admin", bypass=True)
    _orphan(cli, server, bot.user, age_days=40)  # also stale: gone with the orphan

    result = cli.run("token", "audit", "--fix", env=bot.env)
    assert result.returncode == 1, result.stderr  # the unknown and bypass tokens remain
    assert f"removed orphan {ORPHAN}" in result.stdout
    assert ORPHAN not in result.stdout.replace(f"removed orphan {ORPHAN}", "")
    assert sorted(t.name for t in bot.user.pats()) == sorted(
        [CURRENT, "ci-deploy", "laptop-admin"])

    code, document = _findings(cli, "--fix", env=bot.env)
    assert code == 1 and document["fixed"] == []
    assert _kinds(document) == {
        ("unknown", "ci-deploy"), ("unknown", "laptop-admin"), ("bypass-2fa", "laptop-admin")}

    removed = _audit_records(cli, "token.removed")
    assert [r["details"]["token"] for r in removed] == [ORPHAN]
    findings = _audit_records(cli, "audit.findings")
    assert [r["details"]["fixed"] for r in findings] == [[ORPHAN], []]
    assert findings[0]["details"]["kinds"] == ["bypass-2fa", "unknown"]
    _chain_verifies(cli)


def test_fix_json_reports_the_removed_orphan(cli: Cli, server: RunningServer) -> None:
    bot = _bot(cli, server)
    _orphan(cli, server, bot.user)
    code, document = _findings(cli, "--fix", env=bot.env)
    assert code == 0
    assert document == {"findings": [], "fixed": [ORPHAN]}
    assert [t.name for t in bot.user.pats()] == [CURRENT]


def test_fix_for_a_user_without_2fa_confirms_with_the_password(
    cli: Cli, server: RunningServer
) -> None:
    """The server asks a user without 2FA for the password (as a digest) to remove a token."""
    user = server.fake.add_user("bot", PASSWORD, roles=["user", "bot"])
    pat = _make(server, user, CURRENT)
    _store(cli, server, user, current=(CURRENT, pat))
    _orphan(cli, server, user)
    result = cli.run("token", "audit", "--fix", input=f"{PASSWORD}\n")
    assert result.returncode == 0, result.stderr
    assert f"removed orphan {ORPHAN}" in result.stdout
    assert [t.name for t in user.pats()] == [CURRENT]
    assert PASSWORD not in result.stdout + result.stderr
    removal = [e for e in server.fake.request_log
               if e.route == "users.removePersonalAccessToken"]
    assert [bool(e.two_factor_headers) for e in removal] == [False, True]  # challenge, answer
    _chain_verifies(cli)


# --- the stored token is gone on the server --------------------------------------------------


def test_current_token_missing_on_the_server_is_exit_3(cli: Cli, server: RunningServer) -> None:
    """Listing needs the current token itself: a 401 is the current-missing finding.

    Both commands end with exit 3 (an authentication problem) and one error line that
    names the token and says what to do; `token audit` still records the finding.
    """
    bot = _bot(cli, server)
    _make(server, bot.user, "ci-deploy")
    _delete_on_server(server, bot.user, CURRENT)

    for args in (("list",), ("list", "--json"), ("audit",), ("audit", "--json")):
        result = cli.run("token", *args)
        assert result.returncode == 3, (args, result.stdout, result.stderr)
        assert result.stdout == ""
        line = _error_line(result.stderr)
        assert CURRENT in line and bot.pat[-6:] in line
        assert "no longer exists on the server" in line
        assert "botkit bootstrap" in line
        assert bot.pat not in result.stderr

    records = _audit_records(cli, "audit.findings")
    assert [(r["details"]["count"], r["details"]["kinds"]) for r in records] == [
        (1, ["current-missing"]), (1, ["current-missing"])]
    _chain_verifies(cli)


def test_a_botkit_named_token_of_another_install_is_never_removed(
    cli: Cli, server: RunningServer
) -> None:
    """Same user, same prefix, another machine: its tokens are not this install's orphans."""
    bot = _bot(cli, server)
    _make(server, bot.user, ORPHAN)  # made by another install: not in this audit log
    code, document = _findings(cli, "--fix", env=bot.env)
    assert code == 1
    assert _kinds(document) == {("unknown", ORPHAN)}
    assert document["fixed"] == []
    assert "did not create it" in document["findings"][0]["message"]
    reconciled = cli.run("token", "reconcile", env=bot.env)
    assert reconciled.returncode == 0, reconciled.stderr
    assert sorted(t.name for t in bot.user.pats()) == sorted([CURRENT, ORPHAN])
