"""Error reporting at the CLI edge: the one place errors become exit codes and lines."""

from __future__ import annotations

import sys
import traceback

import click

from botkit._redact import redact
from botkit.errors import (
    AuthError,
    BadResponse,
    BotkitError,
    ConfigError,
    PluginError,
    ServerError,
    ServerUnreachable,
)

__all__ = ["EXIT_AUTH", "EXIT_CONFIG", "EXIT_FINDINGS", "EXIT_SERVER", "exit_code_for", "report"]

EXIT_FINDINGS = 1
EXIT_CONFIG = 2
EXIT_AUTH = 3
EXIT_SERVER = 4

# First match wins: more specific classes first.
_EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ConfigError, EXIT_CONFIG),
    (PluginError, EXIT_CONFIG),
    (AuthError, EXIT_AUTH),
    (ServerUnreachable, EXIT_SERVER),
    (BadResponse, EXIT_SERVER),
    (ServerError, EXIT_SERVER),
    (BotkitError, EXIT_FINDINGS),
)


def exit_code_for(error: BaseException) -> int:
    """The exit code of design section 1 for an error."""
    for cls, code in _EXIT_CODES:
        if isinstance(error, cls):
            return code
    return 1


def report(error: BaseException, *, debug: bool) -> int:
    """Print one redacted line (and the traceback with --debug) to stderr; return the code."""
    if debug:
        text = "".join(traceback.format_exception(error))
        sys.stderr.write(redact(text))
    if isinstance(error, BotkitError):
        line = f"botkit: error: {error.message}"
        if error.hint:
            line += f"; {error.hint}"
    else:
        line = f"botkit: error: unexpected {type(error).__name__}: {error}"
        if not debug:
            line += " (run with --debug for the traceback)"
    click.echo(redact(line), err=True)
    return exit_code_for(error)
