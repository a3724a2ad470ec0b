"""Message and room routes a bot uses (§4.9-§4.15).

Sources: Rocket.Chat `apps/meteor/app/api/server/v1/chat.ts`, `v1/rooms.ts`,
`v1/subscriptions.ts`, `v1/channels.ts`, `v1/im.ts`, `packages/rest-typings/src/v1/chat.ts`,
`lib/server/functions/processWebhookMessage.ts`, `getRoomByNameOrIdWithOptionToJoin.ts`,
`lib/server/functions/sendMessage.ts`, `authorization/server/functions/canSendMessage.ts`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from botkit.testing._ajv import Schema, validate
from botkit.testing._envelope import failure, forbidden, js_error, meteor_error, plain_error
from botkit.testing._model import Room, User
from botkit.testing._pagination import paginate, parse_sort, sort_items
from botkit.testing._routing import Ctx, Route, require_user
from botkit.testing._views import message_view, room_view, subscription_view

__all__ = ["ROUTES"]

# --- chat.postMessage (§4.9) ---------------------------------------------------------------

_STRING: Schema = {"type": "string"}
_STRING_OR_LIST: Schema = {"oneOf": [_STRING, {"type": "array", "items": _STRING}]}
_POST_COMMON: dict[str, Schema] = {
    "text": _STRING,
    "alias": _STRING,
    "emoji": _STRING,
    "avatar": _STRING,
    "attachments": {"type": "array", "items": {"type": "object"}},
}


def _post_branch(target: str, *, tmid: bool) -> Schema:
    properties: dict[str, Schema] = {target: _STRING_OR_LIST, **_POST_COMMON}
    if tmid:
        properties["tmid"] = _STRING
    properties["customFields"] = {"type": "object"}
    properties["parseUrls"] = {"type": "boolean"}
    return {
        "type": "object",
        "properties": properties,
        "required": [target],
        "additionalProperties": False,
    }


# `isChatPostMessageProps` (rest-typings `v1/chat.ts`, §4.9): `oneOf` of a `roomId` and a
# `channel` branch, `additionalProperties: false` in both, no `tmid` with `channel`; the target
# is itself a `oneOf` of a string and an array of strings. Choices where the source read is
# older than the document: property order follows §4.9 (`tmid` after `attachments`,
# `parseUrls` last); the older schema marks the optional fields `nullable` and the shared ajv
# instance coerces scalar types, neither confirmed for the current one, so the fake takes the
# stricter reading: no `null`, no coercion ("must be string" for `"text": 5`).
_POST_MESSAGE_SCHEMA: Schema = {
    "oneOf": [_post_branch("roomId", tmid=True), _post_branch("channel", tmid=False)]
}


def _validate_post_message(ctx: Ctx) -> list[str]:
    return validate(_POST_MESSAGE_SCHEMA, ctx.body)[0]


def _find_room(ctx: Ctx, name_or_id: str, types: tuple[str, ...]) -> Room | None:
    room = ctx.fake.rooms.get(name_or_id)
    if room is not None and room.t in types:
        return room
    return next((r for r in ctx.fake.rooms.values() if r.name == name_or_id and r.t in types), None)


def _resolve_target(ctx: Ctx, user: User, target: str) -> Room:
    """processWebhookMessage channel resolution, joining public channels (§4.9)."""
    fake = ctx.fake
    target = target.strip()
    invalid = meteor_error("invalid-channel")
    if not target:
        raise invalid
    if target[0] == "#":
        room = _find_room(ctx, target[1:], ("c", "p"))
        if room is None:
            raise invalid
    elif target[0] == "@":
        other = next((u for u in fake.users.values() if u.username == target[1:]), None)
        if other is None:
            raise invalid
        room = fake.create_dm([user, other])
    else:
        room = _find_room(ctx, target, ("c", "p", "d"))
        if room is None:
            other = fake.users.get(target)  # DM by user id only
            if other is None:
                raise invalid
            room = fake.create_dm([user, other])
    if room.t == "c":
        fake.join_room(user, room.id)
    return room


def _can_send(ctx: Ctx, user: User, room: Room) -> None:
    """canSendMessage: plain `Error`s, so 400 with `error` only (§4.9)."""
    if ctx.fake.subscription(user, room.id) is None:
        raise js_error("error-not-allowed")
    if room.ro and not ctx.fake.has_permission(user, "post-readonly"):
        raise js_error("You can't send messages because the room is readonly.")
    if user.username in room.muted:
        raise js_error("You_have_been_muted")


_HREF = re.compile(r"^(https?://|/|ufs/)", re.IGNORECASE)


def _validate_message(ctx: Ctx, user: User, alias: Any, avatar: Any) -> None:
    """validateMessage: impersonation needs `message-impersonate`; avatar must be a safe href."""
    if (alias or avatar) and not ctx.fake.has_permission(user, "message-impersonate"):
        raise js_error("Not enough permission")
    if avatar and (
        not isinstance(avatar, str)
        or avatar.strip().lower().startswith("javascript:")
        or not _HREF.match(avatar.strip())
    ):
        raise js_error("Invalid href value provided")


def _post_message(ctx: Ctx) -> dict[str, Any]:
    user = require_user(ctx)
    body = ctx.body
    limit = int(ctx.fake.settings["Message_MaxAllowedSize"])
    text = body.get("text")
    attachments = list(body.get("attachments") or [])
    if text and len(text) > limit:
        return _raise(failure("error-message-size-exceeded"))
    for attachment in attachments:
        if isinstance(attachment.get("text"), str) and len(attachment["text"]) > limit:
            return _raise(failure("error-message-size-exceeded"))
    raw_targets = body["channel"] if "channel" in body else body["roomId"]
    targets = raw_targets if isinstance(raw_targets, list) else [raw_targets]
    first: tuple[str, dict[str, Any]] | None = None
    for target in targets:
        room = _resolve_target(ctx, user, target)
        _can_send(ctx, user, room)
        _validate_message(ctx, user, body.get("alias"), body.get("avatar"))
        fixed = []
        for attachment in attachments:
            item = dict(attachment)
            if "msg" in item:  # attachments[].msg is moved to text
                item["text"] = item.pop("msg")
            fixed.append(item)
        fields: dict[str, Any] = {
            "alias": body.get("alias") or "",
            "msg": (text or "").strip(),
            "attachments": fixed,
            "parseUrls": body.get("parseUrls", not fixed),
            "groupable": False,
        }
        if body.get("tmid"):
            fields["tmid"] = body["tmid"]
        if body.get("avatar"):
            fields["avatar"] = body["avatar"]  # avatar wins over emoji
        elif body.get("emoji"):
            fields["emoji"] = body["emoji"]
        if body.get("customFields"):
            fields["customFields"] = body["customFields"]
        stored = ctx.fake.store_message(room, user, fields)
        if first is None:
            first = (target, stored)
    if first is None:
        return _raise(failure("unknown-error"))
    return {"ts": ctx.fake.clock.epoch_ms(), "channel": first[0], "message": message_view(first[1])}


def _raise(exc: Exception) -> dict[str, Any]:
    raise exc


# --- chat.sendMessage (§4.10) --------------------------------------------------------------

_SEND_MESSAGE_FIELDS = (
    "msg",
    "alias",
    "emoji",
    "avatar",
    "attachments",
    "blocks",
    "tmid",
    "tshow",
    "customFields",
)


# `isChatSendMessageProps`: `message` required, `previewUrls` an array, nothing else at the top
# (§4.10); what the message object holds is checked by the handler.
_SEND_MESSAGE_SCHEMA: Schema = {
    "type": "object",
    "properties": {
        "message": {"type": "object"},
        "previewUrls": {"type": "array", "items": _STRING},
    },
    "required": ["message"],
    "additionalProperties": False,
}


def _validate_send_message(ctx: Ctx) -> list[str]:
    return validate(_SEND_MESSAGE_SCHEMA, ctx.body)[0]


def _parse_message_ts(value: Any) -> datetime | None:
    if isinstance(value, dict) and isinstance(value.get("$date"), int | float):
        return datetime.fromtimestamp(value["$date"] / 1000, UTC)
    if isinstance(value, str):
        return _parse_date(value)
    return None


def _send_message(ctx: Ctx) -> dict[str, Any]:
    user = require_user(ctx)
    fake = ctx.fake
    message: dict[str, Any] = ctx.body["message"]
    if message.get("t") and message["t"] not in ("e2e", "otr"):
        raise js_error("Cannot send system messages using 'chat.sendMessage'")
    details = {"method": "sendMessage"}
    if message.get("tshow") and not message.get("tmid"):
        raise meteor_error("invalid-params", "tshow provided but missing tmid", details)
    if message.get("tmid") and not fake.settings["Threads_enabled"]:
        raise meteor_error("error-not-allowed", "not-allowed", details)
    now = fake.clock.now()
    ts = now
    if "ts" in message:
        client_ts = _parse_message_ts(message["ts"])
        drift = abs((client_ts - now).total_seconds()) if client_ts else float("inf")
        if drift > 60:
            raise meteor_error(
                "error-message-ts-out-of-sync",
                "Message timestamp is out of sync",
                {**details, "message_ts": message["ts"], "server_ts": fake.clock.epoch_ms()},
            )
        if drift <= 10 and client_ts is not None:
            ts = client_ts
    text = message.get("msg")
    if isinstance(text, str) and len(text) > int(fake.settings["Message_MaxAllowedSize"]):
        raise meteor_error(
            "error-message-size-exceeded", "Message size exceeds Message_MaxAllowedSize", details
        )
    rid = message.get("rid")
    if not rid:
        raise js_error("The 'rid' property on the message object is missing.")
    room = fake.rooms.get(str(rid))
    if room is None:
        raise js_error("error-invalid-room")
    _can_send(ctx, user, room)
    _validate_message(ctx, user, message.get("alias"), message.get("avatar"))
    msg_id = message.get("_id")
    if isinstance(msg_id, str) and msg_id in fake.messages:
        # §4.10 / §7.30: the duplicate is not stored, the storage function returns nothing
        # and `normalizeMessagesForUser([undefined])` throws a TypeError (filterStarred reads
        # `message.starred`). The document marks the outcome UNVERIFIED ("most likely a 400
        # with a TypeError text"); the error is the stricter of its two candidates.
        raise js_error("Cannot read properties of undefined (reading 'starred')", "TypeError")
    fields = {k: message[k] for k in _SEND_MESSAGE_FIELDS if k in message}
    fields.setdefault("msg", "")
    stored = fake.store_message(
        room, user, fields, ts=ts, msg_id=msg_id if isinstance(msg_id, str) and msg_id else None
    )
    return {"message": message_view(stored)}


# --- chat.getMessage -----------------------------------------------------------------------


def _can_access(ctx: Ctx, user: User, room: Room) -> bool:
    if room.t == "c" and ctx.fake.has_permission(user, "view-c-room"):
        return True
    return ctx.fake.subscription(user, room.id) is not None


def _validate_get_message(ctx: Ctx) -> list[str]:
    return [] if "msgId" in ctx.query else ["must have required property 'msgId'"]


def _get_message(ctx: Ctx) -> dict[str, Any]:
    """chat.ts: no message -> `API.v1.failure()` = 400 `{"success": false}`; no access ->
    `error-not-allowed` from getSingleMessage."""
    user = require_user(ctx)
    msg_id = ctx.query.get("msgId")
    if not msg_id:
        raise failure('The "msgId" query parameter must be provided.')
    message = ctx.fake.messages.get(msg_id)
    if message is None:
        raise failure()
    if not _can_access(ctx, user, ctx.fake.rooms[message["rid"]]):
        raise meteor_error("error-not-allowed", "Not allowed")
    return {"message": message_view(message)}


# --- rooms.get, subscriptions.get (§4.11, §4.12) -------------------------------------------


def _parse_date(value: str) -> datetime | None:
    """Roughly JavaScript `Date.parse`: ISO 8601 or an RFC 2822 date."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _updated_since(ctx: Ctx, code: str, message: str) -> datetime | None:
    raw = ctx.query.get("updatedSince")
    if raw is None:
        return None
    parsed = _parse_date(raw)
    if parsed is None:
        raise meteor_error(code, message)
    return parsed


