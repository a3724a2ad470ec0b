"""Failure envelopes of the REST API, as `ApiClass.ts` builds them.

Source: rocketchat-server-behaviour.md §4.0 (failure table), §1.3 (401), §2.3 (login), §5 (429);
Rocket.Chat `apps/meteor/app/api/server/ApiClass.ts`. `breaking` selects the server >= 8.0.0
variants (`shouldBreakInVersion('8.0.0')`).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiFailure",
    "failure",
    "forbidden",
    "meteor_error",
    "not_found",
    "permission_denied",
    "plain_error",
    "typed_invalid_params",
    "unauthorized",
    "validation_error",
]


class ApiFailure(Exception):
    """Raised by route code to answer with `status` and `body` (and maybe extra headers)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}")
        self.status = status
        self.body = body


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
    return ApiFailure(400, body)


def plain_error(message: str) -> ApiFailure:
    """A thrown plain `Error(msg)`, or `failure("text")`: 400 with `error` only (§4.0)."""
    return ApiFailure(400, {"success": False, "error": message})


def failure(text: str | None = None, error_type: str | None = None) -> ApiFailure:
    """`API.v1.failure(text?, code?)`; with no text the body is just `{"success": false}`."""
    body: dict[str, Any] = {"success": False}
    if text is not None:
        body["error"] = text
    if error_type is not None:
        body["errorType"] = error_type
    return ApiFailure(400, body)


def validation_error(messages: list[str]) -> ApiFailure:
    """Legacy `validateParams` failure: ajv messages joined by "\\n " plus the suffix (§4.0)."""
    text = "\n ".join(messages)
    return ApiFailure(
        400,
        {"success": False, "error": f"{text} [invalid-params]", "errorType": "invalid-params"},
    )


def typed_invalid_params(messages: list[str], *, query: bool = False) -> ApiFailure:
    """http-router validation of a typed route: no suffix, `errorType` first (§4.0)."""
    error_type = "error-invalid-params" if query else "invalid-params"
    return ApiFailure(
        400, {"success": False, "errorType": error_type, "error": "\n ".join(messages)}
    )


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
