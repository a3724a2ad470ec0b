"""Rocket.Chat failure envelopes turned into botkit's typed errors.

Both server generations (behaviour document sections 1.3, 2.3, 4.0 and 5): the status,
the `error` text, `errorType` and `details` become fields of a `botkit.errors` class.
Messages are built from the server's texts through `redact`, never from headers or
request data, and an answer that is not a JSON object becomes `BadResponse`.
"""

from __future__ import annotations

import email.utils
import typing
from collections.abc import Mapping

from botkit._http import httpx
from botkit._redact import redact
from botkit.errors import (
    ApiError,
    BadResponse,
    Forbidden,
    LoginBlocked,
    LoginFailed,
    NotFound,
    RateLimited,
    ServerError,
    TwoFactorError,
    TwoFactorInvalid,
    TwoFactorMaxAttempts,
    TwoFactorRequired,
    Unauthorized,
)

__all__ = ["TWO_FACTOR_ERRORS", "error_for", "http_date", "number", "two_factor_code"]

JSON = dict[str, typing.Any]

TWO_FACTOR_ERRORS: dict[str, type[TwoFactorError]] = {
    "totp-required": TwoFactorRequired,
    "totp-invalid": TwoFactorInvalid,
    "totp-max-attempts": TwoFactorMaxAttempts,
}


def two_factor_code(endpoint: str, status: int, data: JSON | None) -> str | None:
    """The totp-* code of a 2FA challenge (400 on endpoints, 401 with `error` at login)."""
    if data is None:
        return None
    if status == 400:
        code = data.get("errorType")
    elif status == 401 and endpoint == "login":
        code = data.get("error")
    else:
        return None
    return code if isinstance(code, str) and code in TWO_FACTOR_ERRORS else None


def error_for(
    base_url: str,
    endpoint: str,
    response: httpx.Response,
    data: JSON | None,
    *,
    retry_after: float | None = None,
) -> Exception:
    """The typed error for a failed answer (behaviour doc sections 1.3, 2.3, 4.0, 5)."""
    status = response.status_code
    if data is None and status < 500 and status != 401 and status != 429:
        content_type = response.headers.get("content-type", "no content type").split(";")[0]
        return BadResponse(
            f"the server at {base_url} answered {endpoint} with HTTP {status} "
            f"{content_type or 'no content type'}, not a JSON object",
            status=status,
            hint="is [server] url the Rocket.Chat address?",
        )
    data = data or {}
    text = data.get("error")
    if not isinstance(text, str) or not text:
        message_text = data.get("message")
        text = message_text if isinstance(message_text, str) and message_text else None
    error_type = data.get("errorType")
    if not isinstance(error_type, str):
        error_type = None
    details = data.get("details")
    fields: dict[str, typing.Any] = {
        "status": status,
        "error": text,
        "error_type": error_type,
        "details": details if isinstance(details, dict) else None,
        "endpoint": endpoint,
    }
    shown = redact(text) if text else "(no error text)"
    message = f"{endpoint}: {shown} (HTTP {status})"
    if isinstance(details, dict) and isinstance(details.get("method"), str):
        message = f"{endpoint}: {shown} (HTTP {status}, 2FA method {details['method']})"
    if status == 401 and endpoint == "login":
        code = data.get("error")
        code = code if isinstance(code, str) else None
        fields["error_type"] = code
        if code in TWO_FACTOR_ERRORS:
            return TWO_FACTOR_ERRORS[code](message, hint=_two_factor_hint(fields), **fields)
        if code is not None and code.startswith("error-login-blocked"):
            return LoginBlocked(
                message,
                hint="wait a few minutes: the server blocks logins after failures",
                **fields,
            )
        return LoginFailed(message, hint="check the username and password", **fields)
    if status == 401:
        return Unauthorized(
            message,
            hint="the token was revoked or replaced; run `botkit bootstrap` to get a new one",
            **fields,
        )
    if status == 400 and error_type in TWO_FACTOR_ERRORS:
        return TWO_FACTOR_ERRORS[error_type](message, hint=_two_factor_hint(fields), **fields)
    if status == 403:
        return Forbidden(message, **fields)
    if status == 404:
        return NotFound(message, **fields)
    if status == 429:
        return RateLimited(
            message,
            retry_after=retry_after,
            hint="the server's rate limit window is longer than [server] max_rate_limit_wait",
            **fields,
        )
    if status >= 500:
        return ServerError(message, **fields)
    return ApiError(message, **fields)


def _two_factor_hint(fields: Mapping[str, typing.Any]) -> str:
    details = fields.get("details") or {}
    method = details.get("method", "a second factor")
    if fields.get("error_type") == "totp-max-attempts":
        return "too many wrong codes; the next try mails a fresh email code"
    if fields.get("error_type") == "totp-invalid":
        return f"the server rejected the {method} code; check the clock or [auth] totp_secret"
    if method == "totp":
        return (
            "the server wants a TOTP code: set [auth] totp_secret, run interactively, "
            "or use a token created with [tokens] bypass_two_factor"
        )
    if method == "email":
        return (
            "the server wants the code it emailed: run interactively to type it, "
            "or use a token created with [tokens] bypass_two_factor"
        )
    if method == "password":
        return "the server wants the password as a second factor: run `botkit bootstrap`"
    return f"the server wants {method}"


def number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
