"""The plugin API (design section 7): `Plugin`, its `@plugin.job` decorator and hooks.

A plugin module defines `plugin = Plugin("hello", settings=Settings)` and decorates its
functions. Decorating only records a `JobSpec`; nothing is scheduled until the daemon's
`Scheduler` takes the plugin. Every option is checked when the decorator runs, so a bad
cron text or duration fails the plugin's import with a message naming plugin and job.

Cron day-of-week numbers: APScheduler 3's `CronTrigger.from_crontab` reads 0 as Monday
(its issue #286), while standard crontab reads 0 (and 7) as Sunday. botkit follows the
standard: numeric day-of-week items are rewritten to day names before APScheduler sees
them, so `0 9 * * 1-5` means Monday to Friday, as it does in crontab(5).
"""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import re
import typing
import zoneinfo

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import BaseModel, ValidationError

from botkit._duration import format_duration, parse_duration
from botkit.errors import PluginError

if typing.TYPE_CHECKING:
    from botkit._context import Context

__all__ = [
    "HookFunc",
    "JobFunc",
    "JobSpec",
    "Plugin",
    "SettingsInvalid",
    "TriggerKind",
    "describe_settings_error",
    "make_job_spec",
    "standard_crontab",
]

JobFunc = typing.Callable[["Context[typing.Any]"], typing.Awaitable[None] | None]
HookFunc = JobFunc
TriggerKind = typing.Literal["cron", "interval", "date"]
DurationLike = str | int | float | datetime.timedelta
F = typing.TypeVar("F", bound=typing.Callable[..., typing.Any])

# Plugin and function names become job names `<plugin>.<function>`: no dots, no spaces.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_NUMERIC = re.compile(r"^(\*|\d+(?:-\d+)?)(?:/(\d+))?$")


