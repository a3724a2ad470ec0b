"""The fake Rocket.Chat server in a child process, set up for benchmarks.

`python -m botkit.testing serve --port 0 --users FILE` answers with real Rocket.Chat
shapes (auth, envelopes, pagination). The bench user has the `bot` role, which
bypasses the rate limiter as on a real server, and the limiter is switched off as well
so no `X-RateLimit-*` pacing enters the numbers. Only the client process is measured;
the server's CPU is not counted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
USERNAME = "benchbot"
PASSWORD = "bench-password"
HISTORY_ROOM = "bench-history"


@dataclasses.dataclass(frozen=True)
class FakeServer:
    """A running fake: its URL and the bench user's id and personal access token."""

    url: str
    user_id: str
    token: str
    history_room_id: str

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the fake's `/_fake` control API (setup only, never measured)."""
        return control(self.url, method, path, body)


def control(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{url}/_fake{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def fake_server(*, history: int = 0) -> Iterator[FakeServer]:
    """Start the fake in a child process with the bench user; yield it, then stop it.

    Args:
        history: messages put into the public channel `bench-history` for paging.
    """
    with tempfile.TemporaryDirectory(prefix="botkit-bench-") as folder:
        users = Path(folder) / "users.json"
        users.write_text(
            json.dumps(
                {
                    "users": [
                        {
                            "username": USERNAME,
                            "password": PASSWORD,
                            "email": "benchbot@example.org",
                            "roles": ["user", "bot"],
                        }
                    ],
                    "settings": {"API_Enable_Rate_Limiter": False},
                }
            ),
            encoding="utf-8",
        )
        args = ["-m", "botkit.testing", "serve", "--port", "0", "--users", str(users)]
        with port_server(args, "the fake server") as url:
            minted = control(url, "POST", f"/users/{USERNAME}/tokens", {"name": "bench"})
            room = control(
                url, "POST", "/rooms", {"name": HISTORY_ROOM, "type": "c", "members": [USERNAME]}
            )
            for index in range(history):
                control(
                    url,
                    "POST",
                    "/messages",
                    {"room": HISTORY_ROOM, "username": USERNAME, "text": f"m{index}"},
                )
            yield FakeServer(url, minted["user_id"], minted["token"], room["room_id"])


@contextlib.contextmanager
def port_server(args: list[str], what: str) -> Iterator[str]:
    """Run `python <args>` (a server that prints `PORT <n>` first); yield its base URL.

    Used for every server the benchmarks talk to: it runs in its own process, so only
    the client's CPU is counted in the bench process.
    """
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"{what} did not start")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def median_spread(values: list[float]) -> tuple[float, float, float]:
    """(median, min, max)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0
    return median, ordered[0], ordered[-1]


def now() -> float:
    return time.perf_counter()
