"""The example plugins in plugins/, each run against the fake with the `run_job` fixture."""

from __future__ import annotations

import datetime
import importlib.util
import pathlib
import sys
import types

import pytest

from botkit.testing import GENERAL_ROOM_ID, RunningServer
from botkit.testing.pytest_plugin import BotUser, JobRunner

PLUGINS = pathlib.Path(__file__).resolve().parent.parent / "plugins"
UTC = datetime.UTC


def _load(name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", PLUGINS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the settings' annotations there
    spec.loader.exec_module(module)
    return module


def _messages(server: RunningServer, room_id: str) -> list[str]:
    return [str(m["msg"]) for m in server.fake.room_messages(room_id)]


async def test_reminders_post_each_due_time_once(
    run_job: JobRunner, rocketchat_fake: RunningServer, bot_user: BotUser
) -> None:
    reminders = _load("reminders")
    alice = rocketchat_fake.fake.add_user("alice", "pw")
    settings = {"reminders": [
        {"cron": "0 9 * * 1-5", "room": "#general", "text": "Stand-up"},
        {"every": "4h", "room": "@alice", "text": "Check the queue"},
    ]}
    monday = datetime.datetime(2026, 11, 30, 8, 59, 30, tzinfo=UTC)
    for offset in (0, 30, 60, 90):  # 08:59:30 .. 09:01:00, the tick every 30 s
        await run_job(reminders.plugin, "tick", settings=settings,
                      scheduled_time=monday + datetime.timedelta(seconds=offset))
    assert _messages(rocketchat_fake, GENERAL_ROOM_ID) == ["Stand-up"]
    later = monday + datetime.timedelta(hours=4, minutes=1)
    await run_job(reminders.plugin, "tick", settings=settings, scheduled_time=later)
    await run_job(reminders.plugin, "tick", settings=settings, scheduled_time=later)
    dm = rocketchat_fake.fake.create_dm([rocketchat_fake.fake.user(bot_user.user_id), alice])
    assert _messages(rocketchat_fake, dm.id) == ["Check the queue"]
    saturday = datetime.datetime(2026, 12, 5, 9, 0, 30, tzinfo=UTC)
    await run_job(reminders.plugin, "tick", settings=settings, scheduled_time=saturday)
    assert _messages(rocketchat_fake, GENERAL_ROOM_ID) == ["Stand-up"]  # weekdays only


def test_reminders_refuse_bad_settings() -> None:
    from botkit._plugin import SettingsInvalid

    reminders = _load("reminders")
    with pytest.raises(SettingsInvalid) as caught:
        reminders.plugin.validate_settings(
            {"reminders": [{"cron": "61 * * * *", "room": "#x", "text": "t"}]}
        )
    assert "reminders" in str(caught.value)
    with pytest.raises(SettingsInvalid):
        reminders.plugin.validate_settings({"reminders": [{"room": "#x", "text": "t"}]})


async def test_token_report_sends_findings_to_the_admin(
    run_job: JobRunner, rocketchat_fake: RunningServer, bot_user: BotUser
) -> None:
    fake = rocketchat_fake.fake
    token_report = _load("token_report")
    alice = fake.add_user("alice", "pw")
    bot = fake.user(bot_user.user_id)
    fake.create_pat(bot, "old-and-risky", bypass_two_factor=True)
    in_40_days = fake.clock.now() + datetime.timedelta(days=40)
    result = await run_job(token_report.plugin, "weekly", settings={"admin": "alice"},
                           scheduled_time=in_40_days)
    assert result.ok
    dm = fake.create_dm([bot, alice])
    (report,) = _messages(rocketchat_fake, dm.id)
    assert report.startswith("Token report: 3 finding(s).")  # 2 too old, 1 bypasses 2FA
    assert "old-and-risky" in report and "bypasses 2FA" in report
    assert bot_user.token not in report
    assert run_job.audit_events[-1][0] == "audit.findings"


async def test_channel_digest_counts_a_day_of_history(
    run_job: JobRunner, rocketchat_fake: RunningServer, bot_user: BotUser
) -> None:
    fake = rocketchat_fake.fake
    digest = _load("channel_digest")
    alice, bob = fake.add_user("alice", "pw"), fake.add_user("bob", "pw")
    report_room = fake.add_room("reports", members=[fake.user(bot_user.user_id)])
    now = datetime.datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    for hours, user in [(30, bob), (5, alice), (4, alice), (3, bob), (2, alice)]:
        fake.add_message(GENERAL_ROOM_ID, user, "hi", ts=now - datetime.timedelta(hours=hours))
    for n in range(120):  # more than one page of history (count is clamped to 100)
        fake.add_message(GENERAL_ROOM_ID, bob, f"spam {n}",
                         ts=now - datetime.timedelta(minutes=50, seconds=n))
    result = await run_job(digest.plugin, "daily", scheduled_time=now, settings={
        "channels": ["general"], "report_room": "#reports", "top": 2,
    })
    assert result.ok, result.error
    (text,) = _messages(rocketchat_fake, report_room.id)
    assert text.splitlines() == [
        "Channel digest for the last 1d:",
        "#general: 124 message(s); most active: bob (121), alice (3)",
    ]
