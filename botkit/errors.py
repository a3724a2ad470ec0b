"""The one exception tree of botkit.

```
BotkitError
├── ConfigError                 bad or missing configuration            (exit 2)
├── PluginError                 a plugin failed to import or validate  (exit 2)
├── AuthError                   authentication problem                  (exit 3)
│   ├── NotBootstrapped         no stored token
│   ├── TokenStoreError         token file insecure, corrupt, or for another server/user
│   └── (the API errors below that are also AuthErrors)
├── ApiError                    the server answered with a failure envelope
│   ├── Unauthorized            401: token rejected (also an AuthError)
│   ├── LoginFailed             401 at login (also an AuthError)
│   │   └── LoginBlocked        brute-force protection
│   ├── TwoFactorError          2FA challenge failures (also AuthErrors)
│   │   ├── TwoFactorRequired
│   │   ├── TwoFactorInvalid
│   │   └── TwoFactorMaxAttempts
│   ├── Forbidden               403
│   ├── NotFound                404
│   ├── RateLimited             429
│   └── ServerError             5xx                                     (exit 4)
├── ServerUnreachable           connection failed or timed out          (exit 4)
├── BadResponse                 HTML, garbage or an unexpected shape    (exit 4)
├── AuditError                  the audit log could not be written or read
├── LockHeld                    another botkit process is changing tokens
└── JobError                    a job failed (`botkit jobs run`)
```

Exit codes are assigned in one place, at the CLI edge (`botkit._cli._errors`).
Messages never contain a secret: they are built from token names, endpoints and the
server's error texts only. Every error pickles with its fields.
"""

from __future__ import annotations

import typing

__all__ = [
    "ApiError",
    "AuditError",
    "AuthError",
    "BadResponse",
    "BotkitError",
    "ConfigError",
    "Forbidden",
    "JobError",
    "LockHeld",
    "LoginBlocked",
    "LoginFailed",
    "NotBootstrapped",
    "NotFound",
    "PluginError",
    "RateLimited",
    "ServerError",
    "ServerUnreachable",
    "TokenStoreError",
    "TwoFactorError",
    "TwoFactorInvalid",
    "TwoFactorMaxAttempts",
    "TwoFactorRequired",
    "Unauthorized",
]


class BotkitError(Exception):
    """Root of every error botkit raises on purpose.

    Args:
        message: one readable line saying what is wrong.
        hint: what the user can do about it, shown after the message.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __reduce__(self) -> tuple[typing.Any, ...]:
        return (_rebuild, (type(self), self.__dict__.copy()))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[BotkitError], state: dict[str, typing.Any]) -> BotkitError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class ConfigError(BotkitError):
    """The configuration file or environment is missing, malformed or invalid."""


class PluginError(BotkitError):
    """A plugin could not be imported, or its settings did not validate."""


class AuthError(BotkitError):
    """botkit cannot authenticate: no token, a rejected token, or 2FA it cannot answer."""


class NotBootstrapped(AuthError):
    """No token is stored yet."""


class TokenStoreError(AuthError):
    """The token file is insecure, unreadable, or belongs to another server or user."""


class ServerUnreachable(BotkitError):
    """The server could not be reached (connection refused, DNS, timeout).

    Args:
        endpoint: the REST endpoint being called.
        ambiguous: True if the request may have reached the server (the connection broke
            after it was sent): a non-idempotent call must be checked, not re-sent.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        endpoint: str | None = None,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(message, hint=hint)
        self.endpoint = endpoint
        self.ambiguous = ambiguous


class BadResponse(BotkitError):
    """The server answered something that is not a Rocket.Chat JSON envelope."""

    def __init__(
        self, message: str, *, status: int | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class AuditError(BotkitError):
    """The audit log could not be written (fail closed) or is unreadable."""


class LockHeld(BotkitError):
    """Another botkit process holds the lock for what this one wants to do."""


class JobError(BotkitError):
    """A plugin job failed or timed out."""


class ApiError(BotkitError):
    """The server answered with a failure envelope.

    Args:
        message: the readable line.
        status: the HTTP status code.
        error: the envelope's `error` text.
        error_type: the envelope's `errorType` (or the login `error` code).
        details: the envelope's `details` object.
        endpoint: the REST endpoint called, without query string.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error: str | None = None,
        error_type: str | None = None,
        details: dict[str, typing.Any] | None = None,
        endpoint: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.error = error
        self.error_type = error_type
        self.details = details or {}
        self.endpoint = endpoint


class Unauthorized(ApiError, AuthError):
    """401: the token is not (or no longer) valid for this user."""


class LoginFailed(ApiError, AuthError):
    """401 at login: wrong user or password, or another login refusal."""


class LoginBlocked(LoginFailed):
    """Login refused by the server's brute-force protection."""


class TwoFactorError(ApiError, AuthError):
    """A 2FA challenge that botkit could not answer."""

    @property
    def method(self) -> str | None:
        """The 2FA method the server named (`totp`, `email` or `password`)."""
        value = self.details.get("method")
        return value if isinstance(value, str) else None

    @property
    def available_methods(self) -> list[str]:
        """The methods the user has enabled, as the server listed them."""
        value = self.details.get("availableMethods")
        return [str(m) for m in value] if isinstance(value, list) else []


class TwoFactorRequired(TwoFactorError):
    """The server asked for a 2FA code and no provider could give one."""


class TwoFactorInvalid(TwoFactorError):
    """The server rejected the 2FA code."""


class TwoFactorMaxAttempts(TwoFactorError):
    """Too many wrong email codes: the server will mail a fresh one on the next try."""


class Forbidden(ApiError):
    """403: the user lacks a permission."""


class NotFound(ApiError):
    """404: the endpoint or resource does not exist."""


class RateLimited(ApiError):
    """429: the server's rate limiter refused the request.

    Args:
        retry_after: seconds until the server's window resets, or None if unknown.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: typing.Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx: the server failed."""
