"""Bootstrap: the one moment botkit asks a human anything (design section 4).

Password path: log in with the password as a SHA-256 digest (answering the login's 2FA
challenge), create a PAT (answering its own challenge), store it, log the *login token*
out (a logout with the PAT would delete the PAT: behaviour document 4.2), verify the PAT.
Token path: take a PAT made in Rocket.Chat's UI, verify it and find its name.
After either, nothing but the PAT is ever used again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import typing

from pydantic import SecretStr

from botkit._audit import AuditLog
from botkit._prompt import Prompter
from botkit._redact import register_secret
from botkit._services import TokenServices
from botkit._session import Credentials, Session
from botkit._tokens import FileTokenStore, TokenRecord, TokenSlot
from botkit._twofactor import (
    ChainProvider,
    PasswordFallbackProvider,
    PromptProvider,
    SecondFactorProvider,
    TotpProvider,
)
from botkit.errors import (
    ApiError,
    AuthError,
    BotkitError,
    Forbidden,
    LoginBlocked,
    LoginFailed,
    TwoFactorError,
    TwoFactorInvalid,
    TwoFactorMaxAttempts,
    TwoFactorRequired,
    Unauthorized,
)

__all__ = ["BootstrapResult", "bootstrap_with_password", "bootstrap_with_token", "token_name"]

#: Wrong codes accepted at the login prompt before giving up.
MAX_CODE_TRIES = 3

GRANT_HINT = (
    "an administrator must grant the permission 'create-personal-access-tokens' to one of "
    "this user's roles (Administration > Workspace > Permissions; the 'bot' role lacks it "
    "by default), or create a token in the UI and run `botkit bootstrap --token`"
)


@dataclasses.dataclass(frozen=True)
class BootstrapResult:
    """What bootstrap stored: shown to the user as name and last characters only."""

    username: str
    user_id: str
    token_name: str
    last_chars: str
    token_file: str


def token_name(prefix: str, now: datetime.datetime) -> str:
    """`<prefix>-<UTC timestamp>`: unique per second, sortable, recognisably botkit's."""
    return f"{prefix}-{now.astimezone(datetime.UTC):%Y%m%dT%H%M%SZ}"


def _digest(password: str) -> str:
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def _describe_methods(error: TwoFactorError) -> str:
    methods = error.available_methods
    return ", ".join(methods) if methods else error.method or "unknown"


def _code_question(method: str, details: dict[str, typing.Any]) -> str:
    if method == "email":
        target = details.get("emailOrUsername") or "the user"
        return f"Code from the email sent to {target}'s address (or type 'resend')"
    if method == "totp":
        return "Code from your authenticator app (or a backup code)"
    return f"2FA code ({method})"


