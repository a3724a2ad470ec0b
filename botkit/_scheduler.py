"""The scheduler: APScheduler 3's AsyncIOScheduler plus what it lacks, in one job wrapper.

APScheduler decides *when* (cron, interval and date triggers, misfire grace, coalescing,
max_instances). botkit's wrapper decides *how* a run goes (style notes 2.1, verified):
- a global `asyncio.Semaphore(max_concurrent_jobs)`: the executor has no limit;
- per-job timeouts with `asyncio.timeout()`: APScheduler 3 has none;
- sync functions in a worker thread (`asyncio.to_thread`), never on the loop;
- every exception is caught, logged and recorded; the daemon goes on;
- in-flight runs are tracked and drained on shutdown, because
  `AsyncIOExecutor.shutdown()` cancels them whatever `wait` says.

The wrapper is a small APScheduler executor, so it gets each run's *scheduled* time
(which a job function never sees) for the run history.

Missed runs: jobs live in MemoryJobStore (nothing pickled, no blocking store I/O). At
start, the latest fire time between the last recorded scheduled time and now is passed
as `next_run_time=`, and APScheduler's misfire grace / coalescing rules decide whether it
still runs (once) or is recorded as missed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime
import inspect
import math
import typing

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from loguru import logger

from botkit._config import SchedulerConfig
from botkit._context import Context
from botkit._duration import format_duration
from botkit._loader import LoadedPlugin
from botkit._plugin import DurationLike, JobSpec, make_job_spec
from botkit._redact import redact
from botkit._storage import StateDB
from botkit.errors import JobError, Unauthorized

__all__ = [
    "ContextFactoryFunc",
    "JobInfo",
    "Outcome",
    "RunResult",
    "Scheduler",
    "latest_fire_time",
]

Outcome = typing.Literal["ok", "error", "timeout", "cancelled", "missed", "skipped"]
ContextFactoryFunc = typing.Callable[
    [LoadedPlugin, JobSpec | None, datetime.datetime | None], Context[typing.Any]
]
SystemJobFunc = typing.Callable[[], typing.Awaitable[None] | None]

_MICROSECOND = datetime.timedelta(microseconds=1)


def latest_fire_time(
    trigger: BaseTrigger, last: datetime.datetime, now: datetime.datetime
) -> datetime.datetime | None:
    """The latest fire time of `trigger` in (last, now], or None if there is none.

    Pass a trigger without jitter. Interval fire times are anchored on `last` (the
    recorded scheduled time), so the daemon keeps its phase across restarts. Cron fire
    times are found by bisection on "first fire at or after t" (monotonic in t), so a
    minutely job after a month down costs ~50 trigger steps, not 40 000.
    """
    if now <= last:
        return None
    if isinstance(trigger, DateTrigger):
        run_date: datetime.datetime = trigger.run_date
        return run_date if last < run_date <= now else None
    if isinstance(trigger, IntervalTrigger):
        interval: datetime.timedelta = trigger.interval
        steps = (now - last) // interval
        return (last + steps * interval).astimezone(trigger.timezone) if steps >= 1 else None

    def first_at_or_after(moment: datetime.datetime) -> datetime.datetime | None:
        fire: datetime.datetime | None = trigger.get_next_fire_time(None, moment)
        return fire

    low = last + _MICROSECOND
    first = first_at_or_after(low)
    if first is None or first > now:
        return None
    # Invariant: first_at_or_after(low + lo_us) <= now; for hi_us it is not (or beyond).
    lo_us, hi_us = 0, (now - low) // _MICROSECOND + 1
    while hi_us - lo_us > 1:
        mid = (lo_us + hi_us) // 2
        fire = first_at_or_after(low + mid * _MICROSECOND)
        if fire is not None and fire <= now:
            lo_us = mid
        else:
            hi_us = mid
    return first_at_or_after(low + lo_us * _MICROSECOND)


@dataclasses.dataclass(frozen=True)
class RunResult:
    """The outcome of one run, as recorded in the history."""

    job: str
    outcome: Outcome
    scheduled_time: datetime.datetime | None
    started_at: datetime.datetime | None
    ended_at: datetime.datetime | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True if the run finished without error."""
        return self.outcome == "ok"


@dataclasses.dataclass(frozen=True)
class JobInfo:
    """One job for listings (`botkit jobs list`, `botkit status`)."""

    name: str
    plugin: str | None
    trigger: str
    next_run: datetime.datetime | None
    last_outcome: str | None
    last_run_at: datetime.datetime | None
    last_error: str | None = None


