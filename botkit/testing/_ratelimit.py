"""The REST rate limiter: one Meteor `RateLimiter` rule per route and HTTP method.

Source: rocketchat-server-behaviour.md §5 (`apps/meteor/app/api/server/ApiClass.ts`, Meteor
`rate-limit`). Counters are per client IP; the window is a fixed window shared by the whole
rule (UNVERIFIED in the document; kept, being the Meteor implementation): it restarts lazily at
the first request after it has run out. Every checked request is counted before the check, so
`limit` requests pass and the next one is refused.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from botkit.testing._clock import Clock

__all__ = ["RateLimitResult", "RateLimiter"]


@dataclass(frozen=True)
class RateLimitResult:
    allowed: bool
    limit: int
    remaining: int
    time_to_reset_ms: int
    reset_epoch_ms: int

    def headers(self) -> dict[str, str]:
        """`X-RateLimit-*`; the reset is absolute epoch milliseconds, no `Retry-After` (§5)."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_epoch_ms),
        }


@dataclass
class _Rule:
    last_reset_ms: int
    counters: dict[str, int] = field(default_factory=dict)


class RateLimiter:
    """Counts requests per (route+method rule, client IP) on the fake clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._rules: dict[str, _Rule] = {}

    def hit(self, rule_key: str, client_ip: str, limit: int, interval_ms: int) -> RateLimitResult:
        """Count one request and say whether it may pass (`increment` then `check`)."""
        now = self._clock.epoch_ms()
        with self._lock:
            rule = self._rules.get(rule_key)
            if rule is None:
                # Meteor creates the rule at startup; here at first use, so a frozen clock
                # set before the fake started cannot produce a negative window.
                rule = self._rules[rule_key] = _Rule(last_reset_ms=now)
            since = now - rule.last_reset_ms
            if since > interval_ms or since < 0:
                rule.counters.clear()
                rule.last_reset_ms = now
                since = 0
            count = rule.counters.get(client_ip, 0) + 1
            rule.counters[client_ip] = count
            time_to_reset = interval_ms - since
        allowed = count <= limit
        return RateLimitResult(
            allowed=allowed,
            limit=limit,
            remaining=max(limit - count, 0) if allowed else 0,
            time_to_reset_ms=time_to_reset,
            reset_epoch_ms=now + time_to_reset,
        )

    def reset(self) -> None:
        with self._lock:
            self._rules.clear()
