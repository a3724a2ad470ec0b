"""History endpoints (§4.13: channels.history, im.history / dm.history) and TEST_MODE failure
bodies (§3.10) of the fake."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from botkit.testing import GENERAL_ROOM_ID, FakeRocketChat, Room, User, serve

from .conftest import T0, auth

V1 = "/api/v1/"


@pytest.fixture
def bot(fake: FakeRocketChat) -> tuple[User, dict[str, str]]:
    user = fake.add_user("bot", "pw", roles=["bot"])
    return user, auth(user, fake.create_pat(user, "jobs"))


@pytest.fixture
def dm(fake: FakeRocketChat, bot: tuple[User, dict[str, str]]) -> Room:
    """A DM between the bot and alice with m0..m4 ten minutes apart and one thread reply."""
    user, _ = bot
    alice = fake.add_user("alice", "pw")
    room = fake.create_dm([user, alice])
    first = ""
    for i, minutes in enumerate((50, 40, 30, 20, 10)):
        sender = alice if i % 2 else user
        message = fake.add_message(room, sender, f"m{i}", ts=T0 - timedelta(minutes=minutes))
        first = first or message["_id"]
    fake.add_message(room, alice, "reply", tmid=first, ts=T0 - timedelta(minutes=5))
    return room


def _texts(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [m["msg"] for m in response.json()["messages"]]


async def test_im_history_semantics_and_alias(
    client: httpx.AsyncClient, bot: tuple[User, dict[str, str]], dm: Room
) -> None:
    _, h = bot

    async def history(route: str = "im.history", **params: str) -> httpx.Response:
        return await client.get(f"{V1}{route}", params={"roomId": dm.id, **params}, headers=h)

    r = await history()
    assert list(r.json()) == ["messages", "success"]  # no count / offset / total
    assert _texts(r) == ["m4", "m3", "m2", "m1", "m0"]  # newest first, thread reply hidden
    assert _texts(await history("dm.history")) == _texts(r)
    assert _texts(await history(showThreadMessages="true"))[0] == "reply"
    assert _texts(await history(showThreadMessages="false"))[0] == "m4"
    latest = (T0 - timedelta(minutes=20)).isoformat()
    assert _texts(await history(latest=latest)) == ["m2", "m1", "m0"]  # latest is exclusive
    assert _texts(await history(latest=latest, inclusive="true")) == ["m3", "m2", "m1", "m0"]
    oldest = (T0 - timedelta(minutes=40)).isoformat()
    assert _texts(await history(oldest=oldest)) == ["m4", "m3", "m2"]
    assert _texts(await history(count="2", offset="1")) == ["m3", "m2"]
    # count/offset are numbers after ajv's coercion; `sort` is accepted and ignored
    assert _texts(await history(count=" 2 ", sort='{"ts": 1}')) == ["m4", "m3"]
    assert (await history(count="1e1", offset="0x0", sort="not json")).status_code == 200


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({}, "must have required property 'roomId'"),
        ({"roomId": "x", "roomName": "general"}, "must NOT have additional properties"),
        ({"roomId": ""}, "must NOT have fewer than 1 characters"),
        ({"roomId": "x", "latest": ""}, "must NOT have fewer than 1 characters"),
        ({"roomId": "x", "inclusive": "1"}, "must be equal to one of the allowed values"),
        ({"roomId": "x", "unreads": "True"}, "must be equal to one of the allowed values"),
        ({"roomId": "x", "count": "ten"}, "must be number"),
        ({"roomId": "x", "offset": ""}, "must be number"),
        # ajv stops at the first error: `required` before `additionalProperties`
        ({"extra": "1"}, "must have required property 'roomId'"),
        # ... then the properties in schema order (showThreadMessages before count)
        (
            {"roomId": "x", "count": "z", "showThreadMessages": "yes"},
            "must be equal to one of the allowed values",
        ),
    ],
)
async def test_im_history_typed_query_fails_before_auth_and_rate_limit(
    fake: FakeRocketChat, client: httpx.AsyncClient, params: dict[str, str], error: str
) -> None:
    alice = fake.add_user("alice", "pw")  # a plain user: rate limited
    h = auth(alice, fake.create_pat(alice, "t"))
    fake.update_settings({"API_Enable_Rate_Limiter_Limit_Calls_Default": 1})
    expected = {"success": False, "errorType": "error-invalid-params", "error": error}
    for route in ("im.history", "dm.history"):
        for headers in ({}, h, h):  # no credentials at all, then valid ones twice
            r = await client.get(f"{V1}{route}", params=params, headers=headers)
            assert r.status_code == 400
            assert list(r.json()) == ["success", "errorType", "error"]
            assert r.json() == expected
            assert "x-ratelimit-limit" not in r.headers
        # none of them reached the rate limiter: the first valid call is allowed
        r = await client.get(f"{V1}{route}", params={"roomId": "alice"}, headers=h)
        assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == "0"


async def test_im_history_auth_room_and_access_errors(
    fake: FakeRocketChat, client: httpx.AsyncClient, bot: tuple[User, dict[str, str]], dm: Room
) -> None:
    user, h = bot
    r = await client.get(f"{V1}im.history", params={"roomId": dm.id})
    assert r.status_code == 401  # a valid query reaches the auth check
    not_found = {
        "success": False,
        "error": 'The required "roomId" param provided does not match any direct message '
        "[error-room-not-found]",
        "errorType": "error-room-not-found",
    }
    for room_id in ("nope", GENERAL_ROOM_ID):  # unknown id, a room that is not a DM
        r = await client.get(f"{V1}im.history", params={"roomId": room_id}, headers=h)
        assert (r.status_code, r.json()) == (400, not_found)
    carol, dave = fake.add_user("carol", "pw"), fake.add_user("dave", "pw")
    others = fake.create_dm([carol, dave])
    fake.add_message(others, carol, "private")
    r = await client.get(f"{V1}dm.history", params={"roomId": others.id}, headers=h)
    assert (r.status_code, r.json()) == (403, {"success": False, "error": "unauthorized"})
    assert fake.subscription(user, others.id) is None


async def test_im_history_forbidden_from_8_0() -> None:
    fake = FakeRocketChat(version="8.0.0")
    carol, dave, bot = (fake.add_user(n, "pw") for n in ("carol", "dave", "bot"))
    others = fake.create_dm([carol, dave])
    transport = httpx.ASGITransport(app=fake.asgi_app, client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as http:
        r = await http.get(
            f"{V1}im.history",
            params={"roomId": others.id},
            headers=auth(bot, fake.create_pat(bot, "t")),
        )
    assert (r.status_code, r.json()) == (403, {"success": False, "error": "forbidden"})


async def test_im_history_by_username_or_user_id(
    fake: FakeRocketChat, client: httpx.AsyncClient, bot: tuple[User, dict[str, str]], dm: Room
) -> None:
    user, h = bot
    alice = fake.user("alice")
    for room_id in ("alice", "@alice", alice.id):
        r = await client.get(f"{V1}im.history", params={"roomId": room_id}, headers=h)
        assert _texts(r) == ["m4", "m3", "m2", "m1", "m0"]
    # a user without a DM yet: opened on the way (createDirectMessage), unless create-d is denied
    carol = fake.add_user("carol", "pw")
    r = await client.get(f"{V1}im.history", params={"roomId": "carol"}, headers=h)
    assert _texts(r) == []
    assert fake.subscription(user, "".join(sorted((user.id, carol.id)))) is not None
    fake.add_user("erin", "pw")
    fake.deny(user, "create-d")
    r = await client.get(f"{V1}im.history", params={"roomId": "erin"}, headers=h)
    assert r.status_code == 400
    assert r.json() == {
        "success": False,
        "error": "Not allowed [error-not-allowed]",
        "errorType": "error-not-allowed",
        "details": {"method": "createDirectMessage"},
    }


@pytest.mark.parametrize("route", ["im.history", "channels.history"])
async def test_history_unreads_against_last_seen(
    fake: FakeRocketChat,
    client: httpx.AsyncClient,
    bot: tuple[User, dict[str, str]],
    dm: Room,
    route: str,
) -> None:
    user, h = bot
    room = dm if route == "im.history" else fake.room(GENERAL_ROOM_ID)
    if route == "channels.history":
        for i, minutes in enumerate((50, 40, 30, 20, 10)):
            fake.add_message(room, user, f"m{i}", ts=T0 - timedelta(minutes=minutes))
    sub = fake.join_room(user, room.id)

    async def history(**params: str) -> httpx.Response:
        return await client.get(f"{V1}{route}", params={"roomId": room.id, **params}, headers=h)

    # without `oldest` the server knows nothing about what was read
    r = await history(unreads="true")
    assert list(r.json()) == ["messages", "unreadNotLoaded", "success"]
    assert r.json()["unreadNotLoaded"] == 0
    assert list((await history(unreads="false")).json()) == ["messages", "success"]

    # the subscription's last-seen time defaults to when it was made, and can move on
    r = await client.get(f"{V1}subscriptions.get", headers=h)
    [view] = [s for s in r.json()["update"] if s["rid"] == room.id]
    assert view["ls"] == view["ts"]
    sub.ls = T0 - timedelta(minutes=45)  # read up to (and including) m0
    r = await client.get(f"{V1}subscriptions.get", headers=h)
    [view] = [s for s in r.json()["update"] if s["rid"] == room.id]
    assert view["ls"] == "2025-03-01T09:15:00.000Z"

    # a client passes `ls` as `oldest`: m1..m4 are unread; a page of 2 loads m4, m3
    r = await history(unreads="true", oldest=view["ls"], count="2")
    body = r.json()
    assert list(body) == ["messages", "firstUnread", "unreadNotLoaded", "success"]
    assert [m["msg"] for m in body["messages"]] == ["m4", "m3"]
    assert body["firstUnread"]["msg"] == "m1"
    assert body["unreadNotLoaded"] == 2  # m2, m1
    # the page reaches `oldest`: nothing left out, no firstUnread
    r = await history(unreads="true", oldest=view["ls"])
    assert [m["msg"] for m in r.json()["messages"]] == ["m4", "m3", "m2", "m1"]
    assert list(r.json()) == ["messages", "unreadNotLoaded", "success"]
    assert r.json()["unreadNotLoaded"] == 0
    # an empty page has nothing to compare with
    r = await history(unreads="true", oldest=view["ls"], offset="10")
    assert r.json() == {"messages": [], "unreadNotLoaded": 0, "success": True}


async def test_test_mode_adds_stack_to_thrown_errors_only() -> None:
    for test_mode in (False, True):
        fake = FakeRocketChat(test_mode=test_mode)
        user = fake.add_user("alice", "pw")  # a plain user: rate limited in production
        h = auth(user, fake.create_pat(user, "jobs"))
        fake.add_room("ops")
        transport = httpx.ASGITransport(app=fake.asgi_app, client=("127.0.0.1", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://fake") as http:
            thrown = [
                # Meteor.Error from a handler, with and without details
                await http.get(f"{V1}im.history", params={"roomId": "nope"}, headers=h),
                await http.post(f"{V1}im.create", json={"username": "ghost"}, headers=h),
                # a plain Error (canSendMessage: not subscribed)
                await http.post(
                    f"{V1}chat.sendMessage",
                    json={"message": {"rid": fake.room("ops").id, "msg": "x"}},
                    headers=h,
                ),
                # legacy validateParams throws Meteor.Error('invalid-params')
                await http.get(f"{V1}chat.getMessage", headers=h),
            ]
            built = [
                await http.get(f"{V1}chat.getMessage", params={"msgId": "nope"}, headers=h),
                await http.get(f"{V1}im.history"),  # typed query, answered by the router
                await http.get(f"{V1}me"),  # 401
                await http.get(f"{V1}users.info", params={"username": "ghost"}, headers=h),
            ]
        for r in thrown:
            assert r.status_code == 400
            body = r.json()
            if not test_mode:
                assert "stack" not in body
                continue
            keys = list(body)
            assert keys[:3] == ["success", "error", "stack"]
            assert body["stack"].startswith(f"Error: {body['error']}\n    at ")
            assert keys[3:] in ([], ["errorType"], ["errorType", "details"])
        for r in built:
            assert r.status_code in (400, 401)
            assert "stack" not in r.json()
        # the other TEST_MODE effect seen here is untouched: no rate limiter
        assert ("x-ratelimit-limit" in thrown[0].headers) is not test_mode


def test_im_history_over_loopback() -> None:
    fake = FakeRocketChat()
    bot, alice = fake.add_user("bot", "pw", roles=["bot"]), fake.add_user("alice", "pw")
    room = fake.create_dm([bot, alice])
    fake.add_message(room, alice, "hello", ts=T0)
    fake.add_message(room, bot, "hi", ts=T0 + timedelta(seconds=1))
    fake.clock.freeze(T0 + timedelta(minutes=1))
    h = auth(bot, fake.create_pat(bot, "jobs"))
    with serve(fake) as server, httpx.Client(base_url=server.url, timeout=5) as http:
        r = http.get(V1 + "im.history", params={"roomId": room.id, "bogus": "1"})
        assert r.status_code == 400
        assert r.json() == {
            "success": False,
            "errorType": "error-invalid-params",
            "error": "must NOT have additional properties",
        }
        r = http.get(V1 + "dm.history", params={"roomId": room.id, "unreads": "true"}, headers=h)
        assert r.status_code == 200
        assert r.json() == {
            "messages": r.json()["messages"],
            "unreadNotLoaded": 0,
            "success": True,
        }
        assert [m["msg"] for m in r.json()["messages"]] == ["hi", "hello"]
        assert r.headers["cache-control"] == "no-store"
