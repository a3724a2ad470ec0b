"""The scheduler's job wrapper, missed-run computation, history and shutdown draining.

The wrapper is tested directly through `run_now`; APScheduler itself is driven only
where unavoidable (missed run at start, a 0.05 s interval a few times), bounded by
`asyncio.wait_for`, never by sleeping through schedule time.
"""

from __future__ import annotations

import asyncio
import datetime
import pathlib
import threading
import typing
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loguru import logger

from botkit._config import SchedulerConfig
from botkit._context import Audit, Chat, Context, Rest
from botkit._loader import LoadedPlugin
from botkit._plugin import JobSpec, Plugin
from botkit._scheduler import Scheduler, latest_fire_time
from botkit._storage import PluginStore, StateDB
from botkit.errors import JobError, Unauthorized

UTC = zoneinfo.ZoneInfo("UTC")
T0 = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
async def db(tmp_path: pathlib.Path) -> typing.AsyncIterator[StateDB]:
    async with StateDB(tmp_path / "state.db") as database:
        yield database


def make_context_factory(db: StateDB) -> typing.Callable[..., Context[typing.Any]]:
    def factory(
        loaded: LoadedPlugin, spec: JobSpec | None, scheduled: datetime.datetime | None
    ) -> Context[typing.Any]:
        job = spec.name if spec else None
        return Context(
            plugin=loaded.name,
            settings=loaded.settings,
            rest=typing.cast(Rest, None),
            chat=typing.cast(Chat, None),
            store=PluginStore(db, loaded.name),
            log=logger.bind(plugin=loaded.name, job=job),
            audit=typing.cast(Audit, None),
            job=job,
            scheduled_time=scheduled,
        )

    return factory


def make_scheduler(
    db: StateDB,
    *plugins: Plugin,
    on_fatal: typing.Callable[[BaseException], None] | None = None,
    **config: typing.Any,
) -> Scheduler:
    scheduler = Scheduler(
        SchedulerConfig(**config), db, make_context_factory(db), on_fatal=on_fatal
    )
    scheduler.add_plugin_jobs(LoadedPlugin(p.name, p, "test") for p in plugins)
    return scheduler


# -- the wrapper, through run_now ----------------------------------------------------


async def test_run_now_ok_is_recorded(db: StateDB) -> None:
    plugin = Plugin("hello")
    seen: list[Context[typing.Any]] = []

    @plugin.job(interval="5m")
    async def poll(ctx: Context[typing.Any]) -> None:
        seen.append(ctx)
        await ctx.store.set("polls", 1)

    scheduler = make_scheduler(db, plugin)
    result = await scheduler.run_now("hello.poll")
    assert result.ok and result.outcome == "ok" and result.error is None
    assert result.scheduled_time is None and result.started_at and result.ended_at
    assert seen[0].job == "hello.poll" and seen[0].plugin == "hello"
    assert await PluginStore(db, "hello").get("polls") == 1
    last = await db.last_run("hello.poll")
    assert last is not None and last.outcome == "ok" and last.scheduled_time is None


async def test_sync_job_runs_in_a_thread(db: StateDB) -> None:
    plugin = Plugin("p")
    threads: list[int] = []

    @plugin.job(interval="5m")
    def blocking(ctx: Context[typing.Any]) -> None:
        threads.append(threading.get_ident())

    await make_scheduler(db, plugin).run_now("p.blocking")
    assert threads and threads[0] != threading.get_ident()


async def test_a_hung_sync_job_is_skipped_and_starves_nothing(db: StateDB) -> None:
    """A sync run that outlives its timeout keeps its thread: the next run is skipped, and
    the loop's default executor (audit log, status writes) stays free."""
    plugin = Plugin("p")
    release = threading.Event()

    @plugin.job(interval="5m", timeout="0.05s")
    def stuck(ctx: Context[typing.Any]) -> None:
        release.wait(10)

    scheduler = make_scheduler(db, plugin, max_concurrent_jobs=2)
    try:
        first = await scheduler.run_now("p.stuck", check=False)
        assert first.outcome == "timeout"
        second = await scheduler.run_now("p.stuck", check=False)
        assert second.outcome == "skipped"
        assert second.error == "its previous run is still running in its thread"
        assert await asyncio.wait_for(asyncio.to_thread(lambda: "free"), 2) == "free"
    finally:
        release.set()
    for _ in range(200):  # the released thread ends within moments (bounded wait)
        third = await scheduler.run_now("p.stuck", check=False)
        if third.outcome != "skipped":
            break
        await asyncio.sleep(0.01)
    assert third.outcome == "ok"


