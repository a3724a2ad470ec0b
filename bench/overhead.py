"""Session overhead on a request mix: client CPU per request against bare clients.

One unit of work is GET me, POST chat.postMessage and the whole history of a
120-message channel read with count=50 pages (3 requests): 5 requests, against the
real fake server (`python -m botkit.testing serve`) in another process. Only the
client's CPU is counted (`time.process_time()` in this process). Every round runs every
client once, in a rotated order; ratios are taken within a round, then the median and
spread over rounds are reported.

Headline: botkit Session (default transport) / bare `httpx.AsyncClient` (default
transport), target <= 1.10; the floor is plain aiohttp.

    python -m bench overhead [--smoke]
"""

from __future__ import annotations

import asyncio
import sys
import time

from bench import Row
from bench._clients import AsyncClient, bare_aiohttp, bare_httpx, botkit_session
from bench._fake import FakeServer, fake_server, median_spread

HISTORY = 120
REQUESTS_PER_UNIT = 5  # me + postMessage + 3 history pages
BASELINE = "httpx.AsyncClient (bare, default transport)"
SESSION = "botkit Session (aiohttp transport = default)"
TARGET = 1.10


def _clients(server: FakeServer) -> list[AsyncClient]:
    return [
        bare_httpx(server),
        bare_httpx(server, transport="aiohttp"),
        botkit_session(server),
        botkit_session(server, transport="httpx"),
        bare_aiohttp(server),
    ]


async def _unit(client: AsyncClient) -> None:
    await client.me()
    await client.post()
    assert await client.history() == HISTORY


async def _cpu_per_request(client: AsyncClient, units: int) -> float:
    started = time.process_time()
    for _ in range(units):
        await _unit(client)
    return (time.process_time() - started) * 1000.0 / (units * REQUESTS_PER_UNIT)


async def _measure(server: FakeServer, rounds: int, units: int) -> dict[str, list[float]]:
    clients = _clients(server)
    results: dict[str, list[float]] = {c.name: [] for c in clients}
    try:
        for client in clients:  # warm-up: connections, lazy imports, caches
            await _cpu_per_request(client, max(2, units // 10))
        for index in range(rounds):
            shift = index % len(clients)
            for client in clients[shift:] + clients[:shift]:
                results[client.name].append(await _cpu_per_request(client, units))
    finally:
        for client in clients:
            await client.close()
    return results


def _ratio(results: dict[str, list[float]], name: str, base: str) -> list[float]:
    return [v / b for v, b in zip(results[name], results[base], strict=True)]


def summarise(results: dict[str, list[float]]) -> list[Row]:
    rows = []
    for name, values in results.items():
        median, low, high = median_spread(values)
        ratio, r_low, r_high = median_spread(_ratio(results, name, BASELINE))
        rows.append(
            Row(
                "overhead",
                f"mix: {name}",
                median,
                f"ms CPU/req [{low:.3f}-{high:.3f}]",
                f"vs bare httpx {ratio:.2f}x [{r_low:.2f}-{r_high:.2f}]",
            )
        )
    ratio, r_low, r_high = median_spread(_ratio(results, SESSION, BASELINE))
    verdict = "met" if ratio <= TARGET else "MISSED"
    rows.append(
        Row(
            "overhead",
            "ratio: Session / bare httpx (target <= 1.10)",
            ratio,
            "x",
            f"[{r_low:.2f}-{r_high:.2f}] {verdict}",
        )
    )
    same = "httpx.AsyncClient (bare, botkit aiohttp transport)"
    ratio, r_low, r_high = median_spread(_ratio(results, SESSION, same))
    rows.append(
        Row(
            "overhead",
            "ratio: Session / same transport bare",
            ratio,
            "x",
            f"[{r_low:.2f}-{r_high:.2f}] the session's own code",
        )
    )
    ratio, r_low, r_high = median_spread(_ratio(results, SESSION, "aiohttp (bare)"))
    rows.append(
        Row(
            "overhead",
            "ratio: Session / plain aiohttp (floor)",
            ratio,
            "x",
            f"[{r_low:.2f}-{r_high:.2f}]",
        )
    )
    return rows


def run(smoke: bool) -> list[Row]:
    """Measure and return rows (see the module docstring)."""
    from loguru import logger

    # As in production: INFO and above only, so the per-request DEBUG line is skipped.
    logger.remove()
    logger.add(sys.stderr, level="INFO")
    rounds, units = (1, 2) if smoke else (7, 100)
    with fake_server(history=HISTORY) as server:
        results = asyncio.run(_measure(server, rounds, units))
    return summarise(results)
