"""Second-factor providers and the single flight."""

from __future__ import annotations

import asyncio
import hashlib
import typing

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from botkit._redact import redact
from botkit._twofactor import (
    ChainProvider,
    PasswordFallbackProvider,
    PromptProvider,
    SecondFactorProvider,
    SingleFlight,
    TotpProvider,
)

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DP"


async def test_totp_current_code_and_other_methods() -> None:
    provider = TotpProvider(SecretStr(SECRET), clock=lambda: 1_000_000.0)
    assert await provider.code_for("totp", {}, attempt=1) == pyotp.TOTP(SECRET).at(1_000_000)
    assert await provider.code_for("email", {}, attempt=1) is None
    assert SECRET not in repr(provider)
    assert SECRET not in redact(f"secret {SECRET}")


@given(st.floats(min_value=1e6, max_value=2e9))
def test_totp_retry_uses_next_step_only_near_boundary(now: float) -> None:
    provider = TotpProvider(SecretStr(SECRET), clock=lambda: now)
    totp = pyotp.TOTP(SECRET)
    code = asyncio.run(provider.code_for("totp", {}, attempt=2))
    near = 30 - (now % 30) <= TotpProvider.BOUNDARY
    assert code == (totp.at(now + 30) if near else totp.at(now))
    assert asyncio.run(provider.code_for("totp", {}, attempt=1)) == totp.at(now)


async def test_password_fallback_only_for_password() -> None:
    provider = PasswordFallbackProvider(SecretStr("hunter22"))
    digest = hashlib.sha256(b"hunter22").hexdigest()
    assert await provider.code_for("password", {}, attempt=1) == digest
    assert await provider.code_for("totp", {}, attempt=1) is None
    assert "hunter22" not in repr(provider) and digest not in redact(digest)


async def test_prompt_resend_then_code() -> None:
    answers = iter(["resend", " 123-456 "])
    asked: list[str] = []
    resent: list[str] = []

    async def ask(method: str, details: dict[str, typing.Any]) -> str:
        asked.append(method)
        return next(answers)

    class Sender:
        async def send_email_code(self, email_or_username: str) -> None:
            resent.append(email_or_username)

    provider = PromptProvider.for_session(ask, Sender())
    code = await provider.code_for("email", {"emailOrUsername": "bot"}, attempt=1)
    assert code == "123-456"
    assert asked == ["email", "email"]
    assert resent == ["bot"]
    assert await provider.code_for("password", {}, attempt=1) is None


async def test_prompt_empty_answer_is_no_code() -> None:
    async def ask(method: str, details: dict[str, typing.Any]) -> str:
        return "  "

    assert await PromptProvider(ask).code_for("totp", {}, attempt=1) is None


async def test_chain_first_answer_wins() -> None:
    chain = ChainProvider(
        [TotpProvider(SecretStr(SECRET)), PasswordFallbackProvider(SecretStr("pw"))]
    )
    assert isinstance(chain, SecondFactorProvider)
    assert await chain.code_for("password", {}, attempt=1) == hashlib.sha256(b"pw").hexdigest()
    assert await chain.code_for("email", {}, attempt=1) is None


class Slow:
    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()

    async def code_for(self, method: str, details: dict[str, typing.Any], *, attempt: int) -> str:
        self.calls += 1
        await self.release.wait()
        return f"code{self.calls}"


async def test_single_flight_shares_one_call() -> None:
    flight, provider = SingleFlight(), Slow()
    tasks = [
        asyncio.create_task(flight.code(provider, "email", {}, newer_than=0, attempt=1))
        for _ in range(20)
    ]
    await asyncio.sleep(0)
    provider.release.set()
    results = await asyncio.gather(*tasks)
    assert provider.calls == 1
    assert {r for r in results} == {(1, "code1")}
    # A request sent after that code was obtained needs a fresh one...
    assert await flight.code(provider, "email", {}, newer_than=1, attempt=1) == (2, "code2")
    # ...while one sent before it reuses it; a dropped code is never reused.
    assert await flight.code(provider, "email", {}, newer_than=1, attempt=1) == (2, "code2")
    flight.drop("email", 2)
    assert await flight.code(provider, "email", {}, newer_than=0, attempt=2) == (3, "code3")


async def test_single_flight_error_reaches_waiters_and_cancel_hands_over() -> None:
    flight = SingleFlight()

    class Failing:
        async def code_for(
            self, method: str, details: dict[str, typing.Any], *, attempt: int
        ) -> str:
            await asyncio.sleep(0)
            raise RuntimeError("prompt closed")

    tasks = [
        asyncio.create_task(flight.code(Failing(), "totp", {}, newer_than=0, attempt=1))
        for _ in range(3)
    ]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)

    provider = Slow()
    leader = asyncio.create_task(flight.code(provider, "totp", {}, newer_than=0, attempt=1))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(flight.code(provider, "totp", {}, newer_than=0, attempt=1))
    await asyncio.sleep(0)
    leader.cancel()
    await asyncio.sleep(0)
    provider.release.set()
    assert (await waiter)[1] == "code2"
    with pytest.raises(asyncio.CancelledError):
        await leader


async def test_prompt_switches_a_totp_challenge_to_email() -> None:
    from botkit._twofactor import MethodCode, PromptProvider

    answers = iter(["email", "123456"])
    asked: list[tuple[str, bool]] = []
    mailed: list[str] = []

    async def ask(method: str, details: dict[str, typing.Any]) -> str:
        asked.append((method, bool(details.get("codeGenerated"))))
        return next(answers)

    class Sender:
        async def send_email_code(self, email_or_username: str) -> None:
            mailed.append(email_or_username)

    provider = PromptProvider.for_session(ask, Sender(), username="bot")
    details = {"method": "totp", "codeGenerated": False, "availableMethods": ["totp", "email"]}
    code = await provider.code_for("totp", details, attempt=1)
    assert code == "123456" and isinstance(code, MethodCode) and code.method == "email"
    assert mailed == ["bot"]
    assert asked == [("totp", False), ("email", True)]
    # Without email 2FA (or without a username) "email" is just a (wrong) code.
    plain = PromptProvider.for_session(ask, Sender())
    answers = iter(["email"])
    assert await plain.code_for("totp", details, attempt=1) == "email"
