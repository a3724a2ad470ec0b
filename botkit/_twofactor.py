"""Second-factor providers and the single flight that shares one code between requests.

A provider answers a Rocket.Chat 2FA challenge (behaviour document section 3.3) with a
code for the method the server named (`details.method`): `totp`, `email` or `password`.
The session asks through `SingleFlight`, so concurrent challenges for the same method
cost one prompt and one email (section 3.5: every check without a reusable email code
mails a new one).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import typing
from collections.abc import Awaitable, Callable, Sequence

import pyotp
from pydantic import SecretStr

from botkit._redact import register_secret

__all__ = [
    "ChainProvider",
    "MethodCode",
    "PasswordFallbackProvider",
    "PromptProvider",
    "SecondFactorProvider",
    "SingleFlight",
    "TotpProvider",
]

Details = dict[str, typing.Any]


@typing.runtime_checkable
class SecondFactorProvider(typing.Protocol):
    """Something that can produce a 2FA code for a method the server names."""

    async def code_for(self, method: str, details: Details, *, attempt: int) -> str | None:
        """A code for `method`, or None if this provider cannot answer.

        Args:
            method: `details.method` of the challenge (`totp`, `email`, `password`).
            details: the challenge's `details` object (e.g. `emailOrUsername`).
            attempt: 1 for the first challenge, 2 after the server said `totp-invalid`.
        """
        ...


class _TOTP(pyotp.TOTP):
    """pyotp's TOTP without its 112-bit floor: the secret is the server's, not ours.

    pyotp 2.12.1 refuses shorter secrets, but Rocket.Chat accepts any length
    (speakeasy), and a user must be able to configure the secret they have.
    """

    min_secret_length_bits = 0


class TotpProvider:
    """TOTP codes from a base32 secret (RFC 6238, 30 s steps, 6 digits: section 3.6)."""

    #: On a retry this close (seconds) to the next step, answer with the next step's code.
    BOUNDARY = 5.0

    def __init__(self, secret: SecretStr, clock: Callable[[], float] = time.time) -> None:
        register_secret(secret.get_secret_value())
        self._totp = _TOTP(secret.get_secret_value())
        self._clock = clock

    def __repr__(self) -> str:
        return "TotpProvider()"

    async def code_for(self, method: str, details: Details, *, attempt: int) -> str | None:
        if method != "totp":
            return None
        now = self._clock()
        step = float(self._totp.interval)
        # The server accepts one step either side (MaxDelta 1), so the current code is
        # right unless our clock is near a boundary and the first try straddled it.
        if attempt > 1 and step - (now % step) <= self.BOUNDARY:
            now += step
        code = str(self._totp.at(now))
        register_secret(code)
        return code


class PasswordFallbackProvider:
    """The password fallback: lowercase hex SHA-256 of the password (section 3.7).

    Only meaningful while the password is in memory (bootstrap); never stored.
    """

    def __init__(self, password: SecretStr) -> None:
        register_secret(password.get_secret_value())
        digest = hashlib.sha256(password.get_secret_value().encode()).hexdigest()
        register_secret(digest)
        self._digest = SecretStr(digest)

    def __repr__(self) -> str:
        return "PasswordFallbackProvider()"

    async def code_for(self, method: str, details: Details, *, attempt: int) -> str | None:
        if method != "password":
            return None
        return self._digest.get_secret_value()


Ask = Callable[[str, Details], Awaitable[str]]
Resend = Callable[[], Awaitable[None]]


class MethodCode(str):
    """A code for another method than the one the server asked for: the person switched.

    The session sends it with this `method` in `x-2fa-method`: on REST endpoints an
    explicitly named `email` is checked by the email checker even when TOTP would be
    chosen by default (behaviour document 3.3, step 6).
    """

    method: str

    def __new__(cls, code: str, method: str) -> MethodCode:
        value = super().__new__(cls, code)
        value.method = method
        return value


class PromptProvider:
    """Asks a person for a TOTP or emailed code.

    Typing `resend` mails a fresh email code; typing `email` at a TOTP prompt (when the
    user also has email 2FA and a username is known) mails a code and answers with it.

    Args:
        ask: coroutine showing the prompt for (method, details) and returning the answer.
        resend: coroutine that asks the server to mail a new code (`users.2fa.sendEmailCode`).
        email_to: coroutine mailing a code to the user, for the switch from TOTP to email.
    """

    RESEND = "resend"
    SWITCH_TO_EMAIL = "email"
    #: How many `resend` answers in a row before giving up on this challenge.
    MAX_RESENDS = 5

    def __init__(
        self, ask: Ask, resend: Resend | None = None, *, email_to: Resend | None = None
    ) -> None:
        self._ask = ask
        self._resend = resend
        self._email_to = email_to
        self.last_details: Details = {}

    @classmethod
    def for_session(
        cls, ask: Ask, session: _EmailCodeSender, *, username: str | None = None
    ) -> PromptProvider:
        """A prompt whose `resend` mails to the `emailOrUsername` of the current challenge.

        With `username`, the person may also switch a TOTP challenge to an emailed code.
        """
        provider: PromptProvider

        async def resend() -> None:
            target = provider.last_details.get("emailOrUsername")
            if isinstance(target, str) and target:
                await session.send_email_code(target)

        async def email_to() -> None:
            assert username is not None
            await session.send_email_code(username)

        provider = cls(ask, resend, email_to=email_to if username else None)
        return provider

    def can_switch(self, method: str, details: Details) -> bool:
        """Whether the person may answer this challenge with an emailed code instead."""
        available = details.get("availableMethods")
        return (
            method == "totp" and self._email_to is not None
            and isinstance(available, list) and "email" in available
        )

    def __repr__(self) -> str:
        return "PromptProvider()"

    async def code_for(self, method: str, details: Details, *, attempt: int) -> str | None:
        if method not in ("totp", "email"):
            return None
        asked = method
        self.last_details = details
        for _ in range(self.MAX_RESENDS + 1):
            answer = (await self._ask(method, details)).strip()
            command = answer.lower()
            if command == self.SWITCH_TO_EMAIL and self.can_switch(method, details):
                assert self._email_to is not None
                await self._email_to()
                method = "email"
                details = {**details, "method": "email", "codeGenerated": True}
                self.last_details = details
                continue
            if command != self.RESEND:
                if not answer:
                    return None
                register_secret(answer)
                return answer if method == asked else MethodCode(answer, method)
            if method == "email" and self._resend is not None:
                await self._resend()
        return None


class _EmailCodeSender(typing.Protocol):
    async def send_email_code(self, email_or_username: str) -> None: ...


class ChainProvider:
    """Tries providers in order; the first code wins."""

    def __init__(self, providers: Sequence[SecondFactorProvider]) -> None:
        self._providers = tuple(providers)

    def __repr__(self) -> str:
        return f"ChainProvider({list(self._providers)!r})"

    async def code_for(self, method: str, details: Details, *, attempt: int) -> str | None:
        for provider in self._providers:
            code = await provider.code_for(method, details, attempt=attempt)
            if code:
                return code
        return None


class _LeaderGone(Exception):
    """The request asking the provider was cancelled; a waiter takes over."""


class SingleFlight:
    """One `code_for` call per method at a time, its code shared with concurrent requests.

    Codes carry a generation number. A request remembers the generation current when it
    was sent; a code from a later generation was obtained while that request was in
    flight, so it is "the shared code" for it and is reused without asking again. After
    a `totp-invalid` the code is dropped and the retry needs a strictly newer one.
    """

    def __init__(self) -> None:
        self.generation = 0
        self._codes: dict[str, tuple[int, str]] = {}
        self._inflight: dict[str, asyncio.Future[tuple[int, str | None]]] = {}

    async def code(
        self,
        provider: SecondFactorProvider,
        method: str,
        details: Details,
        *,
        newer_than: int,
        attempt: int,
    ) -> tuple[int, str | None]:
        """(generation, code) newer than `newer_than`; code None if the provider had none."""
        while True:
            current = self._codes.get(method)
            if current is not None and current[0] > newer_than:
                return current
            pending = self._inflight.get(method)
            if pending is not None:
                try:
                    return await asyncio.shield(pending)
                except _LeaderGone:
                    continue
            return await self._lead(provider, method, details, attempt)

    async def _lead(
        self, provider: SecondFactorProvider, method: str, details: Details, attempt: int
    ) -> tuple[int, str | None]:
        future: asyncio.Future[tuple[int, str | None]] = asyncio.get_running_loop().create_future()
        self._inflight[method] = future
        try:
            code = await provider.code_for(method, details, attempt=attempt)
        except BaseException as error:
            shared: BaseException = (
                _LeaderGone() if isinstance(error, asyncio.CancelledError) else error
            )
            future.set_exception(shared)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            self._inflight.pop(method, None)
        self.generation += 1
        result = (self.generation, code)
        if code is not None:
            self._codes[method] = (self.generation, code)
        future.set_result(result)
        return result

    def drop(self, method: str, generation: int) -> None:
        """Forget the shared code of `generation` (the server rejected it)."""
        current = self._codes.get(method)
        if current is not None and current[0] == generation:
            del self._codes[method]
