"""A package plugin that uses a relative import."""

from __future__ import annotations

from botkit._plugin import Plugin

from .helpers import PERIOD

plugin = Plugin("pkg", description="package plugin")


@plugin.job(interval=PERIOD)
async def tick(ctx: object) -> None:
    return None
