"""Session and Chat against the fake Rocket.Chat server on loopback (botkit.testing.serve)."""

from __future__ import annotations

import asyncio
import typing
from collections.abc import AsyncIterator, Iterator

import pyotp
import pytest
from pydantic import SecretStr

from botkit._chat import Chat
from botkit._session import CORE, Credentials, Session
from botkit._twofactor import TotpProvider
from botkit.errors import NotFound, TwoFactorRequired, Unauthorized
from botkit.testing import GENERAL_ROOM_ID, FakeRocketChat, RunningServer, serve

Events = list[tuple[str, dict[str, typing.Any]]]


@pytest.fixture
def fake() -> FakeRocketChat:
    fake = FakeRocketChat()
    fake.clock.freeze()
    return fake


@pytest.fixture
def server(fake: FakeRocketChat) -> Iterator[RunningServer]:
    with serve(fake) as running:
        yield running


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    return typing.cast(str, request.param)


class Harness:
    """Builds sessions whose waits move the fake's clock instead of real time."""

    def __init__(self, fake: FakeRocketChat, server: RunningServer, transport: str) -> None:
        self.fake = fake
        self.server = server
        self.transport = transport
        self.events: Events = []
        self.sessions: list[Session] = []

    async def sleep(self, seconds: float) -> None:
        self.fake.clock.advance(seconds)
        await asyncio.sleep(0)

    async def audit(self, event: str, details: dict[str, typing.Any]) -> None:
        self.events.append((event, details))

    def session(self, credentials: Credentials | None, **kwargs: typing.Any) -> Session:
        session = Session(
            base_url=self.server.url,
            user_agent="botkit/test",
            credentials=credentials,
            audit=self.audit,
            transport=self.transport,
            clock=self.fake.clock.timestamp,
            sleep=self.sleep,
            **kwargs,
        )
        self.sessions.append(session)
        return session

    def user(self, username: str = "bot", **kwargs: typing.Any) -> Credentials:
        user = self.fake.add_user(username, "pw-" + username, **kwargs)
        token = self.fake.create_pat(user, "botkit-1")
        return Credentials(user.id, SecretStr(token), name="botkit-1")


@pytest.fixture
async def harness(
    fake: FakeRocketChat, server: RunningServer, transport: str
) -> AsyncIterator[Harness]:
    harness = Harness(fake, server, transport)
    yield harness
    for session in harness.sessions:
        await session.aclose()


async def test_me_info_and_unknown_endpoint(harness: Harness) -> None:
    creds = harness.user()
    async with harness.session(creds) as s:
        me = await s.get("me")
        assert me["username"] == "bot" and me["success"] is True
        assert "version" in await s.get("info")
        with pytest.raises(NotFound):
            await s.get("no.such.endpoint")


async def test_revoked_token_is_rejected_once_and_audited(harness: Harness) -> None:
    creds = harness.user()
    async with harness.session(creds) as s:
        await s.post("logout")  # logging out with a PAT deletes it (section 1.5)
        with pytest.raises(Unauthorized) as caught:
            await s.get("me")
        assert s.token_rejected
    assert caught.value.status == 401
    assert ("token.rejected", {"endpoint": "me", "token_name": "botkit-1"}) in harness.events
    assert creds.token.get_secret_value() not in str(caught.value)


async def test_fifty_concurrent_email_challenges_one_email_all_succeed(
    harness: Harness, fake: FakeRocketChat
) -> None:
    fake.update_settings({"API_Enable_Rate_Limiter": False})
    creds = harness.user(email2fa=True)

    class ReadsTheMailbox:
        def __init__(self) -> None:
            self.calls = 0

        async def code_for(
            self, method: str, details: dict[str, typing.Any], *, attempt: int
        ) -> str | None:
            self.calls += 1
            assert method == "email"
            await asyncio.sleep(0.05)  # a person reading the mail takes a while
            return fake.last_email_code("bot")

    provider = ReadsTheMailbox()
    async with harness.session(creds, second_factor=provider) as s:
        results = await asyncio.gather(
            *(
                s.post("users.generatePersonalAccessToken", {"tokenName": f"job-{i}"})
                for i in range(50)
            )
        )
    assert all(isinstance(r.get("token"), str) for r in results)
    assert len(fake.emails_to("bot")) == 1
    assert provider.calls == 1
    outcomes = {e[1]["outcome"] for e in harness.events if e[0] == "2fa.challenge"}
    assert outcomes == {"answered"}


