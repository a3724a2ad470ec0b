"""`ctx.chat`: post a message to a room by id, `#name` or `@username`, exactly once.

Messages go through `chat.sendMessage` with a client-chosen `_id` (behaviour doc section
4.10). After an ambiguous failure (connection dropped after sending, a 5xx, or an error
on a re-send with the same `_id`, which the server answers without echoing the stored
message: section 7 item 30) the message is looked up with `chat.getMessage` and re-sent
only if it is not there: no duplicate, no loss.
"""

from __future__ import annotations

import re
import secrets
import typing

from botkit._session import Session
from botkit.errors import ApiError, NotFound, ServerError, ServerUnreachable

__all__ = ["METEOR_ALPHABET", "Chat", "new_message_id"]

METEOR_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"
_ID_PART = f"[{METEOR_ALPHABET}]{{17}}"
# Channel ids are 17 characters; a DM's id is the two user ids concatenated.
_ROOM_ID = re.compile(f"{_ID_PART}(?:{_ID_PART})?")

JSON = dict[str, typing.Any]


def new_message_id() -> str:
    """A 17-character Meteor-style id (what Rocket.Chat clients generate)."""
    return "".join(secrets.choice(METEOR_ALPHABET) for _ in range(17))


class Chat:
    """Posting messages through a session (usually a plugin's view of it).

    Args:
        session: the session to send with.
        attempts: sends of one message at most (each after checking it is absent).
    """

    def __init__(self, session: Session, *, attempts: int = 3) -> None:
        self._session = session
        self._attempts = max(1, attempts)
        self._rooms: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Chat({self._session!r})"

    async def post(self, room: str, text: str, **extra: typing.Any) -> JSON:
        """Send `text` to `room`; returns the stored message object.

        `extra` goes into the message (`tmid`, `attachments`, `alias`, ...). `room` is a
        room id, `#name` or a bare name (a room the bot is in), or `@username` (a DM).
        """
        rid = await self.resolve(room)
        message: JSON = {"_id": new_message_id(), "rid": rid, "msg": text, **extra}
        return await self.send(message)

    async def send(self, message: JSON) -> JSON:
        """Send a prepared `chat.sendMessage` message (with `_id`) exactly once."""
        session = self._session
        message_id = message.setdefault("_id", new_message_id())
        body = {"message": message}
        for attempt in range(1, self._attempts + 1):
            try:
                answer = await session.post("chat.sendMessage", body, idempotent=False)
            except (ServerUnreachable, ServerError) as error:
                if isinstance(error, ServerUnreachable) and not error.ambiguous:
                    raise  # never connected (the session already retried): nothing was sent
                failure: Exception = error
            except ApiError as error:
                if attempt == 1 or error.status != 400:
                    raise
                # A re-send of a stored _id fails on the server instead of echoing it.
                failure = error
            else:
                stored = answer.get("message")
                if isinstance(stored, dict) and stored.get("_id"):
                    return stored
                failure = ApiError(
                    "chat.sendMessage: the answer has no message",
                    status=200,
                    endpoint="chat.sendMessage",
                )
            found = await self._lookup(message_id)
            if found is not None:
                return found
            if attempt == self._attempts:
                raise failure
        raise AssertionError("unreachable")  # pragma: no cover

    async def _lookup(self, message_id: str) -> JSON | None:
        """The stored message with this id, or None if the server does not have it."""
        try:
            answer = await self._session.get("chat.getMessage", {"msgId": message_id})
        except ApiError as error:
            # An unknown id is a failure envelope (400, or 404 from some versions).
            if error.status in (400, 404):
                return None
            raise
        stored = answer.get("message")
        return stored if isinstance(stored, dict) and stored.get("_id") == message_id else None

    async def resolve(self, room: str) -> str:
        """The room id of `room` (cached)."""
        cached = self._rooms.get(room)
        if cached is not None:
            return cached
        if room.startswith("@"):
            answer = await self._session.post("im.create", {"username": room[1:]})
            created = answer.get("room") or {}
            rid = created.get("rid") or created.get("_id")
            if not isinstance(rid, str):
                raise NotFound(f"im.create: no room for {room}", status=404, endpoint="im.create")
        elif not room.startswith("#") and _ROOM_ID.fullmatch(room):
            rid = room
        else:
            rid = await self._by_name(room.removeprefix("#"), by_id=not room.startswith("#"))
        self._rooms[room] = rid
        return rid

    async def _by_name(self, name: str, *, by_id: bool) -> str:
        answer = await self._session.get("rooms.get")
        rooms = answer.get("update")
        found: str | None = None
        for entry in rooms if isinstance(rooms, list) else []:
            if not isinstance(entry, dict) or not isinstance(entry.get("_id"), str):
                continue
            if entry.get("name"):
                self._rooms.setdefault("#" + str(entry["name"]), entry["_id"])
            if name in (entry.get("name"), entry.get("fname")) or (by_id and name == entry["_id"]):
                found = entry["_id"]
        if found is None:
            raise NotFound(
                f"rooms.get: the bot is in no room named #{name}",
                status=404,
                error="room-not-found",
                endpoint="rooms.get",
                hint="invite the bot to the room, or give the room id",
            )
        return found