def _rooms_get(ctx: Ctx) -> dict[str, Any]:
    user = require_user(ctx)
    since = _updated_since(
        ctx,
        "error-updatedSince-param-invalid",
        'The "updatedSince" query parameter must be a valid date.',
    )
    rids = [s.rid for s in ctx.fake.subscriptions if s.user_id == user.id]
    rooms = [ctx.fake.rooms[r] for r in rids if r in ctx.fake.rooms]
    if since is not None:
        rooms = [r for r in rooms if r.updated_at > since]
    return {"update": [room_view(r) for r in rooms], "remove": []}


def _subscriptions_get(ctx: Ctx) -> dict[str, Any]:
    user = require_user(ctx)
    since = _updated_since(
        ctx,
        "error-roomId-param-invalid",
        'The "lastUpdate" query parameter must be a valid date.',  # sic (§4.12)
    )
    subs = [s for s in ctx.fake.subscriptions if s.user_id == user.id]
    if since is not None:
        subs = [s for s in subs if s.updated_at > since]
    return {"update": [subscription_view(s) for s in subs], "remove": []}


# --- channels.history, im.history / dm.history (§4.13) ---------------------------------------


def _channels_history(ctx: Ctx) -> dict[str, Any]:
    user = require_user(ctx)
    room_id = ctx.query.get("roomId", "").strip()
    room_name = ctx.query.get("roomName", "").strip()
    if not room_id and not room_name:
        raise meteor_error(
            "error-roomid-param-not-provided", 'The parameter "roomId" or "roomName" is required'
        )
    room = ctx.fake.rooms.get(room_id) if room_id else ctx.fake.find_room(room_name)
    if room is None or room.t not in ("c", "l"):
        raise meteor_error(
            "error-room-not-found",
            'The required "roomId" or "roomName" param provided does not match any channel',
        )
    return _room_history(ctx, user, room)


