"""The `botkit` command line.

Subcommands are registered by import path and loaded only when invoked, so that
`botkit --help` stays fast (it imports neither httpx nor the scheduler).
"""

from __future__ import annotations

import importlib
import typing

import click

from botkit._cli._common import CLIState, common_options
from botkit._cli._errors import report
from botkit._version import __version__
from botkit.errors import BotkitError

__all__ = ["cli", "main"]

# name -> (module:attribute, short help shown by `botkit --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("botkit._cli._config_cmds:init_cmd", "Write a commented botkit.toml here."),
    "config": ("botkit._cli._config_cmds:config_cmd", "Show the effective configuration."),
    "bootstrap": ("botkit._cli._auth_cmds:bootstrap_cmd", "Log in once, create and store a token."),
    "whoami": ("botkit._cli._auth_cmds:whoami_cmd", "Check the stored token against the server."),
    "token": ("botkit._cli._token_cmds:token", "List, rotate, audit or revoke tokens."),
    "audit": ("botkit._cli._audit_cmds:audit", "Show or verify the audit log."),
    "run": ("botkit._cli._runtime_cmds:run_cmd", "Run the daemon: plugins and their jobs."),
    "status": ("botkit._cli._runtime_cmds:status_cmd", "What the daemon is doing."),
    "jobs": ("botkit._cli._runtime_cmds:jobs", "List jobs, or run one now."),
    "plugins": ("botkit._cli._runtime_cmds:plugins", "List discovered plugins."),
    "demo": ("botkit._cli._demo_cmd:demo_cmd", "The whole life cycle on an embedded fake."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use, with errors mapped in one place."""

    def __init__(self, *args: typing.Any, lazy: dict[str, tuple[str, str]], **kw: typing.Any):
        super().__init__(*args, **kw)
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy:
            module_name, _, attr = self._lazy[cmd_name][0].partition(":")
            command = getattr(importlib.import_module(module_name), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self._lazy[name][1]) for name in sorted(self._lazy)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> typing.Any:
        try:
            return super().invoke(ctx)
        except BotkitError as error:
            ctx.exit(report(error, debug=ctx.ensure_object(CLIState).debug))
        except KeyboardInterrupt:
            click.echo("botkit: interrupted", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as error:
            ctx.exit(report(error, debug=ctx.ensure_object(CLIState).debug))


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="botkit")
@common_options
def cli() -> None:
    """botkit: Rocket.Chat bots and automations, signed in with a personal access token."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="botkit")
