"""Route declarations and the per-request context shared by the route modules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botkit.testing._envelope import plain_error
from botkit.testing._model import LoginToken, User
from botkit.testing._twofactor import TwoFactorOptions

if TYPE_CHECKING:
    from botkit.testing._fake import FakeRocketChat

__all__ = ["Ctx", "Handler", "Route", "Validator", "require_user"]


@dataclass
class Ctx:
    """What a handler sees of one request."""

    fake: FakeRocketChat
    method: str
    route: str
    query: dict[str, str]
    body: dict[str, Any]
    headers: dict[str, str]  # lower-cased names
    client_ip: str
    user: User | None = None
    token: LoginToken | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    # Query values ajv's `coerceTypes` replaced while checking a typed route's `query` schema
    # (numbers from strings); the action reads these, as the router hands it the checked object.
    coerced: dict[str, Any] = field(default_factory=dict)

    @property
    def breaking(self) -> bool:
        return self.fake.breaking

    @property
    def user_agent(self) -> str | None:
        return self.headers.get("user-agent")


Handler = Callable[[Ctx], dict[str, Any]]
Validator = Callable[[Ctx], list[str]]


@dataclass(frozen=True)
class Route:
    """One REST route and the pipeline options it was registered with (§1.2, §4.1)."""

    name: str
    methods: tuple[str, ...]
    handler: Handler
    auth: bool = True
    versioned: bool = True  # under /api/v1 (rate-limited); False for /api/info
    validate: Validator | None = None  # legacy `validateParams` (after auth and rate limit)
    # http-router schemas of a typed route, checked before the ApiClass wrapper (before
    # authentication, rate limit, 2FA): `query` first (400 `error-invalid-params`), then
    # `body` (400 `invalid-params`); see `_envelope.typed_invalid_params`.
    typed_query: Validator | None = None
    typed_body: Validator | None = None
    permissions: tuple[str, ...] = ()
    two_factor: TwoFactorOptions | None = None
    raw: bool = False  # the handler builds the whole body (no `success: true` added)


def require_user(ctx: Ctx) -> User:
    if ctx.user is None:  # only reachable if a route is misdeclared
        raise plain_error("internal: no user")
    return ctx.user
