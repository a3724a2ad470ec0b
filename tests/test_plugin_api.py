"""The plugin API: Plugin, @plugin.job options and checks, hooks, settings, Context."""

from __future__ import annotations

import datetime
import pathlib
import typing
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from botkit._context import Chat, Context, ContextFactory, Rest
from botkit._loader import LoadedPlugin
from botkit._plugin import JobSpec, Plugin, SettingsInvalid, standard_crontab
from botkit._storage import PluginStore, StateDB
from botkit.errors import PluginError

UTC = zoneinfo.ZoneInfo("UTC")


class Settings(BaseModel):
    room: str = "general"
    count: int = 1


def noop(ctx: object) -> None:
    """A job body for tests that only look at the recorded spec."""


def test_job_records_spec_with_options() -> None:
    plugin = Plugin("hello", version="1.0", description="Greets", settings=Settings)

    @plugin.job(cron="0 9 * * mon-fri", misfire_grace="10m")
    async def morning(ctx: Context[Settings]) -> None: ...

    @plugin.job(interval="5m", timeout="30s", jitter="10s", max_instances=2, coalesce=False)
    def poll(ctx: Context[Settings]) -> None: ...

    @plugin.job(at=datetime.datetime(2030, 1, 1, 12, tzinfo=UTC), name="once")
    async def launch(ctx: Context[Settings]) -> None: ...

    cron, interval, date = plugin.jobs
    assert isinstance(cron, JobSpec)
    assert (cron.name, cron.trigger, cron.cron) == ("hello.morning", "cron", "0 9 * * mon-fri")
    assert cron.misfire_grace == datetime.timedelta(minutes=10)
    assert cron.coalesce is True and cron.max_instances == 1 and cron.timeout is None
    assert cron.is_async and cron.func is morning
    assert interval.name == "hello.poll" and interval.interval == datetime.timedelta(minutes=5)
    assert interval.timeout == datetime.timedelta(seconds=30)
    assert interval.jitter == datetime.timedelta(seconds=10)
    assert (interval.max_instances, interval.coalesce, interval.is_async) == (2, False, False)
    assert date.name == "hello.once" and date.trigger == "date"
    assert cron.describe() == "cron 0 9 * * mon-fri"
    assert interval.describe() == "every 5m (jitter 10s)"
    assert date.describe().startswith("at 2030-01-01T12:00:00")


def test_decorator_returns_function_unchanged() -> None:
    plugin = Plugin("p")

    async def job(ctx: object) -> None: ...

    assert plugin.job(interval=60)(job) is job


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one trigger"),
        ({"cron": "* * * * *", "interval": "5m"}, "exactly one trigger"),
        ({"cron": "61 * * * *"}, "bad cron"),
        ({"cron": "* * * *"}, "bad cron"),
        ({"cron": "* * * * 8"}, "bad cron"),
        ({"interval": "5 minutes"}, "interval"),
        ({"interval": 0}, "more than 0"),
        ({"interval": "5m", "timeout": "soon"}, "timeout"),
        ({"interval": "5m", "misfire_grace": "-1"}, "misfire_grace"),
        ({"interval": "5m", "max_instances": 0}, "max_instances"),
        ({"at": "tomorrow"}, "ISO"),
        ({"at": "2030-01-01T00:00:00", "jitter": "5s"}, "jitter"),
    ],
)
def test_bad_job_options_fail_at_decoration(kwargs: dict[str, typing.Any], message: str) -> None:
    plugin = Plugin("hello")
    with pytest.raises(PluginError, match=message) as info:
        plugin.job(**kwargs)(noop)
    assert "plugin hello: job" in str(info.value)


def test_duplicate_job_name_is_refused() -> None:
    plugin = Plugin("hello")

    @plugin.job(interval="1m")
    async def tick(ctx: object) -> None: ...

    with pytest.raises(PluginError, match="two jobs are named 'tick'"):
        plugin.job(interval="2m", name="tick")(noop)


@pytest.mark.parametrize("name", ["", "has.dot", "has space", "1abc", 42])
def test_bad_plugin_names(name: typing.Any) -> None:
    with pytest.raises(PluginError):
        Plugin(name)


def test_settings_must_be_a_model() -> None:
    with pytest.raises(PluginError, match="BaseModel"):
        Plugin("p", settings=dict)  # type: ignore[arg-type]


