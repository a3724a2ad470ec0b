"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import pathlib
import typing

import pytest
from click.testing import CliRunner


@pytest.fixture(autouse=True)
def clean_environ(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No BOTKIT_* variable from the developer's shell, and no write outside tmp dirs."""
    for name in list(os.environ):
        if name.upper().startswith("BOTKIT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))


@pytest.fixture(autouse=True)
def botkit_logs_enabled() -> typing.Iterator[None]:
    """Tests read botkit's log records; as a library botkit starts with them disabled."""
    from loguru import logger

    logger.enable("botkit")
    yield
    logger.disable("botkit")


@pytest.fixture
def runner() -> CliRunner:
    """A click runner; stdout and stderr are captured separately."""
    return CliRunner()


@pytest.fixture
def workdir(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A temporary current folder (for `botkit init` and ./botkit.toml)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def write_config(tmp_path: pathlib.Path) -> typing.Callable[[str], pathlib.Path]:
    """Write a TOML config file and return its path."""

    def write(text: str, name: str = "botkit.toml") -> pathlib.Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
