"""Control API (Python and `/_fake/` HTTP), request log, faults, loopback serving, the CLI."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from botkit.testing import GENERAL_ROOM_ID, DroppedConnection, FakeRocketChat, serve

from .conftest import TOTP_SECRET, auth, totp_now

V1 = "/api/v1/"


# --- request log: names, never secrets -----------------------------------------------------


async def test_request_log_shows_token_names_never_secrets(
    fake: FakeRocketChat, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user = fake.add_user("alice", "hunter2-password", totp_secret=TOTP_SECRET, email2fa=True)
    pat = fake.create_pat(user, "scheduler")
    code = totp_now(fake)
    r = await client.post(
        V1 + "login", json={"user": "alice", "password": "hunter2-password", "code": code}
    )
    login_token = r.json()["data"]["authToken"]
    await client.get(V1 + "me", headers=auth(user, pat))
    await client.post(
        V1 + "users.generatePersonalAccessToken",
        json={"tokenName": "new"},
        headers=auth(user, login_token, **{"x-2fa-code": code, "x-2fa-method": "totp"}),
    )
    await client.post(V1 + "users.2fa.sendEmailCode", json={"emailOrUsername": "alice"})
    log = fake.request_log
    assert [(e.route, e.token_name, e.two_factor_headers) for e in log] == [
        ("login", None, False),
        ("me", "scheduler", False),
        ("users.generatePersonalAccessToken", "login-token", True),
        ("users.2fa.sendEmailCode", None, False),
    ]
    assert log[1].status == 200 and log[1].method == "GET" and log[1].path == "/api/v1/me"
    http_log = (await client.get("/_fake/requests")).text
    dumped = repr(log) + http_log + caplog.text
    secrets = [
        pat,
        login_token,
        code,
        "hunter2-password",
        TOTP_SECRET,
        fake.last_email_code("alice"),
    ]
    secrets.append(r.json()["data"]["authToken"])
    for secret in secrets:
        assert secret not in dumped


# --- faults ---------------------------------------------------------------------------------


async def test_faults_in_process(fake: FakeRocketChat, client: httpx.AsyncClient) -> None:
    user = fake.add_user("bot", "pw", roles=["bot"])
    h = auth(user, fake.create_pat(user, "jobs"))
    fake.faults.server_error("me", times=2, status=503)
    assert [(await client.get(V1 + "me", headers=h)).status_code for _ in range(3)] == [
        503,
        503,
        200,
    ]
    fake.faults.server_error("me", status=502, body="<html>Bad Gateway</html>")
    r = await client.get(V1 + "me", headers=h)
    assert r.status_code == 502 and r.headers["content-type"] == "text/html"

    fake.faults.drop_after_commit("chat.sendMessage")
    body = {"message": {"rid": GENERAL_ROOM_ID, "msg": "hi", "_id": "m1"}}
    with pytest.raises(httpx.RemoteProtocolError) as info:
        await client.post(V1 + "chat.sendMessage", json=body, headers=h)
    assert isinstance(info.value, DroppedConnection)
    assert "m1" in fake.messages  # committed before the drop
    assert fake.request_log[-1].status == 200
    # only once
    r = await client.post(
        V1 + "chat.sendMessage", json={"message": {"rid": GENERAL_ROOM_ID, "msg": "2"}}, headers=h
    )
    assert r.status_code == 200


def test_loopback_server_faults_and_conformance_subset() -> None:
    fake = FakeRocketChat()
    user = fake.add_user("alice", "pw", totp_secret=TOTP_SECRET)
    with serve(fake) as server, httpx.Client(base_url=server.url, timeout=5) as http:
        assert server.url == f"http://127.0.0.1:{server.port}"
        # 401 exact body over a socket
        r = http.get(V1 + "me")
        assert r.status_code == 401 and r.json()["error"] == "You must be logged in to do this."
        # login with 2FA, then the rate-limit headers and Date from the clock
        fake.clock.freeze()
        r = http.post(V1 + "login", json={"user": "alice", "password": "pw"})
        assert r.status_code == 401 and r.json()["error"] == "totp-required"
        assert r.headers["x-ratelimit-remaining"] == "9"
        r = http.post(
            V1 + "login", json={"user": "alice", "password": "pw", "code": totp_now(fake)}
        )
        assert r.status_code == 200
        token = r.json()["data"]["authToken"]
        assert r.json()["data"]["me"]["avatarUrl"] == f"{server.url}/avatar/alice"
        # 2FA on a PAT route
        h = auth(user, token)
        r = http.post(V1 + "users.generatePersonalAccessToken", json={"tokenName": "a"}, headers=h)
        assert r.status_code == 400 and r.json()["errorType"] == "totp-required"
        # a dropped connection after commit looks like a transport error
        fake.faults.drop_after_commit("users.generatePersonalAccessToken")
        h2 = {**h, "x-2fa-code": totp_now(fake)}
        with pytest.raises(httpx.RemoteProtocolError):
            http.post(V1 + "users.generatePersonalAccessToken", json={"tokenName": "a"}, headers=h2)
        assert user.find_pat("a") is not None
        # the server still answers afterwards, on a new connection
        r = http.post(V1 + "users.generatePersonalAccessToken", json={"tokenName": "a"}, headers=h2)
        assert r.json()["errorType"] == "error-token-already-exists"
        fake.faults.server_error("me", status=500)
        assert http.get(V1 + "me", headers=h).status_code == 500
        fake.faults.latency(0.5, "me", times=1)
        with pytest.raises(httpx.ReadTimeout):
            http.get(V1 + "me", headers=h, timeout=0.05)
        # 429 after the limit
        fake.update_settings({"API_Enable_Rate_Limiter_Limit_Calls_Default": 1})
        http.get(V1 + "rooms.get", headers=h)
        r = http.get(V1 + "rooms.get", headers=h)
        assert r.status_code == 429 and "error-too-many-requests" in r.json()["error"]


# --- HTTP control ---------------------------------------------------------------------------


async def test_http_control_api(fake: FakeRocketChat, client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/_fake/users",
        json={"username": "bot", "password": "pw", "roles": ["user", "bot"], "email2fa": True},
    )
    assert r.status_code == 201
    uid = r.json()["user_id"]
    r = await client.post("/_fake/users/bot/tokens", json={"name": "jobs"})
    token = r.json()["token"]
    assert (
        await client.get(V1 + "me", headers={"X-User-Id": uid, "X-Auth-Token": token})
    ).status_code == 200
    tokens = (await client.get("/_fake/users/bot/tokens")).json()["tokens"]
    assert [t["name"] for t in tokens] == ["jobs"] and token not in json.dumps(tokens)

    r = await client.post("/_fake/users/bot", json={"totp_secret": TOTP_SECRET, "roles": ["bot"]})
    assert r.status_code == 200
    assert fake.user("bot").totp_enabled and fake.user("bot").roles == ["bot"]

    r = await client.post(
        "/_fake/settings", json={"Accounts_TwoFactorAuthentication_RememberFor": 60}
    )
    assert r.json()["settings"]["Accounts_TwoFactorAuthentication_RememberFor"] == 60
    assert (await client.post("/_fake/settings", json={"Nope": 1})).status_code == 400

    r = await client.post("/_fake/clock/freeze", json={"at": "2030-01-01T00:00:00+00:00"})
    assert r.json()["now"] == "2030-01-01T00:00:00.000Z"
    r = await client.post("/_fake/clock/advance", json={"seconds": 90})
    assert r.json()["now"] == "2030-01-01T00:01:30.000Z" and r.json()["frozen"] is True

    await client.post(V1 + "users.2fa.sendEmailCode", json={"emailOrUsername": "bot"})
    emails = (await client.get("/_fake/outbox", params={"to": "bot"})).json()["emails"]
    assert len(emails) == 1 and emails[0]["code"] == fake.last_email_code("bot")

    r = await client.post("/_fake/rooms", json={"name": "ops", "members": ["bot"]})
    rid = r.json()["room_id"]
    r = await client.post(
        "/_fake/messages", json={"room": "ops", "username": "bot", "text": "seeded"}
    )
    assert r.status_code == 201
    msgs = (await client.get("/_fake/messages", params={"room": rid})).json()["messages"]
    assert [m["msg"] for m in msgs] == ["seeded"]

    r = await client.post(
        "/_fake/faults", json={"kind": "server_error", "route": "me", "status": 503}
    )
    assert r.json()["faults"][0]["kind"] == "server_error"
    assert (await client.get(V1 + "me")).status_code == 503
    reqs = (await client.get("/_fake/requests")).json()["requests"]
    assert reqs[-1]["route"] == "me" and reqs[-1]["status"] == 503

    assert (await client.post("/_fake/reset")).status_code == 200
    assert fake.users == {} and list(fake.rooms) == [GENERAL_ROOM_ID] and fake.outbox == []
    assert fake.request_log == [] and not fake.clock.frozen


def test_python_clock_controls() -> None:
    fake = FakeRocketChat()
    t = fake.clock.freeze()
    assert fake.clock.now() == t
    fake.clock.advance(30)
    assert (fake.clock.now() - t).total_seconds() == 30
    fake.clock.unfreeze()
    assert (fake.clock.now() - t).total_seconds() >= 30


def test_users_file_and_unknown_keys(tmp_path: Path) -> None:
    from botkit.testing._users_file import load_users_file

    path = tmp_path / "users.json"
    path.write_text(json.dumps({"users": [{"username": "a", "password": "p", "colour": 1}]}))
    with pytest.raises(ValueError, match="colour"):
        load_users_file(FakeRocketChat(), path)


# --- the CLI --------------------------------------------------------------------------------


def test_cli_serve_prints_port_first(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text(
        json.dumps(
            {
                "users": [
                    {
                        "username": "demo",
                        "password": "pw",
                        "user_id": "DEMOID",
                        "roles": ["user", "bot"],
                    },
                    {"username": "otp", "password": "pw", "totp_secret": TOTP_SECRET},
                ],
                "settings": {"API_Enable_Rate_Limiter": False},
            }
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "botkit.testing", "serve", "--port", "0", "--users", str(users)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("PORT ")
        port = int(first.split()[1])
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            r = http.post(V1 + "login", json={"user": "demo", "password": "pw"})
            assert r.status_code == 200 and r.json()["data"]["userId"] == "DEMOID"
            assert "x-ratelimit-limit" not in r.headers
            r = http.post(V1 + "login", json={"user": "otp", "password": "pw"})
            assert r.json()["error"] == "totp-required"
            assert (
                http.post("/_fake/users", json={"username": "x", "password": "y"}).status_code
                == 201
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