def test_hooks_are_recorded_in_order() -> None:
    plugin = Plugin("p")

    async def first(ctx: object) -> None: ...

    def second(ctx: object) -> None: ...

    assert plugin.on_start(first) is first
    plugin.on_start(second)
    plugin.on_stop(first)
    assert plugin.start_hooks == [first, second]
    assert plugin.stop_hooks == [first]


def test_validate_settings_defaults_and_values() -> None:
    plugin = Plugin("hello", settings=Settings)
    assert plugin.validate_settings(None) == Settings()
    assert plugin.validate_settings({"room": "ops", "count": "3"}) == Settings(room="ops", count=3)


@pytest.mark.parametrize(
    ("raw", "field", "problem"),
    [
        ({"room": 5}, "room", "Input should be a valid string"),
        ({"count": "many"}, "count", "Input should be a valid integer"),
        ({"rooom": "x"}, "rooom", "unknown key"),
    ],
)
def test_validate_settings_errors_name_plugin_and_field(
    raw: dict[str, typing.Any], field: str, problem: str
) -> None:
    plugin = Plugin("hello", settings=Settings)
    with pytest.raises(SettingsInvalid) as info:
        plugin.validate_settings(raw)
    assert isinstance(info.value, PluginError)
    assert (info.value.plugin, info.value.field) == ("hello", field)
    assert str(info.value).startswith(f"plugin hello: setting {field}: {problem}")


def test_required_setting_and_extra_allow() -> None:
    class Needs(BaseModel):
        model_config = ConfigDict(extra="allow")
        token_name: str

    plugin = Plugin("needs", settings=Needs)
    with pytest.raises(SettingsInvalid, match="setting token_name: required key is missing"):
        plugin.validate_settings({})
    assert plugin.validate_settings({"token_name": "a", "other": 1}) is not None


def test_plugin_without_model_refuses_settings() -> None:
    plugin = Plugin("bare")
    assert plugin.validate_settings({}) is None
    with pytest.raises(SettingsInvalid, match="takes no settings"):
        plugin.validate_settings({"room": "x"})


# -- cron day-of-week numbering -------------------------------------------------------


def test_standard_crontab_translates_numeric_weekdays() -> None:
    assert standard_crontab("0 9 * * 1-5") == "0 9 * * mon,tue,wed,thu,fri"
    assert standard_crontab("0 9 * * 0") == "0 9 * * sun"
    assert standard_crontab("0 9 * * 7") == "0 9 * * sun"
    assert standard_crontab("0 9 * * */2") == "0 9 * * sun,tue,thu,sat"
    assert standard_crontab("0 9 * * mon-fri") == "0 9 * * mon-fri"
    assert standard_crontab("*/5 * * * *") == "*/5 * * * *"


def _fires_on(spec: JobSpec, day: datetime.date) -> bool:
    trigger = spec.make_trigger(UTC, jitter=False)
    start = datetime.datetime.combine(day, datetime.time(0), UTC)
    fire = trigger.get_next_fire_time(None, start)
    return fire is not None and fire.date() == day


_DAYS = st.integers(min_value=0, max_value=7)


@given(
    items=st.lists(
        st.one_of(_DAYS.map(str), st.tuples(_DAYS, _DAYS).map(lambda t: f"{min(t)}-{max(t)}")),
        min_size=1,
        max_size=3,
    )
)
def test_cron_weekdays_follow_standard_cron(items: list[str]) -> None:
    """Standard crontab: 0 and 7 are Sunday (APScheduler 3 alone reads 0 as Monday)."""
    expected: set[int] = set()  # standard numbering, 0 = Sunday
    for item in items:
        first, _, last = item.partition("-")
        expected |= {d % 7 for d in range(int(first), int(last or first) + 1)}
    plugin = Plugin("p")
    plugin.job(cron=f"0 12 * * {','.join(items)}")(noop)
    spec = plugin.jobs[0]
    monday = datetime.date(2026, 3, 2)
    for offset in range(7):
        day = monday + datetime.timedelta(days=offset)
        assert _fires_on(spec, day) == ((day.isoweekday() % 7) in expected)


# -- Context -------------------------------------------------------------------------


