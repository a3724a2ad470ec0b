"""`botkit bootstrap` and `botkit whoami`."""

from __future__ import annotations

import datetime
import json
import typing

import click

from botkit._cli._common import CLIState, common_options, json_option, pass_state, run_async
from botkit._duration import format_duration
from botkit.errors import Unauthorized

__all__ = ["bootstrap_cmd", "whoami_cmd"]

HUMAN_ROTATION = (
    "botkit cannot rotate unattended (no TOTP secret, token not bypass-2FA): "
    "run `botkit token rotate`"
)
REBOOTSTRAP_HINT = "the token was revoked or deleted on the server: run `botkit bootstrap` again"


@click.command("bootstrap")
@click.option("--token", "token_path", is_flag=True,
              help="Store a token made in Rocket.Chat's UI instead of logging in.")
@common_options
@pass_state
def bootstrap_cmd(state: CLIState, token_path: bool) -> None:
    """Log in once (with 2FA if the server asks), create a token, and store it.

    When stdin is not a terminal, answers are read one per line: the password, then
    each code asked for (with --token: the user id, then the token).
    """
    from botkit._bootstrap import bootstrap_with_password, bootstrap_with_token
    from botkit._prompt import TerminalPrompter
    from botkit._services import open_audit, open_session, token_lock, token_services

    settings = state.settings

    async def main() -> None:
        audit = open_audit(settings)
        async with token_lock(settings), open_session(settings, audit=audit) as session:
            run = bootstrap_with_token if token_path else bootstrap_with_password
            result = await run(token_services(settings, session, audit), TerminalPrompter())
        click.echo(f"signed in as {result.username} (user id {result.user_id})")
        click.echo(f"stored token {result.token_name} (...{result.last_chars})")
        click.echo(f"token file: {result.token_file}")

    run_async(main())


def _age_text(delta: datetime.timedelta) -> str:
    whole = datetime.timedelta(seconds=int(delta.total_seconds()))
    return format_duration(whole)


def whoami_report(state: CLIState) -> dict[str, typing.Any]:
    """Ask the server who the stored token belongs to; the facts `whoami` shows."""
    from botkit._services import load_auth, open_audit, open_session

    settings = state.settings
    auth = load_auth(settings)

    async def main() -> dict[str, typing.Any]:
        async with open_session(settings, auth.credentials, audit=open_audit(settings)) as s:
            try:
                return await s.get("me")
            except Unauthorized as error:
                raise Unauthorized(
                    f"the server rejected token {auth.credentials.name}", status=error.status,
                    hint=REBOOTSTRAP_HINT,
                ) from None

    me = run_async(main())
    now = datetime.datetime.now(datetime.UTC)
    slot = auth.record.current
    assert slot is not None
    age = now - slot.created_at
    due_in = settings.tokens.rotate_after - age
    # The daemon's own test (RotationPolicy): it can answer 2FA without a human only
    # with a TOTP secret or through a bypass-2FA token.
    unattended = settings.auth.totp_secret is not None or slot.bypass_two_factor
    return {
        "username": me.get("username"),
        "user_id": auth.record.user_id,
        "server": auth.record.server_url,
        "token_name": slot.name,
        "token_last_chars": slot.last_chars,
        "token_created_at": slot.created_at.isoformat(),
        "token_age_seconds": int(age.total_seconds()),
        "rotate_after_seconds": int(settings.tokens.rotate_after.total_seconds()),
        "rotation_due": due_in.total_seconds() <= 0,
        "rotation_due_in_seconds": int(due_in.total_seconds()),
        "rotation_unattended": unattended,
        "needs_human": (not auth.read_only and not unattended
                        and due_in <= settings.tokens.warn_before),
        "read_only": auth.read_only,
        "age_text": _age_text(age),
        "due_text": _age_text(abs(due_in)),
    }


@click.command("whoami")
@common_options
@json_option
@pass_state
def whoami_cmd(state: CLIState, as_json: bool) -> None:
    """Check the stored token against the server and show whose it is."""
    report = whoami_report(state)
    if as_json:
        click.echo(json.dumps(
            {k: v for k, v in report.items() if not k.endswith("_text")}, indent=2
        ))
        return
    click.echo(f"user:     {report['username']} (id {report['user_id']})")
    click.echo(f"server:   {report['server']}")
    click.echo(f"token:    {report['token_name']} (...{report['token_last_chars']})")
    click.echo(f"age:      {report['age_text']}")
    if report["read_only"]:
        click.echo("rotation: off (token injected through the environment)")
        return
    if report["rotation_due"]:
        line = f"rotation: overdue by {report['due_text']}"
    else:
        line = f"rotation: due in {report['due_text']}"
    if report["needs_human"]:
        line += f"; {HUMAN_ROTATION}"
    elif report["rotation_unattended"]:
        line += " (the daemon rotates it unattended)"
    click.echo(line)
