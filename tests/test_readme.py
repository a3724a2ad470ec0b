"""The README's examples work: its plugin, its config and its plugin test are run here.

Blocks preceded by `<!-- file: PATH -->` are written to PATH in a fresh project folder.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

from botkit._config import load_settings
from botkit._loader import discover_plugins

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"<!-- file: (?P<path>\S+) -->\n```\w*\n(?P<body>.*?)\n```", re.DOTALL)


@pytest.fixture
def project(tmp_path: pathlib.Path) -> pathlib.Path:
    files = {m["path"]: m["body"] + "\n" for m in _BLOCK.finditer(README.read_text())}
    assert set(files) == {"plugins/hello.py", "botkit.toml", "tests/test_hello.py"}
    for name, body in files.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)
    return tmp_path


def test_readme_opens_with_the_two_commands() -> None:
    text = README.read_text()
    first_block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    assert [line.split()[:2] for line in first_block.strip().splitlines()] == [
        ["make", "demo"], ["make", "test"],
    ]
    ci = (README.parent / ".ci" / "run").read_text()
    assert ci.strip().splitlines()[-1] == "exec make test"


def test_readme_config_and_plugin_load(project: pathlib.Path) -> None:
    settings = load_settings(project / "botkit.toml")
    (hello,) = discover_plugins(settings.plugins)
    assert hello.enabled, hello.reason
    assert hello.settings is not None and hello.settings.room == "#team"  # type: ignore[attr-defined]
    jobs = {spec.name: spec.describe() for spec in hello.jobs}
    assert jobs == {
        "hello.morning": "cron 30 8 * * mon-fri",  # moved by [plugins.hello.schedule]
        "hello.poll": "every 5m (jitter 10s)",
    }


def test_readme_plugin_test_passes(project: pathlib.Path) -> None:
    """A plugin author's pytest run, exactly as the README shows it."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("BOTKIT_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-o", "asyncio_mode=auto", "-o", "pythonpath=plugins", "tests"],
        cwd=project, capture_output=True, text=True, timeout=120, env=env, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