class _Bootstrap:
    """One run of the password path; holds the password only for its own lifetime."""

    def __init__(
        self,
        services: TokenServices,
        prompter: Prompter,
        now: typing.Callable[[], datetime.datetime],
    ) -> None:
        self.settings, self.session = services.settings, services.session
        self.store, self.audit = services.store, services.audit
        self.prompter = prompter
        self.now = now
        self.login_totp_code: str | None = None
        self.username: str | None = None

    async def _ask_login_code(self, method: str, details: dict[str, typing.Any]) -> str:
        """At login the server picks the method itself (TOTP when enabled): no switching."""
        return await self._ask_code(method, details, may_switch=False)

    async def _ask_code(
        self, method: str, details: dict[str, typing.Any], *, may_switch: bool = True
    ) -> str:
        """The prompt behind every 2FA challenge of bootstrap (login and token creation)."""
        methods = details.get("availableMethods") or [method]
        if len(methods) > 1:
            self.prompter.say(f"2FA methods available: {', '.join(methods)}; asked for: {method}")
            if may_switch and method == "totp" and "email" in methods:
                self.prompter.say("Type 'email' to get a code by email instead.")
        if method == "email":
            target = details.get("emailOrUsername") or "the user"
            state = "was just emailed" if details.get("codeGenerated") else "was emailed"
            self.prompter.say(f"A 6-digit code {state} to {target}'s verified address.")
        code = await self.prompter.ask(_code_question(method, details), secret=True)
        if method == "totp" and code.lower() not in (
            PromptProvider.RESEND, PromptProvider.SWITCH_TO_EMAIL
        ):
            self.login_totp_code = code
        return code

    def _login_provider(self) -> SecondFactorProvider:
        providers: list[SecondFactorProvider] = []
        if self.settings.auth.totp_secret is not None:
            providers.append(TotpProvider(self.settings.auth.totp_secret))
        providers.append(PromptProvider.for_session(self._ask_login_code, self.session))
        return ChainProvider(providers)

    async def _login(self, username: str, password: str) -> Credentials:
        """POST login with a digest password; the session answers the login's 2FA challenge.

        At login the server picks the method itself (TOTP if enabled, else email) and
        ignores `x-2fa-method` (behaviour document 2.4).
        """
        self.username = username
        digest = _digest(password)
        register_secret(digest)  # as good as the password for a Meteor login
        body = {
            # A string identity, so that a 2FA code is honoured (behaviour document 2.1 A).
            "user": username,
            "password": {"digest": digest, "algorithm": "sha-256"},
        }
        session = self.session.with_credentials(None, second_factor=self._login_provider())
        try:
            answer = await session.post("login", json=body)
        except TwoFactorInvalid as error:
            raise TwoFactorInvalid(
                "the server rejected the 2FA code twice", status=error.status,
                details=error.details,
                hint="check the authenticator's clock (or use a backup code), then run "
                "botkit bootstrap again",
            ) from None
        except TwoFactorMaxAttempts as error:
            raise TwoFactorMaxAttempts(
                "too many wrong email codes", status=error.status, details=error.details,
                hint="the next login attempt mails a fresh code: run botkit bootstrap again",
            ) from None
        except TwoFactorRequired as error:
            raise TwoFactorRequired(
                "no 2FA code was given", status=error.status, details=error.details,
                hint=f"the server wants a {error.method or 'totp'} code "
                f"(methods: {_describe_methods(error)})",
            ) from None
        except LoginBlocked as error:
            raise LoginBlocked(
                "the server has temporarily blocked logins for this user or address",
                status=error.status, error=error.error, error_type=error.error_type,
                hint="wait 5 minutes (Rocket.Chat's default) before trying again",
            ) from None
        except LoginFailed as error:
            raise self._login_refused(error) from None
        data = answer.get("data")
        if not isinstance(data, dict) or not data.get("authToken") or not data.get("userId"):
            raise AuthError("the login answer has no user id or token")
        register_secret(str(data["authToken"]))
        await self.audit.record("login", username=username, user_id=str(data["userId"]))
        return Credentials(str(data["userId"]), SecretStr(str(data["authToken"])), "login-token")

    @staticmethod
    def _login_refused(error: LoginFailed) -> AuthError:
        if error.error == "unauthorized" and not error.details:
            # Servers from 8.0 answer every login failure with a bare lowercase
            # "unauthorized", hiding 2FA challenges (behaviour document 2.3, >= 8.0.0);
            # older ones say "Unauthorized" with a status and message beside it.
            return LoginFailed(
                "the server refused the login without saying why", status=error.status,
                hint="check the username and password; if the user has 2FA, this server "
                "hides the challenge at login: create a token in Rocket.Chat "
                "(My Account > Personal Access Tokens) and run `botkit bootstrap --token`",
            )
        return LoginFailed(
            "wrong username or password", status=error.status, error=error.error,
            hint="check [auth] username and try again (10 failures block the user for 5 min)",
        )

    async def remove_unsaved(self, login: Credentials, password: str, name: str) -> None:
        """The PAT could not be stored: remove it, so no unreachable token is left behind.

        Done with the login token, whose trusted window the creation's 2FA answer opened.
        """
        session = self.session.with_credentials(
            login, second_factor=self._pat_provider(password, login)
        )
        with contextlib.suppress(BotkitError):
            await self.audit.record("token.removed", token=name, where="server",
                                    reason="the token file could not be written")
            await session.post("users.removePersonalAccessToken", json={"tokenName": name})

    def _pat_provider(self, password: str, login: Credentials) -> SecondFactorProvider:
        providers: list[SecondFactorProvider] = []
        if self.settings.auth.totp_secret is not None:
            providers.append(TotpProvider(self.settings.auth.totp_secret))
        if self.login_totp_code is not None:
            providers.append(_ReuseOnce(self.login_totp_code))
        providers.append(PasswordFallbackProvider(SecretStr(password)))
        providers.append(
            PromptProvider.for_session(
                self._ask_code, self.session.with_credentials(login), username=self.username
            )
        )
        return ChainProvider(providers)

    async def _create_pat(self, login: Credentials, password: str) -> TokenSlot:
        name = token_name(self.settings.tokens.name_prefix, self.now())
        bypass = self.settings.tokens.bypass_two_factor
        if bypass:
            self.prompter.say(
                "warning: [tokens] bypass_two_factor is on: this token will be able to make "
                "more tokens without any 2FA code. Keep the token file safe."
            )
        session = self.session.with_credentials(
            login, second_factor=self._pat_provider(password, login)
        )
        # Announced before it is asked for (fail closed): if the answer is lost, the
        # audit log still proves this install made the token, so it can be cleaned up.
        await self.audit.record("token.requested", token=name, bypass_two_factor=bypass)
        try:
            answer = await session.post(
                "users.generatePersonalAccessToken",
                json={"tokenName": name, "bypassTwoFactor": bypass},
            )
        except ApiError as error:
            if error.error_type == "not-authorized":
                raise AuthError(
                    "this user may not create personal access tokens", hint=GRANT_HINT
                ) from None
            if error.error_type == "error-token-already-exists":
                raise AuthError(
                    f"a token named {name} already exists for this user",
                    hint="set another [tokens] name_prefix, or remove that token in Rocket.Chat",
                ) from None
            raise
        secret = answer.get("token")
        if not isinstance(secret, str) or not secret:
            raise AuthError("the server created a token but did not return it")
        register_secret(secret)
        return TokenSlot(
            name=name, secret=SecretStr(secret), created_at=self.now(), bypass_two_factor=bypass
        )


