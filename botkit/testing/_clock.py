"""The fake server's clock: real time by default, frozen or shifted by tests.

Everything time-dependent in the fake (TOTP steps, email-code expiry, trusted-client
windows, the new-user grace, rate-limit windows, brute-force blocks, the `Date` header)
reads this clock, so tests move time instead of sleeping.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

__all__ = ["Clock"]


class Clock:
    """A UTC clock that can be frozen at an instant and moved forward or backward."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frozen_at: datetime | None = None
        self._offset = timedelta(0)

    def now(self) -> datetime:
        """The current fake time (timezone-aware UTC)."""
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return datetime.now(UTC) + self._offset

    def timestamp(self) -> float:
        """The current fake time as epoch seconds."""
        return self.now().timestamp()

    def epoch_ms(self) -> int:
        """The current fake time as epoch milliseconds (JavaScript `Date.now()`)."""
        return int(self.now().timestamp() * 1000)

    @property
    def frozen(self) -> bool:
        with self._lock:
            return self._frozen_at is not None

    def freeze(self, at: datetime | None = None) -> datetime:
        """Stop time at `at` (naive values are taken as UTC), or at the current fake time."""
        instant = self.now() if at is None else _aware(at)
        with self._lock:
            self._frozen_at = instant
        return instant

    def advance(self, seconds: float) -> datetime:
        """Move time by `seconds` (negative goes back), frozen or not; return the new time."""
        delta = timedelta(seconds=seconds)
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += delta
            else:
                self._offset += delta
        return self.now()

    def unfreeze(self) -> None:
        """Let time run again from the frozen instant (keeps any shift relative to real time)."""
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - datetime.now(UTC)
                self._frozen_at = None

    def reset(self) -> None:
        """Back to real time."""
        with self._lock:
            self._frozen_at = None
            self._offset = timedelta(0)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
