"""The clients the request benchmarks compare, each doing the same Rocket.Chat calls.

Every client offers the same three calls against the fake: `me()` (GET me),
`post()` (POST chat.postMessage to #general) and `history()` (every message of the
history channel, page by page with count/offset, ending on a short page). The bare
clients build the URLs and headers themselves; botkit's Session does its usual work
(typed errors, counters, 2FA and rate-limit checks).
"""

from __future__ import annotations

import contextlib
import typing
from collections.abc import Awaitable, Callable

from pydantic import SecretStr

from bench._fake import FakeServer

PAGE = 50
POST_BODY = {"channel": "#general", "text": "hello"}
UA = "botkit/bench"


class AsyncClient(typing.NamedTuple):
    name: str
    me: Callable[[], Awaitable[object]]
    post: Callable[[], Awaitable[object]]
    history: Callable[[], Awaitable[int]]
    close: Callable[[], Awaitable[None]]


def _headers(server: FakeServer) -> dict[str, str]:
    return {
        "User-Agent": UA,
        "Accept": "application/json",
        "X-User-Id": server.user_id,
        "X-Auth-Token": server.token,
    }


def bare_httpx(server: FakeServer, *, transport: str = "httpx", limit: int = 10) -> AsyncClient:
    """`httpx.AsyncClient` with no wrapper; `transport` "aiohttp" is botkit's transport."""
    from botkit._http import httpx
    from botkit._transport import AiohttpTransport

    api = server.url + "/api/v1/"
    if transport == "aiohttp":
        client = httpx.AsyncClient(
            headers=_headers(server), transport=AiohttpTransport(max_connections=limit)
        )
    else:
        limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
        client = httpx.AsyncClient(headers=_headers(server), limits=limits)

    async def me() -> object:
        data = (await client.get(api + "me")).json()
        assert data["success"]
        return data

    async def post() -> object:
        data = (await client.post(api + "chat.postMessage", json=POST_BODY)).json()
        assert data["success"]
        return data

    async def history() -> int:
        offset = 0
        while True:
            params = {"roomId": server.history_room_id, "count": PAGE, "offset": offset}
            data = (await client.get(api + "channels.history", params=params)).json()
            assert data["success"]
            offset += len(data["messages"])
            if len(data["messages"]) < PAGE:
                return offset

    label = "default transport" if transport == "httpx" else "botkit aiohttp transport"
    return AsyncClient(f"httpx.AsyncClient (bare, {label})", me, post, history, client.aclose)


def bare_aiohttp(server: FakeServer, *, limit: int = 10) -> AsyncClient:
    """Plain `aiohttp.ClientSession`: the cheapest Python client measured (the floor)."""
    import aiohttp

    api = server.url + "/api/v1/"
    holder: list[aiohttp.ClientSession] = []

    def session() -> aiohttp.ClientSession:
        if not holder:  # made inside the running loop
            holder.append(
                aiohttp.ClientSession(
                    headers=_headers(server), connector=aiohttp.TCPConnector(limit=limit)
                )
            )
        return holder[0]

    async def me() -> object:
        async with session().get(api + "me") as response:
            data = await response.json()
        assert data["success"]
        return data

    async def post() -> object:
        async with session().post(api + "chat.postMessage", json=POST_BODY) as response:
            data = await response.json()
        assert data["success"]
        return data

    async def history() -> int:
        offset = 0
        while True:
            params = {"roomId": server.history_room_id, "count": PAGE, "offset": offset}
            async with session().get(api + "channels.history", params=params) as response:
                data = await response.json()
            assert data["success"]
            offset += len(data["messages"])
            if len(data["messages"]) < PAGE:
                return offset

    async def close() -> None:
        if holder:
            await holder[0].close()

    return AsyncClient("aiohttp (bare)", me, post, history, close)


def botkit_session(
    server: FakeServer, *, transport: str | None = None, max_connections: int = 10
) -> AsyncClient:
    """botkit's Session as a bot uses it (`transport` None is botkit's default)."""
    from botkit._session import Credentials, Session
    from botkit._transport import DEFAULT_TRANSPORT

    creds = Credentials(server.user_id, SecretStr(server.token), name="bench")
    session = Session(
        base_url=server.url,
        user_agent=UA,
        credentials=creds,
        transport=transport,
        max_connections=max_connections,
    )

    async def history() -> int:
        count = 0
        async for _ in session.paginate(
            "channels.history",
            items_key="messages",
            params={"roomId": server.history_room_id},
            page_size=PAGE,
        ):
            count += 1
        return count

    name = transport or DEFAULT_TRANSPORT
    default = " = default" if name == DEFAULT_TRANSPORT else ""
    pool = f", {max_connections} connections" if max_connections != 10 else ""
    return AsyncClient(
        f"botkit Session ({name} transport{default}{pool})",
        lambda: session.get("me"),
        lambda: session.post("chat.postMessage", POST_BODY),
        history,
        session.aclose,
    )


class SyncClient(typing.NamedTuple):
    name: str
    me: Callable[[], object]
    post: Callable[[], object]


def rocketchat_api(server: FakeServer) -> SyncClient | None:
    """`rocketchat_API` (requests), one shared object as its users write it; None if absent."""
    with contextlib.suppress(ImportError):
        from rocketchat_API.rocketchat import RocketChat

        rc = RocketChat(user_id=server.user_id, auth_token=server.token, server_url=server.url)

        def post() -> object:
            data = rc.chat_post_message("hello", channel="#general")
            return data

        return SyncClient("rocketchat_API (requests)", rc.me, post)
    return None