async def test_error_is_caught_recorded_and_raised_as_job_error(db: StateDB) -> None:
    plugin = Plugin("p")

    @plugin.job(interval="5m")
    async def bad(ctx: Context[typing.Any]) -> None:
        raise ValueError("no\nroom")

    scheduler = make_scheduler(db, plugin)
    with pytest.raises(JobError, match=r"job p\.bad error: ValueError: no room"):
        await scheduler.run_now("p.bad")
    result = await scheduler.run_now("p.bad", check=False)
    assert (result.outcome, result.error) == ("error", "ValueError: no room")
    assert [r.outcome for r in await db.recent_runs("p.bad")] == ["error", "error"]


async def test_timeout(db: StateDB) -> None:
    plugin = Plugin("p")

    @plugin.job(interval="5m", timeout="0.05s")
    async def slow(ctx: Context[typing.Any]) -> None:
        await asyncio.Event().wait()

    @plugin.job(interval="5m", timeout="10s")
    async def own_timeout(ctx: Context[typing.Any]) -> None:
        raise TimeoutError("upstream")

    scheduler = make_scheduler(db, plugin)
    result = await scheduler.run_now("p.slow", check=False)
    assert (result.outcome, result.error) == ("timeout", "timed out after 0.05s")
    # A TimeoutError the job raises itself is an error, not botkit's timeout.
    result = await scheduler.run_now("p.own_timeout", check=False)
    assert (result.outcome, result.error) == ("error", "TimeoutError: upstream")
    assert (await db.recent_runs("p.slow"))[0].outcome == "timeout"


async def test_global_concurrency_limit(db: StateDB) -> None:
    plugin = Plugin("p")
    release = asyncio.Event()
    running = 0
    peak = 0

    for n in range(4):

        async def gated(ctx: Context[typing.Any]) -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await release.wait()
            running -= 1

        plugin.job(interval="5m", name=f"gated{n}")(gated)

    scheduler = make_scheduler(db, plugin, max_concurrent_jobs=2)
    tasks = [asyncio.create_task(scheduler.run_now(f"p.gated{n}")) for n in range(4)]
    for _ in range(20):
        await asyncio.sleep(0)
    assert running == 2  # two wait for the semaphore
    release.set()
    results = await asyncio.gather(*tasks)
    assert all(r.ok for r in results) and peak == 2


async def test_unauthorized_reaches_on_fatal(db: StateDB) -> None:
    plugin = Plugin("p")
    error = Unauthorized("token rejected", status=401, endpoint="me")

    @plugin.job(interval="5m")
    async def revoked(ctx: Context[typing.Any]) -> None:
        raise error

    fatal: list[BaseException] = []
    scheduler = make_scheduler(db, plugin, on_fatal=fatal.append)
    result = await scheduler.run_now("p.revoked", check=False)
    assert result.outcome == "error" and fatal == [error]


async def test_unknown_job(db: StateDB) -> None:
    plugin = Plugin("p")
    plugin.job(interval="5m", name="known")(lambda ctx: None)
    with pytest.raises(JobError, match=r"no job named 'p\.nope'") as info:
        await make_scheduler(db, plugin).run_now("p.nope")
    assert info.value.hint == "known jobs: p.known"


async def test_disabled_plugins_are_not_taken(db: StateDB) -> None:
    plugin = Plugin("p")
    plugin.job(interval="5m", name="tick")(lambda ctx: None)
    scheduler = Scheduler(SchedulerConfig(), db, make_context_factory(db))
    scheduler.add_plugin_jobs([LoadedPlugin("p", plugin, "t", enabled=False, reason="x")])
    assert scheduler.job_names == []


