"""The ASGI app: request parsing, the REST pipeline of `ApiClass.ts`, faults and the log.

Pipeline (rocketchat-server-behaviour.md §1.2): typed-route query, then body validation
(http-router), authentication (§1.1, 401 of §1.3), rate limiter (§5), legacy `validateParams`,
route permissions, 2FA (§3), handler. Responses are compact JSON with `Cache-Control: no-store`,
`Pragma: no-cache` and a `Date` header from the fake clock (§4.0); in TEST_MODE the body of a
thrown error also carries a `stack` (§3.10).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from botkit._http import httpx
from botkit.testing import _faults
from botkit.testing._envelope import (
    ApiFailure,
    meteor_error,
    permission_denied,
    typed_invalid_params,
    unauthorized,
    validation_error,
)
from botkit.testing._model import RequestLogEntry
from botkit.testing._routes_auth import ROUTES as AUTH_ROUTES
from botkit.testing._routes_chat import ROUTES as CHAT_ROUTES
from botkit.testing._routes_users import ROUTES as USER_ROUTES
from botkit.testing._routing import Ctx
from botkit.testing._routing import Route as ApiRoute
from botkit.testing._twofactor import Connection, TwoFactorFailure, check_code_for_user

if TYPE_CHECKING:
    from botkit.testing._fake import FakeRocketChat

__all__ = ["DroppedConnection", "build_app", "client_ip", "parse_body"]

API_PREFIX = "/api/v1/"
INFO_PATH = "/api/info"


class DroppedConnection(httpx.RemoteProtocolError):
    """Raised inside the app to drop a connection after the handler committed its change.

    uvicorn closes the socket (the response was started), so a client sees
    `httpx.RemoteProtocolError`; through `httpx.ASGITransport` this very exception reaches the
    client, which is the same type.
    """


class _QuietDrops(logging.Filter):
    """Keep injected drops out of uvicorn's "Exception in ASGI application" log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


def _route_table() -> dict[tuple[str, str], ApiRoute]:
    table: dict[tuple[str, str], ApiRoute] = {}
    for route in (*AUTH_ROUTES, *USER_ROUTES, *CHAT_ROUTES):
        path = API_PREFIX + route.name if route.versioned else INFO_PATH
        for method in route.methods:
            table[(method, path)] = route
    return table


_ROUTES = _route_table()


def client_ip(scope: Scope, headers: dict[str, str], forwarded_count: int = 0) -> str:
    """The client address as the server sees it: `X-Real-IP`, else the socket (§3.8).

    With `forwarded_count` n > 0 (env `HTTP_FORWARDED_COUNT`) and at least n entries in
    `X-Forwarded-For`, the n-th entry from the right wins.
    """
    client = scope.get("client")
    address = headers.get("x-real-ip") or (client[0] if client else "127.0.0.1")
    forwarded = headers.get("x-forwarded-for")
    if forwarded_count > 0 and forwarded:
        entries = [e.strip() for e in forwarded.split(",") if e.strip()]
        if len(entries) >= forwarded_count:
            address = entries[-forwarded_count]
    return address


def parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    """Body parsing of the current router (§4.0): JSON only with an `application/json` type,
    forms as forms, any other text spread into an object of characters; bad JSON is `{}`."""
    if not raw:
        return {}
    text = raw.decode("utf-8", errors="replace")
    if "application/json" in content_type:
        try:
            value = json.loads(text)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    if "application/x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(text, keep_blank_values=True))
    return {str(i): ch for i, ch in enumerate(text)}


