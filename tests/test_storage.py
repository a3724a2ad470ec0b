"""The SQLite state database: per-plugin key-value store and run history."""

from __future__ import annotations

import asyncio
import datetime
import pathlib
import sqlite3
import stat
import typing

import pytest

from botkit._storage import PluginStore, StateDB, StorageError

UTC = datetime.UTC
T0 = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: pathlib.Path) -> typing.AsyncIterator[StateDB]:
    async with StateDB(tmp_path / "state" / "state.db") as database:
        yield database


async def test_file_and_dir_are_private_and_wal(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "state" / "state.db"
    async with StateDB(path) as database:
        assert database.is_open
        async with database.conn.execute("PRAGMA journal_mode") as cursor:
            row = await cursor.fetchone()
        assert row is not None and row[0] == "wal"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"kv", "runs"} <= tables


async def test_existing_wide_file_is_tightened(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "state.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    async with StateDB(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_closed_db_raises_storage_error(tmp_path: pathlib.Path) -> None:
    database = StateDB(tmp_path / "s.db")
    with pytest.raises(StorageError, match="not open"):
        await database.last_run("x")
    await database.open()
    await database.close()
    await database.close()  # idempotent


@pytest.mark.parametrize(
    "value",
    [None, 0, -3, 2.5, "text", "ünïcode", True, [1, "a", None], {"a": {"b": [1, 2]}}, []],
)
async def test_round_trip(db: StateDB, value: typing.Any) -> None:
    store = PluginStore(db, "hello")
    await store.set("k", value)
    assert await store.get("k") == value


async def test_get_default_delete_keys(db: StateDB) -> None:
    store = PluginStore(db, "hello")
    assert await store.get("missing") is None
    assert await store.get("missing", 7) == 7
    await store.set("b", 1)
    await store.set("a", 2)
    await store.set("a", 3)  # overwrite
    assert await store.keys() == ["a", "b"]
    assert await store.get("a") == 3
    assert await store.delete("a") is True
    assert await store.delete("a") is False
    assert await store.keys() == ["b"]


async def test_plugins_are_namespaced(db: StateDB) -> None:
    one, two = PluginStore(db, "one"), PluginStore(db, "two")
    await one.set("k", "from one")
    assert await two.get("k") is None
    assert await two.keys() == []
    await two.set("k", "from two")
    assert await one.get("k") == "from one"


@pytest.mark.parametrize("value", [object(), {1, 2}, float("nan"), b"bytes"])
async def test_non_json_value_is_a_clear_type_error(db: StateDB, value: typing.Any) -> None:
    store = PluginStore(db, "hello")
    with pytest.raises(TypeError, match=r"store hello: value for key 'k' is not JSON-serial"):
        await store.set("k", value)
    assert await store.get("k") is None


async def test_bad_key(db: StateDB) -> None:
    with pytest.raises(TypeError, match="non-empty"):
        await PluginStore(db, "p").set("", 1)


async def test_values_survive_reopen(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.db"
    async with StateDB(path) as database:
        await PluginStore(database, "p").set("seen", [1, 2])
    async with StateDB(path) as database:
        assert await PluginStore(database, "p").get("seen") == [1, 2]


async def test_many_concurrent_sets_and_gets(db: StateDB) -> None:
    store = PluginStore(db, "p")

    async def worker(n: int) -> None:
        await store.set(f"k{n}", {"n": n})
        assert await store.get(f"k{n}") == {"n": n}

    await asyncio.gather(*(worker(n) for n in range(200)))
    assert len(await store.keys()) == 200


async def test_concurrent_updates_lose_nothing(db: StateDB) -> None:
    store = PluginStore(db, "p")
    results = await asyncio.gather(
        *(store.update("counter", lambda old: old + 1, default=0) for _ in range(100))
    )
    assert await store.get("counter") == 100
    assert sorted(results) == list(range(1, 101))


async def test_update_failure_rolls_back(db: StateDB) -> None:
    store = PluginStore(db, "p")
    await store.set("k", 1)

    def boom(old: int) -> int:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        await store.update("k", boom)
    with pytest.raises(TypeError):
        await store.update("k", lambda old: object())
    assert await store.get("k") == 1
    await store.set("k", 2)  # the connection is usable again (no dangling transaction)
    assert await store.get("k") == 2


async def test_loop_is_not_blocked(db: StateDB) -> None:
    """A ticker on the loop keeps running while storage works (aiosqlite's thread)."""
    store = PluginStore(db, "p")
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    for n in range(50):
        await store.set(f"k{n}", n)
    stop.set()
    await task
    assert ticks > 10


# -- run history ---------------------------------------------------------------------


async def test_record_and_read_runs(db: StateDB) -> None:
    assert await db.last_run("hello.poll") is None
    assert await db.last_scheduled("hello.poll") is None
    t1 = T0 + datetime.timedelta(seconds=1)
    t2 = T0 + datetime.timedelta(seconds=3)
    await db.record_run("hello.poll", T0, t1, t2, "ok")
    later = T0 + datetime.timedelta(minutes=5)
    await db.record_run("hello.poll", later, later, later, "error", "TypeError: bad")
    await db.record_run("hello.poll", None, t2, t2, "ok")  # a manual run
    await db.record_run("other.job", T0, None, None, "missed", "late")

    last = await db.last_run("hello.poll")
    assert last is not None and last.scheduled_time is None and last.outcome == "ok"
    assert await db.last_scheduled("hello.poll") == later
    runs = await db.recent_runs("hello.poll")
    assert [r.outcome for r in runs] == ["ok", "error", "ok"]
    assert runs[1].error == "TypeError: bad"
    assert runs[2].duration == datetime.timedelta(seconds=2)
    assert runs[2].started_at == t1 and runs[2].started_at.tzinfo is not None
    everything = await db.recent_runs(limit=2)
    assert [r.job for r in everything] == ["other.job", "hello.poll"]
    assert everything[0].duration is None


async def test_last_scheduled_compares_times_not_offsets(db: StateDB) -> None:
    """Times in other zones are stored as UTC, so MAX() is the latest instant."""
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    early_local = datetime.datetime(2026, 3, 2, 10, 30, tzinfo=plus_two)  # 08:30 UTC
    await db.record_run("j", T0, None, None, "missed")  # 09:00 UTC
    await db.record_run("j", early_local, None, None, "missed")
    assert await db.last_scheduled("j") == T0


async def test_naive_times_are_refused(db: StateDB) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await db.record_run("j", datetime.datetime(2026, 1, 1), None, None, "ok")


async def test_prune_keeps_newest_per_job(db: StateDB) -> None:
    for n in range(5):
        await db.record_run("a", T0 + datetime.timedelta(minutes=n), None, None, "ok")
    await db.record_run("b", T0, None, None, "ok")
    assert await db.prune_runs(keep=2) == 3
    assert len(await db.recent_runs("a")) == 2
    assert len(await db.recent_runs("b")) == 1
    assert await db.last_scheduled("a") == T0 + datetime.timedelta(minutes=4)


async def test_another_connection_reads_while_open(db: StateDB) -> None:
    """WAL: `botkit status` in another process can read while the daemon holds the db."""
    await db.record_run("j", T0, T0, T0, "ok")
    with sqlite3.connect(db.path, timeout=1) as other:
        assert other.execute("SELECT outcome FROM runs").fetchall() == [("ok",)]
