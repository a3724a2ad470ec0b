"""The state directory and the atomic writer: 0700/0600, old-or-new after a crash."""

from __future__ import annotations

import os
import pathlib
import stat
import subprocess
import sys

import pytest

from botkit._state import atomic_write, ensure_state_dir
from botkit.errors import ConfigError


def _mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_dir_is_private(tmp_path: pathlib.Path) -> None:
    state = ensure_state_dir(tmp_path / "a" / "state")
    assert _mode(state) == 0o700
    ensure_state_dir(state)  # an existing private folder is fine


def test_an_open_existing_folder_is_refused_not_tightened(tmp_path: pathlib.Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with pytest.raises(ConfigError) as caught:
        ensure_state_dir(shared)
    assert "open to others (mode 0755)" in str(caught.value)
    assert caught.value.hint == f"run: chmod 700 {shared}, or set [state] dir to a private folder"
    assert _mode(shared) == 0o755


def test_atomic_write_creates_0600(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "token.json"
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600
    target.chmod(0o644)
    atomic_write(target, b"newer")
    assert _mode(target) == 0o600  # the replacement never inherits a wider mode
    assert [p.name for p in tmp_path.iterdir()] == ["token.json"]


def test_failure_before_rename_keeps_old_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "token.json"
    atomic_write(target, b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["token.json"]  # temp file removed


_CRASH_CHILD = """
import os, pathlib, signal, sys
from botkit._state import atomic_write
target = pathlib.Path(sys.argv[1])
step = sys.argv[2]
real = {"write": os.write, "fsync": os.fsync, "replace": os.replace}
def crash_at(name):
    def hook(*args, **kwargs):
        if name == step:
            os.kill(os.getpid(), signal.SIGKILL)
        return real[name](*args, **kwargs)
    return hook
os.write = crash_at("write")
os.fsync = crash_at("fsync")
os.replace = crash_at("replace")
if step == "after-replace":
    def replace_then_die(*args):
        real["replace"](*args)
        os.kill(os.getpid(), signal.SIGKILL)
    os.replace = replace_then_die
atomic_write(target, b"new contents")
"""


@pytest.mark.parametrize(
    ("step", "expected"),
    [("write", b"old contents"), ("fsync", b"old contents"), ("replace", b"old contents"),
     ("after-replace", b"new contents")],
)
def test_kill_between_steps_leaves_old_or_new(
    tmp_path: pathlib.Path, step: str, expected: bytes
) -> None:
    """SIGKILL at each step boundary: the target is whole (old or new) and private."""
    target = tmp_path / "token.json"
    atomic_write(target, b"old contents")
    result = subprocess.run(
        [sys.executable, "-c", _CRASH_CHILD, str(target), step], capture_output=True, timeout=60,
        check=False,
    )
    assert result.returncode == -9
    assert target.read_bytes() == expected
    assert _mode(target) == 0o600
    for leftover in tmp_path.iterdir():  # a temp file may remain, but never readable by others
        assert _mode(leftover) == 0o600
