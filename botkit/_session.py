"""The shared REST session (design section 6): one httpx client, typed errors, 2FA, limits.

Every plugin job and command talks to Rocket.Chat through one `Session`. Views made
with `for_plugin` and `with_credentials` share its client, counters and 2FA single
flight. The request loop lives here (not in an httpx auth flow or a response hook) so
one place decides, per attempt, whether a request may be sent again:

* 429 comes before the endpoint runs (behaviour doc section 1.2), so any request waits
  out the window and is re-sent;
* a 400 `totp-required` also comes before the handler, so any request is re-sent with
  `x-2fa-code`/`x-2fa-method` (section 3.2);
* connection errors before sending are retried for everything; ambiguous failures
  (dropped after sending, 502/503/504) only for idempotent requests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import re
import time
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from loguru import logger
from pydantic import SecretStr

from botkit._envelope import error_for, http_date, number, two_factor_code
from botkit._http import httpx
from botkit._redact import register_secret
from botkit._transport import DEFAULT_TRANSPORT, make_transport
from botkit._twofactor import SecondFactorProvider, SingleFlight
from botkit._version import __version__
from botkit.errors import (
    BadResponse,
    ServerUnreachable,
)

if typing.TYPE_CHECKING:
    from botkit._config import Settings

__all__ = ["AuditSink", "Credentials", "RequestStats", "Session"]

#: Same shape as `botkit._audit.AuditSink` (defined here too to avoid an import cycle).
AuditSink = Callable[[str, dict[str, typing.Any]], Awaitable[None]]

JSON = dict[str, typing.Any]
Params = Mapping[str, str | int | float | bool | None]

CORE = "botkit"
"""The counter key of requests not made through a plugin view."""

_RETRY_STATUSES = frozenset({502, 503, 504})
_MAX_RATE_LIMIT_WAITS = 50
_WAIT_IN_MESSAGE = re.compile(r"wait (\d+) seconds")


@dataclasses.dataclass(frozen=True, repr=False)
class Credentials:
    """A user id and token (PAT or login token). The repr shows the token's name only."""

    user_id: str
    token: SecretStr
    name: str | None = None

    def __post_init__(self) -> None:
        register_secret(self.token.get_secret_value())

    def __repr__(self) -> str:
        return f"Credentials(name={self.name!r})"


@dataclasses.dataclass(slots=True)
class RequestStats:
    """Counters of one plugin (or of botkit itself) for `botkit status`."""

    requests: int = 0
    errors: int = 0
    retries: int = 0
    two_factor_challenges: int = 0
    rate_limit_waits: int = 0


class _Inherit:
    """Marker: a view uses its parent's second-factor provider."""

    __slots__ = ()


INHERIT = _Inherit()


class _Auth:
    """The credentials a set of views send; `set_credentials` swaps them for all at once."""

    __slots__ = ("credentials", "default", "headers", "rejected")

    def __init__(self, credentials: Credentials | None, *, default: bool = False) -> None:
        self.credentials = credentials
        # True: these are the client's default headers, so requests need no header work.
        self.default = default
        self.headers: dict[str, str] = (
            {"X-User-Id": credentials.user_id, "X-Auth-Token": credentials.token.get_secret_value()}
            if credentials is not None
            else {}
        )
        self.rejected = False


@dataclasses.dataclass(slots=True)
class _Retry:
    """Backoff policy for idempotent retries: exponential with full jitter, bounded."""

    attempts: int = 4
    base: float = 0.25
    cap: float = 4.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0.0, min(self.cap, self.base * (2.0 ** (attempt - 1))))


class _Core:
    """What every view of one session shares."""

    def __init__(
        self,
        *,
        base_url: str,
        client: httpx.AsyncClient,
        second_factor: SecondFactorProvider | None,
        audit: AuditSink | None,
        max_rate_limit_wait: float,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        retry: _Retry,
    ) -> None:
        self.base_url = base_url
        self.api = base_url + "/api/v1/"
        self.client = client
        self.second_factor = second_factor
        self.audit = audit
        self.max_rate_limit_wait = max_rate_limit_wait
        self.clock = clock
        self.sleep = sleep
        self.retry = retry
        self.flight = SingleFlight()
        self.stats: dict[str, RequestStats] = {}
        # (HTTP method, endpoint) -> local time when the server's window resets; filled
        # when a response says X-RateLimit-Remaining: 0 (the limit is per route + method).
        self.paced: dict[tuple[str, str], float] = {}


