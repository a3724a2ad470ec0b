"""2FA single flight: 100 concurrent challenged requests, one code asked, one email sent.

A user with email 2FA and a personal access token (no `bypassTwoFactor`), on the fake
served on loopback in this process; the Session uses botkit's default transport and
pool. 100 concurrent `users.generatePersonalAccessToken` calls are each challenged
(`totp-required`, method email: the server mails a code on every check that has none
to reuse). The prompt reads the newest code from the fake's outbox, as a person reads
their mail, and counts how often it is asked. Each round uses a fresh fake.

    python -m bench twofactor [--smoke]
"""

from __future__ import annotations

import asyncio
import sys
import time
import typing

from bench import Row
from bench._fake import median_spread

USERNAME = "bench"


async def _round(concurrency: int) -> tuple[int, int, float, int]:
    """(codes asked for, emails sent, seconds, tokens created) of one round."""
    from pydantic import SecretStr

    from botkit._session import Credentials, Session
    from botkit._twofactor import PromptProvider
    from botkit.testing import FakeRocketChat, serve

    fake = FakeRocketChat()
    # `user` may create tokens; `bot` bypasses the rate limiter (as on a real server).
    user = fake.add_user(
        USERNAME, "pw", email="b@example.org", email2fa=True, roles=["user", "bot"]
    )
    token = fake.create_pat(user, "bench")
    asked = 0

    async def ask(method: str, details: dict[str, typing.Any]) -> str:
        nonlocal asked
        asked += 1
        return fake.last_email_code(USERNAME)

    with serve(fake) as server:
        session = Session(
            base_url=server.url,
            credentials=Credentials(user.id, SecretStr(token), name="bench"),
            second_factor=PromptProvider(ask),
        )
        try:
            await session.get("me")  # connection warm-up; `me` is not 2FA-protected
            started = time.perf_counter()
            answers = await asyncio.gather(
                *(
                    session.post("users.generatePersonalAccessToken", {"tokenName": f"t{i}"})
                    for i in range(concurrency)
                )
            )
            seconds = time.perf_counter() - started
        finally:
            await session.aclose()
        created = sum(1 for answer in answers if answer.get("token"))
        return asked, len(fake.outbox), seconds, created


def run(smoke: bool) -> list[Row]:
    """Measure and return rows (see the module docstring)."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")  # one INFO line per challenge is not the point
    concurrency, rounds = (10, 1) if smoke else (100, 5)
    results = [asyncio.run(_round(concurrency)) for _ in range(rounds)]
    asked = [r[0] for r in results]
    emails = [r[1] for r in results]
    created = [r[3] for r in results]
    seconds, low, high = median_spread([r[2] for r in results])
    verdict = "met" if max(emails) == 1 else "MISSED"
    return [
        Row(
            "twofactor",
            f"{concurrency} concurrent challenged requests: tokens made",
            min(created),
            "tokens",
            f"of {concurrency}, worst of {rounds} rounds",
        ),
        Row("twofactor", "codes asked for", max(asked), "asks", f"worst of {rounds} rounds"),
        Row(
            "twofactor",
            "emails sent (target: 1)",
            max(emails),
            "emails",
            f"worst of {rounds} rounds; {verdict}",
        ),
        Row(
            "twofactor",
            "total time",
            seconds * 1000.0,
            "ms",
            f"[{low * 1000:.1f}-{high * 1000:.1f}]",
        ),
    ]
