"""End-to-end fixtures: the real `botkit` CLI in a subprocess against the fake on loopback."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import subprocess
import sys
import time
import typing

import pytest

from botkit.testing import FakeRocketChat, RunningServer, serve

TIMEOUT = 60


@pytest.fixture
def server() -> typing.Iterator[RunningServer]:
    """A production-like fake on 127.0.0.1 (rate limits on, no TEST_MODE)."""
    with serve(FakeRocketChat()) as running:
        yield running


@dataclasses.dataclass
class Cli:
    """Runs `python -m botkit` with a config for `server` and a private state dir."""

    server: RunningServer
    home: pathlib.Path
    env: dict[str, str]
    started: list[subprocess.Popen[str]] = dataclasses.field(default_factory=list)

    @property
    def config(self) -> pathlib.Path:
        return self.home / "botkit.toml"

    @property
    def state(self) -> pathlib.Path:
        return self.home / "state"

    def write_config(self, extra: str = "", *, username: str = "bot") -> None:
        self.config.write_text(
            f'[server]\nurl = "{self.server.url}"\ntimeout = "10s"\n'
            f'[auth]\nusername = "{username}"\n'
            f'[state]\ndir = "{self.state}"\n'
            f'[plugins]\npaths = ["{self.home / "plugins"}"]\n' + extra,
            encoding="utf-8",
        )

    def _command(self, args: typing.Sequence[str]) -> list[str]:
        return [sys.executable, "-m", "botkit", *args, "--config", str(self.config)]

    def run(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run one command to the end; stdin is a pipe (so answers are read line by line)."""
        return subprocess.run(
            self._command(args), input=input if input is not None else "", text=True,
            capture_output=True, timeout=TIMEOUT, env={**self.env, **(env or {})},
            cwd=self.home, check=False,
        )

    def start(
        self, *args: str, env: dict[str, str] | None = None, log: bool = False
    ) -> subprocess.Popen[str]:
        """Start a command whose stdin the test writes to while it runs.

        With `log`, stdout and stderr go to `daemon.log` in the home folder (a long-running
        daemon would otherwise block on a full pipe that nobody reads).
        """
        out: typing.Any = subprocess.PIPE
        if log:
            out = (self.home / "daemon.log").open("w")
        process = subprocess.Popen(
            self._command(args), stdin=subprocess.PIPE, stdout=out,
            stderr=subprocess.STDOUT if log else subprocess.PIPE, text=True,
            env={**self.env, **(env or {})}, cwd=self.home,
        )
        self.started.append(process)
        return process

    def kill_leftovers(self) -> None:
        """A test that failed half-way must not leave a daemon running."""
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=TIMEOUT)

    @property
    def log(self) -> str:
        """What a daemon started with `log=True` has written so far."""
        path = self.home / "daemon.log"
        return path.read_text() if path.exists() else ""


@pytest.fixture
def cli(server: RunningServer, tmp_path: pathlib.Path) -> typing.Iterator[Cli]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("BOTKIT_")}
    env["PYTHONUNBUFFERED"] = "1"
    home = tmp_path / "home"
    home.mkdir()
    (home / "plugins").mkdir()
    runner = Cli(server=server, home=home, env=env)
    runner.write_config()
    yield runner
    runner.kill_leftovers()


def wait_for(predicate: typing.Callable[[], typing.Any], timeout: float = 20.0) -> typing.Any:
    """Poll `predicate` until it returns something truthy (bounded: fails after timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
