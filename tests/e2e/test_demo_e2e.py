"""`botkit demo`: the README's first command, run as a user would."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys


def test_demo_runs_the_life_cycle(tmp_path: pathlib.Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("BOTKIT_")}
    result = subprocess.run(
        [sys.executable, "-m", "botkit", "demo", "--seconds", "7"], capture_output=True,
        text=True, timeout=120, env=env, cwd=tmp_path, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "1. bootstrap: log in as demo-bot" in out
    assert "messages posted: " in out and "messages posted: 0" not in out
    assert "#general:" in out and "@alice:" in out
    assert "rotation: botkit-" in out and "(by the daemon, no prompt)" in out
    assert "job reminders.tick: ok x" in out
    assert "tokens on the server now: botkit-" in out and "," not in out.split(
        "tokens on the server now: ")[1].splitlines()[0]
    assert "audit verify: OK" in out
    assert list(tmp_path.iterdir()) == []  # it wrote only to its own temporary folder
    assert "Traceback" not in result.stderr
