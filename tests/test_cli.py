"""The command line's edge: help, one-line errors, exit codes, --debug tracebacks."""

from __future__ import annotations

import pickle
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from botkit import errors
from botkit._cli import COMMANDS, LazyGroup, cli
from botkit._cli._common import common_options
from botkit._cli._errors import exit_code_for
from botkit._redact import forget_secret, register_secret


def test_help_lists_every_registered_command(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def _leaf_commands() -> list[list[str]]:
    """Every runnable command path, e.g. ["token", "rotate"]."""
    paths: list[list[str]] = []
    root_ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(root_ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            paths.extend([name, sub] for sub in command.list_commands(root_ctx))
        else:
            paths.append([name])
    return paths


def test_every_command_loads_and_takes_config(runner: CliRunner) -> None:
    """Design section 1: every command takes --config (and --debug)."""
    for path in _leaf_commands():
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "--config" in result.output, path
        assert "--debug" in result.output, path


def test_python_dash_m_works() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "botkit", "--version"], capture_output=True, text=True,
        timeout=60, check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("botkit, version ")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.ConfigError("x"), 2),
        (errors.PluginError("x"), 2),
        (errors.NotBootstrapped("x"), 3),
        (errors.Unauthorized("x", status=401), 3),
        (errors.TwoFactorRequired("x", status=400), 3),
        (errors.ServerUnreachable("x"), 4),
        (errors.BadResponse("x"), 4),
        (errors.ServerError("x", status=503), 4),
        (errors.Forbidden("x", status=403), 1),
        (errors.AuditError("x"), 1),
        (RuntimeError("x"), 1),
    ],
)
def test_exit_codes(error: BaseException, code: int) -> None:
    assert exit_code_for(error) == code


def _failing_cli(error: BaseException) -> click.Group:
    @click.group(cls=LazyGroup, lazy={})
    @common_options
    def root() -> None:
        pass

    @root.command()
    @common_options
    def boom() -> None:
        raise error

    return root


def test_expected_error_is_one_line_without_traceback(runner: CliRunner) -> None:
    err = errors.NotBootstrapped("no token is stored", hint="run `botkit bootstrap`")
    result = runner.invoke(_failing_cli(err), ["boom"])
    assert result.exit_code == 3
    assert result.stderr == "botkit: error: no token is stored; run `botkit bootstrap`\n"


def test_debug_shows_traceback_redacted(runner: CliRunner) -> None:
    secret = "SECRET-token-value-42"
    register_secret(secret)
    try:
        err = errors.ServerUnreachable(f"cannot reach server with {secret}")
        result = runner.invoke(_failing_cli(err), ["boom", "--debug"])
    finally:
        forget_secret(secret)
    assert result.exit_code == 4
    assert "Traceback" in result.stderr
    assert secret not in result.stderr


def test_unexpected_error_suggests_debug(runner: CliRunner) -> None:
    result = runner.invoke(_failing_cli(ZeroDivisionError("oops")), ["boom"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "botkit: error: unexpected ZeroDivisionError: oops (run with --debug for the traceback)"
    )


@pytest.mark.parametrize(
    "error",
    [
        errors.RateLimited("slow", status=429, retry_after=3.5, error="too many"),
        errors.TwoFactorRequired(
            "2fa", status=400, error_type="totp-required",
            details={"method": "email", "availableMethods": ["email", "totp"]},
        ),
        errors.BadResponse("html", status=200, hint="check url"),
        errors.ConfigError("bad", hint="fix"),
    ],
)
def test_errors_pickle_with_their_fields(error: errors.BotkitError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.__dict__ == error.__dict__
    assert str(copy) == str(error)


def test_two_factor_error_fields() -> None:
    error = errors.TwoFactorRequired(
        "2fa", status=400, details={"method": "email", "availableMethods": ["email"]}
    )
    assert error.method == "email"
    assert error.available_methods == ["email"]
