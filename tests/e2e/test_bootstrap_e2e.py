"""`botkit bootstrap` end to end: the real CLI in a subprocess, the fake on loopback.

After each path: later requests use the PAT only, the login token is gone from the
server, exactly one PAT exists, the token file is 0600, and no secret (password, PAT,
2FA code) appears in stdout, stderr (debug logs included) or the audit log.
"""

from __future__ import annotations

import datetime
import json
import stat
import subprocess
import typing

import pyotp
import pytest

from botkit.testing import RunningServer, User

from .conftest import Cli, wait_for

PASSWORD = "correct horse battery staple"


def _totp(secret: str) -> str:
    return str(pyotp.TOTP(secret).now())


def _token_file(cli: Cli) -> dict[str, object]:
    path = cli.state / "token.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.state.stat().st_mode) == 0o700
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def _check_after_bootstrap(
    cli: Cli, server: RunningServer, user: User, secrets: list[str],
    outputs: list[subprocess.CompletedProcess[str]],
) -> str:
    """The invariants every bootstrap path must leave behind; returns the PAT name."""
    record = _token_file(cli)
    current = record["slots"]["current"]  # type: ignore[index]
    pat_name = current["name"]
    pat_secret = current["secret"]
    # Exactly one PAT, and it is the stored one; no login token survives the logout.
    pats = user.pats()
    assert [t.name for t in pats] == [pat_name]
    assert [t for t in user.login_tokens if not t.is_pat] == []
    # From now on only the PAT is used.
    server.fake.clear_request_log()
    whoami = cli.run("whoami", "--debug")
    assert whoami.returncode == 0, whoami.stderr
    assert f"token:    {pat_name} (...{pat_secret[-6:]})" in whoami.stdout
    used = {entry.token_name for entry in server.fake.request_log}
    assert used == {pat_name}
    # No secret anywhere a human or a log shipper could see.
    audit = (cli.state / "audit.jsonl").read_text()
    for text in [*(o.stdout + o.stderr for o in outputs), whoami.stdout + whoami.stderr, audit]:
        for secret in [*secrets, pat_secret]:
            assert secret not in text
    verify = cli.run("audit", "verify")
    assert verify.returncode == 0, verify.stderr
    return str(pat_name)


def test_totp_user_types_one_code(cli: Cli, server: RunningServer) -> None:
    secret = pyotp.random_base32()
    user = server.fake.add_user("bot", PASSWORD, totp_secret=secret)
    code = _totp(secret)
    result = cli.run("bootstrap", "--debug", input=f"{PASSWORD}\n{code}\n")
    assert result.returncode == 0, result.stderr
    assert "signed in as bot" in result.stdout
    assert "stored token botkit-" in result.stdout
    name = _check_after_bootstrap(cli, server, user, [PASSWORD, code, secret], [result])
    events = [json.loads(line)["event"] for line in (cli.state / "audit.jsonl").open()]
    assert events[:7] == ["bootstrap.started", "2fa.challenge", "login", "token.requested",
                          "2fa.challenge", "token.created", "logout"]
    assert "token.verified" in events and "bootstrap.completed" in events
    assert name.startswith("botkit-")


def test_totp_secret_in_environment_needs_no_prompt(cli: Cli, server: RunningServer) -> None:
    secret = pyotp.random_base32()
    user = server.fake.add_user("bot", PASSWORD, totp_secret=secret)
    result = cli.run("bootstrap", input=f"{PASSWORD}\n",
                     env={"BOTKIT_AUTH__TOTP_SECRET": secret})
    assert result.returncode == 0, result.stderr
    _check_after_bootstrap(cli, server, user, [PASSWORD, secret], [result])


def test_email_user_answers_each_emailed_code(cli: Cli, server: RunningServer) -> None:
    user = server.fake.add_user("bot", PASSWORD, email="bot@example.org", email2fa=True)
    process = cli.start("bootstrap", "--debug")
    assert process.stdin is not None
    process.stdin.write(f"{PASSWORD}\n")
    process.stdin.flush()
    codes = []
    for expected in (1, 2):  # one code for the login, a fresh one for the token
        wait_for(lambda n=expected: len(server.fake.outbox) >= n)
        code = server.fake.outbox[expected - 1].code
        codes.append(code)
        process.stdin.write(f"{code}\n")
        process.stdin.flush()
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "emailed to bot's verified address" in stderr
    done = subprocess.CompletedProcess(process.args, 0, stdout, stderr)
    _check_after_bootstrap(cli, server, user, [PASSWORD, *codes], [done])


