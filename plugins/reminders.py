"""Scheduled reminders, posted to rooms or people, from settings alone.

```toml
[plugins.reminders]
reminders = [
  { cron = "0 9 * * mon-fri", room = "#general", text = "Stand-up in 10 minutes" },
  { cron = "0 17 * * fri", room = "@alice", text = "Time to send the weekly report" },
  { every = "4h", room = "#ops", text = "Check the on-call queue" },
]
```

Cron texts use standard crontab fields (minute hour day month weekday, 0 or 7 =
Sunday). A reminder is posted once per due time, even across restarts, and a
due time more than `max_delay` (default 10 minutes) in the past is skipped: after a
long outage nobody wants Friday's stand-up reminder on Saturday.
"""

from __future__ import annotations

import datetime

from pydantic import BaseModel, Field, field_validator, model_validator

from botkit import Context, Plugin, cron_fire_times, parse_duration


class Reminder(BaseModel):
    """One reminder: when (cron or every), where and what."""

    room: str = Field(min_length=1)
    text: str = Field(min_length=1, max_length=5000)
    cron: str | None = None
    every: datetime.timedelta | None = None

    @field_validator("every", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str | int | float) else value

    @model_validator(mode="after")
    def _one_schedule(self) -> Reminder:
        if (self.cron is None) == (self.every is None):
            raise ValueError("give exactly one of cron or every")
        if self.cron is not None:
            cron_fire_times(self.cron, datetime.datetime.now(datetime.UTC),
                            datetime.datetime.now(datetime.UTC))  # validates the text
        return self


class Settings(BaseModel):
    """[plugins.reminders]"""

    reminders: list[Reminder] = []
    timezone: str = "UTC"
    max_delay: datetime.timedelta = datetime.timedelta(minutes=10)

    @field_validator("max_delay", mode="before")
    @classmethod
    def _delay(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str | int | float) else value


plugin = Plugin(
    "reminders", version="1.0", description="Posts scheduled reminders", settings=Settings
)


def _due(reminder: Reminder, last: datetime.datetime, now: datetime.datetime,
         zone: str) -> datetime.datetime | None:
    """The latest due time of `reminder` in (last, now], or None."""
    if reminder.every is not None:
        return now if now - last >= reminder.every else None
    assert reminder.cron is not None
    times = cron_fire_times(reminder.cron, last, now, timezone=zone)
    return times[-1] if times else None


@plugin.job(interval="30s", misfire_grace="5m")
async def tick(ctx: Context[Settings]) -> None:
    """Post every reminder that became due since the last tick."""
    now = ctx.scheduled_time or datetime.datetime.now(datetime.UTC)
    for index, reminder in enumerate(ctx.settings.reminders):
        key = f"last:{index}:{reminder.room}:{reminder.cron or reminder.every}"
        stored = await ctx.store.get(key)
        if stored is None:
            # First sight of this reminder: start counting from now, post nothing old.
            await ctx.store.set(key, now.isoformat())
            continue
        due = _due(reminder, datetime.datetime.fromisoformat(stored), now, ctx.settings.timezone)
        if due is None:
            continue
        if now - due > ctx.settings.max_delay:
            ctx.log.warning("reminder for {} due at {} skipped: too late", reminder.room, due)
        else:
            # Post, then remember: a failed post is tried again on the next tick.
            await ctx.chat.post(reminder.room, reminder.text)
            ctx.log.info("reminder posted to {}", reminder.room)
        await ctx.store.set(key, due.isoformat())
