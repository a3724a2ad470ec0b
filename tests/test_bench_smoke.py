"""The benchmarks still run (a few requests each), so they cannot rot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_session_bench_smoke() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "session", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "botkit Session" in result.stdout
    assert "vs bare httpx" in result.stdout
