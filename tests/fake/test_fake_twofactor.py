"""The 2FA engine on REST routes (§3), driven through the PAT endpoints and the fake clock."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import httpx
import pytest

from botkit.testing import FakeRocketChat, fingerprint
from botkit.testing._twofactor import TwoFactorFailure, TwoFactorOptions, check_code_for_user

from .conftest import T0, TOTP_SECRET, auth, totp_now

GEN = "/api/v1/users.generatePersonalAccessToken"


def _required(method: str, available: list[str], **data: object) -> dict[str, object]:
    return {
        "success": False,
        "error": "TOTP Required [totp-required]",
        "errorType": "totp-required",
        "details": {"method": method, **data, "availableMethods": available},
    }


@pytest.fixture
def no_rate_limit(fake: FakeRocketChat) -> None:
    fake.update_settings({"API_Enable_Rate_Limiter": False})


async def _gen(
    client: httpx.AsyncClient, headers: dict[str, str], name: str = "t"
) -> httpx.Response:
    return await client.post(GEN, json={"tokenName": name}, headers=headers)


# --- TOTP (§3.6) ---------------------------------------------------------------------------


async def test_totp_required_then_window_and_reuse(
    fake: FakeRocketChat, client: httpx.AsyncClient, no_rate_limit: None
) -> None:
    user = fake.add_user("alice", "pw", totp_secret=TOTP_SECRET)
    fake.update_settings({"Accounts_TwoFactorAuthentication_RememberFor": 0})
    token = fake.create_login_token(user)
    r = await _gen(client, auth(user, token))
    assert r.status_code == 400
    assert r.json() == _required("totp", ["totp"], codeGenerated=False)

    for step, name in ((-1, "prev"), (0, "now"), (1, "next")):
        code = totp_now(fake, offset_steps=step)
        r = await _gen(client, auth(user, token, **{"x-2fa-code": code}), name)
        assert r.status_code == 200, (step, r.text)
    # the same code again inside its window: accepted (no last-used step is stored)
    r = await _gen(client, auth(user, token, **{"x-2fa-code": totp_now(fake)}), "again")
    assert r.status_code == 200
    # two steps away: refused
    r = await _gen(client, auth(user, token, **{"x-2fa-code": totp_now(fake, offset_steps=2)}), "x")
    assert r.status_code == 400
    assert r.json() == {
        "success": False,
        "error": "TOTP Invalid [totp-invalid]",
        "errorType": "totp-invalid",
        "details": {"method": "totp", "codeGenerated": False, "availableMethods": ["totp"]},
    }
    # an old code stops working when the clock moves on
    old = totp_now(fake)
    fake.clock.advance(90)
    r = await _gen(client, auth(user, token, **{"x-2fa-code": old}), "late")
    assert r.json()["errorType"] == "totp-invalid"


async def test_backup_codes_are_single_use_and_8_chars_only(
    fake: FakeRocketChat, client: httpx.AsyncClient, no_rate_limit: None
) -> None:
    user = fake.add_user("alice", "pw", totp_secret=TOTP_SECRET, backup_codes=["abcd1234"])
    fake.update_settings({"Accounts_TwoFactorAuthentication_RememberFor": 0})
    token = fake.create_login_token(user)
    h = auth(user, token, **{"x-2fa-code": "abcd1234"})
    assert (await _gen(client, h, "a")).status_code == 200
    assert (await _gen(client, h, "b")).json()["errorType"] == "totp-invalid"
    assert user.hashed_backup == []


async def test_totp_never_reaches_max_attempts(
    fake: FakeRocketChat, client: httpx.AsyncClient, no_rate_limit: None
) -> None:
    user = fake.add_user("alice", "pw", totp_secret=TOTP_SECRET)
    token = fake.create_login_token(user)
    for _ in range(8):
        r = await _gen(client, auth(user, token, **{"x-2fa-code": "000000"}))
        assert r.json()["errorType"] == "totp-invalid"


async def test_explicit_method_is_used_even_when_not_enabled(
    fake: FakeRocketChat, client: httpx.AsyncClient, no_rate_limit: None
) -> None:
    """Pitfall §7.5: `totp` for an email-only user always fails; `password` cannot override."""
    user = fake.add_user("alice", "pw", email2fa=True)
    token = fake.create_login_token(user)
    r = await client.post(
        GEN, json={"tokenName": "t"}, headers=auth(user, token, **{"x-2fa-method": "totp"})
    )
    assert r.json() == _required("totp", ["email"], codeGenerated=False)
    digest = hashlib.sha256(b"pw").hexdigest()
    r = await _gen(client, auth(user, token, **{"x-2fa-method": "password", "x-2fa-code": digest}))
    assert r.json()["errorType"] == "totp-invalid"
    assert r.json()["details"]["method"] == "email"


# --- email (§3.5) --------------------------------------------------------------------------


async def test_email_code_flow_reuse_and_expiry(
    fake: FakeRocketChat, client: httpx.AsyncClient, no_rate_limit: None
) -> None:
    user = fake.add_user("bot", "pw", email2fa=True)
    token = fake.create_login_token(user)
    h = auth(user, token)
    r = await _gen(client, h)
    assert r.json() == _required("email", ["email"], codeGenerated=True, emailOrUsername="bot")
    assert list(r.json()["details"]) == [
        "method",
        "codeGenerated",
        "emailOrUsername",
        "availableMethods",
    ]
    assert len(fake.outbox) == 1
    mail = fake.outbox[0]
    assert mail.to == "bot@example.org" and mail.subject == "Authentication code"
    assert f"{mail.code[:3]}-{mail.code[3:]}" in mail.text
    assert user.email_code is not None and user.email_code.code_hash != mail.code

    # a second probe reuses the code: no new mail, codeExpires = expiry
    r = await _gen(client, h)
    expires = (T0 + timedelta(seconds=3600)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert r.json()["details"] == {
        "method": "email",
        "emailOrUsername": "bot",
        "codeGenerated": False,
        "codeExpires": expires,
        "availableMethods": ["email"],
    }
    assert len(fake.outbox) == 1

    # expired 2 minutes ago: removed, still "reused" by the comparison as written, and refused
    fake.clock.advance(3600 + 120)
    r = await _gen(client, auth(user, token, **{"x-2fa-code": mail.code}))
    assert r.json()["errorType"] == "totp-invalid"
    assert r.json()["details"]["codeGenerated"] is False
    assert len(fake.outbox) == 1
    # the next check finds no code and mails a fresh one
    r = await _gen(client, h)
    assert r.json()["details"]["codeGenerated"] is True
    assert len(fake.outbox) == 2
    code = fake.last_email_code("bot")
    r = await _gen(client, auth(user, token, **{"x-2fa-code": f"{code[:3]} {code[3:]}"}))
    assert r.status_code == 200
    assert user.email_code is None


async def test_email_max_attempts_then_fresh_code(
    fake: FakeRocketChat, client: httpx.AsyncClient, no_rate_limit: None
) -> None:
    user = fake.add_user("bot", "pw", email2fa=True)
    token = fake.create_login_token(user)
    await _gen(client, auth(user, token))
    bad = auth(
        user,
        token,
        **{"x-2fa-code": "000000" if fake.last_email_code("bot") != "000000" else "111111"},
    )
    for _ in range(4):
        assert (await _gen(client, bad)).json()["errorType"] == "totp-invalid"
    r = await _gen(client, bad)
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "TOTP Maximun Failed Attempts Reached [totp-max-attempts]"
    assert body["errorType"] == "totp-max-attempts"
    assert body["details"]["method"] == "email" and body["details"]["codeGenerated"] is False
    assert len(fake.outbox) == 1
    r = await _gen(client, auth(user, token))
    assert r.json()["details"]["codeGenerated"] is True
    assert len(fake.outbox) == 2
    assert user.email_code is not None and user.email_code.attempts == 0


async def test_expired_code_with_attempts_used_up_is_not_reused(
    fake: FakeRocketChat, client: httpx.AsyncClient, no_rate_limit: None
) -> None:
    """§3.5: reusable needs the loaded code's attempts < max too, even inside the 5 min
    after expiry; such a code is replaced by a freshly mailed one."""
    fake.clock.freeze()
    user = fake.add_user("bot", "pw", email2fa=True)
    token = fake.create_login_token(user)
    await _gen(client, auth(user, token))
    bad = auth(user, token, **{"x-2fa-code": "not-the-code"})
    for _ in range(5):
        await _gen(client, bad)
    fake.clock.advance(3600 + 60)  # expired one minute ago
    r = await _gen(client, auth(user, token))
    assert r.json()["details"]["codeGenerated"] is True
    assert len(fake.outbox) == 2


async def test_send_email_code_endpoint(fake: FakeRocketChat, client: httpx.AsyncClient) -> None:
    fake.add_user("bot", "pw")  # even without email 2FA enabled (§3.5)
    r = await client.post("/api/v1/users.2fa.sendEmailCode", json={"emailOrUsername": "bot"})
    assert r.json() == {"success": True}
    r = await client.post(
        "/api/v1/users.2fa.sendEmailCode", json={"emailOrUsername": "bot@example.org"}
    )
    assert r.json() == {"success": True}
    assert len(fake.outbox) == 2
    r = await client.post("/api/v1/users.2fa.sendEmailCode", json={"emailOrUsername": "ghost"})
    assert r.json() == {"success": True}
    assert len(fake.outbox) == 2
    r = await client.post("/api/v1/users.2fa.sendEmailCode", json={})
    assert r.status_code == 400
    assert r.json() == {
        "success": False,
        "error": "emailOrUsername is required [error-parameter-required]",
        "errorType": "error-parameter-required",
    }
    assert "x-ratelimit-limit" in r.headers


# --- password fallback, requireSecondFactor (§3.7) -----------------------------------------


async def test_password_fallback(
    fake: FakeRocketChat, client: httpx.AsyncClient, no_rate_limit: None
) -> None:
    user = fake.add_user("alice", "pw")
    token = fake.create_login_token(user)
    r = await _gen(client, auth(user, token))
    assert r.json() == _required("password", [], codeGenerated=False)
    r = await _gen(client, auth(user, token, **{"x-2fa-code": "pw"}))
    assert r.json()["errorType"] == "totp-invalid"
    digest = hashlib.sha256(b"pw").hexdigest().upper()  # lowercased by the server
    r = await _gen(client, auth(user, token, **{"x-2fa-code": digest}))
    assert r.status_code == 200


async def test_no_method_and_no_fallback_passes(
    fake: FakeRocketChat, client: httpx.AsyncClient, no_rate_limit: None
) -> None:
    fake.update_settings({"Accounts_TwoFactorAuthentication_Enforce_Password_Fallback": False})
    user = fake.add_user("alice", "pw")
    token = fake.create_login_token(user)
    assert (await _gen(client, auth(user, token))).status_code == 200


def test_require_second_factor_beats_bypass_and_uses_password(fake: FakeRocketChat) -> None:
    from botkit.testing._twofactor import Connection

    user = fake.add_user("alice", "pw")
    fake.create_pat(user, "bypass", bypass_two_factor=True)
    element = user.find_pat("bypass")
    assert element is not None
    connection = Connection(element, "127.0.0.1", "ua")
    options = TwoFactorOptions(require_second_factor=True, disable_password_fallback=True)
    with pytest.raises(TwoFactorFailure) as info:
        check_code_for_user(
            fake, user, code=None, method=None, options=options, connection=connection
        )
    assert info.value.code == "totp-required"
    assert info.value.details == {
        "method": "password",
        "codeGenerated": False,
        "availableMethods": [],
    }
    # without requireSecondFactor the bypass PAT passes
    check_code_for_user(
        fake, user, code=None, method=None, options=TwoFactorOptions(), connection=connection
    )


# --- trusted window, grace, bypass (§3.8, §3.9) --------------------------------------------


async def test_trusted_client_window_is_per_token_ua_and_ip(
    fake: FakeRocketChat, client: httpx.AsyncClient, no_rate_limit: None
) -> None:
    user = fake.add_user("alice", "pw", totp_secret=TOTP_SECRET)
    token = fake.create_login_token(user)
    other = fake.create_login_token(user)
    r = await _gen(client, auth(user, token, **{"x-2fa-code": totp_now(fake)}), "a")
    assert r.status_code == 200
    element = user.login_tokens[0]
    assert element.two_factor_authorized_hash == fingerprint("botkit-test/1", "127.0.0.1")
    assert element.two_factor_authorized_until == T0 + timedelta(seconds=1800)

    assert (await _gen(client, auth(user, token), "b")).status_code == 200
    # another token, another User-Agent, another IP: asked again
    assert (await _gen(client, auth(user, other), "c")).status_code == 400
    assert (
        await _gen(client, auth(user, token, **{"User-Agent": "other"}), "d")
    ).status_code == 400
    assert (
        await _gen(client, auth(user, token, **{"X-Real-IP": "10.1.2.3"}), "e")
    ).status_code == 400
    # fixed window: not extended by use
    fake.clock.advance(1800)
    assert (await _gen(client, auth(user, token), "f")).status_code == 200
    fake.clock.advance(1)
    assert (await _gen(client, auth(user, token), "g")).json()["errorType"] == "totp-required"


def test_fingerprint_formula() -> None:
    expected = hashlib.md5(b'{"userAgent":"ua/1","clientAddress":"1.2.3.4"}').hexdigest()
    assert fingerprint("ua/1", "1.2.3.4") == expected
    assert fingerprint(None, "1.2.3.4") == hashlib.md5(b'{"clientAddress":"1.2.3.4"}').hexdigest()


async def test_new_user_grace(
    fake: FakeRocketChat, client: httpx.AsyncClient, no_rate_limit: None
) -> None:
    user = fake.add_user("new", "pw", totp_secret=TOTP_SECRET, created_at=T0)
    token = fake.create_login_token(user)
    assert (await _gen(client, auth(user, token), "a")).status_code == 200
    fake.clock.advance(1801)
    assert (await _gen(client, auth(user, token), "b")).json()["errorType"] == "totp-required"


async def test_bypass_pat_skips_2fa_and_can_mint_more(
    fake: FakeRocketChat, client: httpx.AsyncClient, no_rate_limit: None
) -> None:
    user = fake.add_user("alice", "pw", totp_secret=TOTP_SECRET)
    pat = fake.create_pat(user, "bypass", bypass_two_factor=True)
    r = await client.post(
        GEN, json={"tokenName": "n", "bypassTwoFactor": True}, headers=auth(user, pat)
    )
    assert r.status_code == 200


@pytest.mark.parametrize(
    "setting",
    [
        {"Accounts_TwoFactorAuthentication_Enabled": False},
        {
            "Accounts_TwoFactorAuthentication_By_TOTP_Enabled": False,
            "Accounts_TwoFactorAuthentication_Enforce_Password_Fallback": False,
        },
    ],
)
async def test_global_switches(
    fake: FakeRocketChat, client: httpx.AsyncClient, no_rate_limit: None, setting: dict[str, bool]
) -> None:
    user = fake.add_user("alice", "pw", totp_secret=TOTP_SECRET)
    token = fake.create_login_token(user)
    assert (await _gen(client, auth(user, token))).json()["errorType"] == "totp-required"
    fake.update_settings(setting)
    assert (await _gen(client, auth(user, token), "b")).status_code == 200
    r = await client.post("/api/v1/login", json={"user": "alice", "password": "pw"})
    assert r.status_code == 200


async def test_test_mode_skips_2fa_and_rate_limits() -> None:
    fake = FakeRocketChat(test_mode=True)
    user = fake.add_user("alice", "pw", totp_secret=TOTP_SECRET)
    token = fake.create_login_token(user)
    transport = httpx.ASGITransport(app=fake.asgi_app, client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as http:
        r = await http.post(GEN, json={"tokenName": "t"}, headers=auth(user, token))
        assert r.status_code == 200
        assert "x-ratelimit-limit" not in r.headers
