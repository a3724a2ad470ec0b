"""`users.info` and `users.list` (§4.7, §4.8; Rocket.Chat `apps/meteor/app/api/server/v1/users.ts`,
`packages/rest-typings/src/v1/users/UsersInfoParamsGet.ts`)."""

from __future__ import annotations

from typing import Any

from botkit.testing._ajv import Schema, validate
from botkit.testing._envelope import forbidden, plain_error
from botkit.testing._pagination import paginate, parse_sort, sort_items
from botkit.testing._routing import Ctx, Route, require_user
from botkit.testing._views import user_view

__all__ = ["ROUTES"]


def _info_branch(identity: str) -> Schema:
    return {
        "type": "object",
        "properties": {
            identity: {"type": "string"},
            "includeUserRooms": {"type": "string"},
            "fields": {"type": "string"},
        },
        "required": [identity],
        "additionalProperties": False,
    }


# `isUsersInfoParamsGetProps`: `anyOf` of a `userId`, a `username` and an `importId` branch,
# each `additionalProperties: false` (query strings, so its `coerceTypes` changes nothing).
_INFO_SCHEMA: Schema = {"anyOf": [_info_branch(k) for k in ("userId", "username", "importId")]}


def _validate_info(ctx: Ctx) -> list[str]:
    return validate(_INFO_SCHEMA, ctx.query)[0]


def _info(ctx: Ctx) -> dict[str, Any]:
    me = require_user(ctx)
    fake = ctx.fake
    if "userId" in ctx.query:
        user = fake.users.get(ctx.query["userId"])
    elif "username" in ctx.query:
        user = next((u for u in fake.users.values() if u.username == ctx.query["username"]), None)
    else:
        user = None  # imports are not modelled
    if user is None:
        raise plain_error("User not found.")
    is_self = user.id == me.id
    body = user_view(user, full=is_self or fake.has_permission(me, "view-full-other-user-info"))
    if ctx.query.get("includeUserRooms") == "true" and (
        is_self or fake.has_permission(me, "view-other-user-channels")
    ):
        body["rooms"] = [
            {
                "rid": s.rid,
                "name": s.name,
                "t": s.t,
                "roles": list(s.roles),
                "unread": s.unread,
                "federated": False,
            }
            for s in fake.subscriptions
            if s.user_id == user.id
        ]
    return {"user": body}


def _list(ctx: Ctx) -> dict[str, Any]:
    me = require_user(ctx)
    fake = ctx.fake
    if fake.settings["API_Apply_permission_view-outside-room_on_users-list"] and not (
        fake.has_permission(me, "view-outside-room")
    ):
        raise forbidden(ctx.breaking)
    sort = parse_sort(ctx, {"username": 1})
    views = [user_view(u) for u in fake.users.values()]
    ordered = sort_items(views, sort, lambda item, field: item.get(field))
    page, offset, _ = paginate(ctx, ordered)
    return {"users": page, "count": len(page), "offset": offset, "total": len(ordered)}


ROUTES: list[Route] = [
    Route("users.info", ("GET",), _info, validate=_validate_info),
    Route("users.list", ("GET",), _list, permissions=("view-d-room",)),
]