# `isDmHistoryProps` (rest-typings `v1/dm/DmHistoryProps.ts`): properties in schema order,
# `required: ["roomId"]`, `additionalProperties: false`; `count`/`offset` are numbers coerced
# from the query string.
_NON_EMPTY: Schema = {"type": "string", "minLength": 1}
_FLAG: Schema = {"type": "string", "enum": ["true", "false"]}
_NUMBER: Schema = {"type": "number"}
_DM_HISTORY_SCHEMA: Schema = {
    "type": "object",
    "properties": {
        "roomId": _NON_EMPTY,
        "latest": _NON_EMPTY,
        "showThreadMessages": _FLAG,
        "oldest": _NON_EMPTY,
        "inclusive": _FLAG,
        "unreads": _FLAG,
        "count": _NUMBER,
        "offset": _NUMBER,
        "sort": _STRING,
    },
    "required": ["roomId"],
    "additionalProperties": False,
}


def _validate_dm_history(ctx: Ctx) -> list[str]:
    """The typed `query` check; the coerced numbers are what the action's pagination reads."""
    errors, coerced = validate(_DM_HISTORY_SCHEMA, ctx.query, coerce=True)
    if not errors:
        ctx.coerced = {k: v for k, v in coerced.items() if not isinstance(v, str)}
    return errors


