"""Failure envelopes of the REST API, as `ApiClass.ts` builds them.

Source: rocketchat-server-behaviour.md §4.0 (failure table), §1.3 (401), §2.3 (login), §5 (429),
§3.10 (TEST_MODE `stack`); Rocket.Chat `apps/meteor/app/api/server/ApiClass.ts`. `breaking`
selects the server >= 8.0.0 variants (`shouldBreakInVersion('8.0.0')`).

Only errors *thrown* inside the ApiClass action wrapper carry a `stack` in TEST_MODE: its
`catch` calls `API.v1.failure(e.message, e.error, process.env.TEST_MODE ? e.stack : undefined,
e)`, which builds `{success, error, stack, errorType?, details?}`. A failure a handler returns
(`API.v1.failure("text")`, `forbidden()`, `notFound()`), the 401 of the auth check, a
permission failure (mapped to `forbidden(msg)`), a 429 and the http-router's typed-route
validation bodies are built without one.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiFailure",
    "failure",
    "forbidden",
    "js_error",
    "js_stack",
    "meteor_error",
    "not_found",
    "permission_denied",
    "plain_error",
    "typed_invalid_params",
    "unauthorized",
    "validation_error",
]


class ApiFailure(Exception):
    """Raised by route code to answer with `status` and `body`.

    `thrown` is the JavaScript error class (`"Error"`, `"TypeError"`) when the failure stands
    for an error thrown inside the action wrapper, None for a body the server builds directly.
    """

    def __init__(self, status: int, body: dict[str, Any], *, thrown: str | None = None) -> None:
        super().__init__(f"{status}")
        self.status = status
        self.body = body
        self.thrown = thrown

    def render(self, *, test_mode: bool, route: str) -> dict[str, Any]:
        """The body as sent: in TEST_MODE a thrown error gets `stack` right after `error`."""
        if not test_mode or self.thrown is None or "error" not in self.body:
            return self.body
        body: dict[str, Any] = {}
        for key, value in self.body.items():
            body[key] = value
            if key == "error":
                body["stack"] = js_stack(self.thrown, str(value), route)
        return body


def js_stack(name: str, message: str, route: str) -> str:
    """A V8 `error.stack` as a thrown error on `route` would show it (§3.10).

    The frames are illustrative (a bundled server has no stable file positions); the first line
    is V8's `<class>: <message>`, the message being the body's `error` text.
    """
    return (
        f"{name}: {message}\n"
        f"    at Object.action [as {route}] (app/api/server/ApiClass.ts:1:1)\n"
        "    at _internalRouteActionHandler (app/api/server/ApiClass.ts:1:1)\n"
        "    at processTicksAndRejections (node:internal/process/task_queues:95:5)"
    )


def meteor_message(code: str, reason: str | None) -> str:
    """`Meteor.Error.message`: "<reason> [<code>]", or "[<code>]" without a reason (§0)."""
    return f"{reason} [{code}]" if reason else f"[{code}]"


def meteor_error(
    code: str, reason: str | None = None, details: dict[str, Any] | None = None
) -> ApiFailure:
    """A thrown `Meteor.Error` on an endpoint: 400 with `errorType` (§4.0)."""
    body: dict[str, Any] = {
        "success": False,
        "error": meteor_message(code, reason),
        "errorType": code,
    }
    if details is not None:
        body["details"] = details
    return ApiFailure(400, body, thrown="Error")


def plain_error(message: str) -> ApiFailure:
    """`API.v1.failure("text")` returned by a handler: 400 with `error` only (§4.0).

    Outside TEST_MODE a thrown plain `Error(msg)` has the same body; use `js_error` for those,
    so that TEST_MODE adds their `stack`.
    """
    return ApiFailure(400, {"success": False, "error": message})


def js_error(message: str, name: str = "Error") -> ApiFailure:
    """A thrown plain `Error(msg)` (or `TypeError`, ...): 400 with `error` only (§4.0)."""
    return ApiFailure(400, {"success": False, "error": message}, thrown=name)


def failure(text: str | None = None, error_type: str | None = None) -> ApiFailure:
    """`API.v1.failure(text?, code?)`; with no text the body is just `{"success": false}`."""
    body: dict[str, Any] = {"success": False}
    if text is not None:
        body["error"] = text
    if error_type is not None:
        body["errorType"] = error_type
    return ApiFailure(400, body)


def validation_error(messages: list[str]) -> ApiFailure:
    """Legacy `validateParams` failure (§4.0): `ApiClass.ts` throws
    `Meteor.Error('invalid-params', errors.map((e) => e.message).join('\\n '))`, so the ajv
    messages (no `instancePath`) joined by "\\n ", plus the " [invalid-params]" suffix."""
    text = "\n ".join(messages)
    return ApiFailure(
        400,
        {"success": False, "error": f"{text} [invalid-params]", "errorType": "invalid-params"},
        thrown="Error",  # ApiClass throws `Meteor.Error('invalid-params', ...)` in its try
    )


def typed_invalid_params(messages: list[str], *, query: bool = False) -> ApiFailure:
    """http-router validation of a typed route: no suffix, `errorType` first (§4.0).

    `packages/http-router/src/Router.ts` (current, the version with zod support and
    `parseQueryParams`): `query` failures are `error-invalid-params`, `body` failures
    `invalid-params`, and its `parse()` joins the messages with "\\n". The document's §4.0
    says "\\n " (what the older router and the legacy `validateParams` use); the source wins.
    """
    error_type = "error-invalid-params" if query else "invalid-params"
    body = {"success": False, "errorType": error_type, "error": "\n".join(messages)}
    return ApiFailure(400, body)


def unauthorized(breaking: bool) -> ApiFailure:
    """Missing or rejected credentials on an `authRequired` route (§1.3)."""
    text = "You must be logged in to do this."
    if breaking:
        return ApiFailure(401, {"success": False, "error": text})
    return ApiFailure(401, {"success": False, "error": text, "status": "error", "message": text})


def permission_denied(breaking: bool) -> ApiFailure:
    """Route-level `permissionsRequired` failure (§4.0; `[error-forbidden]` from 8.0.0)."""
    code = "error-forbidden" if breaking else "error-unauthorized"
    return ApiFailure(
        403,
        {
            "success": False,
            "error": f"User does not have the permissions required for this action [{code}]",
        },
    )


def forbidden(breaking: bool) -> ApiFailure:
    """`API.v1.forbidden()`: "unauthorized" below 8.0.0, "forbidden" from 8.0.0 (§4.0)."""
    return ApiFailure(403, {"success": False, "error": "forbidden" if breaking else "unauthorized"})


def not_found(text: str = "Resource not found") -> ApiFailure:
    return ApiFailure(404, {"success": False, "error": text})