async def test_system_job_gets_no_context(db: StateDB) -> None:
    calls: list[str] = []

    async def rotation_check() -> None:
        calls.append("ran")

    scheduler = make_scheduler(db)
    spec = scheduler.add_system_job("rotation_check", rotation_check, interval="1h")
    assert spec.name == "botkit.rotation_check"
    assert (await scheduler.run_now("botkit.rotation_check")).ok and calls == ["ran"]
    with pytest.raises(ValueError, match="two jobs"):
        scheduler.add_system_job("botkit.rotation_check", rotation_check, interval="1h")


async def test_jobs_listing_before_start(db: StateDB) -> None:
    plugin = Plugin("p")
    plugin.job(cron="0 9 * * 1-5", name="morning")(lambda ctx: None)
    now = datetime.datetime(2026, 3, 7, 12, tzinfo=UTC)  # a Saturday
    scheduler = Scheduler(SchedulerConfig(), db, make_context_factory(db), clock=lambda: now)
    scheduler.add_plugin_jobs([LoadedPlugin("p", plugin, "t")])
    await db.record_run("p.morning", T0, T0, T0, "error", "ValueError: x")
    (info,) = await scheduler.jobs()
    assert info.name == "p.morning" and info.plugin == "p"
    assert info.trigger == "cron 0 9 * * 1-5"
    assert info.next_run == datetime.datetime(2026, 3, 9, 9, tzinfo=UTC)  # Monday
    assert (info.last_outcome, info.last_run_at, info.last_error) == ("error", T0, "ValueError: x")


# -- missed-run computation (pure) ---------------------------------------------------


def _spec(**trigger: typing.Any) -> JobSpec:
    plugin = Plugin("p")
    plugin.job(name="j", **trigger)(lambda ctx: None)
    return plugin.jobs[0]


def test_latest_fire_time_examples() -> None:
    every5 = _spec(cron="*/5 * * * *").make_trigger(UTC, jitter=False)
    last = T0
    assert latest_fire_time(every5, last, T0 + datetime.timedelta(minutes=12, seconds=3)) == (
        T0 + datetime.timedelta(minutes=10)
    )
    assert latest_fire_time(every5, last, T0 + datetime.timedelta(minutes=4)) is None
    assert latest_fire_time(every5, last, last) is None
    weekdays = _spec(cron="0 9 * * 1-5").make_trigger(UTC, jitter=False)
    friday = datetime.datetime(2026, 3, 6, 9, tzinfo=UTC)
    sunday = datetime.datetime(2026, 3, 8, 23, tzinfo=UTC)
    assert latest_fire_time(weekdays, T0, sunday) == friday
    hourly = _spec(interval="1h").make_trigger(UTC, jitter=False)
    assert latest_fire_time(hourly, T0, T0 + datetime.timedelta(hours=5, minutes=59)) == (
        T0 + datetime.timedelta(hours=5)
    )
    assert latest_fire_time(hourly, T0, T0 + datetime.timedelta(minutes=59)) is None
    at = _spec(at=T0).make_trigger(UTC, jitter=False)
    assert latest_fire_time(at, T0 - datetime.timedelta(days=1), T0) == T0
    assert latest_fire_time(at, T0, T0 + datetime.timedelta(days=1)) is None


def test_latest_fire_time_after_a_long_outage_is_fast() -> None:
    minutely = _spec(cron="* * * * *").make_trigger(UTC, jitter=False)
    now = T0 + datetime.timedelta(days=400, seconds=30)
    assert latest_fire_time(minutely, T0, now) == now.replace(second=0)


_CRONS = [
    "*/5 * * * *",
    "0 9 * * 1-5",
    "30 2 1 * *",
    "0 0 29 2 *",
    "15,45 */3 * * 0,6",
    "7 7 * 6 *",
]


