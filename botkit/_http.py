"""The one place botkit imports its HTTP client library.

botkit may move to httpx's maintained fork (`httpx2`, same API); that move is this line
plus the logger names in `botkit._logging`.
"""

from __future__ import annotations

import httpx

__all__ = ["httpx"]