def _json_bytes(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _run_pipeline(ctx: Ctx, route: ApiRoute) -> tuple[int, dict[str, Any]]:
    fake = ctx.fake
    try:
        if route.typed_query is not None:
            messages = route.typed_query(ctx)
            if messages:
                raise typed_invalid_params(messages, query=True)
        if route.typed_body is not None:
            messages = route.typed_body(ctx)
            if messages:
                raise typed_invalid_params(messages)
        if route.auth:
            user_id = ctx.headers.get("x-user-id")
            token = ctx.headers.get("x-auth-token")
            found = fake.authenticate(user_id, token) if user_id and token else None
            if found is None:
                raise unauthorized(fake.breaking)
            ctx.user, ctx.token = found
        _rate_limit(ctx, route)
        if route.validate is not None:
            messages = route.validate(ctx)
            if messages:
                raise validation_error(messages)
        for permission in route.permissions:
            if ctx.user is None or not fake.has_permission(ctx.user, permission):
                raise permission_denied(fake.breaking)
        if route.two_factor is not None and ctx.user is not None and ctx.token is not None:
            try:
                check_code_for_user(
                    fake,
                    ctx.user,
                    code=ctx.headers.get("x-2fa-code"),
                    method=ctx.headers.get("x-2fa-method"),
                    options=route.two_factor,
                    connection=Connection(ctx.token, ctx.client_ip, ctx.user_agent),
                )
            except TwoFactorFailure as exc:
                raise meteor_error(exc.code, exc.reason, exc.details) from None
        body = route.handler(ctx)
        if not route.raw:
            body = {**body, "success": True}
        return 200, body
    except ApiFailure as failure:
        return failure.status, failure.render(test_mode=fake.test_mode, route=route.name)


def _rate_limit(ctx: Ctx, route: ApiRoute) -> None:
    """§5: per client IP per route+method; `api-bypass-rate-limit` holders are not counted."""
    fake = ctx.fake
    if not route.versioned or fake.test_mode or not fake.settings["API_Enable_Rate_Limiter"]:
        return
    if ctx.user is not None and fake.has_permission(ctx.user, "api-bypass-rate-limit"):
        return
    result = fake.rate_limiter.hit(
        f"{ctx.method} {route.name}",
        ctx.client_ip,
        int(fake.settings["API_Enable_Rate_Limiter_Limit_Calls_Default"]),
        int(fake.settings["API_Enable_Rate_Limiter_Limit_Time_Default"]),
    )
    ctx.extra_headers.update(result.headers())
    if not result.allowed:
        seconds = math.ceil(result.time_to_reset_ms / 1000)
        raise ApiFailure(
            429,
            {
                "success": False,
                "error": "Error, too many requests. Please slow down. You must wait "
                f"{seconds} seconds before trying this endpoint again. [error-too-many-requests]",
            },
        )


class _Api:
    """The REST side: one raw ASGI endpoint so that faults can act on the connection."""

    def __init__(self, fake: FakeRocketChat) -> None:
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fake = self.fake
        request = Request(scope, receive)
        raw = await request.body()
        method = request.method.upper()
        path = request.url.path
        route = _ROUTES.get((method, path))
        route_name = route.name if route else None
        headers = {k.lower(): v for k, v in request.headers.items()}
        ip = client_ip(scope, headers, fake.http_forwarded_count)

        latency = fake.faults.take(_faults.LATENCY, route_name)
        if latency is not None:
            await asyncio.sleep(latency.seconds)

        ctx = Ctx(
            fake=fake,
            method=method,
            route=route_name or path,
            query=dict(parse_qsl(request.url.query, keep_blank_values=True)),
            body=parse_body(headers.get("content-type", ""), raw),
            headers=headers,
            client_ip=ip,
        )
        error_fault = fake.faults.take(_faults.SERVER_ERROR, route_name)
        content_type = "application/json"
        with fake.lock:
            if error_fault is not None:
                status = error_fault.status
                if error_fault.body is not None:
                    payload = error_fault.body.encode()
                    content_type = "text/html"
                else:
                    payload = _json_bytes({"success": False, "error": "Internal server error"})
            elif route is None:
                status, payload = 404, _json_bytes({"success": False, "error": "Not found"})
            else:
                status, body = _run_pipeline(ctx, route)
                payload = _json_bytes(body)
            # Only a handler that succeeded has committed anything: a 2FA challenge, a rate
            # limit or a validation error passes through, and the fault waits for a success.
            committed = route is not None and status == 200
            drop = fake.faults.take(_faults.DROP, route_name) if committed else None
            fake.request_log.append(
                RequestLogEntry(
                    method=method,
                    path=path,
                    route=route_name,
                    status=status,
                    client_ip=ip,
                    user_id=ctx.user.id if ctx.user else None,
                    token_name=ctx.token.label if ctx.token else None,
                    two_factor_headers="x-2fa-code" in headers or "x-2fa-method" in headers,
                    at=fake.clock.now(),
                )
            )
            date = format_datetime(fake.clock.now(), usegmt=True)

        response_headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(payload)).encode()),
            (b"cache-control", b"no-store"),
            (b"pragma", b"no-cache"),
            (b"date", date.encode()),
        ]
        response_headers += [(k.lower().encode(), v.encode()) for k, v in ctx.extra_headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        if drop is not None:
            raise DroppedConnection("Server disconnected without sending a response.")
        await send({"type": "http.response.body", "body": payload})


def build_app(fake: FakeRocketChat) -> ASGIApp:
    """The Starlette app: `/_fake/...` control routes, everything else the REST API."""
    from botkit.testing._control import control_routes

    return Starlette(
        routes=[
            Mount("/_fake", routes=control_routes(fake)),
            Route("/{path:path}", endpoint=_Api(fake)),
        ]
    )
