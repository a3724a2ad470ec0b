"""botkit: Rocket.Chat bots and automations on a personal access token.

The public API is re-exported here; everything in `_`-prefixed modules is private.
"""

from __future__ import annotations

from botkit import errors
from botkit._config import Settings, load_settings
from botkit._duration import parse_duration
from botkit._version import __version__

__all__ = [
    "Settings",
    "__version__",
    "errors",
    "load_settings",
    "parse_duration",
]