def standard_crontab(expr: str) -> str:
    """Rewrite numeric day-of-week items of a 5-field crontab to day names.

    Standard cron: 0 and 7 are Sunday, 1 is Monday. APScheduler 3: 0 is Monday. Names
    (`mon-fri`) mean the same in both, so numbers are expanded to comma lists of names
    (`1-5` -> `mon,tue,wed,thu,fri`; `*/2` -> `sun,tue,thu,sat`). Other fields are kept.

    Raises:
        ValueError: not five fields, or a day number outside 0-7.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    items = []
    for item in fields[4].split(","):
        match = _DOW_NUMERIC.match(item)
        if match is None or item == "*":
            items.append(item)
            continue
        base, step_text = match.groups()
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            first, last = (int(part) for part in base.split("-"))
        else:
            first = int(base)
            last = 6 if step_text else first
        if not (0 <= first <= 7 and 0 <= last <= 7) or first > last:
            raise ValueError(f"bad day-of-week {item!r}: use 0-7 (0 and 7 are Sunday) or names")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad day-of-week step in {item!r}")
        items.extend(_DAY_NAMES[day % 7] for day in range(first, last + 1, step))
    # Keep the order, drop repeats ("0,7" is Sunday twice).
    fields[4] = ",".join(dict.fromkeys(items))
    return " ".join(fields)


@dataclasses.dataclass(frozen=True)
class JobSpec:
    """One scheduled function of a plugin, as recorded by `@plugin.job`.

    `name` is the job's full name `<plugin>.<function>`; `misfire_grace` None means "the
    scheduler's default" ([scheduler] misfire_grace).
    """

    name: str
    plugin: str
    function: str
    func: typing.Callable[..., typing.Any]
    trigger: TriggerKind
    cron: str | None = None
    interval: datetime.timedelta | None = None
    at: datetime.datetime | None = None
    misfire_grace: datetime.timedelta | None = None
    coalesce: bool = True
    max_instances: int = 1
    jitter: datetime.timedelta | None = None
    timeout: datetime.timedelta | None = None

    @property
    def is_async(self) -> bool:
        """True for coroutine functions; others run in a worker thread."""
        return inspect.iscoroutinefunction(self.func)

    def make_trigger(
        self, zone: datetime.tzinfo, *, jitter: bool = True
    ) -> CronTrigger | IntervalTrigger | DateTrigger:
        """The APScheduler trigger in `zone`; `jitter=False` for exact fire-time arithmetic."""
        seconds = self.jitter.total_seconds() if (jitter and self.jitter) else None
        if self.trigger == "cron":
            assert self.cron is not None
            return CronTrigger(**_cron_fields(self.cron), timezone=zone, jitter=seconds)
        if self.trigger == "interval":
            assert self.interval is not None
            return IntervalTrigger(
                seconds=self.interval.total_seconds(), timezone=zone, jitter=seconds
            )
        assert self.at is not None
        return DateTrigger(run_date=self.at, timezone=zone)

    def describe(self) -> str:
        """A short text for listings: `cron 0 9 * * mon-fri`, `every 5m`, `at 2026-...`."""
        if self.trigger == "cron":
            text = f"cron {self.cron}"
        elif self.trigger == "interval":
            assert self.interval is not None
            text = f"every {format_duration(self.interval)}"
        else:
            assert self.at is not None
            text = f"at {self.at.isoformat()}"
        if self.jitter:
            text += f" (jitter {format_duration(self.jitter)})"
        return text


def _cron_fields(expr: str) -> dict[str, str]:
    minute, hour, day, month, day_of_week = standard_crontab(expr).split()
    return {"minute": minute, "hour": hour, "day": day, "month": month, "day_of_week": day_of_week}


def _duration(value: DurationLike | None, what: str, where: str) -> datetime.timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as error:
        raise PluginError(f"{where}: {what}: {error}") from None


def make_job_spec(
    plugin: str,
    function: str,
    func: typing.Callable[..., typing.Any],
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
    """Check every option and build the JobSpec; PluginError names plugin and job."""
    where = f"plugin {plugin}: job {function}"
    if not _NAME.match(function):
        raise PluginError(f"{where}: a job name must be letters, digits, _ or - (no dots)")
    given = [
        kind
        for kind, value in (("cron", cron), ("interval", interval), ("at", at))
        if value is not None
    ]
    if len(given) != 1:
        raise PluginError(
            f"{where}: give exactly one trigger: cron=, interval= or at= (got {len(given)})"
        )
    kind: TriggerKind
    cron_text: str | None = None
    interval_delta: datetime.timedelta | None = None
    at_time: datetime.datetime | None = None
    if cron is not None:
        kind = "cron"
        cron_text = " ".join(str(cron).split())
        try:
            # Validates every field, in APScheduler's own parser, at decoration time.
            CronTrigger(**_cron_fields(cron_text), timezone=zoneinfo.ZoneInfo("UTC"))
        except ValueError as error:
            raise PluginError(f"{where}: bad cron {cron!r}: {error}") from None
    elif interval is not None:
        kind = "interval"
        interval_delta = _duration(interval, "interval", where)
        if interval_delta is not None and interval_delta.total_seconds() <= 0:
            raise PluginError(f"{where}: interval must be more than 0 seconds")
    else:
        kind = "date"
        if isinstance(at, str):
            try:
                at_time = datetime.datetime.fromisoformat(at)
            except ValueError:
                raise PluginError(f"{where}: at={at!r} is not an ISO date-time") from None
        elif isinstance(at, datetime.datetime):
            at_time = at
        else:
            raise PluginError(f"{where}: at= must be a datetime or ISO text")
        if jitter is not None:
            raise PluginError(f"{where}: jitter does not apply to a one-time at= job")
    if not isinstance(max_instances, int) or isinstance(max_instances, bool) or max_instances < 1:
        raise PluginError(f"{where}: max_instances must be a whole number >= 1")
    timeout_delta = _duration(timeout, "timeout", where)
    if timeout_delta is not None and timeout_delta.total_seconds() <= 0:
        raise PluginError(f"{where}: timeout must be more than 0 seconds")
    if not callable(func):
        raise PluginError(f"{where}: {func!r} is not callable")
    return JobSpec(
        name=f"{plugin}.{function}",
        plugin=plugin,
        function=function,
        func=func,
        trigger=kind,
        cron=cron_text,
        interval=interval_delta,
        at=at_time,
        misfire_grace=_duration(misfire_grace, "misfire_grace", where),
        coalesce=bool(coalesce),
        max_instances=max_instances,
        jitter=_duration(jitter, "jitter", where),
        timeout=timeout_delta,
    )


class SettingsInvalid(PluginError):
    """A plugin's `[plugins.<name>]` table did not validate; names plugin and field."""

    def __init__(self, plugin: str, field: str, problem: str) -> None:
        super().__init__(f"plugin {plugin}: setting {field}: {problem}")
        self.plugin = plugin
        self.field = field
        self.problem = problem


def describe_settings_error(error: ValidationError) -> tuple[str, str]:
    """(field path, message) of the first problem, worded like config errors."""
    first = error.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"]
    if first["type"] == "missing":
        message = "required key is missing"
    elif first["type"] == "extra_forbidden":
        message = "unknown key"
    message = message.removeprefix("Value error, ")
    more = error.error_count() - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return field, message


