"""Durations as users write them: `90s`, `5m`, `12h`, `30d`, `1h30m`, or plain seconds."""

from __future__ import annotations

import datetime
import re

__all__ = ["format_duration", "parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")


def parse_duration(value: str | int | float | datetime.timedelta) -> datetime.timedelta:
    """Parse a duration; raise ValueError with the accepted forms if it is not one.

    Negative durations are refused: nothing in botkit can wait a negative time.
    """
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 5m, 12h, 30d, or seconds")
    elif isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            if not _WHOLE.fullmatch(text):
                raise ValueError(
                    f"{value!r} is not a duration; use e.g. 90s, 5m, 12h, 30d, or seconds"
                ) from None
            seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        raise ValueError("a duration must be a finite number of seconds, not negative")
    try:
        return datetime.timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{value!r} is too long a duration") from None


def format_duration(delta: datetime.timedelta) -> str:
    """The shortest exact text for a duration, in the form `parse_duration` reads."""
    seconds = delta.total_seconds()
    if seconds != int(seconds):
        return f"{seconds:g}s"
    total = int(seconds)
    if total == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
