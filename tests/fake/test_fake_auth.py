"""REST authentication (§1), login (§2), logout/me/info (§4.2-§4.4) of the fake."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from botkit.testing import FakeRocketChat
from botkit.testing._model import hash_token

from .conftest import TOTP_SECRET, auth, totp_now

UNAUTH_7 = {
    "success": False,
    "error": "You must be logged in to do this.",
    "status": "error",
    "message": "You must be logged in to do this.",
}


# --- §1.3: 401 bodies --------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-User-Id": "nobody"},
        {"X-Auth-Token": "x" * 43},
        {"X-User-Id": "WRONG", "X-Auth-Token": "TOKEN"},
    ],
)
async def test_missing_or_wrong_credentials_get_the_exact_401(
    fake: FakeRocketChat, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    user = fake.add_user("alice", "pw")
    token = fake.create_login_token(user)
    headers = {k: (token if v == "TOKEN" else v) for k, v in headers.items()}
    r = await client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401
    assert r.json() == UNAUTH_7
    assert list(r.json()) == ["success", "error", "status", "message"]
    # a 401 is not counted by the rate limiter and carries no rate-limit header (§5)
    assert "x-ratelimit-limit" not in r.headers


async def test_token_of_another_user_is_rejected(
    fake: FakeRocketChat, client: httpx.AsyncClient
) -> None:
    alice = fake.add_user("alice", "pw")
    bob = fake.add_user("bob", "pw")
    token = fake.create_login_token(alice)
    r = await client.get("/api/v1/me", headers=auth(bob, token))
    assert r.status_code == 401


async def test_401_body_from_version_8() -> None:
    fake = FakeRocketChat(version="8.0.0")
    transport = httpx.ASGITransport(app=fake.asgi_app, client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as http:
        r = await http.get("/api/v1/me")
    assert r.status_code == 401
    assert r.json() == {"success": False, "error": "You must be logged in to do this."}


async def test_tokens_are_stored_hashed_only(fake: FakeRocketChat) -> None:
    user = fake.add_user("alice", "pw")
    token = fake.create_pat(user, "jobs")
    element = user.find_pat("jobs")
    assert element is not None
    assert element.hashed_token == hash_token(token)
    assert element.last_token_part == token[-6:]
    assert element.when is None and element.type == "personalAccessToken"
    assert token not in repr(user.__dict__)
    assert len(token) == 43


async def test_pat_and_login_token_are_interchangeable_and_deactivation_wipes_them(
    fake: FakeRocketChat, client: httpx.AsyncClient
) -> None:
    user = fake.add_user("alice", "pw")
    pat = fake.create_pat(user, "jobs")
    login = fake.create_login_token(user)
    for token in (pat, login):
        assert (await client.get("/api/v1/me", headers=auth(user, token))).status_code == 200
    fake.set_active(user, False)
    assert (await client.get("/api/v1/me", headers=auth(user, pat))).status_code == 401


# --- §2: login -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"user": "alice", "password": "s3cret"},
        {"username": "alice", "password": "s3cret"},
        {"email": "alice@example.org", "password": "s3cret"},
        {"user": "alice@example.org", "password": "s3cret"},
        {
            "user": {"username": "alice"},
            "password": {"digest": hashlib.sha256(b"s3cret").hexdigest(), "algorithm": "sha-256"},
        },
        {
            "user": "alice",
            "password": {"digest": hashlib.sha256(b"s3cret").hexdigest(), "algorithm": "sha-256"},
        },
    ],
)
async def test_login_forms_succeed(
    fake: FakeRocketChat, client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    user = fake.add_user("alice", "s3cret")
    r = await client.post("/api/v1/login", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert list(data) == ["status", "data", "success"]
    assert data["status"] == "success" and data["success"] is True
    assert data["data"]["userId"] == user.id
    assert data["data"]["me"]["username"] == "alice"
    token = data["data"]["authToken"]
    me = await client.get("/api/v1/me", headers=auth(user, token))
    assert me.status_code == 200


async def test_each_password_login_makes_a_new_token_and_resume_echoes(
    fake: FakeRocketChat, client: httpx.AsyncClient
) -> None:
    fake.add_user("alice", "s3cret")
    a = (await client.post("/api/v1/login", json={"user": "alice", "password": "s3cret"})).json()
    b = (await client.post("/api/v1/login", json={"user": "alice", "password": "s3cret"})).json()
    assert a["data"]["authToken"] != b["data"]["authToken"]
    r = await client.post("/api/v1/login", json={"resume": a["data"]["authToken"]})
    assert r.status_code == 200
    assert r.json()["data"]["authToken"] == a["data"]["authToken"]


@pytest.mark.parametrize(
    "body",
    [
        {"user": "alice", "password": "wrong"},
        {"user": "nobody", "password": "s3cret"},
    ],
)
async def test_bad_credentials(
    fake: FakeRocketChat, client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    fake.add_user("alice", "s3cret")
    r = await client.post("/api/v1/login", json=body)
    assert r.status_code == 401
    assert r.json() == {
        "success": False,
        "error": "Unauthorized",
        "status": "error",
        "message": "Unauthorized",
    }


async def test_login_failure_body_from_version_8(client: httpx.AsyncClient) -> None:
    fake = FakeRocketChat(version="8.1.0")
    fake.add_user("alice", "s3cret", totp_secret=TOTP_SECRET)
    transport = httpx.ASGITransport(app=fake.asgi_app, client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as http:
        r = await http.post("/api/v1/login", json={"user": "alice", "password": "s3cret"})
    assert r.status_code == 401
    assert r.json() == {"success": False, "error": "unauthorized"}


async def test_login_2fa_round_trip_with_email(
    fake: FakeRocketChat, client: httpx.AsyncClient
) -> None:
    fake.add_user("bot", "s3cret", email2fa=True)
    r = await client.post("/api/v1/login", json={"user": "bot", "password": "s3cret"})
    assert r.status_code == 401
    assert r.json() == {
        "success": False,
        "error": "totp-required",
        "status": "error",
        "details": {
            "method": "email",
            "codeGenerated": True,
            "emailOrUsername": "bot",
            "availableMethods": ["email"],
        },
        "message": "TOTP Required",
    }
    assert list(r.json()) == ["success", "error", "status", "details", "message"]
    code = fake.last_email_code("bot")
    assert len(code) == 6 and code.isdigit()
    shown = f"{code[:3]}-{code[3:]}"
    r = await client.post(
        "/api/v1/login", json={"user": "bot", "password": "s3cret", "code": shown}
    )
    assert r.status_code == 200, r.text


async def test_login_code_from_header_and_totp_wrapper(
    fake: FakeRocketChat, client: httpx.AsyncClient
) -> None:
    fake.add_user("alice", "s3cret", totp_secret=TOTP_SECRET)
    r = await client.post(
        "/api/v1/login",
        json={"user": "alice", "password": "s3cret"},
        headers={"x-2fa-code": totp_now(fake)},
    )
    assert r.status_code == 200
    digest = hashlib.sha256(b"s3cret").hexdigest()
    wrapped = {
        "totp": {
            "login": {
                "user": {"username": "alice"},
                "password": {"digest": digest, "algorithm": "sha-256"},
            },
            "code": totp_now(fake),
        }
    }
    assert (await client.post("/api/v1/login", json=wrapped)).status_code == 200


async def test_code_next_to_object_identity_is_ignored(
    fake: FakeRocketChat, client: httpx.AsyncClient
) -> None:
    """Pitfall §7.18: the body passes through and its code is dropped."""
    fake.add_user("alice", "s3cret", totp_secret=TOTP_SECRET)
    digest = hashlib.sha256(b"s3cret").hexdigest()
    r = await client.post(
        "/api/v1/login",
        json={
            "user": {"username": "alice"},
            "password": {"digest": digest, "algorithm": "sha-256"},
            "code": totp_now(fake),
        },
    )
    assert r.status_code == 401
    assert r.json()["error"] == "totp-required"


async def test_login_wrong_totp_and_no_password_fallback_at_login(
    fake: FakeRocketChat, client: httpx.AsyncClient
) -> None:
    fake.add_user("alice", "s3cret", totp_secret=TOTP_SECRET)
    fake.add_user("plain", "s3cret")
    r = await client.post(
        "/api/v1/login", json={"user": "alice", "password": "s3cret", "code": "000000"}
    )
    assert r.status_code == 401
    body = r.json()
    assert body["error"] == "totp-invalid" and body["message"] == "TOTP Invalid"
    assert body["details"] == {
        "method": "totp",
        "codeGenerated": False,
        "availableMethods": ["totp"],
    }
    # no 2FA method: no 2FA at login (password fallback disabled at login, §2.4)
    r = await client.post("/api/v1/login", json={"user": "plain", "password": "s3cret"})
    assert r.status_code == 200


async def test_resume_login_never_asks_2fa(fake: FakeRocketChat, client: httpx.AsyncClient) -> None:
    user = fake.add_user("alice", "s3cret", totp_secret=TOTP_SECRET)
    pat = fake.create_pat(user, "jobs")
    r = await client.post("/api/v1/login", json={"resume": pat})
    assert r.status_code == 200
    assert r.json()["data"]["authToken"] == pat


@pytest.mark.parametrize(
    ("setup", "error", "message"),
    [
        ({"active": False}, "error-user-is-not-activated", "User is not activated"),
        ({"roles": []}, "error-user-has-no-roles", "User has no roles"),
        (
            {"user_type": "app"},
            "error-app-user-is-not-allowed-to-login",
            "App user is not allowed to login",
        ),
    ],
)
async def test_login_refusals(
    fake: FakeRocketChat,
    client: httpx.AsyncClient,
    setup: dict[str, object],
    error: str,
    message: str,
) -> None:
    fake.add_user("alice", "s3cret", **setup)  # type: ignore[arg-type]
    r = await client.post("/api/v1/login", json={"user": "alice", "password": "s3cret"})
    assert r.status_code == 401
    assert r.json() == {
        "success": False,
        "error": error,
        "status": "error",
        "details": {"function": "Accounts.validateLoginAttempt"},
        "message": message,
    }


async def test_email_verification_setting(fake: FakeRocketChat, client: httpx.AsyncClient) -> None:
    fake.update_settings({"Accounts_EmailVerification": True})
    fake.add_user("alice", "s3cret", email_verified=False)
    r = await client.post("/api/v1/login", json={"user": "alice", "password": "s3cret"})
    assert r.status_code == 401
    assert r.json()["error"] == "error-invalid-email"
    assert r.json()["message"] == "Invalid email __email__"


async def test_brute_force_block_by_user_and_unblock_with_clock(
    fake: FakeRocketChat, client: httpx.AsyncClient
) -> None:
    fake.update_settings({"API_Enable_Rate_Limiter": False})
    fake.add_user("alice", "s3cret")
    for _ in range(10):
        r = await client.post("/api/v1/login", json={"user": "alice", "password": "bad"})
        assert r.json()["error"] == "Unauthorized"
    r = await client.post("/api/v1/login", json={"user": "alice", "password": "s3cret"})
    assert r.status_code == 401
    assert r.json() == {
        "success": False,
        "error": "error-login-blocked-for-user",
        "status": "error",
        "details": {"function": "Accounts.validateLoginAttempt"},
        "message": "Login has been temporarily blocked For User",
    }
    fake.clock.advance(5 * 60 + 1)
    r = await client.post("/api/v1/login", json={"user": "alice", "password": "s3cret"})
    assert r.status_code == 200
    # a successful login resets the counter
    r = await client.post("/api/v1/login", json={"user": "alice", "password": "bad"})
    assert r.json()["error"] == "Unauthorized"


async def test_brute_force_block_by_ip(fake: FakeRocketChat, client: httpx.AsyncClient) -> None:
    fake.update_settings(
        {
            "API_Enable_Rate_Limiter": False,
            "Block_Multiple_Failed_Logins_Attempts_Until_Block_By_Ip": 3,
        }
    )
    fake.add_user("alice", "s3cret")
    for name in ("x", "y", "z"):
        await client.post("/api/v1/login", json={"user": name, "password": "bad"})
    r = await client.post("/api/v1/login", json={"user": "alice", "password": "s3cret"})
    assert r.json()["error"] == "error-login-blocked-for-ip"
    # another client IP is not blocked (X-Real-IP is trusted, §3.8)
    r = await client.post(
        "/api/v1/login",
        json={"user": "alice", "password": "s3cret"},
        headers={"X-Real-IP": "10.0.0.9"},
    )
    assert r.status_code == 200


# --- §4.2-§4.4 -----------------------------------------------------------------------------


async def test_logout_with_a_pat_deletes_that_pat(
    fake: FakeRocketChat, client: httpx.AsyncClient
) -> None:
    user = fake.add_user("alice", "s3cret")
    pat = fake.create_pat(user, "jobs")
    other = fake.create_pat(user, "other")
    r = await client.post("/api/v1/logout", headers=auth(user, pat))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert user.find_pat("jobs") is None and user.find_pat("other") is not None
    assert (await client.get("/api/v1/me", headers=auth(user, pat))).status_code == 401
    assert (await client.get("/api/v1/me", headers=auth(user, other))).status_code == 200


async def test_me_shape(fake: FakeRocketChat, client: httpx.AsyncClient) -> None:
    user = fake.add_user("bot", "s3cret", roles=["bot"], email2fa=True)
    token = fake.create_login_token(user)
    body = (await client.get("/api/v1/me", headers=auth(user, token))).json()
    assert body["_id"] == user.id and body["success"] is True
    assert body["email"] == "bot@example.org"
    assert body["services"] == {"email2fa": {"enabled": True}, "password": {"exists": True}}
    assert body["avatarUrl"].endswith("/avatar/bot")
    assert body["isOAuthUser"] is False
    assert body["settings"] == {"profile": {}, "preferences": {}}
    for key in ("username", "name", "emails", "status", "active", "roles", "utcOffset"):
        assert key in body


async def test_info_is_public_unversioned_and_not_rate_limited(
    fake: FakeRocketChat, client: httpx.AsyncClient
) -> None:
    for _ in range(12):
        r = await client.get("/api/info")
        assert r.status_code == 200
        assert "x-ratelimit-limit" not in r.headers
    assert r.json() == {
        "version": "7.5",
        "minimumClientVersions": {"desktop": "3.9.6", "mobile": "4.39.0"},
        "success": True,
    }
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"
    assert r.headers["date"] == "Sat, 01 Mar 2025 10:00:00 GMT"
