"""The SQLite state database: per-plugin key-value storage and job run history.

One file, `state.db` in the state directory (created 0600 in the 0700 directory).
aiosqlite runs SQLite in its own thread, so nothing here blocks the event loop. The
database is in WAL mode, so `botkit status` in another process can read while the
daemon writes. Writes from this process go through one lock, which makes
`PluginStore.update` an atomic read-modify-write; `BEGIN IMMEDIATE` extends that to
writers in other processes (SQLite's own write lock, waited on up to busy_timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import json
import os
import pathlib
import stat
import types
import typing

import aiosqlite

from botkit._state import ensure_state_dir
from botkit.errors import ConfigError

__all__ = ["PluginStore", "RunRecord", "StateDB", "StorageError"]

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    plugin      TEXT NOT NULL,
    key         TEXT NOT NULL,
    value_json  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (plugin, key)
);
CREATE TABLE IF NOT EXISTS runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    job             TEXT NOT NULL,
    scheduled_time  TEXT,
    started_at      TEXT,
    ended_at        TEXT,
    outcome         TEXT NOT NULL,
    error           TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_job ON runs (job, id);
CREATE INDEX IF NOT EXISTS runs_by_scheduled ON runs (job, scheduled_time);
"""


class StorageError(ConfigError):
    """The state database could not be opened or used (usually a [state] dir problem)."""