def _find_direct_room(ctx: Ctx, user: User, room_id: str) -> Room:
    """im.ts `findDirectMessageRoom` through `getRoomByNameOrIdWithOptionToJoin(type "d")`.

    A `roomId` naming a user (id or username, one "@" dropped) means the DM with that user,
    opened if missing as `createDirectMessage` does. Anything else must be a DM room.

    Choice (§4.13 lists `error-room-not-found` for im.history): in current source the lookup
    helper throws `[invalid-channel]` (errorOnEmpty) before im.ts can, for an unknown id as
    for a room of another type; the fake follows the document and answers
    `error-room-not-found` with im.ts's own message in both cases.
    """
    name = room_id.replace("@", "", 1)
    other = ctx.fake.find_user(name)
    if other is not None:
        return _open_direct_room(ctx, user, [user, other])
    room = ctx.fake.rooms.get(name)
    if room is None or room.t != "d":
        raise meteor_error(
            "error-room-not-found",
            'The required "roomId" param provided does not match any direct message',
        )
    return room


def _im_history(ctx: Ctx) -> dict[str, Any]:
    user = require_user(ctx)
    room = _find_direct_room(ctx, user, ctx.query["roomId"])
    return _room_history(ctx, user, room)


def _room_history(ctx: Ctx, user: User, room: Room) -> dict[str, Any]:
    """`getChannelHistory` (lib/server/methods/getChannelHistory.ts), shared by both routes.

    No read access -> the method returns false and the route answers `forbidden()` (§4.13).
    With `unreads=true` and an `oldest`, when the page stops short of `oldest`, the messages
    strictly between `oldest` and the page's oldest message are the unread ones not loaded:
    `firstUnread` is the oldest of them (left out when there is none, as JSON drops
    `undefined`) and `unreadNotLoaded` their number. Without `oldest` it is just
    `unreadNotLoaded: 0`: the server takes the last-seen time from the client's `oldest`, not
    from the subscription, so a client passes the subscription's `ls` as `oldest`.
    """
    if not _can_access(ctx, user, room):
        raise forbidden(ctx.breaking)
    inclusive = ctx.query.get("inclusive") == "true"
    show_threads = ctx.query.get("showThreadMessages") == "true"
    latest = _history_date(ctx, "latest") or ctx.fake.clock.now()
    oldest = _history_date(ctx, "oldest")

    def visible(message: dict[str, Any]) -> bool:
        if message.get("_hidden"):
            return False
        # Thread replies are hidden unless showThreadMessages=true (also-sent-to-channel
        # replies, `tshow`, stay visible).
        return not (message.get("tmid") and not message.get("tshow") and not show_threads)

    def between(ts: datetime, low: datetime | None, high: datetime, closed: bool) -> bool:
        if ts > high or (ts == high and not closed):
            return False
        return low is None or ts > low or (ts == low and closed)

    newest_first = sorted(
        (m for m in ctx.fake.room_messages(room) if visible(m)),
        key=lambda m: m["ts"],
        reverse=True,
    )
    selected = [m for m in newest_first if between(m["ts"], oldest, latest, inclusive)]
    page, _, _ = paginate(ctx, selected)
    body: dict[str, Any] = {"messages": [message_view(m) for m in page]}
    if ctx.query.get("unreads") == "true":
        unread: list[dict[str, Any]] = []
        if oldest is not None and page and page[-1]["ts"] > oldest:
            edge: datetime = page[-1]["ts"]
            unread = [m for m in reversed(newest_first) if between(m["ts"], oldest, edge, False)]
        if unread:
            body["firstUnread"] = message_view(unread[0])
        body["unreadNotLoaded"] = len(unread)
    return body


