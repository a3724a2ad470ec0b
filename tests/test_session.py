"""Session tests over httpx.MockTransport apps answering as the behaviour document says."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import typing

import pytest
from pydantic import SecretStr

from botkit._http import httpx
from botkit._session import CORE, Credentials, Session
from botkit._twofactor import PasswordFallbackProvider
from botkit.errors import (
    ApiError,
    BadResponse,
    Forbidden,
    LoginBlocked,
    LoginFailed,
    NotFound,
    RateLimited,
    ServerError,
    ServerUnreachable,
    TwoFactorInvalid,
    TwoFactorMaxAttempts,
    TwoFactorRequired,
    Unauthorized,
)

BASE = "https://chat.example.org"
PAT = "pat-secret-0123456789abcdefghijklmnopqrstuvwxyz"
USER = "aBcDeFgHiJkLmNoPq"
CREDS = Credentials(USER, SecretStr(PAT), name="botkit-1")

JSONBody = dict[str, typing.Any]


def reply(status: int, body: JSONBody, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


class Clock:
    """A manual clock; `sleep` advances it instead of waiting."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class Scripted:
    """Answers each request with the next scripted response (or exception)."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def session(app: typing.Callable[[httpx.Request], httpx.Response], **kwargs: typing.Any) -> Session:
    clock = kwargs.pop("clock", Clock())
    kwargs.setdefault("credentials", CREDS)
    return Session(
        base_url=BASE + "/",
        user_agent="botkit/test",
        transport=httpx.MockTransport(app),
        clock=clock,
        sleep=clock.sleep,
        **kwargs,
    )


ME = {"_id": USER, "username": "bot", "success": True}


async def test_get_sends_pat_user_agent_and_returns_object() -> None:
    app = Scripted(reply(200, ME))
    async with session(app) as s:
        assert await s.get("me") == ME
    request = app.requests[0]
    assert str(request.url) == BASE + "/api/v1/me"
    assert request.headers["x-user-id"] == USER
    assert request.headers["x-auth-token"] == PAT
    assert request.headers["user-agent"] == "botkit/test"
    assert s.stats[CORE].requests == 1


async def test_info_is_unversioned_and_post_sends_json() -> None:
    app = Scripted(reply(200, {"version": "7.5", "success": True}), reply(200, {"success": True}))
    async with session(app) as s:
        await s.get("info")
        await s.post("users.2fa.sendEmailCode", {"emailOrUsername": "bot"})
    assert app.requests[0].url.path == "/api/info"
    assert app.requests[1].headers["content-type"] == "application/json"
    assert json.loads(app.requests[1].content) == {"emailOrUsername": "bot"}


# -- error envelopes (behaviour doc 4.0, 1.3, 2.3) -----------------------------------------

ERRORS: list[tuple[int, JSONBody, type[Exception], str | None]] = [
    (
        400,
        {"success": False, "error": "[invalid-channel]", "errorType": "invalid-channel"},
        ApiError,
        "invalid-channel",
    ),
    (400, {"success": False, "error": "error-message-size-exceeded"}, ApiError, None),
    (
        403,
        {
            "success": False,
            "error": "User does not have the permissions required for this action "
            "[error-unauthorized]",
        },
        Forbidden,
        None,
    ),
    (403, {"success": False, "error": "unauthorized"}, Forbidden, None),
    (403, {"success": False, "error": "forbidden"}, Forbidden, None),
    (404, {"success": False, "error": "Resource not found"}, NotFound, None),
    (
        401,
        {
            "success": False,
            "error": "You must be logged in to do this.",
            "status": "error",
            "message": "You must be logged in to do this.",
        },
        Unauthorized,
        None,
    ),
    (401, {"success": False, "error": "You must be logged in to do this."}, Unauthorized, None),
    (401, {"status": "error", "message": "You must be logged in to do this."}, Unauthorized, None),
    (500, {"success": False, "error": "Internal server error"}, ServerError, None),
    (200, {"success": False, "error": "something odd"}, ApiError, None),
]


@pytest.mark.parametrize(("status", "body", "kind", "error_type"), ERRORS)
async def test_failure_envelopes_become_typed_errors(
    status: int, body: JSONBody, kind: type[ApiError], error_type: str | None
) -> None:
    async with session(Scripted(reply(status, body)), max_attempts=1) as s:
        with pytest.raises(kind) as caught:
            await s.post("chat.postMessage", {"channel": "#x", "text": "hi"})
    error = caught.value
    assert type(error) is kind
    assert error.status == status
    assert error.error_type == error_type
    assert error.endpoint == "chat.postMessage"
    assert str(error).startswith("chat.postMessage: ")
    assert f"(HTTP {status}" in str(error)
    assert s.stats[CORE].errors == 1


async def test_error_message_is_short() -> None:
    body = {"success": False, "error": "[invalid-channel]", "errorType": "invalid-channel"}
    async with session(Scripted(reply(400, body))) as s:
        with pytest.raises(
            ApiError, match=r"^chat\.postMessage: \[invalid-channel\] \(HTTP 400\)$"
        ):
            await s.post("chat.postMessage", {"channel": "#x", "text": "hi"})


async def test_details_are_kept() -> None:
    body = {
        "success": False,
        "error": "A token with this name already exists [error-token-already-exists]",
        "errorType": "error-token-already-exists",
        "details": {"method": "personalAccessTokens:generateToken"},
    }
    async with session(Scripted(reply(400, body))) as s:
        with pytest.raises(ApiError) as caught:
            await s.post("users.generatePersonalAccessToken", {"tokenName": "x"})
    assert caught.value.details == {"method": "personalAccessTokens:generateToken"}
    assert caught.value.error == body["error"]


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (
            {
                "success": False,
                "error": "error-login-blocked-for-user",
                "status": "error",
                "details": {"function": "Accounts.validateLoginAttempt"},
                "message": "Login has been temporarily blocked For User",
            },
            LoginBlocked,
        ),
        (
            {
                "success": False,
                "error": "Unauthorized",
                "status": "error",
                "message": "Unauthorized",
            },
            LoginFailed,
        ),
        ({"success": False, "error": "unauthorized"}, LoginFailed),
        (
            {
                "success": False,
                "error": "totp-required",
                "status": "error",
                "details": {
                    "method": "email",
                    "codeGenerated": True,
                    "availableMethods": ["email"],
                },
                "message": "TOTP Required",
            },
            TwoFactorRequired,
        ),
    ],
)
async def test_login_errors(body: JSONBody, kind: type[ApiError]) -> None:
    async with session(Scripted(reply(401, body)), credentials=None) as s:
        with pytest.raises(kind) as caught:
            await s.post("login", {"user": "bot", "password": "x"})
    assert type(caught.value) is kind
    assert not s.token_rejected


@pytest.mark.parametrize(
    ("response", "content_type"),
    [
        (httpx.Response(200, html="<html><body>Welcome to nginx</body></html>"), "text/html"),
        (httpx.Response(200, text="not json at all"), "text/plain"),
        (httpx.Response(200, json=[1, 2]), "application/json"),
        (httpx.Response(400, html="<html>bad</html>"), "text/html"),
        (httpx.Response(404, html="<html>404</html>"), "text/html"),
    ],
)
async def test_non_json_is_bad_response(response: httpx.Response, content_type: str) -> None:
    async with session(Scripted(response)) as s:
        with pytest.raises(BadResponse) as caught:
            await s.get("me")
    text = str(caught.value)
    assert text.startswith(f"the server at {BASE} answered me with HTTP {response.status_code}")
    assert content_type in text
    assert "not a JSON object" in text
    assert "[server] url" in (caught.value.hint or "")
    assert PAT not in text and "html>" not in text


async def test_secret_echoed_by_server_is_masked() -> None:
    body = {"success": False, "error": f"bad token {PAT}"}
    async with session(Scripted(reply(400, body))) as s:
        with pytest.raises(ApiError) as caught:
            await s.get("me")
    assert PAT not in str(caught.value)
    assert PAT not in repr(s) and PAT not in repr(CREDS)
    assert "botkit-1" in repr(CREDS)


async def test_logout_empty_body_is_ok() -> None:
    async with session(Scripted(httpx.Response(200, content=b""))) as s:
        assert await s.post("logout") == {}


# -- 401 ----------------------------------------------------------------------------------


async def test_401_marks_token_rejected_audits_and_never_retries() -> None:
    events: list[tuple[str, JSONBody]] = []

    async def audit(event: str, details: JSONBody) -> None:
        events.append((event, details))

    body = {"success": False, "error": "You must be logged in to do this."}
    app = Scripted(reply(401, body), reply(401, body))
    async with session(app, audit=audit) as s:
        plugin = s.for_plugin("news")
        with pytest.raises(Unauthorized):
            await plugin.get("me")
        assert len(app.requests) == 1
        assert s.token_rejected and plugin.token_rejected
        with pytest.raises(Unauthorized):
            await plugin.get("me")
    assert events == [("token.rejected", {"endpoint": "me", "token_name": "botkit-1"})]
    assert s.stats["news"].errors == 2


# -- credentials views ----------------------------------------------------------------------


async def test_with_credentials_and_set_credentials() -> None:
    app = Scripted(*(reply(200, ME) for _ in range(5)))
    login = Credentials(USER, SecretStr("login-token-abcdefgh"), name=None)
    new = Credentials(USER, SecretStr("new-pat-abcdefghijklmnop"), name="botkit-2")
    async with session(app) as s:
        plugin = s.for_plugin("p")
        await s.with_credentials(login).get("me")
        await plugin.get("me")
        s.set_credentials(new)
        await plugin.get("me")
        await s.with_credentials(None).post("login", {"resume": "x"})
        await s.get("me")
    tokens = [r.headers.get("x-auth-token") for r in app.requests]
    assert tokens == [
        "login-token-abcdefgh",
        PAT,
        "new-pat-abcdefghijklmnop",
        None,
        "new-pat-abcdefghijklmnop",
    ]
    assert [len(r.headers.get_list("x-auth-token")) for r in app.requests] == [1, 1, 1, 0, 1]
    assert s.stats["p"].requests == 2


# -- 2FA ------------------------------------------------------------------------------------

TOTP_REQUIRED = {
    "success": False,
    "error": "TOTP Required [totp-required]",
    "errorType": "totp-required",
    "details": {"method": "totp", "codeGenerated": False, "availableMethods": ["totp", "email"]},
}
TOTP_INVALID = {
    "success": False,
    "error": "TOTP Invalid [totp-invalid]",
    "errorType": "totp-invalid",
    "details": {"method": "totp", "codeGenerated": False, "availableMethods": ["totp"]},
}
MAX_ATTEMPTS = {
    "success": False,
    "error": "TOTP Maximun Failed Attempts Reached [totp-max-attempts]",
    "errorType": "totp-max-attempts",
    "details": {
        "method": "email",
        "emailOrUsername": "bot",
        "codeGenerated": False,
        "codeExpires": "2025-01-02T13:06:42.401Z",
        "availableMethods": ["email"],
    },
}
PASSWORD_REQUIRED = {
    "success": False,
    "error": "TOTP Required [totp-required]",
    "errorType": "totp-required",
    "details": {"method": "password", "codeGenerated": False, "availableMethods": []},
}


class Codes:
    """A provider returning scripted codes and recording its calls."""

    def __init__(self, *codes: str | None) -> None:
        self.codes = list(codes)
        self.calls: list[tuple[str, int]] = []

    async def code_for(
        self, method: str, details: dict[str, typing.Any], *, attempt: int
    ) -> str | None:
        self.calls.append((method, attempt))
        await asyncio.sleep(0)
        return self.codes.pop(0)


def audit_list() -> tuple[list[tuple[str, JSONBody]], typing.Any]:
    events: list[tuple[str, JSONBody]] = []

    async def audit(event: str, details: JSONBody) -> None:
        events.append((event, details))

    return events, audit


async def test_totp_challenge_is_answered_with_headers() -> None:
    events, audit = audit_list()
    app = Scripted(reply(400, TOTP_REQUIRED), reply(200, {"token": "t", "success": True}))
    provider = Codes("123456")
    async with session(app, second_factor=provider, audit=audit) as s:
        result = await s.post("users.generatePersonalAccessToken", {"tokenName": "x"})
    assert result["token"] == "t"
    retry = app.requests[1]
    assert retry.headers["x-2fa-code"] == "123456"
    assert retry.headers["x-2fa-method"] == "totp"
    assert retry.content == app.requests[0].content
    assert provider.calls == [("totp", 1)]
    assert events == [
        (
            "2fa.challenge",
            {
                "method": "totp",
                "outcome": "answered",
                "endpoint": "users.generatePersonalAccessToken",
            },
        )
    ]
    assert "123456" not in json.dumps(events)
    assert s.stats[CORE].two_factor_challenges == 1


async def test_no_provider_names_the_method() -> None:
    events, audit = audit_list()
    async with session(Scripted(reply(400, TOTP_REQUIRED)), audit=audit) as s:
        with pytest.raises(TwoFactorRequired) as caught:
            await s.post("users.generatePersonalAccessToken", {"tokenName": "x"})
    assert caught.value.method == "totp"
    assert "totp" in str(caught.value)
    assert "totp_secret" in (caught.value.hint or "")
    assert events[0][1]["outcome"] == "no-provider"


async def test_invalid_code_gets_one_fresh_retry_then_fails() -> None:
    events, audit = audit_list()
    app = Scripted(reply(400, TOTP_REQUIRED), reply(400, TOTP_INVALID), reply(400, TOTP_INVALID))
    provider = Codes("111111", "222222")
    async with session(app, second_factor=provider, audit=audit) as s:
        with pytest.raises(TwoFactorInvalid):
            await s.post("users.generatePersonalAccessToken", {"tokenName": "x"})
    assert [r.headers.get("x-2fa-code") for r in app.requests] == [None, "111111", "222222"]
    assert provider.calls == [("totp", 1), ("totp", 2)]
    assert [e[1]["outcome"] for e in events] == ["failed"]


async def test_invalid_then_fresh_code_succeeds() -> None:
    app = Scripted(
        reply(400, TOTP_REQUIRED), reply(400, TOTP_INVALID), reply(200, {"success": True})
    )
    async with session(app, second_factor=Codes("111111", "222222")) as s:
        assert await s.post("users.removePersonalAccessToken", {"tokenName": "x"}) == {
            "success": True
        }


async def test_max_attempts_stops_at_once() -> None:
    events, audit = audit_list()
    app = Scripted(reply(400, MAX_ATTEMPTS))
    provider = Codes("1")
    async with session(app, second_factor=provider, audit=audit) as s:
        with pytest.raises(TwoFactorMaxAttempts):
            await s.post("users.generatePersonalAccessToken", {"tokenName": "x"})
    assert provider.calls == []
    assert events[0][1] == {
        "method": "email",
        "outcome": "max-attempts",
        "endpoint": "users.generatePersonalAccessToken",
    }


async def test_password_fallback_sends_sha256_hex() -> None:
    app = Scripted(reply(400, PASSWORD_REQUIRED), reply(200, {"success": True}))
    provider = PasswordFallbackProvider(SecretStr("s3cret"))
    async with session(app, second_factor=provider) as s:
        await s.post("users.generatePersonalAccessToken", {"tokenName": "x"})
    assert app.requests[1].headers["x-2fa-code"] == hashlib.sha256(b"s3cret").hexdigest()
    assert app.requests[1].headers["x-2fa-method"] == "password"


async def test_login_two_factor_is_answered_too() -> None:
    login_required = {
        "success": False,
        "error": "totp-required",
        "status": "error",
        "details": {
            "method": "email",
            "codeGenerated": True,
            "emailOrUsername": "bot",
            "availableMethods": ["email"],
        },
        "message": "TOTP Required",
    }
    ok = {"status": "success", "data": {"userId": USER, "authToken": "x"}, "success": True}
    app = Scripted(reply(401, login_required), reply(200, ok))
    async with session(app, credentials=None, second_factor=Codes("123-456")) as s:
        assert (await s.post("login", {"user": "bot", "password": "p"}))["data"]["userId"] == USER
    assert app.requests[1].headers["x-2fa-code"] == "123-456"


class EmailTwoFactorServer:
    """An email-2FA endpoint: one stored code, mails when none is reusable (section 3.5),
    and a trusted window after a success (section 3.8)."""

    def __init__(self) -> None:
        self.code: str | None = None
        self.outbox: list[str] = []
        self.trusted = False
        self.served = 0
        self.counter = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        if self.trusted:
            self.served += 1
            return reply(200, {"success": True})
        details: JSONBody = {"method": "email"}
        if self.code is None:
            self.counter += 1
            self.code = f"{self.counter:06d}"
            self.outbox.append(self.code)
            details.update(codeGenerated=True, emailOrUsername="bot")
        else:
            details.update(emailOrUsername="bot", codeGenerated=False, codeExpires="2030-01-01")
        details["availableMethods"] = ["email"]
        submitted = request.headers.get("x-2fa-code")
        if submitted is None:
            return reply(400, {**TOTP_REQUIRED, "details": details})
        if submitted.replace("-", "") == self.code:
            self.code = None
            self.trusted = True
            self.served += 1
            return reply(200, {"success": True})
        return reply(400, {**TOTP_INVALID, "details": details})


class OutboxProvider:
    def __init__(self, server: EmailTwoFactorServer) -> None:
        self.server = server
        self.calls = 0

    async def code_for(
        self, method: str, details: dict[str, typing.Any], *, attempt: int
    ) -> str | None:
        self.calls += 1
        for _ in range(3):
            await asyncio.sleep(0)
        return self.server.outbox[-1]


async def test_concurrent_email_challenges_share_one_code_and_one_email() -> None:
    server = EmailTwoFactorServer()
    provider = OutboxProvider(server)
    async with session(server, second_factor=provider) as s:
        results = await asyncio.gather(
            *(
                s.post("users.generatePersonalAccessToken", {"tokenName": f"t{i}"})
                for i in range(50)
            )
        )
    assert all(r == {"success": True} for r in results)
    assert len(server.outbox) == 1
    assert provider.calls == 1
    assert server.served == 50


# -- rate limits (section 5) ------------------------------------------------------------------


def limited(reset_ms: float, date: float) -> httpx.Response:
    wait = 37
    return reply(
        429,
        {
            "success": False,
            "error": "Error, too many requests. Please slow down. You must wait "
            f"{wait} seconds before trying this endpoint again. [error-too-many-requests]",
        },
        **{
            "X-RateLimit-Limit": "10",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(reset_ms)),
            "Date": email.utils.formatdate(date, usegmt=True),
        },
    )


async def test_429_waits_until_reset_measured_against_date_then_retries_post() -> None:
    clock = Clock(now=1_700_000_000.0)
    server_now = clock.now + 500.0  # the server's clock is 500 s ahead of ours
    app = Scripted(limited((server_now + 12.0) * 1000, server_now), reply(200, {"success": True}))
    async with session(app, clock=clock) as s:
        assert await s.post("chat.postMessage", {"channel": "#x", "text": "hi"})
    assert clock.slept == [pytest.approx(12.0)]
    assert len(app.requests) == 2
    assert s.stats[CORE].rate_limit_waits == 1


async def test_429_beyond_bound_raises_rate_limited() -> None:
    clock = Clock()
    app = Scripted(limited((clock.now + 300) * 1000, clock.now))
    async with session(app, clock=clock, max_rate_limit_wait=61.0) as s:
        with pytest.raises(RateLimited) as caught:
            await s.get("me")
    assert caught.value.retry_after == pytest.approx(300.0)
    assert clock.slept == []


async def test_remaining_zero_paces_the_next_request() -> None:
    clock = Clock()
    headers = {
        "X-RateLimit-Limit": "2",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int((clock.now + 30) * 1000)),
        "Date": email.utils.formatdate(clock.now, usegmt=True),
    }
    app = Scripted(reply(200, ME, **headers), reply(200, ME), reply(200, {"success": True}))
    async with session(app, clock=clock) as s:
        await s.get("me")
        await s.post("chat.postMessage", {"channel": "#x", "text": "hi"})  # other route: no wait
        assert clock.slept == []
        await s.get("me")
    assert clock.slept == [pytest.approx(30.0)]


class WindowLimiter:
    """N requests per window per route, then 429 until the window resets (section 5)."""

    def __init__(self, clock: Clock, limit: int, window: float) -> None:
        self.clock = clock
        self.limit = limit
        self.window = window
        self.start = clock.now
        self.used = 0
        self.stored: list[str] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        now = self.clock.now
        if now >= self.start + self.window:
            self.start, self.used = now, 0
        self.used += 1
        reset = (self.start + self.window) * 1000
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - self.used)),
            "X-RateLimit-Reset": str(int(reset)),
            "Date": email.utils.formatdate(now, usegmt=True),
        }
        if self.used > self.limit:
            return limited(reset, now)
        self.stored.append(json.loads(request.content)["text"])
        return reply(200, {"success": True}, **headers)


async def test_burst_through_small_limit_loses_nothing_duplicates_nothing() -> None:
    clock = Clock()
    server = WindowLimiter(clock, limit=3, window=10.0)
    async with session(server, clock=clock) as s:
        await asyncio.gather(
            *(s.post("chat.postMessage", {"channel": "#x", "text": str(i)}) for i in range(20))
        )
    assert sorted(server.stored, key=int) == [str(i) for i in range(20)]


# -- retries ------------------------------------------------------------------------------------


async def test_get_retries_connection_errors_and_5xx_with_bounded_backoff() -> None:
    clock = Clock()
    app = Scripted(
        httpx.ConnectError("refused"),
        httpx.ReadError("reset"),
        reply(503, {"success": False, "error": "unavailable"}),
        reply(200, ME),
    )
    async with session(app, clock=clock) as s:
        assert await s.get("me") == ME
    assert len(clock.slept) == 3
    assert all(0 <= d <= 4.0 for d in clock.slept)
    assert s.stats[CORE].retries == 3


async def test_get_gives_up_after_max_attempts() -> None:
    app = Scripted(*(reply(502, {"success": False, "error": "bad gateway"}) for _ in range(4)))
    async with session(app) as s:
        with pytest.raises(ServerError):
            await s.get("me")
    assert len(app.requests) == 4


async def test_unreachable_has_hint_and_no_secret() -> None:
    app = Scripted(*(httpx.ConnectError("refused") for _ in range(4)))
    async with session(app) as s:
        with pytest.raises(ServerUnreachable) as caught:
            await s.get("me")
    assert "[server] url" in (caught.value.hint or "")
    assert PAT not in str(caught.value)


async def test_post_is_not_resent_after_ambiguous_failure() -> None:
    for failure in (httpx.ReadError("dropped"), reply(502, {"success": False, "error": "x"})):
        app = Scripted(failure, reply(200, {"success": True}))
        async with session(app) as s:
            with pytest.raises((ServerUnreachable, ServerError)):
                await s.post("chat.postMessage", {"channel": "#x", "text": "hi"})
        assert len(app.requests) == 1


async def test_post_is_resent_after_connect_error_and_when_idempotent() -> None:
    app = Scripted(httpx.ConnectError("refused"), reply(200, {"success": True}))
    async with session(app) as s:
        assert await s.post("chat.postMessage", {"channel": "#x", "text": "hi"})
    app = Scripted(httpx.ReadError("dropped"), reply(200, {"success": True}))
    async with session(app) as s:
        assert await s.post("users.2fa.sendEmailCode", {"emailOrUsername": "b"}, idempotent=True)
    assert len(app.requests) == 2


# -- pagination ---------------------------------------------------------------------------------


class Pages:
    def __init__(self, n: int, *, with_total: bool, clamp: int = 100) -> None:
        self.items = [{"i": i} for i in range(n)]
        self.with_total = with_total
        self.clamp = clamp
        self.calls: list[tuple[int, int]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        count = min(int(request.url.params["count"]), self.clamp)
        offset = int(request.url.params["offset"])
        self.calls.append((count, offset))
        page = self.items[offset : offset + count]
        body: JSONBody = {"channels": page, "success": True}
        if self.with_total:
            body.update(count=len(page), offset=offset, total=len(self.items))
        return reply(200, body)


@pytest.mark.parametrize("with_total", [True, False])
@pytest.mark.parametrize("n", [0, 1, 99, 100, 101, 250])
async def test_paginate_yields_every_item_once(n: int, with_total: bool) -> None:
    app = Pages(n, with_total=with_total)
    async with session(app) as s:
        items = [
            item
            async for item in s.paginate(
                "channels.list.joined", items_key="channels", page_size=500
            )
        ]
    assert items == app.items
    assert all(count == 100 for count, _ in app.calls)


async def test_from_settings_uses_server_section() -> None:
    from botkit._config import Settings

    settings = Settings.model_validate(
        {"server": {"url": "http://127.0.0.1:9/", "user_agent": "botkit/custom", "timeout": 5}}
    )
    async with Session.from_settings(settings, credentials=CREDS) as s:
        assert s.base_url == "http://127.0.0.1:9"
        assert s._core.client.headers["user-agent"] == "botkit/custom"
        assert s._core.client.timeout.read == 5.0
        assert s.credentials is CREDS
