"""Client CPU per request: botkit's Session against bare clients, same loopback server.

The server runs in another process, so only the client's CPU is counted
(`time.process_time()` around each client loop). Every candidate does the same
sequential requests (GET me, POST chat.postMessage) in each round; rounds interleave the
candidates so drift hits them alike. The headline ratio is Session (default transport)
over bare `httpx.AsyncClient` (default transport); the same-transport ratios show what
the session's own code costs.

    python -m bench session [--smoke] [--rounds N] [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import sys
import time
import typing
from collections.abc import Awaitable, Callable, Iterator

from pydantic import SecretStr

from bench import Row
from bench._fake import port_server

USER_ID = "aBcDeFgHiJkLmNoPq"
TOKEN = "bench-token-0123456789abcdefghijklmnopqrstu"
UA = "botkit/bench"
POST_BODY = {"channel": "#general", "text": "hello"}

ME = {
    "_id": USER_ID,
    "username": "bot",
    "name": "Bot",
    "emails": [{"address": "bot@example.org", "verified": True}],
    "status": "online",
    "active": True,
    "roles": ["bot"],
    "utcOffset": 0,
    "email": "bot@example.org",
    "settings": {"profile": {}, "preferences": {}},
    "avatarUrl": "http://127.0.0.1/avatar/bot",
    "isOAuthUser": False,
    "services": {"password": {"exists": True}},
    "success": True,
}


# -- the server (a separate process) ---------------------------------------------------------


def serve() -> None:
    """A minimal Rocket.Chat-shaped HTTP/1.1 server on a free loopback port; prints the port.

    Plain asyncio streams, one write per answer: uvicorn's h11 server was measured at
    about 40 ms of wall time per keep-alive request on this machine (for every client),
    which only made the bench slow; the server's CPU is not counted either way.
    """
    import json

    counter = iter(range(10**12))
    unauthorised = json.dumps({"success": False, "error": "You must be logged in to do this."})

    def answer(body: str, status: str = "200 OK") -> bytes:
        data = body.encode()
        head = (
            f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
            f"cache-control: no-store\r\ncontent-length: {len(data)}\r\n\r\n"
        )
        return head.encode() + data

    def route(method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        if headers.get("x-user-id") != USER_ID or headers.get("x-auth-token") != TOKEN:
            return answer(unauthorised, "401 Unauthorized")
        if method == "GET" and path == "/api/v1/me":
            return answer(json.dumps(ME))
        if method == "POST" and path == "/api/v1/chat.postMessage":
            sent = json.loads(body)
            message = {
                "_id": f"m{next(counter):016d}",
                "rid": "GENERAL",
                "msg": sent.get("text", ""),
                "ts": "2025-01-01T00:00:00.000Z",
                "u": {"_id": USER_ID, "username": "bot"},
                "groupable": False,
                "_updatedAt": "2025-01-01T00:00:00.000Z",
            }
            reply = {"ts": 1735689600000, "channel": sent.get("channel"), "message": message}
            return answer(json.dumps({**reply, "success": True}))
        return answer(
            json.dumps({"success": False, "error": "Resource not found"}), "404 Not Found"
        )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                writer.write(route(method, target.split("?")[0], headers, body))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        await server.serve_forever()

    asyncio.run(main())


@contextlib.contextmanager
def server_process() -> Iterator[str]:
    """Start `serve()` in a child process; yield its base URL."""
    with port_server(["-m", "bench.session", "--serve"], "the bench server") as url:
        _wait_until_up(url)
        yield url


def _wait_until_up(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# -- candidates ------------------------------------------------------------------------------

Call = Callable[[], Awaitable[object]]


class Candidate(typing.NamedTuple):
    name: str
    get_me: Call | Callable[[], object]
    post: Call | Callable[[], object]
    sync: bool = False


async def candidates(url: str) -> tuple[list[Candidate], Callable[[], Awaitable[None]]]:
    """Every client under test, connected to `url`; plus a coroutine closing them."""
    from botkit._http import httpx
    from botkit._session import Credentials, Session
    from botkit._transport import DEFAULT_TRANSPORT, AiohttpTransport

    headers = {
        "User-Agent": UA,
        "Accept": "application/json",
        "X-User-Id": USER_ID,
        "X-Auth-Token": TOKEN,
    }
    closers: list[Callable[[], Awaitable[None]]] = []
    found: list[Candidate] = []

    def bare(name: str, client: httpx.AsyncClient) -> Candidate:
        closers.append(client.aclose)

        async def get_me() -> object:
            data = (await client.get(url + "/api/v1/me")).json()
            assert data["success"]
            return data

        async def post() -> object:
            data = (await client.post(url + "/api/v1/chat.postMessage", json=POST_BODY)).json()
            assert data["success"]
            return data

        return Candidate(name, get_me, post)

    found.append(bare("httpx (bare, default transport)", httpx.AsyncClient(headers=headers)))
    found.append(
        bare(
            "httpx (bare, botkit aiohttp transport)",
            httpx.AsyncClient(headers=headers, transport=AiohttpTransport()),
        )
    )
    with contextlib.suppress(ImportError):
        from httpx_aiohttp import AiohttpTransport as PackageTransport

        found.append(
            bare(
                "httpx (bare, httpx-aiohttp transport)",
                httpx.AsyncClient(headers=headers, transport=PackageTransport()),
            )
        )

    creds = Credentials(USER_ID, SecretStr(TOKEN), name="bench")
    for transport in ("httpx", "aiohttp"):
        session = Session(base_url=url, user_agent=UA, credentials=creds, transport=transport)
        closers.append(session.aclose)
        suffix = " = default" if transport == DEFAULT_TRANSPORT else ""
        found.append(
            Candidate(
                f"botkit Session ({transport} transport{suffix})",
                lambda s=session: s.get("me"),
                lambda s=session: s.post("chat.postMessage", POST_BODY),
            )
        )

    import aiohttp

    raw = aiohttp.ClientSession(headers=headers)
    closers.append(raw.close)

    async def aio_me() -> object:
        async with raw.get(url + "/api/v1/me") as response:
            return await response.json()

    async def aio_post() -> object:
        async with raw.post(url + "/api/v1/chat.postMessage", json=POST_BODY) as response:
            return await response.json()

    found.append(Candidate("aiohttp (bare)", aio_me, aio_post))

    with contextlib.suppress(ImportError):
        from rocketchat_API.rocketchat import RocketChat  # optional: the requests-based client

        rc = RocketChat(user_id=USER_ID, auth_token=TOKEN, server_url=url)
        found.append(
            Candidate(
                "rocketchat_API (requests)",
                rc.me,
                lambda: rc.chat_post_message("hello", channel="#general"),
                sync=True,
            )
        )

    async def close() -> None:
        for closer in closers:
            await closer()

    return found, close


async def measure(candidate: Candidate, which: str, n: int) -> float:
    """Client CPU milliseconds per request over `n` sequential requests."""
    call = candidate.get_me if which == "GET me" else candidate.post
    if candidate.sync:
        started = time.process_time()
        for _ in range(n):
            call()
        return (time.process_time() - started) * 1000.0 / n
    async_call = typing.cast(Call, call)
    started = time.process_time()
    for _ in range(n):
        await async_call()
    return (time.process_time() - started) * 1000.0 / n


async def bench(url: str, rounds: int, requests: int) -> dict[tuple[str, str], list[float]]:
    found, close = await candidates(url)
    results: dict[tuple[str, str], list[float]] = {}
    try:
        for candidate in found:  # warm up: connections, caches, lazy imports
            for which in ("GET me", "POST chat.postMessage"):
                await measure(candidate, which, max(5, requests // 10))
        for index in range(rounds):
            # Rotate the order each round so no candidate always runs first.
            order = found[index % len(found) :] + found[: index % len(found)]
            for which in ("GET me", "POST chat.postMessage"):
                for candidate in order:
                    value = await measure(candidate, which, requests)
                    results.setdefault((which, candidate.name), []).append(value)
    finally:
        await close()
    return results


def summarise(results: dict[tuple[str, str], list[float]]) -> list[Row]:
    rows = []
    baseline = "httpx (bare, default transport)"
    same_transport = {
        "botkit Session (httpx transport)": baseline,
        "botkit Session (aiohttp transport)": "httpx (bare, botkit aiohttp transport)",
        "botkit Session (aiohttp transport = default)": "httpx (bare, botkit aiohttp transport)",
        "botkit Session (httpx transport = default)": baseline,
    }
    for (which, name), values in results.items():
        base = results[(which, baseline)]
        ratios = [v / b for v, b in zip(values, base, strict=True)]
        note = (
            f"vs bare httpx {statistics.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]"
        )
        if name in same_transport:
            ref = results[(which, same_transport[name])]
            own = [v / b for v, b in zip(values, ref, strict=True)]
            note += (
                f"; vs same transport {statistics.median(own):.2f}x [{min(own):.2f}-{max(own):.2f}]"
            )
        rows.append(
            Row(
                "session",
                f"{which}: {name}",
                statistics.median(values),
                f"ms CPU/req [{min(values):.3f}-{max(values):.3f}]",
                note,
            )
        )
    return rows


def run(smoke: bool, rounds: int | None = None, requests: int | None = None) -> list[Row]:
    """Measure and return rows (see the module docstring)."""
    from loguru import logger

    # As in production: INFO and above only, so the per-request DEBUG line is skipped.
    logger.remove()
    logger.add(sys.stderr, level="INFO")
    rounds = rounds or (1 if smoke else 7)
    requests = requests or (5 if smoke else 400)
    with server_process() as url:
        results = asyncio.run(bench(url, rounds, requests))
    return summarise(results)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench session")
    parser.add_argument("--smoke", action="store_true", help="a few requests only")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--requests", type=int, help="requests per candidate per round")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0
    rows = run(args.smoke, args.rounds, args.requests)
    print(f"{'workload: client':<72} {'median':>8}  spread, ratios (median [min-max] of rounds)")
    for row in rows:
        print(f"{row.name:<72} {row.value:8.3f}  {row.unit}; {row.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