async def test_totp_challenge_answered_from_secret(harness: Harness, fake: FakeRocketChat) -> None:
    secret = pyotp.random_base32()
    creds = harness.user(totp_secret=secret)
    provider = TotpProvider(SecretStr(secret), clock=fake.clock.timestamp)
    async with harness.session(creds, second_factor=provider) as s:
        answer = await s.post("users.generatePersonalAccessToken", {"tokenName": "next"})
    assert answer["token"]
    assert harness.events == [
        (
            "2fa.challenge",
            {
                "method": "totp",
                "outcome": "answered",
                "endpoint": "users.generatePersonalAccessToken",
            },
        )
    ]
    assert s.stats[CORE].two_factor_challenges == 1


async def test_no_provider_says_which_method(harness: Harness) -> None:
    creds = harness.user(totp_secret=pyotp.random_base32())
    async with harness.session(creds) as s:
        with pytest.raises(TwoFactorRequired) as caught:
            await s.post("users.generatePersonalAccessToken", {"tokenName": "next"})
    assert caught.value.method == "totp"
    assert harness.events[-1][1]["outcome"] == "no-provider"


async def test_burst_through_small_rate_limit_loses_and_duplicates_nothing(
    harness: Harness, fake: FakeRocketChat
) -> None:
    fake.update_settings(
        {
            "API_Enable_Rate_Limiter_Limit_Calls_Default": 3,
            "API_Enable_Rate_Limiter_Limit_Time_Default": 10_000,
        }
    )
    creds = harness.user()
    async with harness.session(creds) as s:
        await asyncio.gather(
            *(
                s.post("chat.postMessage", {"roomId": GENERAL_ROOM_ID, "text": f"m{i}"})
                for i in range(20)
            )
        )
        waits = s.stats[CORE].rate_limit_waits
    texts = [m["msg"] for m in fake.room_messages(GENERAL_ROOM_ID)]
    assert sorted(texts) == sorted(f"m{i}" for i in range(20))
    assert waits > 0
    statuses = [e.status for e in fake.request_log if e.route == "chat.postMessage"]
    assert 429 in statuses


async def test_dropped_connection_after_store_gives_one_message(
    harness: Harness, fake: FakeRocketChat
) -> None:
    creds = harness.user()
    fake.faults.drop_after_commit("chat.sendMessage")
    async with harness.session(creds) as s:
        chat = Chat(s.for_plugin("news"))
        message = await chat.post("#general", "exactly once")
    stored = [m for m in fake.room_messages(GENERAL_ROOM_ID) if m["msg"] == "exactly once"]
    assert len(stored) == 1
    assert stored[0]["_id"] == message["_id"]
    routes = [e.route for e in fake.request_log]
    assert routes.count("chat.sendMessage") == 1
    assert "chat.getMessage" in routes


async def test_chat_posts_to_dm_and_retries_idempotent_get_on_5xx(
    harness: Harness, fake: FakeRocketChat
) -> None:
    creds = harness.user()
    fake.add_user("alice")
    fake.faults.server_error("me", times=2, status=503)
    async with harness.session(creds) as s:
        assert (await s.get("me"))["username"] == "bot"
        assert s.stats[CORE].retries == 2
        message = await Chat(s).post("@alice", "hi alice")
    room = fake.rooms[message["rid"]]
    assert room.t == "d"


async def test_paginate_over_joined_channels(harness: Harness, fake: FakeRocketChat) -> None:
    fake.update_settings({"API_Enable_Rate_Limiter": False})
    creds = harness.user()
    for i in range(130):
        fake.add_room(f"room-{i:03d}", members=["bot"])
    async with harness.session(creds) as s:
        names = [
            c["name"]
            async for c in s.paginate("channels.list.joined", items_key="channels", page_size=50)
        ]
    assert sorted(names) == sorted(["general", *(f"room-{i:03d}" for i in range(130))])
    assert len(names) == len(set(names))
