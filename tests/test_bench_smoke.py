"""The benchmarks still run (a few requests each), so they cannot rot.

Each benchmark runs in smoke mode in a subprocess, as `python -m bench NAME --smoke`,
and must print rows with sane numbers. Speed is measured by the bench, not asserted
here: only that it produced finite, non-negative values for what it reports.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# bench name -> row names (substrings) that must be present
EXPECTED = {
    "overhead": ["Session / bare httpx", "aiohttp (bare)", "botkit Session"],
    "rcapi": ["sequential: botkit Session", "concurrency 16: botkit Session"],
    "scheduler": ["lateness p50", "lateness p99", "RSS started"],
    "twofactor": ["codes asked for", "emails sent", "total time"],
    "startup": ["python -c pass", "botkit --help", "botkit whoami"],
}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


def _rows(stdout: str, bench: str) -> dict[str, float]:
    """name -> value of the table rows `bench  name  value unit  note` the runner prints."""
    rows = {}
    for line in stdout.splitlines():
        if not line.startswith(bench + " "):
            continue
        # The name ends where the first number after it starts: split on 2+ spaces.
        parts = [p for p in line[len(bench) :].split("  ") if p.strip()]
        name = parts[0].strip()
        rows[name] = float(parts[1].split()[0])
    return rows


def test_session_bench_smoke() -> None:
    result = _run("session", "--smoke")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "botkit Session" in result.stdout
    assert "vs bare httpx" in result.stdout


@pytest.mark.parametrize("bench", sorted(EXPECTED))
def test_bench_smoke(bench: str) -> None:
    result = _run(bench, "--smoke")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = _rows(result.stdout, bench)
    for wanted in EXPECTED[bench]:
        assert any(wanted in name for name in rows), (wanted, result.stdout)
    for name, value in rows.items():
        assert math.isfinite(value) and value >= 0, (name, value)


def test_unknown_bench_is_refused() -> None:
    result = _run("no-such-bench")
    assert result.returncode == 2
    assert "unknown benchmark" in result.stdout