class Plugin:
    """A plugin: a name, optional settings model, jobs and lifecycle hooks.

    Args:
        name: the plugin's name; job names are `<name>.<function>` and its settings
            table is `[plugins.<name>]`.
        version: shown by `botkit plugins list`.
        description: one line, shown by `botkit plugins list`.
        settings: a pydantic model validated from `[plugins.<name>]` at start-up.
    """

    def __init__(
        self,
        name: str,
        *,
        version: str = "0.0.0",
        description: str = "",
        settings: type[BaseModel] | None = None,
    ) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise PluginError(
                f"plugin name {name!r}: use letters, digits, _ or - (it prefixes job names)"
            )
        if settings is not None and not (
            isinstance(settings, type) and issubclass(settings, BaseModel)
        ):
            raise PluginError(f"plugin {name}: settings= must be a pydantic BaseModel class")
        self.name = name
        self.version = version
        self.description = description
        self.settings_model = settings
        self._jobs: dict[str, JobSpec] = {}
        self.start_hooks: list[HookFunc] = []
        self.stop_hooks: list[HookFunc] = []

    def __repr__(self) -> str:
        return f"Plugin({self.name!r}, version={self.version!r}, jobs={len(self._jobs)})"

    @property
    def jobs(self) -> list[JobSpec]:
        """The plugin's jobs, in the order they were declared."""
        return list(self._jobs.values())

    def job(
        self,
        *,
        cron: str | None = None,
        interval: DurationLike | None = None,
        at: datetime.datetime | str | None = None,
        misfire_grace: DurationLike | None = None,
        coalesce: bool = True,
        max_instances: int = 1,
        jitter: DurationLike | None = None,
        timeout: DurationLike | None = None,
        name: str | None = None,
    ) -> typing.Callable[[F], F]:
        """Declare a scheduled job; exactly one of cron=, interval=, at= is required.

        Durations are `90s`, `5m`, `12h`, `30d` or seconds. The function gets a `Context`
        and may be async (runs on the loop) or plain (runs in a worker thread). It is
        returned unchanged, so it can still be called directly in tests.
        """

        def decorate(func: F) -> F:
            function = name or str(getattr(func, "__name__", ""))
            spec = make_job_spec(
                self.name,
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
            if spec.name in self._jobs:
                raise PluginError(f"plugin {self.name}: two jobs are named {function!r}")
            self._jobs[spec.name] = spec
            return func

        return decorate

    def on_start(self, func: F) -> F:
        """Run `func(ctx)` when the daemon starts, before any job; a failure disables the plugin."""
        self.start_hooks.append(func)
        return func

    def on_stop(self, func: F) -> F:
        """Run `func(ctx)` when the daemon stops, after running jobs have drained."""
        self.stop_hooks.append(func)
        return func

    def validate_settings(self, raw: typing.Mapping[str, typing.Any] | None) -> BaseModel | None:
        """Validate the `[plugins.<name>]` table against the plugin's settings model.

        Unknown keys are refused (a typo must not be silently ignored) unless the model
        itself says `extra="allow"`. A plugin without a model takes no settings.

        Raises:
            SettingsInvalid: a PluginError, `plugin hello: setting room: Input should be a
                valid string`, with `.plugin`, `.field` and `.problem`.
        """
        data = dict(raw or {})
        model = self.settings_model
        if model is None:
            if data:
                key = sorted(data)[0]
                raise SettingsInvalid(self.name, key, "unknown key (this plugin takes no settings)")
            return None
        if model.model_config.get("extra") in (None, "ignore"):
            known: set[str] = set()
            for field_name, info in model.model_fields.items():
                known.add(field_name)
                if info.alias:
                    known.add(info.alias)
                if isinstance(info.validation_alias, str):
                    known.add(info.validation_alias)
            unknown = sorted(set(data) - known)
            if unknown:
                raise SettingsInvalid(self.name, unknown[0], "unknown key")
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise SettingsInvalid(self.name, *describe_settings_error(error)) from None


def cron_fire_times(
    cron: str,
    after: datetime.datetime,
    until: datetime.datetime,
    *,
    timezone: str = "UTC",
    limit: int = 1000,
) -> list[datetime.datetime]:
    """The fire times of a standard crontab text in (after, until], oldest first.

    For plugins that keep their own schedules in settings (see `plugins/reminders.py`).

    Raises:
        ValueError: the cron text or the zone is not valid.
    """
    try:
        zone = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {timezone!r}") from None
    trigger = CronTrigger(**_cron_fields(" ".join(cron.split())), timezone=zone)
    times: list[datetime.datetime] = []
    previous: datetime.datetime | None = None
    moment = after + datetime.timedelta(microseconds=1)
    while len(times) < limit:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None or fire > until:
            break
        if fire > after:
            times.append(fire)
        previous, moment = fire, fire + datetime.timedelta(seconds=1)
    return times
