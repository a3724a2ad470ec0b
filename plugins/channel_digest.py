"""A daily digest of channel activity: messages per channel and the most active posters.

```toml
[plugins.channel_digest]
channels = ["general", "dev"]   # public channels to count (by name)
report_room = "#management"     # where the digest goes
period = "1d"                   # how far back to count
top = 3                         # posters to name per channel
```

History is read page by page (`channels.history` with count/offset); thread replies are
included, system messages are not.
"""

from __future__ import annotations

import collections
import datetime

from pydantic import BaseModel, Field, field_validator

from botkit import Context, Plugin, format_duration, parse_duration


class Settings(BaseModel):
    """[plugins.channel_digest]"""

    channels: list[str] = Field(min_length=1)
    report_room: str = Field(min_length=1)
    period: datetime.timedelta = datetime.timedelta(days=1)
    top: int = Field(default=3, ge=1, le=20)

    @field_validator("period", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str | int | float) else value


plugin = Plugin(
    "channel_digest", version="1.0", description="Daily channel activity digest",
    settings=Settings,
)


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


async def count_channel(
    ctx: Context[Settings], channel: str, oldest: datetime.datetime, latest: datetime.datetime
) -> collections.Counter[str]:
    """Messages per poster in `channel` between `oldest` and `latest`."""
    posters: collections.Counter[str] = collections.Counter()
    params = {
        "roomName": channel.lstrip("#"),
        "oldest": _iso(oldest),
        "latest": _iso(latest),
        # Rocket.Chat hides thread replies unless asked (the flag must be the text "true").
        "showThreadMessages": "true",
    }
    async for message in ctx.rest.paginate("channels.history", items_key="messages",
                                           params=params):
        if message.get("t"):  # system messages (joins, topic changes)
            continue
        user = message.get("u") or {}
        posters[str(user.get("username", "?"))] += 1
    return posters


def format_digest(counts: dict[str, collections.Counter[str]], top: int, period: str) -> str:
    """The digest text: one line per channel."""
    lines = [f"Channel digest for the last {period}:"]
    for channel, posters in counts.items():
        total = sum(posters.values())
        leaders = ", ".join(f"{name} ({n})" for name, n in posters.most_common(top))
        lines.append(f"#{channel.lstrip('#')}: {total} message(s)"
                     + (f"; most active: {leaders}" if leaders else ""))
    return "\n".join(lines)


@plugin.job(cron="0 18 * * *", misfire_grace="1h")
async def daily(ctx: Context[Settings]) -> None:
    """Count each channel's messages over the period and post the digest."""
    latest = ctx.scheduled_time or datetime.datetime.now(datetime.UTC)
    oldest = latest - ctx.settings.period
    counts = {c: await count_channel(ctx, c, oldest, latest) for c in ctx.settings.channels}
    period = format_duration(ctx.settings.period)
    await ctx.chat.post(ctx.settings.report_room, format_digest(counts, ctx.settings.top, period))
