"""Fault injection: dropped connections after commit, 5xx answers, latency.

A fault targets one route name ("chat.sendMessage", "me", "login", "info") or every route
(`route=None`), and fires `times` times (`None` = until cleared).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["Fault", "Faults"]

DROP = "drop_after_commit"
SERVER_ERROR = "server_error"
LATENCY = "latency"


@dataclass
class Fault:
    kind: str
    route: str | None
    remaining: int | None
    status: int = 503
    body: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "route": self.route,
            "remaining": self.remaining,
            "status": self.status,
            "seconds": self.seconds,
        }


class Faults:
    """The armed faults of one fake server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def drop_after_commit(self, route: str | None = None, *, times: int | None = 1) -> Fault:
        """Run the handler (its state change happens), then drop the connection unanswered.

        Only a successful answer counts as committed: error answers (a 2FA challenge, a
        rate limit) go through untouched and the fault waits for the next success.

        Over a socket the client sees `httpx.RemoteProtocolError`; in-process
        (`httpx.ASGITransport`, default `raise_app_exceptions=True`) the same exception type
        is raised from the transport.
        """
        return self._add(Fault(DROP, route, times))

    def server_error(
        self,
        route: str | None = None,
        *,
        times: int | None = 1,
        status: int = 503,
        body: str | None = None,
    ) -> Fault:
        """Answer `status` without running the handler (a failing proxy or upstream)."""
        return self._add(Fault(SERVER_ERROR, route, times, status=status, body=body))

    def latency(
        self, seconds: float, route: str | None = None, *, times: int | None = None
    ) -> Fault:
        """Delay answers by `seconds` of real time (for client timeout tests)."""
        return self._add(Fault(LATENCY, route, times, seconds=seconds))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, kind: str, route: str | None) -> Fault | None:
        """The first armed fault of `kind` matching `route`, counting one use."""
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind and (fault.route is None or fault.route == route):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def _add(self, fault: Fault) -> Fault:
        if fault.remaining is not None and fault.remaining <= 0:
            raise ValueError("times must be positive or None")
        with self._lock:
            self._faults.append(fault)
        return fault