def test_user_with_both_methods(cli: Cli, server: RunningServer) -> None:
    secret = pyotp.random_base32()
    user = server.fake.add_user("bot", PASSWORD, totp_secret=secret, email="b@example.org",
                                email2fa=True)
    code = _totp(secret)
    result = cli.run("bootstrap", input=f"{PASSWORD}\n{code}\n")
    assert result.returncode == 0, result.stderr
    assert "2FA methods available: totp, email" in result.stderr
    assert server.fake.outbox == []  # TOTP comes first: no email was needed
    _check_after_bootstrap(cli, server, user, [PASSWORD, code, secret], [result])


def test_user_without_2fa_uses_password_fallback(cli: Cli, server: RunningServer) -> None:
    user = server.fake.add_user("bot", PASSWORD)
    result = cli.run("bootstrap", input=f"{PASSWORD}\n")
    assert result.returncode == 0, result.stderr
    pat_calls = [e for e in server.fake.request_log
                 if e.route == "users.generatePersonalAccessToken"]
    assert [e.two_factor_headers for e in pat_calls] == [False, True]  # challenged, answered
    _check_after_bootstrap(cli, server, user, [PASSWORD], [result])


def test_new_user_grace_needs_no_code_for_the_token(cli: Cli, server: RunningServer) -> None:
    secret = pyotp.random_base32()
    user = server.fake.add_user("bot", PASSWORD, totp_secret=secret,
                                created_at=datetime.datetime.now(datetime.UTC))
    code = _totp(secret)
    result = cli.run("bootstrap", input=f"{PASSWORD}\n{code}\n")
    assert result.returncode == 0, result.stderr
    pat_calls = [e for e in server.fake.request_log
                 if e.route == "users.generatePersonalAccessToken"]
    assert len(pat_calls) == 1 and not pat_calls[0].two_factor_headers
    _check_after_bootstrap(cli, server, user, [PASSWORD, code, secret], [result])


def test_token_path(cli: Cli, server: RunningServer) -> None:
    user = server.fake.add_user("bot", PASSWORD)
    token = server.fake.create_pat(user, "made-in-the-ui")
    result = cli.run("bootstrap", "--token", input=f"{user.id}\n{token}\n")
    assert result.returncode == 0, result.stderr
    assert "stored token made-in-the-ui" in result.stdout
    name = _check_after_bootstrap(cli, server, user, [token], [result])
    assert name == "made-in-the-ui"


@pytest.mark.parametrize(
    ("stdin", "expected", "code"),
    [
        ("wrong password\n", "wrong username or password", 3),
        (f"{PASSWORD}\n000000\n000000\n", "rejected the 2FA code twice", 3),
        (f"{PASSWORD}\n", "no answer on standard input", 3),
    ],
)
def test_login_failures_are_one_clear_line(
    cli: Cli, server: RunningServer, stdin: str, expected: str, code: int
) -> None:
    server.fake.add_user("bot", PASSWORD, totp_secret=pyotp.random_base32())
    result = cli.run("bootstrap", input=stdin)
    assert result.returncode == code
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("botkit: error: ")
    assert expected in lines[-1]
    assert "Traceback" not in result.stderr
    assert not (cli.state / "token.json").exists()


def test_bot_role_without_permission_gets_the_grant_hint(cli: Cli, server: RunningServer) -> None:
    user = server.fake.add_user("bot", PASSWORD, roles=["bot"])
    result = cli.run("bootstrap", input=f"{PASSWORD}\n")
    assert result.returncode == 3
    assert "create-personal-access-tokens" in result.stderr
    assert user.pats() == []
    assert [t for t in user.login_tokens if not t.is_pat] == []  # logged out all the same


def test_blocked_login(cli: Cli, server: RunningServer) -> None:
    server.fake.add_user("bot", PASSWORD, roles=["user", "bot"])
    # Eleven logins in a row would otherwise meet the login rate limit (10 a minute) first.
    server.fake.update_settings({"API_Enable_Rate_Limiter": False})
    for _ in range(10):
        cli.run("bootstrap", input="nope\n")
    result = cli.run("bootstrap", input=f"{PASSWORD}\n")
    assert result.returncode == 3
    assert "temporarily blocked" in result.stderr