class Session:
    """The 2FA-aware REST session (design section 6).

    Args:
        base_url: the server, e.g. "https://chat.example.org" (no `/api`).
        user_agent: sent on every request; keep it stable (2FA "remember" window).
        timeout: seconds per socket operation (connect, read, write, pool).
        max_connections: connection pool size.
        verify_tls: verify the server certificate.
        credentials: the user id and token to send, or None (login, public endpoints).
        second_factor: answers 2FA challenges; None raises `TwoFactorRequired`.
        audit: receives "2fa.challenge" and "token.rejected" events.
        max_rate_limit_wait: longest wait (s) for a rate-limit window before `RateLimited`.
        transport: an httpx transport, or "aiohttp"/"httpx"; None is the measured default.
        clock: epoch seconds (tests inject one).
        sleep: the coroutine used for every wait (tests inject one).
        max_attempts: tries of an idempotent request on connection errors and 502/503/504.
    """

    def __init__(
        self,
        *,
        base_url: str,
        user_agent: str = f"botkit/{__version__}",
        timeout: float = 30.0,
        max_connections: int = 10,
        verify_tls: bool = True,
        credentials: Credentials | None = None,
        second_factor: SecondFactorProvider | None = None,
        audit: AuditSink | None = None,
        max_rate_limit_wait: float = 61.0,
        transport: httpx.AsyncBaseTransport | str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_attempts: int = 4,
    ) -> None:
        base_url = base_url.rstrip("/")
        if transport is None or isinstance(transport, str):
            transport = make_transport(
                transport or DEFAULT_TRANSPORT,
                verify=verify_tls,
                max_connections=max_connections,
            )
        auth = _Auth(credentials, default=True)
        client = httpx.AsyncClient(
            headers={"User-Agent": user_agent, "Accept": "application/json", **auth.headers},
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
            trust_env=False,
        )
        core = _Core(
            base_url=base_url,
            client=client,
            second_factor=second_factor,
            audit=audit,
            max_rate_limit_wait=max_rate_limit_wait,
            clock=clock,
            sleep=sleep,
            retry=_Retry(attempts=max(1, max_attempts)),
        )
        self._init_view(core, auth, CORE, owner=True)

    def _init_view(
        self,
        core: _Core,
        auth: _Auth,
        plugin: str,
        *,
        owner: bool,
        second_factor: SecondFactorProvider | _Inherit | None = INHERIT,
    ) -> None:
        self._core = core
        self._auth = auth
        self._plugin = plugin
        self._owner = owner
        self._second_factor = second_factor
        stats = core.stats.get(plugin)
        if stats is None:
            stats = core.stats[plugin] = RequestStats()
        self._stats = stats

    def _view(
        self,
        auth: _Auth,
        plugin: str,
        second_factor: SecondFactorProvider | _Inherit | None = INHERIT,
    ) -> Session:
        view = object.__new__(Session)
        if isinstance(second_factor, _Inherit):
            second_factor = self._second_factor
        view._init_view(self._core, auth, plugin, owner=False, second_factor=second_factor)
        return view

    @property
    def second_factor(self) -> SecondFactorProvider | None:
        """The provider that answers this view's 2FA challenges."""
        if isinstance(self._second_factor, _Inherit):
            return self._core.second_factor
        return self._second_factor

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        credentials: Credentials | None = None,
        second_factor: SecondFactorProvider | None = None,
        audit: AuditSink | None = None,
    ) -> Session:
        """A session configured from `[server]`."""
        server = settings.server
        return cls(
            base_url=server.base_url,
            user_agent=server.user_agent,
            timeout=server.timeout,
            max_connections=server.max_connections,
            verify_tls=server.verify_tls,
            credentials=credentials,
            second_factor=second_factor,
            audit=audit,
            max_rate_limit_wait=server.max_rate_limit_wait,
            transport=server.transport,
        )

    def __repr__(self) -> str:
        credentials = self._auth.credentials
        name = credentials.name if credentials is not None else None
        return f"Session(base_url={self._core.base_url!r}, token={name!r}, plugin={self._plugin!r})"

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the shared client (only the session that created it does)."""
        if self._owner:
            await self._core.client.aclose()

    # -- views --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The server URL, without trailing slash."""
        return self._core.base_url

    @property
    def credentials(self) -> Credentials | None:
        """The credentials this view sends."""
        return self._auth.credentials

    @property
    def plugin(self) -> str:
        """The counter key of this view."""
        return self._plugin

    def with_credentials(
        self,
        credentials: Credentials | None,
        *,
        second_factor: SecondFactorProvider | _Inherit | None = INHERIT,
    ) -> Session:
        """A view sending other credentials over the same client (bootstrap, rotation).

        `second_factor` replaces the session's provider for this view only (bootstrap
        answers with a prompt; the daemon's own session never prompts).
        """
        return self._view(_Auth(credentials), self._plugin, second_factor)

    def set_credentials(self, credentials: Credentials | None) -> None:
        """Switch this session and every plugin view of it to new credentials, at once."""
        auth = self._auth
        replacement = _Auth(credentials)
        if auth.default:
            client_headers = self._core.client.headers
            for name in ("X-User-Id", "X-Auth-Token"):
                client_headers.pop(name, None)
            client_headers.update(replacement.headers)
        auth.credentials = replacement.credentials
        auth.headers = replacement.headers
        auth.rejected = False

    def for_plugin(self, name: str) -> Session:
        """A view whose requests count under plugin `name`; it follows `set_credentials`."""
        return self._view(self._auth, name)

    @property
    def stats(self) -> Mapping[str, RequestStats]:
        """Counters per plugin (`CORE` for requests not made through a plugin view)."""
        return self._core.stats

    @property
    def token_rejected(self) -> bool:
        """Whether the server answered 401 to this view's credentials."""
        return self._auth.rejected

    # -- calls --------------------------------------------------------------------------

    async def get(self, endpoint: str, params: Params | None = None) -> JSON:
        """GET `endpoint` ("me", "rooms.get"; "info" is /api/info) and return the JSON object."""
        return await self._call("GET", endpoint, params, None, True)

    async def post(
        self, endpoint: str, json: JSON | None = None, *, idempotent: bool = False
    ) -> JSON:
        """POST a JSON body; re-sent after an ambiguous failure only if `idempotent`."""
        return await self._call("POST", endpoint, None, json, idempotent)

    async def paginate(
        self,
        endpoint: str,
        *,
        items_key: str,
        params: Params | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[JSON]:
        """Every item of a `count`/`offset` endpoint, page by page (section 4.0)."""
        # The server clamps count to 100 silently; asking for more would end the loop
        # early on "page shorter than asked".
        count = max(1, min(page_size, 100))
        offset = 0
        while True:
            page_params = dict(params or {})
            page_params["count"] = count
            page_params["offset"] = offset
            page = await self.get(endpoint, page_params)
            items = page.get(items_key)
            if not isinstance(items, list):
                raise BadResponse(
                    f"{endpoint}: the answer has no {items_key!r} list",
                    status=200,
                    hint="is items_key the right field for this endpoint?",
                )
            for item in items:
                yield item
            offset += len(items)
            total = page.get("total")
            if not items:
                return
            if isinstance(total, int):
                if offset >= total:
                    return
            elif len(items) < count:
                return

    async def send_email_code(self, email_or_username: str) -> None:
        """Ask the server to mail a fresh 2FA code (`users.2fa.sendEmailCode`, section 4.6)."""
        await self.post("users.2fa.sendEmailCode", {"emailOrUsername": email_or_username})

    # -- the request loop ---------------------------------------------------------------

    async def _call(
        self,
        method: str,
        endpoint: str,
        params: Params | None,
        body: JSON | None,
        idempotent: bool,
    ) -> JSON:
        core = self._core
        stats = self._stats
        stats.requests += 1
        url = core.api + endpoint if endpoint != "info" else core.base_url + "/api/info"
        # A 2FA code obtained after this point was obtained while this request was in
        # flight: it is the shared code for this request's challenge (single flight).
        seen = core.flight.generation
        try:
            if core.paced:
                await self._pace(method, endpoint)
            started = time.perf_counter()
            try:
                if self._auth.default:
                    response = await core.client.request(method, url, params=params, json=body)
                else:
                    response = await self._send_as_view(method, url, params, body, None)
            except httpx.TransportError as error:
                response, attempt = await self._retry_transport(
                    method, endpoint, url, params, body, None, idempotent, error, 1
                )
            else:
                attempt = 1
                status = response.status_code
                logger.debug(
                    "{} {} -> {} in {:.1f} ms",
                    method,
                    endpoint,
                    status,
                    (time.perf_counter() - started) * 1000.0,
                )
                if status == 200:
                    try:
                        data = json.loads(response.content)
                    except ValueError:
                        data = None
                    if type(data) is dict and data.get("success") is not False:
                        if "x-ratelimit-remaining" in response.headers:
                            self._note_remaining(method, endpoint, response)
                        return data
            return await self._slow(
                method, endpoint, url, params, body, idempotent, response, attempt, seen
            )
        except BaseException:
            stats.errors += 1
            raise

    async def _send_as_view(
        self,
        method: str,
        url: str,
        params: Params | None,
        body: JSON | None,
        extra: dict[str, str] | None,
    ) -> httpx.Response:
        """Send with this view's credentials instead of the client's default ones."""
        client = self._core.client
        request = client.build_request(method, url, params=params, json=body, headers=extra)
        headers = request.headers
        for name in ("X-User-Id", "X-Auth-Token"):
            if name in headers:
                del headers[name]
        headers.update(self._auth.headers)
        return await client.send(request)

    async def _send(
        self,
        method: str,
        endpoint: str,
        url: str,
        params: Params | None,
        body: JSON | None,
        extra: dict[str, str] | None,
    ) -> httpx.Response:
        if self._core.paced:
            await self._pace(method, endpoint)
        started = time.perf_counter()
        if self._auth.default:
            response = await self._core.client.request(
                method, url, params=params, json=body, headers=extra
            )
        else:
            response = await self._send_as_view(method, url, params, body, extra)
        logger.debug(
            "{} {} -> {} in {:.1f} ms",
            method,
            endpoint,
            response.status_code,
            (time.perf_counter() - started) * 1000.0,
        )
        return response

    async def _retry_transport(
        self,
        method: str,
        endpoint: str,
        url: str,
        params: Params | None,
        body: JSON | None,
        extra: dict[str, str] | None,
        idempotent: bool,
        error: httpx.TransportError,
        attempt: int,
    ) -> tuple[httpx.Response, int]:
        """Re-send after a transport error while it is safe and within the bound."""
        core = self._core
        while True:
            # Connect errors and pool timeouts happen before a byte is sent: safe for all.
            safe = isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
            if not (safe or idempotent) or attempt >= core.retry.attempts:
                raise self._unreachable(endpoint, error, sent=not safe) from None
            self._stats.retries += 1
            await core.sleep(core.retry.delay(attempt))
            attempt += 1
            try:
                return await self._send(method, endpoint, url, params, body, extra), attempt
            except httpx.TransportError as next_error:
                error = next_error

    async def _slow(
        self,
        method: str,
        endpoint: str,
        url: str,
        params: Params | None,
        body: JSON | None,
        idempotent: bool,
        response: httpx.Response,
        attempt: int,
        seen: int,
    ) -> JSON:
        """Everything but the plain 200: 2FA, 429, retries, typed errors."""
        core = self._core
        extra: dict[str, str] | None = None
        two_factor: _Challenge | None = None
        rate_waits = 0
        while True:
            status = response.status_code
            data = self._parse(response)
            if status == 200 and data is not None and data.get("success") is not False:
                if "x-ratelimit-remaining" in response.headers:
                    self._note_remaining(method, endpoint, response)
                if two_factor is not None:
                    await two_factor.report("answered")
                return data
            code = two_factor_code(endpoint, status, data)
            if code is not None and data is not None:
                if two_factor is None:
                    two_factor = _Challenge(self, endpoint)
                extra = await two_factor.answer(code, data, seen)
                if extra is None:
                    raise error_for(core.base_url, endpoint, response, data)
            elif status == 429:
                wait = self._rate_limit_wait(response, data)
                rate_waits += 1
                if wait > core.max_rate_limit_wait or rate_waits > _MAX_RATE_LIMIT_WAITS:
                    raise error_for(core.base_url, endpoint, response, data, retry_after=wait)
                self._stats.rate_limit_waits += 1
                logger.debug("{} {}: rate limited, waiting {:.1f} s", method, endpoint, wait)
                await core.sleep(wait)
            elif status in _RETRY_STATUSES and idempotent and attempt < core.retry.attempts:
                self._stats.retries += 1
                await core.sleep(core.retry.delay(attempt))
                attempt += 1
            else:
                if status == 401 and endpoint != "login":
                    await self._rejected(endpoint, response.request.headers.get("x-auth-token"))
                if two_factor is not None:
                    await two_factor.report("answered")
                raise error_for(core.base_url, endpoint, response, data)
            try:
                response = await self._send(method, endpoint, url, params, body, extra)
            except httpx.TransportError as error:
                response, attempt = await self._retry_transport(
                    method, endpoint, url, params, body, extra, idempotent, error, attempt
                )

    # -- helpers ------------------------------------------------------------------------

    def _parse(self, response: httpx.Response) -> JSON | None:
        """The body as a JSON object, or None if it is not one."""
        content = response.content
        if not content:
            return {} if response.status_code == 200 else None
        try:
            data = json.loads(content)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _unreachable(
        self, endpoint: str, error: httpx.TransportError, *, sent: bool
    ) -> ServerUnreachable:
        kind = "timed out" if isinstance(error, httpx.TimeoutException) else "failed"
        what = "the connection" if not sent else "the request (it may have reached the server)"
        return ServerUnreachable(
            f"{endpoint}: {what} to {self._core.base_url} {kind}: {type(error).__name__}",
            hint="check [server] url, the network, and that Rocket.Chat is running",
            endpoint=endpoint,
            ambiguous=sent,
        )

    async def _rejected(self, endpoint: str, sent_token: str | None) -> None:
        auth = self._auth
        if auth.credentials is None:
            return
        if sent_token != auth.credentials.token.get_secret_value():
            # The request went out with credentials that have since been replaced
            # (set_credentials during a rotation): its 401 says nothing about the new ones.
            return
        first = not auth.rejected
        auth.rejected = True
        if first:
            logger.warning(
                "{}: the server rejected token {} (HTTP 401)", endpoint, auth.credentials.name
            )
            if self._core.audit is not None:
                await self._core.audit(
                    "token.rejected", {"endpoint": endpoint, "token_name": auth.credentials.name}
                )

    def _rate_limit_wait(self, response: httpx.Response, data: JSON | None) -> float:
        """Seconds until the window resets (section 5: Reset is epoch ms, server clock)."""
        headers = response.headers
        reset = number(headers.get("x-ratelimit-reset"))
        if reset is not None:
            server_now = http_date(headers.get("date"))
            now = server_now if server_now is not None else self._core.clock()
            return max(0.0, reset / 1000.0 - now)
        match = _WAIT_IN_MESSAGE.search(str((data or {}).get("error", "")))
        return float(match.group(1)) if match else 1.0

    def _note_remaining(self, method: str, endpoint: str, response: httpx.Response) -> None:
        if response.headers.get("x-ratelimit-remaining") == "0":
            wait = self._rate_limit_wait(response, None)
            if 0.0 < wait <= self._core.max_rate_limit_wait:
                self._core.paced[(method, endpoint)] = self._core.clock() + wait

    async def _pace(self, method: str, endpoint: str) -> None:
        """Hold a request while its route's window is used up (Remaining: 0)."""
        core = self._core
        until = core.paced.get((method, endpoint))
        if until is None:
            return
        wait = until - core.clock()
        if wait <= 0.0:
            core.paced.pop((method, endpoint), None)
            return
        self._stats.rate_limit_waits += 1
        logger.debug("{} {}: window used up, pacing {:.1f} s", method, endpoint, wait)
        await core.sleep(wait)
        if core.paced.get((method, endpoint)) == until:
            del core.paced[(method, endpoint)]


class _Challenge:
    """The 2FA state of one request: which method, which attempt, the audit outcome."""

    def __init__(self, session: Session, endpoint: str) -> None:
        self.session = session
        self.endpoint = endpoint
        self.method = "unknown"
        self.attempts = 0
        self.generation = -1
        self.reported = False

    async def answer(self, code: str, data: JSON, seen: int) -> dict[str, str] | None:
        """Headers for the next try, or None when the error must be raised."""
        core = self.session._core
        details = data.get("details")
        details = details if isinstance(details, dict) else {}
        method = details.get("method")
        self.method = method if isinstance(method, str) else "unknown"
        if code == "totp-max-attempts":
            await self.report("max-attempts")
            return None
        if code == "totp-invalid":
            core.flight.drop(self.method, self.generation)
            if self.attempts >= 2:
                await self.report("failed")
                return None
        elif self.attempts >= 1:
            # Required again after an answer: the server does not take our codes.
            await self.report("failed")
            return None
        if self.attempts == 0:
            self.session._stats.two_factor_challenges += 1
        provider = self.session.second_factor
        if provider is None:
            await self.report("no-provider")
            return None
        newer_than = seen if self.attempts == 0 else self.generation
        self.attempts += 1
        try:
            generation, value = await core.flight.code(
                provider, self.method, details, newer_than=newer_than, attempt=self.attempts
            )
        except Exception:
            await self.report("failed")
            raise
        if value is None:
            await self.report("no-provider")
            return None
        register_secret(value)
        self.generation = generation
        # A person may have answered with another method (MethodCode): say which.
        return {"x-2fa-code": value, "x-2fa-method": getattr(value, "method", self.method)}

    async def report(self, outcome: str) -> None:
        if self.reported:
            return
        self.reported = True
        logger.info("{}: 2FA challenge ({}) {}", self.endpoint, self.method, outcome)
        audit = self.session._core.audit
        if audit is not None:
            await audit(
                "2fa.challenge",
                {"method": self.method, "outcome": outcome, "endpoint": self.endpoint},
            )