@dataclasses.dataclass
class _Entry:
    spec: JobSpec
    loaded: LoadedPlugin | None  # None: a system job (no plugin, called without context)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return redact(f"{type(error).__name__}: {text}" if text else type(error).__name__)


def _placeholder() -> None:
    """APScheduler needs a callable; botkit's executor runs the real function instead."""


class _WrapperExecutor(BaseExecutor):  # type: ignore[misc]
    """Hands each due run (with its scheduled time) to the Scheduler's wrapper."""

    def __init__(self, owner: Scheduler) -> None:
        super().__init__()
        self._owner = owner

    def shutdown(self, wait: bool = True) -> None:
        """Nothing to do: the Scheduler drains or cancels its own tasks first."""

    def _do_submit_job(self, job: typing.Any, run_times: list[datetime.datetime]) -> None:
        task = asyncio.get_running_loop().create_task(
            self._owner._fire(job.id, run_times), name=f"botkit job {job.id}"
        )
        self._owner._track(task)
        # Frees the max_instances slot; events are not dispatched (botkit records runs).
        task.add_done_callback(lambda _: self._run_job_success(job.id, []))


class Scheduler:
    """Runs plugin jobs and system jobs; keeps their run history.

    Args:
        config: the `[scheduler]` settings (zone, misfire_grace, max_concurrent_jobs,
            shutdown_timeout).
        db: the open state database.
        context_factory: builds the Context for (plugin, job or None, scheduled time);
            `botkit._context.ContextFactory` is the standard one.
        clock: returns the current aware datetime; injected by tests.
        on_fatal: called with an `Unauthorized` raised by a job or hook (the token was
            revoked): the daemon then stops and exits 3.
    """

    def __init__(
        self,
        config: SchedulerConfig,
        db: StateDB,
        context_factory: ContextFactoryFunc,
        *,
        clock: typing.Callable[[], datetime.datetime] | None = None,
        on_fatal: typing.Callable[[BaseException], None] | None = None,
    ) -> None:
        self.config = config
        self.zone = config.zone
        self._db = db
        self._context_factory = context_factory
        self._clock = clock or (lambda: datetime.datetime.now(datetime.UTC))
        self._on_fatal = on_fatal
        self._semaphore = asyncio.Semaphore(config.max_concurrent_jobs)
        self._entries: dict[str, _Entry] = {}
        self._plugins: list[LoadedPlugin] = []
        self._started_plugins: list[LoadedPlugin] = []
        self._tasks: set[asyncio.Task[typing.Any]] = set()
        self._aps: AsyncIOScheduler | None = None
        self._stopping = False
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=config.max_concurrent_jobs, thread_name_prefix="botkit-job"
        )
        self._threads: dict[str, concurrent.futures.Future[typing.Any]] = {}

    # -- registration ------------------------------------------------------------------

    def _add(self, entry: _Entry) -> None:
        if self._aps is not None:
            raise RuntimeError("add jobs before Scheduler.start()")
        name = entry.spec.name
        if name in self._entries:
            raise ValueError(f"two jobs are named {name}")
        self._entries[name] = entry

    def add_plugin_jobs(self, loaded_plugins: typing.Iterable[LoadedPlugin]) -> None:
        """Take the jobs and hooks of every enabled plugin (disabled ones are skipped)."""
        for loaded in loaded_plugins:
            if not loaded.enabled or loaded.plugin is None:
                continue
            self._plugins.append(loaded)
            for spec in loaded.jobs:  # with [plugins.<name>.schedule] overrides
                self._add(_Entry(spec, loaded))

    def add_system_job(
        self,
        name: str,
        func: SystemJobFunc,
        *,
        cron: str | None = None,
        interval: DurationLike | None = None,
        at: datetime.datetime | str | None = None,
        misfire_grace: DurationLike | None = None,
        coalesce: bool = True,
        max_instances: int = 1,
        jitter: DurationLike | None = None,
        timeout: DurationLike | None = None,
    ) -> JobSpec:
        """Add one of botkit's own jobs (e.g. `botkit.rotation`); `func` takes no arguments.

        A name without a dot is put under `botkit.`. Same options as `@plugin.job`.
        """
        prefix, _, function = name.rpartition(".")
        spec = make_job_spec(
            prefix or "botkit",
            function,
            func,
            cron=cron,
            interval=interval,
            at=at,
            misfire_grace=misfire_grace,
            coalesce=coalesce,
            max_instances=max_instances,
            jitter=jitter,
            timeout=timeout,
        )
        self._add(_Entry(spec, None))
        return spec

    @property
    def job_names(self) -> list[str]:
        """All job names, in the order they were added."""
        return list(self._entries)

    def spec(self, name: str) -> JobSpec:
        """The JobSpec of a job; JobError naming the known jobs if there is none."""
        entry = self._entries.get(name)
        if entry is None:
            known = ", ".join(sorted(self._entries)) or "none"
            raise JobError(f"no job named {name!r}", hint=f"known jobs: {known}")
        return entry.spec

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether start() ran and shutdown has not begun."""
        return self._aps is not None and not self._stopping

    async def start(self) -> None:
        """Run on_start hooks, then schedule every job; call inside the running loop.

        A plugin whose on_start hook fails is disabled (its jobs are not scheduled).
        """
        if self._aps is not None:
            raise RuntimeError("the scheduler is already started")
        await self._run_start_hooks()
        grace = max(1, math.ceil(self.config.misfire_grace.total_seconds()))
        aps = AsyncIOScheduler(
            timezone=self.zone,
            executors={"default": _WrapperExecutor(self)},
            # Inside job_defaults, not on the constructor (APScheduler issue #146).
            job_defaults={"misfire_grace_time": grace, "coalesce": True, "max_instances": 1},
        )
        now = self._clock()
        for name, entry in self._entries.items():
            loaded = entry.loaded
            if loaded is not None and not loaded.enabled:
                continue
            spec = entry.spec
            options: dict[str, typing.Any] = {}
            last = await self._db.last_scheduled(name)
            if last is not None:
                exact = spec.make_trigger(self.zone, jitter=False)
                next_time = latest_fire_time(exact, last, now) or exact.get_next_fire_time(
                    last, now
                )
                if next_time is None:
                    logger.bind(job=name).debug("job {} has no more fire times", name)
                    continue
                options["next_run_time"] = next_time
            aps.add_job(
                _placeholder,
                trigger=spec.make_trigger(self.zone),
                id=name,
                name=name,
                # Informational only: botkit's executor applies the grace itself (_fire),
                # with sub-second precision; APScheduler wants a positive int here.
                misfire_grace_time=max(1, math.ceil(self._grace(spec).total_seconds())),
                coalesce=spec.coalesce,
                max_instances=spec.max_instances,
                **options,
            )
        aps.add_listener(self._on_max_instances, EVENT_JOB_MAX_INSTANCES)
        aps.start()
        self._aps = aps
        logger.info("scheduler started with {} job(s), zone {}", len(aps.get_jobs()), self.zone)

    # `timeout` bounds the drain only (hooks and cleanup follow), so it is a parameter.
    async def shutdown(self, timeout: float | datetime.timedelta | None = None) -> None:  # noqa: ASYNC109
        """Stop: no new runs, drain running ones up to `timeout`, cancel the rest, on_stop.

        Runs still going after the timeout are cancelled and recorded "cancelled" (a sync
        job's thread cannot be killed; it finishes in the background, unrecorded).
        """
        await self._stop(timeout, hooks=True)

    async def stop_now(self) -> None:
        """Cancel every running job at once (recorded "cancelled"); no on_stop hooks."""
        await self._stop(0, hooks=False)

    def cancel_running(self) -> None:
        """Cancel every running job now (a second SIGTERM); they record "cancelled"."""
        for task in list(self._tasks):
            task.cancel()

    async def _stop(self, drain: float | datetime.timedelta | None, *, hooks: bool) -> None:
        if self._stopping:
            return
        self._stopping = True
        if drain is None:
            drain = self.config.shutdown_timeout
        seconds = drain.total_seconds() if isinstance(drain, datetime.timedelta) else drain
        aps = self._aps
        if aps is not None and aps.running:
            aps.pause()  # no new submissions while draining
        pending = {task for task in self._tasks if not task.done()}
        if pending:
            logger.info("waiting up to {}s for {} running job(s)", seconds, len(pending))
            _, pending = await asyncio.wait(pending, timeout=seconds)
            for task in pending:
                task.cancel()
            # The cancelled wrappers record their "cancelled" outcome before they end.
            await asyncio.gather(*pending, return_exceptions=True)
        if hooks:
            await self._run_stop_hooks()
        if aps is not None and aps.running:
            aps.shutdown(wait=False)
            await asyncio.sleep(0)  # the real shutdown is scheduled on the loop
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- listings ----------------------------------------------------------------------

    async def jobs(self) -> list[JobInfo]:
        """Every job with its trigger, next run and last outcome (works before start)."""
        now = self._clock()
        infos = []
        for name, entry in self._entries.items():
            next_run: datetime.datetime | None = None
            job = self._aps.get_job(name) if self._aps is not None else None
            if job is not None:
                next_run = job.next_run_time
            elif self._aps is None:
                next_run = entry.spec.make_trigger(self.zone, jitter=False).get_next_fire_time(
                    None, now
                )
            last = await self._db.last_run(name)
            infos.append(
                JobInfo(
                    name=name,
                    plugin=entry.loaded.name if entry.loaded is not None else None,
                    trigger=entry.spec.describe(),
                    next_run=next_run,
                    last_outcome=last.outcome if last else None,
                    last_run_at=(last.started_at or last.scheduled_time) if last else None,
                    last_error=last.error if last else None,
                )
            )
        return infos

    # -- running -----------------------------------------------------------------------

    async def run_now(
        self,
        name: str,
        *,
        check: bool = True,
        scheduled_time: datetime.datetime | None = None,
    ) -> RunResult:
        """Run a job once, now, in this process (`botkit jobs run NAME`).

        `scheduled_time` is what the job sees as `ctx.scheduled_time` (tests of jobs that
        depend on their due time pass one; a manual run has none).

        Raises:
            JobError: no such job, or (with `check`) the run did not end "ok".
        """
        entry = self._entries.get(name)
        if entry is None:
            self.spec(name)  # raises JobError with the known names
            raise AssertionError("unreachable")
        task = asyncio.get_running_loop().create_task(self._execute(entry, scheduled_time))
        self._track(task)
        result = await task
        if check and not result.ok:
            detail = f": {result.error}" if result.error else ""
            raise JobError(f"job {name} {result.outcome}{detail}")
        return result

    def _track(self, task: asyncio.Task[typing.Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fire(self, name: str, run_times: list[datetime.datetime]) -> None:
        """Run the due times APScheduler handed over (one, unless coalesce is off)."""
        entry = self._entries[name]
        grace = self._grace(entry.spec)
        for run_time in run_times:
            late = self._clock() - run_time
            # The same check as APScheduler's run_coroutine_job, which this replaces.
            if late > grace:
                logger.bind(plugin=entry.spec.plugin, job=name).warning(
                    "job {} missed its {} run by {} (grace {})",
                    name,
                    run_time.isoformat(),
                    format_duration(late),
                    format_duration(grace),
                )
                await self._record(
                    RunResult(name, "missed", run_time, None, None, f"late by {late}")
                )
                continue
            await self._execute(entry, run_time)

    def _grace(self, spec: JobSpec) -> datetime.timedelta:
        return spec.misfire_grace if spec.misfire_grace is not None else self.config.misfire_grace

    def _on_max_instances(self, event: JobSubmissionEvent) -> None:
        """APScheduler skipped a run because the previous one is still going."""
        name = event.job_id
        logger.bind(job=name).warning("job {} skipped: its previous run is still going", name)
        for run_time in event.scheduled_run_times:
            task = asyncio.get_running_loop().create_task(
                self._record(
                    RunResult(name, "skipped", run_time, None, None, "previous run still going")
                )
            )
            self._track(task)

    async def _execute(self, entry: _Entry, scheduled: datetime.datetime | None) -> RunResult:
        """The job wrapper: limit, context, timeout, thread for sync, catch, record."""
        spec = entry.spec
        log = logger.bind(plugin=spec.plugin, job=spec.name)
        started: datetime.datetime | None = None
        try:
            async with self._semaphore:
                if self._stopping:
                    result = RunResult(
                        spec.name, "cancelled", scheduled, None, None, "shutting down"
                    )
                else:
                    started = self._clock()
                    outcome, error = await self._invoke(entry, scheduled)
                    result = RunResult(spec.name, outcome, scheduled, started, self._clock(), error)
        except asyncio.CancelledError:
            result = RunResult(
                spec.name, "cancelled", scheduled, started, self._clock(), "cancelled at shutdown"
            )
            log.warning("job {} cancelled", spec.name)
            await self._record(result)
            raise
        took = (
            f" in {(result.ended_at - started).total_seconds():.2f}s"
            if (started and result.ended_at)
            else ""
        )
        if result.outcome == "ok":
            log.info("job {} ok{}", spec.name, took)
        elif result.outcome != "cancelled":
            log.error("job {} {}{}: {}", spec.name, result.outcome, took, result.error)
        await self._record(result)
        return result

    async def _invoke(
        self, entry: _Entry, scheduled: datetime.datetime | None
    ) -> tuple[Outcome, str | None]:
        """Call the function once under its timeout; map every failure to an outcome."""
        spec = entry.spec
        seconds = spec.timeout.total_seconds() if spec.timeout else None
        try:
            async with asyncio.timeout(seconds) as deadline:
                args: tuple[typing.Any, ...] = ()
                if entry.loaded is not None:
                    args = (self._context_factory(entry.loaded, spec, scheduled),)
                if not spec.is_async:
                    previous = self._threads.get(spec.name)
                    if previous is not None and not previous.done():
                        # A thread cannot be cancelled: a timed-out sync run may still be
                        # going. Starting another would pile threads up until none is left.
                        return "skipped", "its previous run is still running in its thread"
                await self._call(spec.func, args, job=spec.name)
        except TimeoutError as error:
            if deadline.expired():
                assert spec.timeout is not None
                return "timeout", f"timed out after {format_duration(spec.timeout)}"
            return "error", _one_line(error)
        except (Exception, SystemExit) as error:
            self._maybe_fatal(error)
            logger.bind(plugin=spec.plugin, job=spec.name).opt(exception=error).debug(
                "job {} raised", spec.name
            )
            return "error", _one_line(error)
        return "ok", None

    async def _call(
        self,
        func: typing.Callable[..., typing.Any],
        args: tuple[typing.Any, ...],
        *,
        job: str | None = None,
    ) -> None:
        """Await a coroutine function; run anything else in the jobs' own thread pool.

        Not the loop's default executor: a sync job that hangs past its timeout keeps its
        thread, and must not starve the audit log and status writes that use that one.
        """
        if inspect.iscoroutinefunction(func):
            await func(*args)
            return
        future = self._pool.submit(func, *args)
        if job is not None:
            self._threads[job] = future
        result = await asyncio.wrap_future(future)
        if inspect.isawaitable(result):  # e.g. a wrapped coroutine function
            await result

    def _maybe_fatal(self, error: BaseException) -> None:
        if isinstance(error, Unauthorized) and self._on_fatal is not None:
            try:
                self._on_fatal(error)
            except Exception as callback_error:
                logger.error("on_fatal callback failed: {}", _one_line(callback_error))

    async def _record(self, result: RunResult) -> None:
        try:
            await self._db.record_run(
                result.job,
                result.scheduled_time,
                result.started_at,
                result.ended_at,
                result.outcome,
                result.error,
            )
        except Exception as error:
            # History is bookkeeping: failing to write it must not stop the daemon.
            logger.error("could not record the run of {}: {}", result.job, _one_line(error))

    # -- hooks -------------------------------------------------------------------------

    async def _run_hook(
        self, loaded: LoadedPlugin, func: typing.Callable[..., typing.Any], kind: str
    ) -> str | None:
        """Run one hook under the shutdown timeout; the error text, or None if it worked."""
        seconds = self.config.shutdown_timeout.total_seconds()
        try:
            async with asyncio.timeout(seconds):
                await self._call(func, (self._context_factory(loaded, None, None),))
        except TimeoutError:
            return f"{kind} {getattr(func, '__name__', 'hook')} timed out after {seconds:g}s"
        except (Exception, SystemExit) as error:
            self._maybe_fatal(error)
            return f"{kind} {getattr(func, '__name__', 'hook')} failed: {_one_line(error)}"
        return None

    async def _run_start_hooks(self) -> None:
        for loaded in self._plugins:
            assert loaded.plugin is not None
            problem = None
            for hook in loaded.plugin.start_hooks:
                problem = await self._run_hook(loaded, hook, "on_start")
                if problem is not None:
                    loaded.disable(problem)
                    break
            if problem is None:
                self._started_plugins.append(loaded)

    async def _run_stop_hooks(self) -> None:
        for loaded in reversed(self._started_plugins):
            assert loaded.plugin is not None
            for hook in loaded.plugin.stop_hooks:
                problem = await self._run_hook(loaded, hook, "on_stop")
                if problem is not None:
                    logger.bind(plugin=loaded.name).error("plugin {}: {}", loaded.name, problem)
        self._started_plugins.clear()
