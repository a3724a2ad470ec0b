"""botkit against `rocketchat_API`: N messages posted, sequentially and 16 at a time.

The same POST chat.postMessage to the real fake (another process). botkit uses its
async Session (16 tasks for concurrency 16); rocketchat_API is used as its users
would: one `RocketChat` object, and a 16-thread pool for concurrency. Bare
`httpx.AsyncClient` (16 tasks) is shown for reference. Wall time and client CPU
(`time.process_time()`, all threads of this process) per message; each round runs every
client in a rotated order, ratios are taken within a round.

The Session runs twice at concurrency 16: with the default pool (`[server]
max_connections = 10`, so 6 tasks wait for a connection) and with 16 connections.

    python -m bench rcapi [--smoke]
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import time
from collections.abc import Awaitable, Callable

from bench import Row
from bench._clients import SyncClient, bare_httpx, botkit_session, rocketchat_api
from bench._fake import FakeServer, fake_server, median_spread

CONCURRENCY = 16
RCAPI = "rocketchat_API (requests)"
SESSION = "botkit Session (aiohttp transport = default)"
SESSION_16 = "botkit Session (aiohttp transport = default, 16 connections)"

Measure = Callable[[int], Awaitable[tuple[float, float]]]


def _async_runner(post: Callable[[], Awaitable[object]], concurrency: int) -> Measure:
    async def measure(n: int) -> tuple[float, float]:
        share = [n // concurrency + (1 if i < n % concurrency else 0) for i in range(concurrency)]

        async def worker(count: int) -> None:
            for _ in range(count):
                await post()

        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(c) for c in share))
        return time.perf_counter() - wall, time.process_time() - cpu

    return measure


def _thread_runner(
    client: SyncClient, pool: concurrent.futures.ThreadPoolExecutor | None
) -> Measure:
    async def measure(n: int) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        if pool is None:
            for _ in range(n):
                client.post()
        else:
            for future in [pool.submit(client.post) for _ in range(n)]:
                future.result()
        return time.perf_counter() - wall, time.process_time() - cpu

    return measure


async def _measure(
    server: FakeServer, rounds: int, n_seq: int, n_conc: int
) -> dict[tuple[str, str], list[tuple[float, float]]]:
    session = botkit_session(server)
    session16 = botkit_session(server, max_connections=CONCURRENCY)
    bare = bare_httpx(server, limit=CONCURRENCY)
    closers = [session.close, session16.close, bare.close]
    rc = rocketchat_api(server)
    pool = concurrent.futures.ThreadPoolExecutor(CONCURRENCY)
    workloads: dict[str, list[tuple[str, Measure]]] = {
        "sequential": [
            (session.name, _async_runner(session.post, 1)),
            (bare.name, _async_runner(bare.post, 1)),
        ],
        f"concurrency {CONCURRENCY}": [
            (session.name, _async_runner(session.post, CONCURRENCY)),
            (session16.name, _async_runner(session16.post, CONCURRENCY)),
            (bare.name, _async_runner(bare.post, CONCURRENCY)),
        ],
    }
    if rc is not None:
        workloads["sequential"].append((rc.name, _thread_runner(rc, None)))
        workloads[f"concurrency {CONCURRENCY}"].append((rc.name, _thread_runner(rc, pool)))
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        for workload, clients in workloads.items():
            n = n_seq if workload == "sequential" else n_conc
            for _, measure in clients:  # warm-up: connections (all 16), imports
                await asyncio.sleep(0.05)
                await measure(max(CONCURRENCY, n // 10))
            for index in range(rounds):
                shift = index % len(clients)
                for name, measure in clients[shift:] + clients[:shift]:
                    # The thread runners block this loop: let it see the connections the
                    # server closed meanwhile (uvicorn's keep-alive timeout is 5 s), so
                    # none is reused half-closed (a POST that may have been sent is
                    # rightly not re-sent: ServerUnreachable).
                    await asyncio.sleep(0.05)
                    wall, cpu = await measure(n)
                    per = (wall * 1000.0 / n, cpu * 1000.0 / n)
                    results.setdefault((workload, name), []).append(per)
    finally:
        pool.shutdown()
        for close in closers:
            await close()
    return results


def summarise(results: dict[tuple[str, str], list[tuple[float, float]]]) -> list[Row]:
    rows = []
    for (workload, name), values in results.items():
        for index, what in ((0, "wall"), (1, "CPU")):
            series = [v[index] for v in values]
            median, low, high = median_spread(series)
            note = ""
            base = results.get((workload, RCAPI))
            if base is not None:
                ratio, r_low, r_high = median_spread(
                    [v[index] / b[index] for v, b in zip(values, base, strict=True)]
                )
                note = f"vs rocketchat_API {ratio:.2f}x [{r_low:.2f}-{r_high:.2f}]"
            rows.append(
                Row(
                    "rcapi",
                    f"{workload}: {name} {what}",
                    median,
                    f"ms/msg [{low:.3f}-{high:.3f}]",
                    note,
                )
            )
    return rows


def run(smoke: bool) -> list[Row]:
    """Measure and return rows (see the module docstring)."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="INFO")
    rounds, n_seq, n_conc = (1, 5, 32) if smoke else (5, 400, 1600)
    with fake_server() as server:
        results = asyncio.run(_measure(server, rounds, n_seq, n_conc))
    return summarise(results)
