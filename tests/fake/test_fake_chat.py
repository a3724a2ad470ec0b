"""Bot endpoints (§4.7-§4.15) of the fake."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from botkit.testing import GENERAL_ROOM_ID, FakeRocketChat, User

from .conftest import T0, auth

V1 = "/api/v1/"


@pytest.fixture
def bot(fake: FakeRocketChat) -> tuple[User, dict[str, str]]:
    user = fake.add_user("bot", "pw", roles=["bot"])
    return user, auth(user, fake.create_pat(user, "jobs"))


async def test_post_message_channel_resolution_and_auto_join(
    fake: FakeRocketChat, client: httpx.AsyncClient, bot: tuple[User, dict[str, str]]
) -> None:
    user, h = bot
    room = fake.add_room("ops")
    alice = fake.add_user("alice", "pw")
    assert fake.subscription(user, room.id) is None
    r = await client.post(
        f"{V1}chat.postMessage", json={"channel": "#ops", "text": "  hi  "}, headers=h
    )
    assert r.status_code == 200
    body = r.json()
    assert list(body) == ["ts", "channel", "message", "success"]
    assert body["channel"] == "#ops" and body["ts"] == int(T0.timestamp() * 1000)
    assert body["message"]["rid"] == room.id and body["message"]["msg"] == "hi"
    assert body["message"]["groupable"] is False
    assert fake.subscription(user, room.id) is not None  # joined

    r = await client.post(
        f"{V1}chat.postMessage", json={"channel": "@alice", "text": "dm"}, headers=h
    )
    assert r.status_code == 200
    dm = fake.rooms[r.json()["message"]["rid"]]
    assert dm.t == "d" and sorted(dm.usernames) == ["alice", "bot"]
    r = await client.post(
        f"{V1}chat.postMessage", json={"roomId": GENERAL_ROOM_ID, "text": "x"}, headers=h
    )
    assert r.json()["channel"] == GENERAL_ROOM_ID
    r = await client.post(
        f"{V1}chat.postMessage", json={"channel": "ops", "text": "bare"}, headers=h
    )
    assert r.status_code == 200
    r = await client.post(
        f"{V1}chat.postMessage", json={"channel": alice.id, "text": "by id"}, headers=h
    )
    assert r.json()["message"]["rid"] == dm.id

    r = await client.post(
        f"{V1}chat.postMessage", json={"channel": "#nowhere", "text": "x"}, headers=h
    )
    assert r.status_code == 400
    assert r.json() == {
        "success": False,
        "error": "[invalid-channel]",
        "errorType": "invalid-channel",
    }


@pytest.mark.parametrize(
    "body",
    [
        {"channel": "#general", "msg": "hi"},
        {"channel": "#general", "roomId": "GENERAL", "text": "hi"},
        {"channel": "#general", "text": "hi", "tmid": "abc"},
        {"text": "hi"},
        {"roomId": 5, "text": "hi"},
    ],
)
async def test_post_message_strict_body(
    client: httpx.AsyncClient, bot: tuple[User, dict[str, str]], body: dict[str, object]
) -> None:
    r = await client.post(f"{V1}chat.postMessage", json=body, headers=bot[1])
    assert r.status_code == 400
    data = r.json()
    assert data["errorType"] == "invalid-params"
    assert data["error"].endswith(" [invalid-params]")
    assert list(data) == ["success", "error", "errorType"]


async def test_post_message_room_and_size_errors(
    fake: FakeRocketChat, client: httpx.AsyncClient, bot: tuple[User, dict[str, str]]
) -> None:
    user, h = bot
    fake.add_room("secret", room_type="p")
    r = await client.post(
        f"{V1}chat.postMessage", json={"channel": "#secret", "text": "x"}, headers=h
    )
    assert r.json() == {"success": False, "error": "error-not-allowed"}
    fake.add_room("news", read_only=True, members=[user])
    r = await client.post(
        f"{V1}chat.postMessage", json={"channel": "#news", "text": "x"}, headers=h
    )
    assert r.json() == {
        "success": False,
        "error": "You can't send messages because the room is readonly.",
    }
    r = await client.post(
        f"{V1}chat.postMessage", json={"channel": "#general", "text": "x" * 5001}, headers=h
    )
    assert r.json() == {"success": False, "error": "error-message-size-exceeded"}


async def test_impersonation_needs_permission(
    fake: FakeRocketChat, client: httpx.AsyncClient, bot: tuple[User, dict[str, str]]
) -> None:
    person = fake.add_user("alice", "pw", roles=["user"])
    ph = auth(person, fake.create_login_token(person))
    r = await client.post(
        f"{V1}chat.postMessage",
        json={"channel": "#general", "text": "x", "alias": "Boss"},
        headers=ph,
    )
    assert r.json() == {"success": False, "error": "Not enough permission"}
    assert fake.room_messages(GENERAL_ROOM_ID) == []
    _, h = bot
    r = await client.post(
        f"{V1}chat.postMessage",
        json={"channel": "#general", "text": "x", "avatar": "javascript:alert(1)"},
        headers=h,
    )
    assert r.json() == {"success": False, "error": "Invalid href value provided"}
    r = await client.post(
        f"{V1}chat.postMessage",
        json={
            "channel": "#general",
            "text": "x",
            "alias": "Boss",
            "emoji": ":x:",
            "avatar": "https://a/b.png",
        },
        headers=h,
    )
    message = r.json()["message"]
    assert (
        message["alias"] == "Boss"
        and message["avatar"] == "https://a/b.png"
        and "emoji" not in message
    )


async def test_send_message_with_client_id_and_retry(
    fake: FakeRocketChat, client: httpx.AsyncClient, bot: tuple[User, dict[str, str]]
) -> None:
    _, h = bot
    body = {"message": {"rid": GENERAL_ROOM_ID, "msg": "once", "_id": "client-id-1"}}
    r = await client.post(f"{V1}chat.sendMessage", json=body, headers=h)
    assert r.status_code == 200
    assert r.json()["message"]["_id"] == "client-id-1"
    # a retry with the same _id: no duplicate, and an error (UNVERIFIED outcome, stricter pick)
    r = await client.post(f"{V1}chat.sendMessage", json=body, headers=h)
    assert r.status_code == 400
    assert r.json() == {
        "success": False,
        "error": "Cannot read properties of undefined (reading 'starred')",
    }
    assert len(fake.room_messages(GENERAL_ROOM_ID)) == 1
    r = await client.get(f"{V1}chat.getMessage", params={"msgId": "client-id-1"}, headers=h)
    assert r.status_code == 200
    assert r.json()["message"]["msg"] == "once" and r.json()["success"] is True


async def test_send_message_errors(
    fake: FakeRocketChat, client: httpx.AsyncClient, bot: tuple[User, dict[str, str]]
) -> None:
    _, h = bot

    async def send(message: dict[str, object], **extra: object) -> httpx.Response:
        return await client.post(
            f"{V1}chat.sendMessage", json={"message": message, **extra}, headers=h
        )

    assert (await send({"msg": "x"})).json() == {
        "success": False,
        "error": "The 'rid' property on the message object is missing.",
    }
    r = await send({"rid": GENERAL_ROOM_ID, "msg": "x"}, extra=1)
    assert r.json()["errorType"] == "invalid-params"
    r = await send({"rid": GENERAL_ROOM_ID, "msg": "x", "t": "uj"})
    assert r.json() == {
        "success": False,
        "error": "Cannot send system messages using 'chat.sendMessage'",
    }
    r = await send({"rid": GENERAL_ROOM_ID, "msg": "x", "tshow": True})
    assert r.json()["error"] == "tshow provided but missing tmid [invalid-params]"
    r = await send(
        {"rid": GENERAL_ROOM_ID, "msg": "x", "ts": (T0 - timedelta(seconds=61)).isoformat()}
    )
    assert r.json()["errorType"] == "error-message-ts-out-of-sync"
    assert set(r.json()["details"]) == {"method", "message_ts", "server_ts"}
    r = await send({"rid": GENERAL_ROOM_ID, "msg": "x" * 5001})
    assert (
        r.json()["error"]
        == "Message size exceeds Message_MaxAllowedSize [error-message-size-exceeded]"
    )


async def test_get_message_errors(
    fake: FakeRocketChat, client: httpx.AsyncClient, bot: tuple[User, dict[str, str]]
) -> None:
    _, h = bot
    r = await client.get(f"{V1}chat.getMessage", params={"msgId": "missing"}, headers=h)
    assert r.status_code == 400 and r.json() == {"success": False}
    other = fake.add_user("alice", "pw")
    room = fake.add_room("private", room_type="p", members=[other])
    msg = fake.add_message(room, other, "secret")
    r = await client.get(f"{V1}chat.getMessage", params={"msgId": msg["_id"]}, headers=h)
    assert r.json()["errorType"] == "error-not-allowed"
    r = await client.get(f"{V1}chat.getMessage", headers=h)
    assert r.json()["errorType"] == "invalid-params"


async def test_channels_history(
    fake: FakeRocketChat, client: httpx.AsyncClient, bot: tuple[User, dict[str, str]]
) -> None:
    user, h = bot
    times = [T0 - timedelta(minutes=m) for m in (50, 40, 30, 20, 10)]
    ids = [
        fake.add_message(GENERAL_ROOM_ID, user, f"m{i}", ts=t)["_id"] for i, t in enumerate(times)
    ]
    fake.add_message(GENERAL_ROOM_ID, user, "reply", tmid=ids[0], ts=T0 - timedelta(minutes=5))

    async def history(**params: str) -> list[str]:
        r = await client.get(
            f"{V1}channels.history", params={"roomId": GENERAL_ROOM_ID, **params}, headers=h
        )
        assert r.status_code == 200, r.text
        assert set(r.json()) == {"messages", "success"}
        return [m["msg"] for m in r.json()["messages"]]

    assert await history() == ["m4", "m3", "m2", "m1", "m0"]
    assert await history(showThreadMessages="true") == ["reply", "m4", "m3", "m2", "m1", "m0"]
    latest = times[3].isoformat()
    assert await history(latest=latest) == ["m2", "m1", "m0"]
    assert await history(latest=latest, inclusive="true") == ["m3", "m2", "m1", "m0"]
    assert await history(oldest=times[1].isoformat()) == ["m4", "m3", "m2"]
    assert await history(count="2", offset="1") == ["m3", "m2"]
    r = await client.get(f"{V1}channels.history", params={"roomName": "general"}, headers=h)
    assert len(r.json()["messages"]) == 5

    r = await client.get(f"{V1}channels.history", params={"roomId": "nope"}, headers=h)
    assert r.json() == {
        "success": False,
        "error": 'The required "roomId" or "roomName" param provided does not match any channel '
        "[error-room-not-found]",
        "errorType": "error-room-not-found",
    }


async def test_im_create_typed_validation_before_auth(
    fake: FakeRocketChat, client: httpx.AsyncClient, bot: tuple[User, dict[str, str]]
) -> None:
    user, h = bot
    fake.add_user("alice", "pw")
    r = await client.post(f"{V1}im.create", json={"username": "alice", "usernames": "alice"})
    assert r.status_code == 400  # validated before authentication
    assert list(r.json()) == ["success", "errorType", "error"]
    assert r.json()["errorType"] == "invalid-params" and "[invalid-params]" not in r.json()["error"]
    r = await client.post(f"{V1}im.create", json={"username": "alice"}, headers=h)
    room = r.json()["room"]
    assert room["t"] == "d" and room["rid"] == room["_id"]
    assert list(room)[:2] == ["t", "rid"] and list(room)[-1] == "_id"
    again = await client.post(f"{V1}dm.create", json={"username": "alice"}, headers=h)
    assert again.json()["room"]["_id"] == room["_id"]
    r = await client.post(f"{V1}im.create", json={"username": "ghost"}, headers=h)
    assert r.json() == {
        "success": False,
        "error": "Invalid user [error-invalid-user]",
        "errorType": "error-invalid-user",
        "details": {"method": "createDirectMessage"},
    }
    fake.add_user("carol", "pw")
    fake.deny(user, "create-d")
    r = await client.post(f"{V1}im.create", json={"username": "carol"}, headers=h)
    assert r.json()["errorType"] == "error-not-allowed"


async def test_rooms_subscriptions_channels_joined(
    fake: FakeRocketChat, client: httpx.AsyncClient, bot: tuple[User, dict[str, str]]
) -> None:
    user, h = bot
    fake.add_room("zeta", members=[user])
    fake.add_room("alpha", members=[user])
    fake.add_room("private", room_type="p", members=[user])
    fake.add_room("notjoined")
    r = await client.get(f"{V1}rooms.get", headers=h)
    assert r.json()["remove"] == [] and len(r.json()["update"]) == 4
    r = await client.get(f"{V1}rooms.get", params={"updatedSince": "not a date"}, headers=h)
    assert r.json()["errorType"] == "error-updatedSince-param-invalid"
    r = await client.get(f"{V1}subscriptions.get", params={"updatedSince": "x"}, headers=h)
    assert r.json() == {
        "success": False,
        "error": 'The "lastUpdate" query parameter must be a valid date. '
        "[error-roomId-param-invalid]",
        "errorType": "error-roomId-param-invalid",
    }
    fake.clock.advance(10)
    fake.add_room("late", members=[user])
    r = await client.get(
        f"{V1}subscriptions.get",
        params={"updatedSince": (T0 + timedelta(seconds=5)).isoformat()},
        headers=h,
    )
    assert [s["name"] for s in r.json()["update"]] == ["late"]

    r = await client.get(f"{V1}channels.list.joined", params={"count": "2"}, headers=h)
    body = r.json()
    assert [c["name"] for c in body["channels"]] == ["alpha", "general"]
    assert (body["offset"], body["count"], body["total"]) == (0, 2, 4)
    r = await client.get(f"{V1}channels.list.joined", params={"sort": '{"name":-1}'}, headers=h)
    assert [c["name"] for c in r.json()["channels"]] == ["zeta", "late", "general", "alpha"]
    r = await client.get(f"{V1}channels.list.joined", params={"sort": '{"name":2}'}, headers=h)
    assert r.json()["errorType"] == "error-invalid-sort"


async def test_users_info_and_list(
    fake: FakeRocketChat, client: httpx.AsyncClient, bot: tuple[User, dict[str, str]]
) -> None:
    user, h = bot
    for i in range(120):
        fake.add_user(f"user{i:03d}", None)
    r = await client.get(f"{V1}users.info", params={"username": "user005"}, headers=h)
    assert r.json()["user"]["username"] == "user005"
    r = await client.get(f"{V1}users.info", params={"username": "x", "userId": "y"}, headers=h)
    assert r.json()["errorType"] == "invalid-params"
    r = await client.get(f"{V1}users.info", params={"username": "ghost"}, headers=h)
    assert r.json() == {"success": False, "error": "User not found."}
    r = await client.get(
        f"{V1}users.info", params={"userId": user.id, "includeUserRooms": "true"}, headers=h
    )
    assert [room["rid"] for room in r.json()["user"]["rooms"]] == [GENERAL_ROOM_ID]

    r = await client.get(f"{V1}users.list", params={"count": "500"}, headers=h)
    body = r.json()
    assert body["count"] == 100 and body["total"] == 121 and body["offset"] == 0  # clamped
    r = await client.get(f"{V1}users.list", params={"count": "0"}, headers=h)
    assert r.json()["count"] == 121  # 0 = no limit while API_Allow_Infinite_Count
    r = await client.get(f"{V1}users.list", headers=h)
    assert r.json()["count"] == 50
    fake.deny(user, "view-d-room")
    r = await client.get(f"{V1}users.list", headers=h)
    assert r.status_code == 403