def _utc_text(value: datetime.datetime | None) -> str | None:
    """UTC ISO text with fixed precision, so that text order is time order (MAX works)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("run history times must be timezone-aware")
    return value.astimezone(datetime.UTC).isoformat(timespec="microseconds")


def _parse_time(text: str | None) -> datetime.datetime | None:
    return None if text is None else datetime.datetime.fromisoformat(text)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One row of run history. `scheduled_time` is None for manual runs (`run_now`)."""

    id: int
    job: str
    scheduled_time: datetime.datetime | None
    started_at: datetime.datetime | None
    ended_at: datetime.datetime | None
    outcome: str
    error: str | None

    @property
    def duration(self) -> datetime.timedelta | None:
        """How long the run took, if it ran."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


class StateDB:
    """The state database. Use `async with StateDB(path) as db:` or `open()`/`close()`."""

    def __init__(self, path: pathlib.Path | str, *, busy_timeout: float = 5.0) -> None:
        self.path = pathlib.Path(path)
        self._busy_timeout_ms = int(busy_timeout * 1000)
        self._conn: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    async def __aenter__(self) -> StateDB:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def is_open(self) -> bool:
        """Whether `open()` has run and `close()` has not."""
        return self._conn is not None

    async def open(self) -> None:
        """Create the file (0600) and tables if needed, and switch to WAL mode."""
        if self._conn is not None:
            return
        await asyncio.to_thread(self._create_file)
        try:
            conn = await aiosqlite.connect(self.path, isolation_level=None)
        except Exception as error:
            raise StorageError(f"cannot open the state database {self.path}: {error}") from None
        try:
            await conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.executescript(_SCHEMA)
            await conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        except Exception as error:
            await conn.close()
            raise StorageError(f"cannot use the state database {self.path}: {error}") from None
        self._conn = conn

    def _create_file(self) -> None:
        ensure_state_dir(self.path.parent)
        # O_CREAT with 0600: the file is never readable by others, not even briefly.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        if stat.S_IMODE(self.path.stat().st_mode) & 0o077:
            self.path.chmod(0o600)

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    @property
    def conn(self) -> aiosqlite.Connection:
        """The open connection; StorageError if the database is not open."""
        if self._conn is None:
            raise StorageError("the state database is not open")
        return self._conn

    @contextlib.asynccontextmanager
    async def _write(self) -> typing.AsyncIterator[aiosqlite.Connection]:
        """One write transaction at a time from this process; IMMEDIATE against others."""
        async with self._write_lock:
            conn = self.conn
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            else:
                await conn.execute("COMMIT")

    # -- key-value ---------------------------------------------------------------------

    async def kv_get(self, plugin: str, key: str) -> str | None:
        """The raw JSON text stored for (plugin, key), or None."""
        async with self.conn.execute(
            "SELECT value_json FROM kv WHERE plugin = ? AND key = ?", (plugin, key)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    async def kv_set(self, plugin: str, key: str, value_json: str) -> None:
        """Store raw JSON text for (plugin, key)."""
        async with self._write() as conn:
            await self._kv_put(conn, plugin, key, value_json)

    @staticmethod
    async def _kv_put(conn: aiosqlite.Connection, plugin: str, key: str, value_json: str) -> None:
        await conn.execute(
            "INSERT INTO kv (plugin, key, value_json, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (plugin, key) DO UPDATE SET value_json = excluded.value_json, "
            "updated_at = excluded.updated_at",
            (plugin, key, value_json, _utc_text(_now())),
        )

    async def kv_delete(self, plugin: str, key: str) -> bool:
        """Delete (plugin, key); True if it existed."""
        async with self._write() as conn:
            cursor = await conn.execute(
                "DELETE FROM kv WHERE plugin = ? AND key = ?", (plugin, key)
            )
            return cursor.rowcount > 0

    async def kv_keys(self, plugin: str) -> list[str]:
        """The plugin's keys, sorted."""
        async with self.conn.execute(
            "SELECT key FROM kv WHERE plugin = ? ORDER BY key", (plugin,)
        ) as cursor:
            return [str(row[0]) for row in await cursor.fetchall()]

    async def kv_update(self, plugin: str, key: str, fn: typing.Callable[[str | None], str]) -> str:
        """Atomically replace the JSON text of (plugin, key) by `fn(old_or_None)`."""
        async with self._write() as conn:
            async with conn.execute(
                "SELECT value_json FROM kv WHERE plugin = ? AND key = ?", (plugin, key)
            ) as cursor:
                row = await cursor.fetchone()
            new = fn(None if row is None else str(row[0]))
            await self._kv_put(conn, plugin, key, new)
            return new

    # -- run history -------------------------------------------------------------------

    async def record_run(
        self,
        job: str,
        scheduled: datetime.datetime | None,
        started: datetime.datetime | None,
        ended: datetime.datetime | None,
        outcome: str,
        error: str | None = None,
    ) -> int:
        """Append one run to the history; returns its id. Times must be timezone-aware."""
        async with self._write() as conn:
            cursor = await conn.execute(
                "INSERT INTO runs (job, scheduled_time, started_at, ended_at, outcome, error) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (job, _utc_text(scheduled), _utc_text(started), _utc_text(ended), outcome, error),
            )
            return int(cursor.lastrowid or 0)

    async def last_run(self, job: str) -> RunRecord | None:
        """The most recent run of `job` (any outcome), or None."""
        runs = await self.recent_runs(job, limit=1)
        return runs[0] if runs else None

    async def last_scheduled(self, job: str) -> datetime.datetime | None:
        """The latest scheduled time recorded for `job` (manual runs have none)."""
        async with self.conn.execute(
            "SELECT MAX(scheduled_time) FROM runs WHERE job = ?", (job,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _parse_time(row[0])

    async def recent_runs(self, job: str | None = None, limit: int = 20) -> list[RunRecord]:
        """The newest runs first, of one job or of all."""
        columns = "id, job, scheduled_time, started_at, ended_at, outcome, error"
        if job is None:
            query = f"SELECT {columns} FROM runs ORDER BY id DESC LIMIT ?"  # noqa: S608
            params: tuple[typing.Any, ...] = (limit,)
        else:
            query = f"SELECT {columns} FROM runs WHERE job = ? ORDER BY id DESC LIMIT ?"  # noqa: S608
            params = (job, limit)
        async with self.conn.execute(query, params) as cursor:
            rows = await cursor.fetchall()
        return [
            RunRecord(
                id=int(row[0]),
                job=str(row[1]),
                scheduled_time=_parse_time(row[2]),
                started_at=_parse_time(row[3]),
                ended_at=_parse_time(row[4]),
                outcome=str(row[5]),
                error=row[6],
            )
            for row in rows
        ]

    async def prune_runs(self, keep: int = 1000) -> int:
        """Keep the newest `keep` runs of each job; returns how many rows were deleted."""
        async with self._write() as conn:
            cursor = await conn.execute(
                "DELETE FROM runs WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER "
                "(PARTITION BY job ORDER BY id DESC) AS n FROM runs) WHERE n > ?)",
                (keep,),
            )
            return cursor.rowcount


class PluginStore:
    """A plugin's key-value storage: JSON values, namespaced by plugin name.

    Values come back as JSON gives them: tuples become lists, dict keys become strings.
    """

    def __init__(self, db: StateDB, plugin: str) -> None:
        self._db = db
        self.plugin = plugin

    def __repr__(self) -> str:
        return f"PluginStore({self.plugin!r})"

    def _dump(self, key: str, value: object) -> str:
        try:
            return json.dumps(value, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"store {self.plugin}: value for key {key!r} is not JSON-serialisable "
                f"({error}); store str, int, float, bool, None, lists and dicts"
            ) from None

    @staticmethod
    def _check_key(key: str) -> None:
        if not isinstance(key, str) or not key:
            raise TypeError(f"store keys are non-empty strings, not {key!r}")

    async def get(self, key: str, default: typing.Any = None) -> typing.Any:
        """The stored value, or `default` if the key is absent."""
        self._check_key(key)
        text = await self._db.kv_get(self.plugin, key)
        return default if text is None else json.loads(text)

    async def set(self, key: str, value: typing.Any) -> None:
        """Store a JSON-serialisable value; TypeError (naming the key) otherwise."""
        self._check_key(key)
        await self._db.kv_set(self.plugin, key, self._dump(key, value))

    async def delete(self, key: str) -> bool:
        """Remove a key; True if it existed."""
        self._check_key(key)
        return await self._db.kv_delete(self.plugin, key)

    async def keys(self) -> list[str]:
        """All keys of this plugin, sorted."""
        return await self._db.kv_keys(self.plugin)

    async def update(
        self, key: str, fn: typing.Callable[[typing.Any], typing.Any], default: typing.Any = None
    ) -> typing.Any:
        """Atomically set `key` to `fn(current value or default)`; returns the new value.

        `fn` is a plain (not async) function; it runs inside the write transaction, so
        concurrent `update`s of a counter never lose an increment.
        """
        self._check_key(key)

        def apply(old: str | None) -> str:
            return self._dump(key, fn(default if old is None else json.loads(old)))

        return json.loads(await self._db.kv_update(self.plugin, key, apply))