class _ReuseOnce:
    """The TOTP code typed at login, offered once more for the token's own challenge.

    Rocket.Chat keeps no "last used step" for TOTP (behaviour document 3.6), so the same
    code passes again inside its window and the human is not asked twice.
    """

    def __init__(self, code: str) -> None:
        self._code: str | None = code

    def __repr__(self) -> str:
        return "_ReuseOnce()"

    async def code_for(
        self, method: str, details: dict[str, typing.Any], *, attempt: int
    ) -> str | None:
        if method != "totp" or attempt > 1:
            return None
        code, self._code = self._code, None
        return code


async def _refuse_if_working(store: FileTokenStore, session: Session) -> None:
    """Bootstrap twice would leave two tokens: refuse while the stored one still works.

    The stored token is only ever shown to the server it belongs to, and a store that
    holds an interrupted rotation is left for `botkit token reconcile`: overwriting it
    would lose the pending or previous token.
    """
    record = await store.load_async()
    if record is None:
        return
    store.check_owner(record, session.base_url)
    if record.pending is not None or record.previous is not None:
        raise AuthError(
            "the token store holds an interrupted rotation",
            hint="run `botkit token reconcile` to finish it first",
        )
    if record.current is None:
        return
    creds = Credentials(record.user_id, record.current.secret, record.current.name)
    try:
        await session.with_credentials(creds).get("me")
    except Unauthorized:
        return
    raise AuthError(
        f"already bootstrapped: token {record.current.name} "
        f"(...{record.current.last_chars}) for {record.username} still works",
        hint="use `botkit token rotate` for a new token, or `botkit token revoke` first",
    )


