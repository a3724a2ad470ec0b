"""Message and room routes a bot uses (§4.9-§4.15).

Sources: Rocket.Chat `apps/meteor/app/api/server/v1/chat.ts`, `v1/rooms.ts`,
`v1/subscriptions.ts`, `v1/channels.ts`, `v1/im.ts`, `packages/rest-typings/src/v1/chat.ts`,
`lib/server/functions/processWebhookMessage.ts`, `getRoomByNameOrIdWithOptionToJoin.ts`,
`lib/server/functions/sendMessage.ts`, `authorization/server/functions/canSendMessage.ts`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from botkit.testing._envelope import (
    failure,
    forbidden,
    js_error,
    meteor_error,
    plain_error,
    typed_invalid_params,
)
from botkit.testing._model import Room, User
from botkit.testing._pagination import paginate, parse_sort, sort_items
from botkit.testing._routing import Ctx, Route, Validator, require_user
from botkit.testing._views import message_view, room_view, subscription_view

__all__ = ["ROUTES"]

_JS_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "array": (list,),
    "object": (dict,),
    "boolean": (bool,),
}


def _type_errors(body: dict[str, Any], schema: dict[str, str]) -> list[str]:
    errors = []
    for key, expected in schema.items():
        if key not in body:
            continue
        value = body[key]
        if expected == "string|array":
            ok = isinstance(value, str) or (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            )
        else:
            ok = isinstance(value, _JS_TYPES[expected])
        if not ok:
            errors.append(f"/{key} must be {expected.split('|')[0]}")
    return errors


# --- chat.postMessage (§4.9) ---------------------------------------------------------------

_POST_COMMON = {
    "text": "string",
    "alias": "string",
    "emoji": "string",
    "avatar": "string",
    "attachments": "array",
    "customFields": "object",
    "parseUrls": "boolean",
}
_POST_BRANCHES = (
    ("roomId", {"roomId": "string|array", **_POST_COMMON, "tmid": "string"}),
    ("channel", {"channel": "string|array", **_POST_COMMON}),  # no `tmid` with `channel`
)


def _validate_post_message(ctx: Ctx) -> list[str]:
    """ajv `oneOf` of two branches, `additionalProperties: false` in both (§4.9)."""
    body = ctx.body
    all_errors: list[str] = []
    passing = 0
    for required, schema in _POST_BRANCHES:
        errors = [] if required in body else [f"must have required property '{required}'"]
        if set(body) - set(schema):
            errors.append("must NOT have additional properties")
        errors += _type_errors(body, schema)
        if isinstance(body.get("attachments"), list) and not all(
            isinstance(a, dict) for a in body["attachments"]
        ):
            errors.append("/attachments must be object")
        passing += not errors
        all_errors += errors
    if passing == 1:
        return []
    return [*all_errors, "must match exactly one schema in oneOf"]


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


def _validate_send_message(ctx: Ctx) -> list[str]:
    body = ctx.body
    errors = []
    if "message" not in body:
        errors.append("must have required property 'message'")
    if set(body) - {"message", "previewUrls"}:
        errors.append("must NOT have additional properties")
    errors += _type_errors(body, {"message": "object", "previewUrls": "array"})
    return errors


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
# `required: ["roomId"]`, `additionalProperties: false`.
_DM_HISTORY_PROPS = (
    "roomId",
    "latest",
    "showThreadMessages",
    "oldest",
    "inclusive",
    "unreads",
    "count",
    "offset",
    "sort",
)
_NON_EMPTY = frozenset({"roomId", "latest", "oldest"})  # `minLength: 1`
_FLAGS = frozenset({"showThreadMessages", "inclusive", "unreads"})  # enum "true" / "false"
_NUMBERS = frozenset({"count", "offset"})  # `type: "number"`, coerced from the query string
_JS_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Infinity")
_JS_RADIX = re.compile(r"0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+")


def _coerces_to_number(value: str) -> bool:
    """ajv `coerceTypes` turns a string into a number when `value && value == +value`, i.e. when
    JavaScript `Number(value)` is not NaN; `Number` ignores surrounding white space."""
    if value == "":
        return False
    text = value.strip()
    return not text or bool(_JS_DECIMAL.fullmatch(text) or _JS_RADIX.fullmatch(text))


def _dm_history_query_errors(query: dict[str, str]) -> list[str]:
    """The schema as ajv runs it (no `allErrors`): validation stops at the first error, checking
    `required`, then `additionalProperties`, then each property in schema order."""
    if "roomId" not in query:
        return ["must have required property 'roomId'"]
    if set(query) - set(_DM_HISTORY_PROPS):
        return ["must NOT have additional properties"]
    for key in _DM_HISTORY_PROPS:
        value = query.get(key)
        if value is None:
            continue
        if key in _NUMBERS and not _coerces_to_number(value):
            return ["must be number"]
        if key in _NON_EMPTY and not value:
            return ["must NOT have fewer than 1 characters"]
        if key in _FLAGS and value not in ("true", "false"):
            return ["must be equal to one of the allowed values"]
    return []


def _typed_query(check: Callable[[dict[str, str]], list[str]]) -> Validator:
    """A typed route's `query` schema (http-router, §1.2/§4.0): 400 `error-invalid-params`.

    `Route` has no query slot; the `typed_body` hook runs at the same point of the pipeline
    (in the router, before the ApiClass wrapper: before authentication and rate limiting), so
    the check runs there and answers with the query flavour of the body itself.
    """

    def validate(ctx: Ctx) -> list[str]:
        errors = check(ctx.query)
        if errors:
            raise typed_invalid_params(errors, query=True)
        return []

    return validate


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


def _validate_im_create(ctx: Ctx) -> list[str]:
    body = ctx.body
    given = [k for k in ("username", "usernames") if k in body]
    errors = []
    if len(given) != 1:
        errors += [f"must have required property '{k}'" for k in ("username", "usernames")]
    if set(body) - {"username", "usernames", "excludeSelf"} or len(given) > 1:
        errors.append("must NOT have additional properties")
    errors += _type_errors(
        body, {"username": "string", "usernames": "string", "excludeSelf": "boolean"}
    )
    if errors:
        errors.append("must match exactly one schema in oneOf")
    return errors


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
    Route("im.history", ("GET",), _im_history, typed_body=_typed_query(_dm_history_query_errors)),
    Route("dm.history", ("GET",), _im_history, typed_body=_typed_query(_dm_history_query_errors)),
    Route("im.create", ("POST",), _im_create, typed_body=_validate_im_create),
    Route("dm.create", ("POST",), _im_create, typed_body=_validate_im_create),
    Route("channels.list.joined", ("GET",), _channels_joined),
]