def _history_date(ctx: Ctx, key: str) -> datetime | None:
    raw = ctx.query.get(key)
    if raw is None:
        return None
    parsed = _parse_date(raw)
    if parsed is None:
        raise plain_error("Invalid Date")  # stricter than the server's empty result
    return parsed


# --- im.create (§4.14) ---------------------------------------------------------------------


def _dm_create_branch(target: str) -> Schema:
    return {
        "type": "object",
        "properties": {target: _STRING, "excludeSelf": {"type": "boolean"}},
        "required": [target],
        "additionalProperties": False,
    }


# `isDmCreateProps` (rest-typings `v1/dm/DmCreateProps.ts`, its own `new Ajv()`: no coercion):
# `oneOf` with the `usernames` branch first.
_DM_CREATE_SCHEMA: Schema = {
    "oneOf": [_dm_create_branch("usernames"), _dm_create_branch("username")]
}


def _validate_im_create(ctx: Ctx) -> list[str]:
    return validate(_DM_CREATE_SCHEMA, ctx.body)[0]


def _open_direct_room(ctx: Ctx, user: User, members: list[User]) -> Room:
    """`createDirectMessage`: the existing DM of `members`, or a new one if `user` may
    `create-d`."""
    rid = "".join(sorted({m.id for m in members}))
    if rid not in ctx.fake.rooms and not ctx.fake.has_permission(user, "create-d"):
        raise meteor_error("error-not-allowed", "Not allowed", {"method": "createDirectMessage"})
    return ctx.fake.create_dm(members)


