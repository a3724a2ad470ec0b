"""The four PAT endpoints: order of checks and exact errors (§4.5, §3.1)."""

from __future__ import annotations

import httpx
import pytest

from botkit.testing import FakeRocketChat

from .conftest import TOTP_SECRET, auth, totp_now

V1 = "/api/v1/"


@pytest.fixture(autouse=True)
def _no_rate_limit(fake: FakeRocketChat) -> None:
    fake.update_settings({"API_Enable_Rate_Limiter": False})


def _not_authorized(method: str) -> dict[str, object]:
    return {
        "success": False,
        "error": "Not Authorized [not-authorized]",
        "errorType": "not-authorized",
        "details": {"method": f"personalAccessTokens:{method}"},
    }


async def test_2fa_comes_before_parameter_and_permission_errors(
    fake: FakeRocketChat, client: httpx.AsyncClient
) -> None:
    bot = fake.add_user("bot", "pw", roles=["bot"], totp_secret=TOTP_SECRET)
    token = fake.create_login_token(bot)
    for route in ("generate", "regenerate", "remove"):
        r = await client.post(
            f"{V1}users.{route}PersonalAccessToken", json={}, headers=auth(bot, token)
        )
        assert r.status_code == 400
        assert r.json()["errorType"] == "totp-required"
    h = auth(bot, token, **{"x-2fa-code": totp_now(fake)})
    r = await client.post(f"{V1}users.generatePersonalAccessToken", json={}, headers=h)
    assert r.json() == {"success": False, "error": "The 'tokenName' param is required"}
    r = await client.post(
        f"{V1}users.generatePersonalAccessToken", json={"tokenName": ""}, headers=h
    )
    assert r.json() == {"success": False, "error": "The 'tokenName' param is required"}
    # pure bot role: 400 not-authorized (not 403), pitfall §7.3
    for route, method in (
        ("generate", "generateToken"),
        ("regenerate", "regenerateToken"),
        ("remove", "removeToken"),
    ):
        r = await client.post(
            f"{V1}users.{route}PersonalAccessToken", json={"tokenName": "x"}, headers=h
        )
        assert r.status_code == 400
        assert r.json() == _not_authorized(method)
    r = await client.get(f"{V1}users.getPersonalAccessTokens", headers=auth(bot, token))
    assert r.status_code == 403
    assert r.json() == {
        "success": False,
        "error": "User does not have the permissions required for this action [error-unauthorized]",
    }


async def test_list_permission_error_from_version_8() -> None:
    fake = FakeRocketChat(version="8.0.0")
    bot = fake.add_user("bot", "pw", roles=["bot"])
    token = fake.create_login_token(bot)
    transport = httpx.ASGITransport(app=fake.asgi_app, client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as http:
        r = await http.get(f"{V1}users.getPersonalAccessTokens", headers=auth(bot, token))
    assert r.status_code == 403
    assert r.json()["error"].endswith("[error-forbidden]")


async def test_generate_list_regenerate_remove(
    fake: FakeRocketChat, client: httpx.AsyncClient
) -> None:
    user = fake.add_user("alice", "pw", roles=["user"], created_at=None)
    fake.update_settings({"Accounts_TwoFactorAuthentication_Enforce_Password_Fallback": False})
    login = fake.create_login_token(user)
    h = auth(user, login)
    r = await client.post(
        f"{V1}users.generatePersonalAccessToken",
        json={"tokenName": "jobs", "bypassTwoFactor": True},
        headers=h,
    )
    assert r.status_code == 200 and list(r.json()) == ["token", "success"]
    first = r.json()["token"]
    assert len(first) == 43
    r = await client.post(
        f"{V1}users.generatePersonalAccessToken", json={"tokenName": "jobs"}, headers=h
    )
    assert r.json() == {
        "success": False,
        "error": "A token with this name already exists [error-token-already-exists]",
        "errorType": "error-token-already-exists",
        "details": {"method": "personalAccessTokens:generateToken"},
    }
    await client.post(
        f"{V1}users.generatePersonalAccessToken", json={"tokenName": "other"}, headers=h
    )

    fake.clock.advance(60)
    # regenerate with the PAT itself: succeeds, the old token dies at once
    r = await client.post(
        f"{V1}users.regeneratePersonalAccessToken",
        json={"tokenName": "jobs"},
        headers=auth(user, first),
    )
    assert r.status_code == 200
    second = r.json()["token"]
    assert (await client.get(f"{V1}me", headers=auth(user, first))).status_code == 401
    r = await client.get(f"{V1}users.getPersonalAccessTokens", headers=auth(user, second))
    tokens = r.json()["tokens"]
    assert [t["name"] for t in tokens] == ["other", "jobs"]  # regenerated moves to the end
    assert tokens[1] == {
        "name": "jobs",
        "createdAt": "2025-03-01T10:01:00.000Z",
        "lastTokenPart": second[-6:],
        "bypassTwoFactor": True,
    }
    assert tokens[0]["bypassTwoFactor"] is False
    assert set(tokens[0]) == {"name", "createdAt", "lastTokenPart", "bypassTwoFactor"}

    r = await client.post(
        f"{V1}users.regeneratePersonalAccessToken", json={"tokenName": "nope"}, headers=h
    )
    assert r.json() == {
        "success": False,
        "error": "Token does not exist [error-token-does-not-exists]",
        "errorType": "error-token-does-not-exists",
        "details": {"method": "personalAccessTokens:regenerateToken"},
    }
    r = await client.post(
        f"{V1}users.removePersonalAccessToken", json={"tokenName": "nope"}, headers=h
    )
    assert r.json()["details"] == {"method": "personalAccessTokens:removeToken"}
    # removing the PAT that authenticates the request is allowed
    r = await client.post(
        f"{V1}users.removePersonalAccessToken",
        json={"tokenName": "jobs"},
        headers=auth(user, second),
    )
    assert r.json() == {"success": True}
    assert (await client.get(f"{V1}me", headers=auth(user, second))).status_code == 401
    assert [t.name for t in user.pats()] == ["other"]


async def test_regenerate_loses_the_trusted_window(
    fake: FakeRocketChat, client: httpx.AsyncClient
) -> None:
    user = fake.add_user("alice", "pw", totp_secret=TOTP_SECRET)
    pat = fake.create_pat(user, "jobs")
    h = auth(user, pat, **{"x-2fa-code": totp_now(fake)})
    r = await client.post(
        f"{V1}users.regeneratePersonalAccessToken", json={"tokenName": "jobs"}, headers=h
    )
    new = r.json()["token"]
    element = user.find_pat("jobs")
    assert element is not None and element.two_factor_authorized_until is None
    r = await client.post(
        f"{V1}users.removePersonalAccessToken", json={"tokenName": "jobs"}, headers=auth(user, new)
    )
    assert r.json()["errorType"] == "totp-required"


async def test_body_without_json_content_type_loses_its_fields(
    fake: FakeRocketChat, client: httpx.AsyncClient
) -> None:
    """§4.0 / pitfall §7.13: a non-JSON content type spreads the text into characters."""
    user = fake.add_user("alice", "pw")
    pat = fake.create_pat(user, "b", bypass_two_factor=True)
    r = await client.post(
        f"{V1}users.generatePersonalAccessToken",
        content=b'{"tokenName":"x"}',
        headers={**auth(user, pat), "Content-Type": "text/plain"},
    )
    assert r.json() == {"success": False, "error": "The 'tokenName' param is required"}
