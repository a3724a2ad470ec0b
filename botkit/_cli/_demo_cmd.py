"""`botkit demo`."""

from __future__ import annotations

import pathlib

import click

from botkit._cli._common import common_options

__all__ = ["demo_cmd"]


@click.command("demo")
@click.option("--seconds", type=click.FloatRange(min=3), default=20.0, show_default=True,
              help="How long the daemon runs.")
@click.option("--forever", is_flag=True, help="Keep running until Ctrl-C.")
@click.option("--plugins", "plugins", type=click.Path(file_okay=False, path_type=pathlib.Path),
              help="The example plugins folder (default: the checkout's plugins/).")
@common_options
def demo_cmd(seconds: float, forever: bool, plugins: pathlib.Path | None) -> None:
    """Show the whole life cycle on an embedded fake Rocket.Chat (needs no config).

    Bootstrap with 2FA, jobs posting messages, a token rotation by the daemon, and the
    audit trail, all in a temporary folder that is removed afterwards.
    """
    from botkit._demo import run_demo

    run_demo(None if forever else seconds, plugins)
