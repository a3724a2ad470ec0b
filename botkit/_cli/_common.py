"""What every command shares: the --config/--debug options, the CLI state, the async runner."""

from __future__ import annotations

import dataclasses
import pathlib
import typing

import click

if typing.TYPE_CHECKING:
    from botkit._config import Settings

__all__ = ["CLIState", "common_options", "json_option", "pass_state", "run_async"]

T = typing.TypeVar("T")
F = typing.TypeVar("F", bound=typing.Callable[..., typing.Any])


@dataclasses.dataclass
class CLIState:
    """Options shared by all commands, filled from the root group and each subcommand."""

    config_path: pathlib.Path | None = None
    debug: bool = False
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """The configuration, loaded once; ConfigError (exit 2) if it is bad."""
        if self._settings is None:
            from botkit._config import load_settings
            from botkit._logging import configure_logging

            self._settings = load_settings(self.config_path)
            configure_logging(self._settings.logging, debug=self.debug)
        return self._settings


pass_state = click.make_pass_decorator(CLIState, ensure=True)


def _set_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_root().ensure_object(CLIState).config_path = pathlib.Path(value)


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_root().ensure_object(CLIState).debug = True


def common_options(f: F) -> F:
    """`--config PATH` (env BOTKIT_CONFIG) and `--debug`, accepted by every command."""
    f = click.option(
        "--debug", is_flag=True, expose_value=False, callback=_set_debug,
        help="Show tracebacks and debug logs.",
    )(f)
    f = click.option(
        "--config", "config", metavar="PATH", envvar="BOTKIT_CONFIG", show_envvar=True,
        expose_value=False, callback=_set_config,
        help="Configuration file [default: ./botkit.toml].",
    )(f)
    return f


def run_async(coro: typing.Coroutine[typing.Any, typing.Any, T]) -> T:
    """Run one command's coroutine; errors propagate to the root group's handler."""
    import asyncio  # here, not at the top: `botkit --help` never needs it (bench/startup.py)

    return asyncio.run(coro)


def json_option(f: F) -> F:
    """`--json`: print one JSON document on stdout and nothing else."""
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")(f)
