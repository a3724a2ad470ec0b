"""HTTP control of a fake server under `/_fake/` (for a fake in another process).

JSON in, JSON out. Secrets given by the test (passwords, TOTP secrets) go in; the only secrets
that come out are the ones a test needs as a person would have them: a PAT it asks the fake
to mint, and the codes in the email outbox (the mailbox).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from botkit.testing._model import iso
from botkit.testing._users_file import user_from_spec

if TYPE_CHECKING:
    from botkit.testing._fake import FakeRocketChat

__all__ = ["control_routes"]


def _ok(data: Any = None, status: int = 200) -> JSONResponse:
    return JSONResponse({"ok": True, **(data or {})}, status_code=status)


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    value = await request.json()
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def control_routes(fake: FakeRocketChat) -> list[Route]:
    """The `/_fake` routes bound to `fake`."""

    async def add_user(request: Request) -> JSONResponse:
        spec = await _json(request)
        with fake.lock:
            user = user_from_spec(fake, spec)
        return _ok({"user_id": user.id, "username": user.username}, 201)

    async def update_user(request: Request) -> JSONResponse:
        spec = await _json(request)
        name = request.path_params["username"]
        with fake.lock:
            user = fake.find_user(name)
            if user is None:
                return _bad(f"no user {name!r}", 404)
            if "password" in spec:
                fake.set_password(user, spec["password"])
            if "totp_secret" in spec:
                fake.set_totp(user, spec["totp_secret"], spec.get("backup_codes", ()))
            if "email2fa" in spec:
                fake.set_email2fa(user, bool(spec["email2fa"]))
            if "roles" in spec:
                fake.set_roles(user, spec["roles"])
            for permission in spec.get("grant", ()):
                fake.grant(user, permission)
            for permission in spec.get("deny", ()):
                fake.deny(user, permission)
            if "created_at" in spec:
                fake.set_created_at(user, datetime.fromisoformat(spec["created_at"]))
            if "active" in spec:
                fake.set_active(user, bool(spec["active"]))
        return _ok({"user_id": user.id})

    async def create_token(request: Request) -> JSONResponse:
        spec = await _json(request)
        name = request.path_params["username"]
        with fake.lock:
            if fake.find_user(name) is None:
                return _bad(f"no user {name!r}", 404)
            if spec.get("name"):
                token = fake.create_pat(
                    name, spec["name"], bypass_two_factor=bool(spec.get("bypass_two_factor"))
                )
            else:
                token = fake.create_login_token(name)
        return _ok({"user_id": fake.user(name).id, "token": token}, 201)

    async def list_tokens(request: Request) -> JSONResponse:
        name = request.path_params["username"]
        with fake.lock:
            user = fake.find_user(name)
            if user is None:
                return _bad(f"no user {name!r}", 404)
            tokens = [
                {
                    "name": t.label,
                    "type": t.type or "login",
                    "bypass_two_factor": t.bypass_two_factor,
                    "last_token_part": t.last_token_part,
                    "trusted_until": iso(t.two_factor_authorized_until)
                    if t.two_factor_authorized_until
                    else None,
                }
                for t in user.login_tokens
            ]
        return _ok({"tokens": tokens})

    async def settings(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                fake.update_settings(await _json(request))
            except ValueError as exc:
                return _bad(str(exc))
        return _ok({"settings": dict(fake.settings)})

    async def clock(request: Request) -> JSONResponse:
        action = request.path_params.get("action")
        spec = await _json(request) if request.method == "POST" else {}
        if action == "freeze":
            at = spec.get("at")
            fake.clock.freeze(datetime.fromisoformat(at) if at else None)
        elif action == "advance":
            fake.clock.advance(float(spec.get("seconds", 0)))
        elif action == "unfreeze":
            fake.clock.unfreeze()
        elif action is not None:
            return _bad(f"unknown clock action {action!r}", 404)
        return _ok({"now": iso(fake.clock.now()), "frozen": fake.clock.frozen})

    async def outbox(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            with fake.lock:
                fake.outbox.clear()
            return _ok()
        to = request.query_params.get("to")
        emails = fake.emails_to(to) if to else list(fake.outbox)
        return _ok(
            {
                "emails": [
                    {"to": e.to, "subject": e.subject, "code": e.code, "sent_at": iso(e.sent_at)}
                    for e in emails
                ]
            }
        )

    async def requests(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            fake.clear_request_log()
            return _ok()
        return _ok(
            {
                "requests": [
                    {
                        "method": e.method,
                        "path": e.path,
                        "route": e.route,
                        "status": e.status,
                        "client_ip": e.client_ip,
                        "user_id": e.user_id,
                        "token_name": e.token_name,
                        "two_factor_headers": e.two_factor_headers,
                        "at": iso(e.at),
                    }
                    for e in list(fake.request_log)
                ]
            }
        )

    async def faults(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            fake.faults.clear()
            return _ok()
        if request.method == "POST":
            spec = await _json(request)
            kind, route = spec.get("kind"), spec.get("route")
            times = spec.get("times", 1)
            if kind == "drop_after_commit":
                fake.faults.drop_after_commit(route, times=times)
            elif kind == "server_error":
                fake.faults.server_error(
                    route, times=times, status=int(spec.get("status", 503)), body=spec.get("body")
                )
            elif kind == "latency":
                fake.faults.latency(float(spec["seconds"]), route, times=spec.get("times"))
            else:
                return _bad(f"unknown fault kind {kind!r}")
        return _ok({"faults": [f.to_json() for f in fake.faults.active()]})

    async def reset(request: Request) -> JSONResponse:
        fake.reset()
        return _ok()

    async def rooms(request: Request) -> JSONResponse:
        if request.method == "POST":
            spec = await _json(request)
            with fake.lock:
                room = fake.add_room(
                    spec["name"],
                    room_type=spec.get("type", "c"),
                    members=spec.get("members", ()),
                    room_id=spec.get("room_id"),
                    read_only=bool(spec.get("read_only", False)),
                )
            return _ok({"room_id": room.id}, 201)
        return _ok(
            {
                "rooms": [
                    {"room_id": r.id, "name": r.name, "type": r.t, "msgs": r.msgs}
                    for r in fake.rooms.values()
                ]
            }
        )

    async def messages(request: Request) -> JSONResponse:
        if request.method == "POST":
            spec = await _json(request)
            with fake.lock:
                message = fake.add_message(
                    spec["room"], spec["username"], spec["text"], tmid=spec.get("tmid")
                )
            return _ok({"message_id": message["_id"]}, 201)
        room = request.query_params.get("room")
        if not room:
            return _bad("room is required")
        from botkit.testing._model import to_json

        with fake.lock:
            found = fake.find_room(room)
            if found is None:
                return _bad(f"no room {room!r}", 404)
            items = [to_json(m) for m in fake.room_messages(found)]
        return _ok({"messages": items})

    return [
        Route("/users", add_user, methods=["POST"]),
        Route("/users/{username}", update_user, methods=["POST", "PATCH"]),
        Route("/users/{username}/tokens", create_token, methods=["POST"]),
        Route("/users/{username}/tokens", list_tokens, methods=["GET"]),
        Route("/settings", settings, methods=["GET", "POST"]),
        Route("/clock", clock, methods=["GET"]),
        Route("/clock/{action}", clock, methods=["POST"]),
        Route("/outbox", outbox, methods=["GET", "DELETE"]),
        Route("/requests", requests, methods=["GET", "DELETE"]),
        Route("/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/rooms", rooms, methods=["GET", "POST"]),
        Route("/messages", messages, methods=["GET", "POST"]),
    ]