@settings(max_examples=60, deadline=None)
@given(
    cron=st.sampled_from(_CRONS),
    last_offset=st.integers(min_value=0, max_value=3 * 365 * 86400),
    gap=st.integers(min_value=0, max_value=800 * 86400),
    micros=st.integers(min_value=0, max_value=999_999),
)
def test_latest_fire_time_property_cron(cron: str, last_offset: int, gap: int, micros: int) -> None:
    trigger = _spec(cron=cron).make_trigger(UTC, jitter=False)
    last = T0 + datetime.timedelta(seconds=last_offset, microseconds=micros)
    now = last + datetime.timedelta(seconds=gap)
    tick = datetime.timedelta(microseconds=1)
    fire = latest_fire_time(trigger, last, now)
    if fire is None:
        first = trigger.get_next_fire_time(None, last + tick)
        assert first is None or first > now
        return
    assert last < fire <= now
    assert trigger.get_next_fire_time(None, fire) == fire  # a real fire time
    later = trigger.get_next_fire_time(None, fire + tick)
    assert later is None or later > now  # and the latest one


@given(
    seconds=st.integers(min_value=1, max_value=7 * 86400),
    gap=st.integers(min_value=0, max_value=365 * 86400),
)
def test_latest_fire_time_property_interval(seconds: int, gap: int) -> None:
    trigger = _spec(interval=seconds).make_trigger(UTC, jitter=False)
    now = T0 + datetime.timedelta(seconds=gap)
    fire = latest_fire_time(trigger, T0, now)
    interval = datetime.timedelta(seconds=seconds)
    if fire is None:
        assert now < T0 + interval
    else:
        assert T0 < fire <= now < fire + interval
        assert (fire - T0) % interval == datetime.timedelta(0)


# -- APScheduler wiring (bounded, short) ---------------------------------------------


async def wait_for_runs(db: StateDB, job: str, count: int) -> list[typing.Any]:
    """Poll the history (bounded: 5 s) until `count` runs are recorded."""
    for _ in range(500):
        runs = await db.recent_runs(job)
        if len(runs) >= count:
            return runs
        await asyncio.sleep(0.01)
    raise AssertionError(f"{job}: fewer than {count} runs recorded")


async def test_missed_run_within_grace_runs_once_at_start(db: StateDB) -> None:
    plugin = Plugin("p")
    scheduled: list[datetime.datetime | None] = []

    @plugin.job(cron="0 0 1 1 *", misfire_grace="400d")  # yearly: missed while "down"
    async def yearly(ctx: Context[typing.Any]) -> None:
        scheduled.append(ctx.scheduled_time)

    now = datetime.datetime.now(UTC)
    two_years_ago = now.replace(year=now.year - 2, month=6, day=1)
    await db.record_run("p.yearly", two_years_ago, two_years_ago, two_years_ago, "ok")
    scheduler = make_scheduler(db, plugin)
    await scheduler.start()
    try:
        runs = await wait_for_runs(db, "p.yearly", 2)
    finally:
        await scheduler.shutdown(1)
    expected = datetime.datetime(now.year, 1, 1, tzinfo=UTC)
    assert scheduled == [expected]  # once, for the latest missed slot only (coalesced)
    assert runs[0].outcome == "ok" and runs[0].scheduled_time == expected
    (info,) = await scheduler.jobs()
    assert info.last_outcome == "ok"


async def test_missed_run_beyond_grace_is_recorded_missed(db: StateDB) -> None:
    plugin = Plugin("p")
    ran: list[int] = []

    @plugin.job(cron="0 0 1 1 *", misfire_grace="1s")
    async def yearly(ctx: Context[typing.Any]) -> None:
        ran.append(1)

    now = datetime.datetime.now(UTC)
    long_ago = now.replace(year=now.year - 2, month=6, day=1)
    await db.record_run("p.yearly", long_ago, long_ago, long_ago, "ok")
    scheduler = make_scheduler(db, plugin)
    await scheduler.start()
    try:
        runs = await wait_for_runs(db, "p.yearly", 2)
    finally:
        await scheduler.shutdown(1)
    assert runs[0].outcome == "missed" and ran == []
    assert runs[0].scheduled_time == datetime.datetime(now.year, 1, 1, tzinfo=UTC)
    # Next start: the missed slot is history; nothing runs again.
    assert await db.last_scheduled("p.yearly") == runs[0].scheduled_time


