"""The state directory and the one atomic, private file writer botkit uses for secrets.

Design section 3: the state dir is created 0700; the token file is 0600 and written
atomically (temp file, fsync, rename, fsync the directory), so a crash at any point
leaves either the old file or the new one, never a torn or world-readable one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pathlib
import stat
import tempfile
import time
import typing

from botkit.errors import ConfigError, LockHeld

__all__ = [
    "AUDIT_FILE",
    "STATE_DB",
    "TOKEN_FILE",
    "TOKEN_LOCK",
    "atomic_write",
    "ensure_state_dir",
    "exclusive_lock",
]

TOKEN_FILE = "token.json"
AUDIT_FILE = "audit.jsonl"
STATE_DB = "state.db"

_DIR_MODE = 0o700


def ensure_state_dir(path: pathlib.Path) -> pathlib.Path:
    """Create the state directory (and parents) with mode 0700.

    An existing folder that others may read is refused rather than tightened: it may be
    a folder botkit does not own ([state] dir = "." or a home folder), like ssh refuses.
    """
    try:
        path.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as error:
        raise ConfigError(
            f"cannot create the state directory {path}: {error.strerror}",
            hint="set [state] dir to a folder botkit may write",
        ) from None
    if mode & 0o077:
        raise ConfigError(
            f"the state directory {path} is open to others (mode {mode:04o})",
            hint=f"run: chmod 700 {path}, or set [state] dir to a private folder",
        )
    return path


def _fsync_dir(directory: pathlib.Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: pathlib.Path, data: bytes) -> None:
    """Replace `path` with `data`, mode 0600, so that a crash leaves the old or new file.

    Steps: write a temp file in the same directory (created 0600, never wider), fsync it,
    rename it over `path`, fsync the directory so the rename itself is durable.
    """
    directory = path.parent
    # mkstemp creates the file 0600 with O_EXCL and a fresh name: no race, never wider.
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    tmp = pathlib.Path(tmp_name)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(directory)


TOKEN_LOCK = "token.lock"


@contextlib.asynccontextmanager
async def exclusive_lock(
    path: pathlib.Path, *, wait: float, what: str
) -> typing.AsyncIterator[None]:
    """Hold an exclusive flock on `path` (created 0600), waiting up to `wait` seconds.

    Polls without blocking, so the event loop keeps running while another process
    (the daemon, another CLI) finishes its step.

    Raises:
        LockHeld: the lock was not free within `wait` seconds.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockHeld(
                        f"another botkit process is {what} (the lock {path} is held)",
                        hint="wait for it to finish, then try again",
                    ) from None
                await asyncio.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
