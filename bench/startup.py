"""Start-up: `botkit --help` and `botkit whoami` wall time against `python -c pass`.

Each command is a fresh subprocess of this interpreter (`python -m botkit ...`, the
same code as the `botkit` console script), run in turns for several rounds; medians
and [min-max] are reported, and ratios to `python -c pass` per round. `whoami` talks to
the fake server (another process) with a token stored by `botkit bootstrap --token`.

    python -m bench startup [--smoke]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import Row
from bench._fake import fake_server, median_spread

HELP_TARGET = 3.0


def _timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=60
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr[-2000:]}")
    return seconds


def run(smoke: bool) -> list[Row]:
    """Measure and return rows (see the module docstring)."""
    rounds = 2 if smoke else 15
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("BOTKIT_")}
    python = sys.executable
    with fake_server() as server, tempfile.TemporaryDirectory(prefix="botkit-bench-") as home:
        folder = Path(home)
        config = folder / "botkit.toml"
        config.write_text(
            f'[server]\nurl = "{server.url}"\n[auth]\nusername = "benchbot"\n'
            f'[state]\ndir = "{folder / "state"}"\n',
            encoding="utf-8",
        )
        bootstrap = subprocess.run(
            [python, "-m", "botkit", "bootstrap", "--token", "--config", str(config)],
            input=f"{server.user_id}\n{server.token}\n",
            env=env,
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if bootstrap.returncode != 0:
            raise RuntimeError(f"bootstrap --token failed: {bootstrap.stderr[-2000:]}")
        commands = {
            "python -c pass": [python, "-c", "pass"],
            "botkit --help": [python, "-m", "botkit", "--help"],
            "botkit whoami": [python, "-m", "botkit", "whoami", "--config", str(config)],
        }
        for command in commands.values():  # warm the page cache and .pyc files
            _timed(command, env, folder)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, command in commands.items():
                times[name].append(_timed(command, env, folder))
    rows = []
    base = times["python -c pass"]
    for name, values in times.items():
        median, low, high = median_spread([v * 1000.0 for v in values])
        ratio, r_low, r_high = median_spread([v / b for v, b in zip(values, base, strict=True)])
        note = f"vs python -c pass {ratio:.2f}x [{r_low:.2f}-{r_high:.2f}]"
        if name == "botkit --help":
            note += " (target < 3x) " + ("met" if ratio < HELP_TARGET else "MISSED")
        rows.append(Row("startup", name, median, f"ms wall [{low:.0f}-{high:.0f}]", note))
    return rows
