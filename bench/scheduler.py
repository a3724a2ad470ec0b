"""Scheduler: firing lateness at 200 fires per second with 10,000 jobs, and memory.

Runs in a fresh child process (so the resident memory is the scheduler's, not the other
benchmarks'): botkit's `Scheduler` on a `StateDB` in a temporary folder, logging as in
production (INFO, botkit's redacting sink, into a file), 10,000 no-op async system jobs
every 50 s. Their phases are spread evenly over the interval, so about 200 fire each
second: each job gets a run-history row whose scheduled time lies one interval before
its phase, and `start()` continues from there as after a restart (the latest fire time
after the recorded one). Lateness is the wrapper's recorded start time minus the
scheduled time, over the runs scheduled at least 0.5 s after `start()` returned.

    python -m bench scheduler [--smoke]
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import json
import subprocess
import sys
import tempfile
import time
import typing
from pathlib import Path

from bench import Row
from bench._fake import ROOT

RATE = 200.0
P99_TARGET_MS = 20.0
RSS_TARGET_MB = 150.0


def _rss_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024.0
    return values["VmRSS"], values["VmHWM"]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def _child(jobs: int, seconds: float, folder: Path) -> dict[str, typing.Any]:
    import botkit._daemon  # noqa: F401  (the daemon's imports: session, transport, plugins)
    from botkit._config import SchedulerConfig
    from botkit._logging import configure_logging
    from botkit._scheduler import Scheduler
    from botkit._storage import StateDB

    log = (folder / "bench.log").open("w", encoding="utf-8")
    configure_logging(stream=log)
    rss_imports, _ = _rss_mb()
    interval = jobs / RATE

    async def noop() -> None:
        return None

    def no_context(*_: object) -> object:
        raise AssertionError("system jobs take no context")

    async with StateDB(folder / "state.db") as db:
        scheduler = Scheduler(SchedulerConfig(), db, no_context)  # type: ignore[arg-type]
        names = [f"bench.job{i:05d}" for i in range(jobs)]
        for name in names:
            scheduler.add_system_job(name, noop, interval=interval)
        # Phases: job i first fires `lead + i / RATE` seconds from now.
        lead = 0.5 + jobs / 2000.0  # start() reads each job's history: give it time
        origin = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=lead)
        step = datetime.timedelta(seconds=interval)
        for index, name in enumerate(names):
            phase = origin + datetime.timedelta(seconds=index / RATE)
            await db.record_run(name, phase - step, phase - step, phase - step, "ok")
        began = time.perf_counter()
        await scheduler.start()
        start_seconds = time.perf_counter() - began
        started_at = datetime.datetime.now(datetime.UTC)
        rss_started, _ = _rss_mb()
        until = origin + datetime.timedelta(seconds=seconds)
        await asyncio.sleep(max(0.0, (until - datetime.datetime.now(datetime.UTC)).total_seconds()))
        await scheduler.shutdown(timeout=5)
        _, rss_peak = _rss_mb()
        runs = await db.recent_runs(limit=10 * jobs)
    log.close()
    counted_from = max(origin, started_at + datetime.timedelta(seconds=0.5))
    late_ms = [
        (run.started_at - run.scheduled_time).total_seconds() * 1000.0
        for run in runs
        if run.scheduled_time is not None
        and run.started_at is not None
        and counted_from <= run.scheduled_time <= until
    ]
    others = collections.Counter(
        run.outcome
        for run in runs
        if run.outcome != "ok"
        and run.scheduled_time is not None
        and counted_from <= run.scheduled_time <= until
    )
    window = (until - counted_from).total_seconds()
    data: dict[str, typing.Any] = {
        "jobs": jobs,
        "fires": len(late_ms),
        "rate": len(late_ms) / window if window > 0 else 0.0,
        "p50": _percentile(late_ms, 0.50) if late_ms else float("nan"),
        "p99": _percentile(late_ms, 0.99) if late_ms else float("nan"),
        "max": max(late_ms) if late_ms else float("nan"),
        "others": dict(others),
        "start_seconds": start_seconds,
        "rss_imports": rss_imports,
        "rss_started": rss_started,
        "rss_peak": rss_peak,
    }
    return data


def run(smoke: bool) -> list[Row]:
    """Measure in a child process and return rows (see the module docstring)."""
    jobs, seconds = (200, 1.0) if smoke else (10_000, 8.0)
    result = subprocess.run(
        [sys.executable, "-m", "bench.scheduler", "--child", str(jobs), str(seconds)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"scheduler bench child failed:\n{result.stderr[-3000:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    p99_verdict = "met" if data["p99"] < P99_TARGET_MS else "MISSED"
    rss_verdict = "met" if data["rss_started"] < RSS_TARGET_MB else "MISSED"
    jobs_text = f"{int(data['jobs'])} jobs"
    return [
        Row(
            "scheduler",
            f"fires counted ({jobs_text})",
            data["fires"],
            "runs",
            f"{data['rate']:.0f}/s; not ok: {data['others'] or 'none'}",
        ),
        Row("scheduler", "lateness p50", data["p50"], "ms"),
        Row("scheduler", "lateness p99 (target < 20 ms)", data["p99"], "ms", p99_verdict),
        Row("scheduler", "lateness max", data["max"], "ms"),
        Row("scheduler", "start() with history", data["start_seconds"], "s"),
        Row("scheduler", "RSS after imports", data["rss_imports"], "MB"),
        Row(
            "scheduler",
            f"RSS started, {jobs_text} (target < 150 MB)",
            data["rss_started"],
            "MB",
            rss_verdict,
        ),
        Row("scheduler", "RSS peak (VmHWM) after the run", data["rss_peak"], "MB"),
    ]


def main_child(argv: list[str]) -> int:
    jobs, seconds = int(argv[0]), float(argv[1])
    with tempfile.TemporaryDirectory(prefix="botkit-bench-sched-") as folder:
        data = asyncio.run(_child(jobs, seconds, Path(folder)))
    print(json.dumps(data))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.exit(main_child(sys.argv[2:]))
    from bench.__main__ import print_rows

    print_rows(run("--smoke" in sys.argv))