class FakeRest:
    async def get(
        self, endpoint: str, params: typing.Mapping[str, typing.Any] | None = None
    ) -> dict[str, typing.Any]:
        return {"endpoint": endpoint}

    async def post(self, endpoint: str, json: typing.Any = None) -> dict[str, typing.Any]:
        return {"endpoint": endpoint, "json": json}

    async def paginate(
        self,
        endpoint: str,
        *,
        items_key: str,
        params: typing.Mapping[str, typing.Any] | None = None,
        page_size: int = 100,
    ) -> typing.AsyncIterator[dict[str, typing.Any]]:
        yield {"n": 1}


class FakeChat:
    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []

    async def post(self, room: str, text: str, **extra: typing.Any) -> dict[str, typing.Any]:
        self.posts.append((room, text))
        return {"ok": True}


async def test_context_factory_binds_plugin_and_job(tmp_path: pathlib.Path) -> None:
    audits: list[tuple[str, dict[str, typing.Any]]] = []

    async def audit(event: str, details: dict[str, typing.Any]) -> None:
        audits.append((event, details))

    plugin = Plugin("hello", settings=Settings)

    @plugin.job(interval="5m")
    async def poll(ctx: Context[Settings]) -> None:
        await ctx.chat.post(ctx.settings.room, "hi")

    rest, chat = FakeRest(), FakeChat()
    assert isinstance(rest, Rest) and isinstance(chat, Chat)
    per_plugin: list[str] = []

    def rest_for(name: str) -> Rest:
        per_plugin.append(name)
        return rest

    async with StateDB(tmp_path / "state" / "state.db") as db:
        factory = ContextFactory(db=db, rest=rest, chat=chat, audit=audit, rest_for_plugin=rest_for)
        loaded = LoadedPlugin("hello", plugin, "test", settings=Settings(room="ops"))
        when = datetime.datetime(2026, 1, 1, tzinfo=UTC)
        ctx = factory(loaded, plugin.jobs[0], when)
        assert (ctx.plugin, ctx.job, ctx.scheduled_time) == ("hello", "hello.poll", when)
        assert isinstance(ctx.store, PluginStore) and ctx.store.plugin == "hello"
        assert per_plugin == ["hello"]
        await poll(ctx)
        assert chat.posts == [("ops", "hi")]
        assert await ctx.rest.get("me") == {"endpoint": "me"}
        await ctx.audit("report.sent", {"room": "ops"})
        assert audits == [("report.sent", {"room": "ops", "plugin": "hello", "job": "hello.poll"})]
        hook_ctx = factory(loaded, None, None)
        assert hook_ctx.job is None and hook_ctx.scheduled_time is None


async def test_context_log_is_bound(tmp_path: pathlib.Path) -> None:
    from loguru import logger

    records: list[dict[str, typing.Any]] = []
    sink = logger.add(lambda message: records.append(message.record["extra"]), level="INFO")
    try:
        async with StateDB(tmp_path / "s.db") as db:

            async def audit(event: str, details: dict[str, typing.Any]) -> None: ...

            factory = ContextFactory(db=db, rest=FakeRest(), chat=FakeChat(), audit=audit)
            plugin = Plugin("hello")
            plugin.job(interval=60, name="tick")(noop)
            ctx = factory(LoadedPlugin("hello", plugin, "t"), plugin.jobs[0], None)
            ctx.log.info("hello from the job")
    finally:
        logger.remove(sink)
    assert any(r.get("plugin") == "hello" and r.get("job") == "hello.tick" for r in records)


async def test_each_plugin_gets_its_own_chat_once(tmp_path: pathlib.Path) -> None:
    """Posts count under the plugin that made them; the Chat (and its room cache) is reused."""
    made: list[str] = []

    def chat_for(name: str) -> FakeChat:
        made.append(name)
        return FakeChat()

    async def audit(event: str, details: dict[str, typing.Any]) -> None: ...

    async with StateDB(tmp_path / "s.db") as db:
        factory = ContextFactory(db=db, rest=FakeRest(), chat=FakeChat(), audit=audit,
                                 chat_for_plugin=chat_for)
        one, two = Plugin("one"), Plugin("two")
        one.job(interval=60, name="a")(noop)
        two.job(interval=60, name="b")(noop)
        first = factory(LoadedPlugin("one", one, "t"), one.jobs[0], None)
        again = factory(LoadedPlugin("one", one, "t"), one.jobs[0], None)
        other = factory(LoadedPlugin("two", two, "t"), two.jobs[0], None)
    assert made == ["one", "two"]
    assert first.chat is again.chat and first.chat is not other.chat