def test_unreachable_server(cli: Cli, server: RunningServer) -> None:
    cli.config.write_text(cli.config.read_text().replace(server.url, "http://127.0.0.1:9"))
    result = cli.run("bootstrap", input=f"{PASSWORD}\n")
    assert result.returncode == 4
    assert result.stderr.strip().startswith("botkit: error: login:")


def test_second_bootstrap_is_refused_while_the_token_works(
    cli: Cli, server: RunningServer
) -> None:
    user = server.fake.add_user("bot", PASSWORD)
    assert cli.run("bootstrap", input=f"{PASSWORD}\n").returncode == 0
    again = cli.run("bootstrap", input=f"{PASSWORD}\n")
    assert again.returncode == 3
    assert "already bootstrapped" in again.stderr
    assert len(user.pats()) == 1


def test_whoami_after_revocation_says_bootstrap_again(cli: Cli, server: RunningServer) -> None:
    user = server.fake.add_user("bot", PASSWORD)
    assert cli.run("bootstrap", input=f"{PASSWORD}\n").returncode == 0
    user.login_tokens.clear()  # an admin wiped the user's tokens
    result = cli.run("whoami")
    assert result.returncode == 3
    assert "run `botkit bootstrap` again" in result.stderr


def test_token_revoke(cli: Cli, server: RunningServer) -> None:
    user = server.fake.add_user("bot", PASSWORD)
    assert cli.run("bootstrap", input=f"{PASSWORD}\n").returncode == 0
    refused = cli.run("token", "revoke", input="n\n")
    assert refused.returncode == 1 and len(user.pats()) == 1
    result = cli.run("token", "revoke", "--yes")
    assert result.returncode == 0, result.stderr
    assert user.pats() == []
    after = cli.run("whoami")
    assert after.returncode == 3
    assert "no token is stored" in after.stderr


def test_insecure_token_file_is_refused(cli: Cli, server: RunningServer) -> None:
    server.fake.add_user("bot", PASSWORD)
    assert cli.run("bootstrap", input=f"{PASSWORD}\n").returncode == 0
    (cli.state / "token.json").chmod(0o644)
    result = cli.run("whoami")
    assert result.returncode == 3
    assert "chmod 600" in result.stderr


def test_ctrl_c_at_a_prompt_leaves_nothing_behind(cli: Cli, server: RunningServer) -> None:
    """Interrupted at the token's own 2FA prompt: no token file, no token, logged out."""
    import signal

    user = server.fake.add_user("bot", PASSWORD, email="bot@example.org", email2fa=True)
    process = cli.start("bootstrap")
    assert process.stdin is not None
    process.stdin.write(f"{PASSWORD}\n")
    process.stdin.flush()
    wait_for(lambda: server.fake.outbox)
    process.stdin.write(f"{server.fake.outbox[0].code}\n")
    process.stdin.flush()
    wait_for(lambda: len(server.fake.outbox) == 2)  # now waiting for the second code
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "botkit: interrupted"
    assert not (cli.state / "token.json").exists()
    assert user.pats() == []
    assert [t for t in user.login_tokens if not t.is_pat] == []


@pytest.fixture
def server_v8() -> typing.Iterator[RunningServer]:
    from botkit.testing import FakeRocketChat, serve

    with serve(FakeRocketChat(version="8.0.0")) as running:
        yield running


def test_newer_server_hiding_2fa_suggests_the_token_path(
    cli: Cli, server_v8: RunningServer
) -> None:
    server_v8.fake.add_user("bot", PASSWORD, totp_secret=pyotp.random_base32())
    cli.server = server_v8
    cli.write_config()
    result = cli.run("bootstrap", input=f"{PASSWORD}\n")
    assert result.returncode == 3
    line = result.stderr.strip().splitlines()[-1]
    assert "refused the login without saying why" in line
    assert "botkit bootstrap --token" in line


def test_html_answer_is_a_bad_response(cli: Cli, server: RunningServer) -> None:
    server.fake.add_user("bot", PASSWORD)
    server.fake.faults.server_error(
        "login", status=200, body="<html><body>Welcome to our portal</body></html>"
    )
    result = cli.run("bootstrap", input=f"{PASSWORD}\n")
    assert result.returncode == 4
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("botkit: error: ") and "not a JSON object" in line
    assert "Welcome" not in result.stderr
    assert PASSWORD not in result.stderr
