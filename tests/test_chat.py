"""Chat: room resolution and exactly-once posting over MockTransport apps."""

from __future__ import annotations

import json
import typing

import pytest
from pydantic import SecretStr

from botkit._chat import METEOR_ALPHABET, Chat, new_message_id
from botkit._http import httpx
from botkit._session import Credentials, Session
from botkit.errors import ApiError, NotFound, ServerUnreachable

JSONBody = dict[str, typing.Any]
RID = "GENERAL"
CREDS = Credentials("aBcDeFgHiJkLmNoPq", SecretStr("chat-test-token-abcdefgh"), name="t")


def reply(status: int, body: JSONBody) -> httpx.Response:
    return httpx.Response(status, json=body)


class Server:
    """Stores messages by _id; can drop the connection after storing (a lost answer)."""

    def __init__(self) -> None:
        self.messages: dict[str, JSONBody] = {}
        self.log: list[str] = []
        self.drop_after_store = 0
        self.fail_before_store = 0
        self.ims = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        endpoint = request.url.path.removeprefix("/api/v1/")
        self.log.append(endpoint)
        if endpoint == "rooms.get":
            return reply(
                200,
                {
                    "update": [
                        {"_id": RID, "name": "general", "t": "c"},
                        {"_id": "R" * 17, "name": "ops", "fname": "Ops"},
                    ],
                    "remove": [],
                    "success": True,
                },
            )
        if endpoint == "im.create":
            self.ims += 1
            username = json.loads(request.content)["username"]
            return reply(
                200,
                {
                    "room": {"t": "d", "rid": "dm-" + username, "_id": "dm-" + username},
                    "success": True,
                },
            )
        if endpoint == "chat.getMessage":
            found = self.messages.get(request.url.params["msgId"])
            if found is None:
                return reply(400, {"success": False, "error": "Invalid message id"})
            return reply(200, {"message": found, "success": True})
        if endpoint == "chat.sendMessage":
            message = json.loads(request.content)["message"]
            if self.fail_before_store:
                self.fail_before_store -= 1
                raise httpx.ReadError("connection reset")
            if message["_id"] in self.messages:
                # Section 4.10: a re-send of a stored _id does not echo it.
                return reply(
                    400,
                    {
                        "success": False,
                        "error": "Cannot read properties of undefined (reading '_id')",
                    },
                )
            stored = {**message, "ts": "2025-01-01T00:00:00.000Z", "u": {"username": "bot"}}
            self.messages[message["_id"]] = stored
            if self.drop_after_store:
                self.drop_after_store -= 1
                raise httpx.RemoteProtocolError("server disconnected")
            return reply(200, {"message": stored, "success": True})
        return reply(404, {"success": False, "error": "Resource not found"})


def make(server: Server) -> tuple[Session, Chat]:
    async def no_sleep(_: float) -> None:
        return None

    s = Session(
        base_url="http://rc.test",
        credentials=CREDS,
        transport=httpx.MockTransport(server),
        sleep=no_sleep,
    )
    return s, Chat(s.for_plugin("news"))


def test_message_ids_are_meteor_style() -> None:
    ids = {new_message_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 17 and set(i) <= set(METEOR_ALPHABET) for i in ids)


@pytest.mark.parametrize(
    ("room", "rid"),
    [
        ("#general", RID),
        ("general", RID),
        (RID, RID),
        ("Ops", "R" * 17),
        ("R" * 17, "R" * 17),
        ("@alice", "dm-alice"),
    ],
)
async def test_post_resolves_rooms(room: str, rid: str) -> None:
    server = Server()
    s, chat = make(server)
    async with s:
        message = await chat.post(room, "hello", tmid="T1")
        await chat.post(room, "again")
    assert message["rid"] == rid and message["msg"] == "hello" and message["tmid"] == "T1"
    assert len(server.messages) == 2
    # Resolution is cached: at most one lookup for two posts.
    assert server.log.count("rooms.get") + server.log.count("im.create") <= 1


async def test_unknown_room_is_not_found() -> None:
    s, chat = make(Server())
    async with s:
        with pytest.raises(NotFound, match="no room named #nope"):
            await chat.post("#nope", "x")


async def test_dropped_after_store_does_not_duplicate() -> None:
    server = Server()
    server.drop_after_store = 1
    s, chat = make(server)
    async with s:
        message = await chat.post("#general", "once")
    assert list(server.messages.values()) == [message]
    assert server.log.count("chat.sendMessage") == 1
    assert server.log.count("chat.getMessage") == 1


async def test_dropped_before_store_is_resent_with_same_id() -> None:
    server = Server()
    server.fail_before_store = 1
    s, chat = make(server)
    async with s:
        message = await chat.post("#general", "not lost")
    assert list(server.messages) == [message["_id"]]
    assert server.log.count("chat.sendMessage") == 2


async def test_gives_up_after_attempts_when_server_never_stores() -> None:
    server = Server()
    server.fail_before_store = 10
    s, chat = make(server)
    async with s:
        with pytest.raises(ServerUnreachable):
            await chat.post("#general", "x")
    assert server.log.count("chat.sendMessage") == 3
    assert server.messages == {}


async def test_plain_400_is_raised_at_once() -> None:
    class Bad(Server):
        async def __call__(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("chat.sendMessage"):
                self.log.append("chat.sendMessage")
                return reply(400, {"success": False, "error": "error-message-size-exceeded"})
            return await super().__call__(request)

    server = Bad()
    s, chat = make(server)
    async with s:
        with pytest.raises(ApiError, match="size-exceeded"):
            await chat.post(RID, "x" * 6000)
    assert server.log.count("chat.sendMessage") == 1
    assert "chat.getMessage" not in server.log
