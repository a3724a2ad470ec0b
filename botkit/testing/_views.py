"""JSON views of stored records, as the REST endpoints render them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botkit.testing._model import Room, Subscription, User, iso, to_json

if TYPE_CHECKING:
    from botkit.testing._fake import FakeRocketChat

__all__ = ["me_view", "message_view", "room_view", "subscription_view", "user_view"]


def me_view(fake: FakeRocketChat, user: User) -> dict[str, Any]:
    """`getUserInfo(user)`: `/api/v1/me` without `success`, also `data.me` at login (§4.3)."""
    services: dict[str, Any] = {}
    if user.email2fa_enabled:
        services["email2fa"] = {"enabled": True}
    if user.totp_enabled:
        services["totp"] = {"enabled": True}
    services["password"] = {"exists": user.password_digest is not None}
    body: dict[str, Any] = {
        "_id": user.id,
        "username": user.username,
        "name": user.name,
        "emails": [dict(e) for e in user.emails],
        "status": user.status,
        "statusConnection": "online",
        "utcOffset": user.utc_offset,
        "active": user.active,
        "roles": list(user.roles),
        "_updatedAt": iso(user.updated_at),
    }
    verified = user.verified_emails
    if verified:
        body["email"] = verified[0]
    site = str(fake.settings["Site_Url"]).rstrip("/")
    body["settings"] = {"profile": {}, "preferences": {}}
    body["avatarUrl"] = f"{site}/avatar/{user.username}"
    body["isOAuthUser"] = False
    body["services"] = services
    return body


def user_view(user: User, *, full: bool = False) -> dict[str, Any]:
    """A user as `users.info` / `users.list` show it; `full` adds emails (self or admin)."""
    body: dict[str, Any] = {
        "_id": user.id,
        "type": user.type,
        "status": user.status,
        "active": user.active,
        "name": user.name,
        "utcOffset": user.utc_offset,
        "username": user.username,
        "roles": list(user.roles),
    }
    if full:
        body["emails"] = [dict(e) for e in user.emails]
        body["createdAt"] = iso(user.created_at)
    return body


def message_view(message: dict[str, Any]) -> dict[str, Any]:
    return dict(to_json(message))


def room_view(room: Room) -> dict[str, Any]:
    body: dict[str, Any] = {"_id": room.id, "t": room.t}
    if room.t == "d":
        body["usernames"] = list(room.usernames)
        body["uids"] = list(room.uids)
        body["usersCount"] = len(room.uids)
    else:
        body["name"] = room.name
        body["fname"] = room.fname or room.name
    if room.creator_id:
        body["u"] = {"_id": room.creator_id, "username": room.creator_username}
    body["msgs"] = room.msgs
    body["ts"] = iso(room.created_at)
    body["ro"] = room.ro
    body["sysMes"] = True
    if room.default:
        body["default"] = True
    if room.archived:
        body["archived"] = True
    if room.topic:
        body["topic"] = room.topic
    body["_updatedAt"] = iso(room.updated_at)
    if room.last_message is not None:
        body["lastMessage"] = message_view(room.last_message)
    return body


def subscription_view(sub: Subscription) -> dict[str, Any]:
    body: dict[str, Any] = {
        "_id": sub.id,
        "rid": sub.rid,
        "u": {"_id": sub.user_id, "username": sub.username},
        "name": sub.name,
        "fname": sub.fname or sub.name,
        "t": sub.t,
        "ts": iso(sub.ts),
        "ls": iso(sub.last_seen),
        "open": sub.open,
        "alert": sub.alert,
        "unread": sub.unread,
        "roles": list(sub.roles),
        "_updatedAt": iso(sub.updated_at),
    }
    return body
