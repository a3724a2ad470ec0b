"""botkit: Rocket.Chat bots and automations on a personal access token.

The public API is re-exported here; everything in `_`-prefixed modules is private.
The fake Rocket.Chat server for tests is `botkit.testing`; the errors are `botkit.errors`.

Names are imported on first use, so that `botkit --help` does not pay for httpx,
pydantic and APScheduler (see bench/startup.py).
"""

from __future__ import annotations

import importlib
import typing

from botkit._version import __version__

if typing.TYPE_CHECKING:
    from botkit import errors
    from botkit._audit import AuditLog, AuditSink, Events
    from botkit._chat import Chat
    from botkit._config import Settings, load_settings
    from botkit._context import Context
    from botkit._duration import format_duration, parse_duration
    from botkit._plugin import JobSpec, Plugin, cron_fire_times
    from botkit._session import Credentials, Session
    from botkit._storage import PluginStore
    from botkit._tokens import TokenRecord, TokenSlot
    from botkit._twofactor import (
        PasswordFallbackProvider,
        PromptProvider,
        SecondFactorProvider,
        TotpProvider,
    )

_quieted = False

_SOURCES = {
    "AuditLog": "botkit._audit",
    "AuditSink": "botkit._audit",
    "Chat": "botkit._chat",
    "Context": "botkit._context",
    "Credentials": "botkit._session",
    "Events": "botkit._audit",
    "JobSpec": "botkit._plugin",
    "PasswordFallbackProvider": "botkit._twofactor",
    "Plugin": "botkit._plugin",
    "PluginStore": "botkit._storage",
    "PromptProvider": "botkit._twofactor",
    "SecondFactorProvider": "botkit._twofactor",
    "Session": "botkit._session",
    "Settings": "botkit._config",
    "TokenRecord": "botkit._tokens",
    "TokenSlot": "botkit._tokens",
    "TotpProvider": "botkit._twofactor",
    "cron_fire_times": "botkit._plugin",
    "format_duration": "botkit._duration",
    "load_settings": "botkit._config",
    "parse_duration": "botkit._duration",
}

__all__ = [
    "AuditLog",
    "AuditSink",
    "Chat",
    "Context",
    "Credentials",
    "Events",
    "JobSpec",
    "PasswordFallbackProvider",
    "Plugin",
    "PluginStore",
    "PromptProvider",
    "SecondFactorProvider",
    "Session",
    "Settings",
    "TokenRecord",
    "TokenSlot",
    "TotpProvider",
    "__version__",
    "cron_fire_times",
    "errors",
    "format_duration",
    "load_settings",
    "parse_duration",
]


def _quiet_library_logs() -> None:
    """A library stays quiet until the application sets up logging (loguru's convention):
    loguru's default sink would print unredacted values with `diagnose` on. The CLI's
    `configure_logging` turns botkit's records on; so does `logger.enable("botkit")`.

    Done on first use of the public API rather than at import, so that `botkit --help`
    does not pay for importing loguru.
    """
    from botkit import _logging

    if not _logging.configured:
        _logging.logger.disable("botkit")


def __getattr__(name: str) -> typing.Any:
    if not _quieted:
        globals()["_quieted"] = True
        _quiet_library_logs()
    if name == "errors":
        return importlib.import_module("botkit.errors")
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module 'botkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