def _im_create(ctx: Ctx) -> dict[str, Any]:
    user = require_user(ctx)
    fake = ctx.fake
    raw = ctx.body.get("username") or ctx.body.get("usernames") or ""
    names = [n.strip() for n in str(raw).split(",") if n.strip()]
    details = {"method": "createDirectMessage"}
    members = []
    for name in names:
        other = next((u for u in fake.users.values() if u.username == name), None)
        if other is None:
            raise meteor_error("error-invalid-user", "Invalid user", details)
        members.append(other)
    if not members:
        raise meteor_error("error-invalid-user", "Invalid user", details)
    if not ctx.body.get("excludeSelf"):
        members.append(user)
    room = _open_direct_room(ctx, user, members)
    view = room_view(room)
    view.pop("_id")
    view.pop("t")
    return {"room": {"t": "d", "rid": room.id, **view, "_id": room.id}}


# --- channels.list.joined (§4.15) ----------------------------------------------------------


def _channels_joined(ctx: Ctx) -> dict[str, Any]:
    user = require_user(ctx)
    sort = parse_sort(ctx, {"name": 1})
    rids = {s.rid for s in ctx.fake.subscriptions if s.user_id == user.id}
    channels = [room_view(r) for r in ctx.fake.rooms.values() if r.t == "c" and r.id in rids]
    ordered = sort_items(channels, sort, lambda item, field: item.get(field))
    page, offset, _ = paginate(ctx, ordered)
    return {"channels": page, "offset": offset, "count": len(page), "total": len(ordered)}


ROUTES: list[Route] = [
    Route("chat.postMessage", ("POST",), _post_message, validate=_validate_post_message),
    Route("chat.sendMessage", ("POST",), _send_message, validate=_validate_send_message),
    Route("chat.getMessage", ("GET",), _get_message, validate=_validate_get_message),
    Route("rooms.get", ("GET",), _rooms_get),
    Route("subscriptions.get", ("GET",), _subscriptions_get),
    Route("channels.history", ("GET",), _channels_history),
    Route("im.history", ("GET",), _im_history, typed_query=_validate_dm_history),
    Route("dm.history", ("GET",), _im_history, typed_query=_validate_dm_history),
    Route("im.create", ("POST",), _im_create, typed_body=_validate_im_create),
    Route("dm.create", ("POST",), _im_create, typed_body=_validate_im_create),
    Route("channels.list.joined", ("GET",), _channels_joined),
]