async def test_finished_one_time_job_is_not_rescheduled(db: StateDB) -> None:
    plugin = Plugin("p")
    at = datetime.datetime.now(UTC) - datetime.timedelta(hours=1)
    plugin.job(at=at, name="once")(lambda ctx: None)
    await db.record_run("p.once", at, at, at, "ok")
    scheduler = make_scheduler(db, plugin)
    await scheduler.start()
    try:
        (info,) = await scheduler.jobs()
        assert info.next_run is None
    finally:
        await scheduler.shutdown(1)
    assert len(await db.recent_runs("p.once")) == 1


async def test_interval_keeps_its_phase_across_restarts(db: StateDB) -> None:
    plugin = Plugin("p")
    plugin.job(interval="1h", name="hourly")(lambda ctx: None)
    last = datetime.datetime.now(UTC) - datetime.timedelta(minutes=10)
    await db.record_run("p.hourly", last, last, last, "ok")
    scheduler = make_scheduler(db, plugin)
    await scheduler.start()
    try:
        (info,) = await scheduler.jobs()
    finally:
        await scheduler.shutdown(1)
    assert info.next_run == last + datetime.timedelta(hours=1)


async def test_short_interval_runs_with_scheduled_times(db: StateDB) -> None:
    plugin = Plugin("p")
    times: list[datetime.datetime | None] = []

    @plugin.job(interval="0.05s")
    async def fast(ctx: Context[typing.Any]) -> None:
        times.append(ctx.scheduled_time)

    scheduler = make_scheduler(db, plugin)
    await scheduler.start()
    try:
        runs = await wait_for_runs(db, "p.fast", 3)
    finally:
        await scheduler.shutdown(1)
    assert all(r.outcome == "ok" and r.scheduled_time is not None for r in runs)
    assert times[:3] == sorted(times[:3])  # type: ignore[type-var]
    assert all(t is not None for t in times)


# -- hooks and shutdown --------------------------------------------------------------


async def test_hooks_and_failing_on_start_disables_plugin(db: StateDB) -> None:
    good, bad = Plugin("good"), Plugin("bad")
    events: list[str] = []

    @good.on_start
    async def good_start(ctx: Context[typing.Any]) -> None:
        assert ctx.job is None
        events.append("good start")

    @good.on_stop
    def good_stop(ctx: Context[typing.Any]) -> None:
        events.append("good stop")

    @bad.on_start
    async def bad_start(ctx: Context[typing.Any]) -> None:
        raise RuntimeError("cannot")

    @bad.on_stop
    async def bad_stop(ctx: Context[typing.Any]) -> None:
        events.append("bad stop")

    good.job(interval="1h", name="tick")(lambda ctx: None)
    bad.job(interval="1h", name="tick")(lambda ctx: None)
    loaded = [LoadedPlugin("good", good, "t"), LoadedPlugin("bad", bad, "t")]
    scheduler = Scheduler(SchedulerConfig(), db, make_context_factory(db))
    scheduler.add_plugin_jobs(loaded)
    await scheduler.start()
    infos = {info.name: info for info in await scheduler.jobs()}
    await scheduler.shutdown(1)
    assert events == ["good start", "good stop"]
    assert not loaded[1].enabled
    assert loaded[1].reason == "on_start bad_start failed: RuntimeError: cannot"
    assert infos["good.tick"].next_run is not None and infos["bad.tick"].next_run is None


