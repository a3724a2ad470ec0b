"""Rate limiting (§5) on the fake clock."""

from __future__ import annotations

import httpx

from botkit.testing import FakeRocketChat

from .conftest import T0, auth, rl_headers

T0_MS = int(T0.timestamp() * 1000)


async def test_ten_per_minute_per_ip_per_route_with_headers(
    fake: FakeRocketChat, client: httpx.AsyncClient
) -> None:
    user = fake.add_user("alice", "pw")
    token = fake.create_login_token(user)
    h = auth(user, token)
    for i in range(10):
        r = await client.get("/api/v1/me", headers=h)
        assert r.status_code == 200
        assert rl_headers(r) == {
            "x-ratelimit-limit": "10",
            "x-ratelimit-remaining": str(9 - i),
            "x-ratelimit-reset": str(T0_MS + 60000),
        }
        assert "retry-after" not in r.headers
    fake.clock.advance(22.5)
    r = await client.get("/api/v1/me", headers=h)
    assert r.status_code == 429
    assert r.json() == {
        "success": False,
        "error": "Error, too many requests. Please slow down. You must wait 38 seconds before "
        "trying this endpoint again. [error-too-many-requests]",
    }
    assert rl_headers(r) == {
        "x-ratelimit-limit": "10",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": str(T0_MS + 60000),
    }
    # other route, other method, other IP: separate counters
    assert (await client.get("/api/v1/rooms.get", headers=h)).status_code == 200
    assert (
        await client.get("/api/v1/me", headers={**h, "X-Real-IP": "10.0.0.2"})
    ).status_code == 200
    # the window ends: allowed again
    fake.clock.advance(40)
    r = await client.get("/api/v1/me", headers=h)
    assert r.status_code == 200
    assert r.headers["x-ratelimit-remaining"] == "9"


async def test_bypass_roles_get_no_headers(fake: FakeRocketChat, client: httpx.AsyncClient) -> None:
    for role in ("bot", "admin", "app"):
        user = fake.add_user(role + "-user", "pw", roles=[role])
        token = fake.create_login_token(user)
        for _ in range(12):
            r = await client.get("/api/v1/me", headers=auth(user, token))
            assert r.status_code == 200
            assert rl_headers(r) == {}


async def test_login_is_limited_even_for_bot_role(
    fake: FakeRocketChat, client: httpx.AsyncClient
) -> None:
    fake.add_user("bot", "pw", roles=["bot"])
    for _ in range(10):
        r = await client.post("/api/v1/login", json={"user": "bot", "password": "pw"})
        assert r.status_code == 200 and "x-ratelimit-limit" in r.headers
    r = await client.post("/api/v1/login", json={"user": "bot", "password": "pw"})
    assert r.status_code == 429


async def test_date_header_follows_the_clock(
    fake: FakeRocketChat, client: httpx.AsyncClient
) -> None:
    fake.clock.advance(3600)
    r = await client.get("/api/info")
    assert r.headers["date"] == "Sat, 01 Mar 2025 11:00:00 GMT"


async def test_rate_limiter_setting(fake: FakeRocketChat, client: httpx.AsyncClient) -> None:
    fake.update_settings(
        {
            "API_Enable_Rate_Limiter_Limit_Calls_Default": 2,
            "API_Enable_Rate_Limiter_Limit_Time_Default": 1000,
        }
    )
    user = fake.add_user("alice", "pw")
    h = auth(user, fake.create_login_token(user))
    assert [(await client.get("/api/v1/me", headers=h)).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    fake.clock.advance(1.001)
    assert (await client.get("/api/v1/me", headers=h)).status_code == 200