async def bootstrap_with_password(
    services: TokenServices,
    prompter: Prompter,
    *,
    now: typing.Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
) -> BootstrapResult:
    """The password path; see the module docstring."""
    settings, session = services.settings, services.session
    store, audit = services.store, services.audit
    server_url = settings.server.base_url
    await _refuse_if_working(store, session)
    username = settings.auth.username or await prompter.ask("Username", secret=False)
    await audit.record("bootstrap.started", path="password", username=username)
    password = await prompter.ask(f"Password for {username} on {server_url}", secret=True)
    run = _Bootstrap(services, prompter, now)
    login = await run._login(username, password)
    try:
        slot = await run._create_pat(login, password)
        # Store before anything else can fail: from here on the PAT must never be lost.
        record = TokenRecord(
            server_url=server_url, user_id=login.user_id, username=username,
            current=slot, pending=None, previous=None,
        )
        try:
            await store.save_async(record)
        except BaseException:
            await run.remove_unsaved(login, password, slot.name)
            raise
        await audit.record(
            "token.created", token=slot.name, last=slot.last_chars,
            bypass_two_factor=slot.bypass_two_factor,
        )
    finally:
        # Always end the password session, with the login token (never with the PAT).
        await _logout(session, login, audit)
    pat = Credentials(login.user_id, slot.secret, slot.name)
    me = await session.with_credentials(pat).get("me")
    await audit.record("token.verified", token=slot.name, last=slot.last_chars)
    await audit.record("bootstrap.completed", path="password", token=slot.name)
    return BootstrapResult(
        username=str(me.get("username", username)), user_id=login.user_id,
        token_name=slot.name, last_chars=slot.last_chars, token_file=str(store.path),
    )


async def _logout(session: Session, login: Credentials, audit: AuditLog) -> None:
    try:
        await session.with_credentials(login).post("logout")
    except ApiError:
        # The login token is short-lived anyway; the PAT is what matters.
        await audit.record("logout", outcome="failed")
        return
    await audit.record("logout", outcome="ok")


async def bootstrap_with_token(
    services: TokenServices,
    prompter: Prompter,
    *,
    now: typing.Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
) -> BootstrapResult:
    """The token path: a PAT made in Rocket.Chat's UI (My Account > Personal Access Tokens)."""
    settings, session = services.settings, services.session
    store, audit = services.store, services.audit
    server_url = settings.server.base_url
    await _refuse_if_working(store, session)
    user_id = await prompter.ask("User id (shown with the token in Rocket.Chat)", secret=False)
    secret = await prompter.ask("Personal access token", secret=True)
    if not user_id or not secret:
        raise AuthError("both the user id and the token are needed")
    await audit.record("bootstrap.started", path="token", user_id=user_id)
    creds = Credentials(user_id, SecretStr(secret), None)
    try:
        me = await session.with_credentials(creds).get("me")
    except Unauthorized:
        raise AuthError(
            "the server does not accept this user id and token",
            hint="copy both again from Rocket.Chat (the user id, not the username)",
        ) from None
    name, created_at, bypass = await _find_token(session.with_credentials(creds), secret, now())
    slot = TokenSlot(
        name=name, secret=SecretStr(secret), created_at=created_at, bypass_two_factor=bypass
    )
    username = str(me.get("username", ""))
    await store.save_async(TokenRecord(
        server_url=server_url, user_id=user_id, username=username,
        current=slot, pending=None, previous=None,
    ))
    await audit.record("token.verified", token=name, last=slot.last_chars)
    await audit.record("bootstrap.completed", path="token", token=name)
    return BootstrapResult(
        username=username, user_id=user_id, token_name=name,
        last_chars=slot.last_chars, token_file=str(store.path),
    )


async def _find_token(
    session: Session, secret: str, now: datetime.datetime
) -> tuple[str, datetime.datetime, bool]:
    """Name, creation time and bypass flag of the PAT, matched by its last 6 characters."""
    try:
        listing = await session.get("users.getPersonalAccessTokens")
    except Forbidden:
        # Without create-personal-access-tokens the list is refused (behaviour doc 4.5);
        # the token still works, botkit just cannot name it or rotate it.
        return "unknown", now, False
    matches = [
        t for t in listing.get("tokens", [])
        if isinstance(t, dict) and t.get("lastTokenPart") == secret[-6:]
    ]
    if len(matches) != 1:
        return "unknown", now, False
    token = matches[0]
    created = datetime.datetime.fromisoformat(str(token.get("createdAt")).replace("Z", "+00:00"))
    return str(token.get("name")), created, bool(token.get("bypassTwoFactor"))