async def test_shutdown_drains_a_running_job(db: StateDB) -> None:
    plugin = Plugin("p")
    started, release = asyncio.Event(), asyncio.Event()

    @plugin.job(interval="1h")
    async def slow(ctx: Context[typing.Any]) -> None:
        started.set()
        await release.wait()

    scheduler = make_scheduler(db, plugin)
    await scheduler.start()
    run = asyncio.create_task(scheduler.run_now("p.slow"))
    await started.wait()
    stopping = asyncio.create_task(scheduler.shutdown(5))
    await asyncio.sleep(0)
    assert not stopping.done()  # it waits for the job
    release.set()
    await asyncio.wait_for(stopping, timeout=5)
    assert (await run).ok
    assert [r.outcome for r in await db.recent_runs("p.slow")] == ["ok"]


async def test_shutdown_cancels_after_timeout_and_refuses_queued_runs(db: StateDB) -> None:
    plugin = Plugin("p")
    started = asyncio.Event()

    @plugin.job(interval="1h")
    async def stuck(ctx: Context[typing.Any]) -> None:
        started.set()
        await asyncio.Event().wait()

    @plugin.job(interval="1h")
    async def queued(ctx: Context[typing.Any]) -> None:
        raise AssertionError("must not start once shutdown began")

    scheduler = make_scheduler(db, plugin, max_concurrent_jobs=1)
    await scheduler.start()
    first = asyncio.create_task(scheduler.run_now("p.stuck"))
    await started.wait()
    second = asyncio.create_task(scheduler.run_now("p.queued", check=False))
    await asyncio.sleep(0)
    await asyncio.wait_for(scheduler.shutdown(0.05), timeout=5)
    with pytest.raises(asyncio.CancelledError):
        await first
    (stuck_run,) = await db.recent_runs("p.stuck")
    assert stuck_run.outcome == "cancelled" and stuck_run.started_at is not None
    assert stuck_run.ended_at is not None
    queued_outcome = await second if not second.cancelled() else None
    (queued_run,) = await db.recent_runs("p.queued")
    assert queued_run.outcome == "cancelled" and queued_run.started_at is None
    assert queued_outcome is None or queued_outcome.outcome == "cancelled"
    assert not scheduler.running


async def test_stop_now_cancels_at_once_without_hooks(db: StateDB) -> None:
    plugin = Plugin("p")
    started = asyncio.Event()
    stopped: list[str] = []

    @plugin.job(interval="1h")
    async def stuck(ctx: Context[typing.Any]) -> None:
        started.set()
        await asyncio.Event().wait()

    @plugin.on_stop
    async def bye(ctx: Context[typing.Any]) -> None:
        stopped.append("bye")

    scheduler = make_scheduler(db, plugin)
    await scheduler.start()
    run = asyncio.create_task(scheduler.run_now("p.stuck"))
    await started.wait()
    await asyncio.wait_for(scheduler.stop_now(), timeout=5)
    assert run.cancelled() or run.done()
    assert (await db.last_run("p.stuck")).outcome == "cancelled"  # type: ignore[union-attr]
    assert stopped == []
    await scheduler.shutdown()  # a second stop is a no-op


async def test_overlapping_run_is_skipped_and_recorded(db: StateDB) -> None:
    plugin = Plugin("p")
    release = asyncio.Event()

    @plugin.job(interval="0.05s", max_instances=1)
    async def long(ctx: Context[typing.Any]) -> None:
        await release.wait()

    scheduler = make_scheduler(db, plugin)
    await scheduler.start()
    try:
        runs = await wait_for_runs(db, "p.long", 1)
    finally:
        release.set()
        await scheduler.shutdown(1)
    assert runs[0].outcome == "skipped" and runs[0].error == "previous run still going"
    assert runs[0].scheduled_time is not None


async def test_context_factory_failure_is_a_recorded_error(db: StateDB) -> None:
    plugin = Plugin("p")
    plugin.job(interval="1h", name="tick")(lambda ctx: None)

    def broken_factory(*args: typing.Any) -> Context[typing.Any]:
        raise KeyError("no session")

    scheduler = Scheduler(SchedulerConfig(), db, broken_factory)
    scheduler.add_plugin_jobs([LoadedPlugin("p", plugin, "t")])
    result = await scheduler.run_now("p.tick", check=False)
    assert (result.outcome, result.error) == ("error", "KeyError: 'no session'")
