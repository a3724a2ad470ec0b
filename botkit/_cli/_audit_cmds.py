"""`botkit audit show` and `botkit audit verify`: the local audit log (design section 5)."""

from __future__ import annotations

import datetime
import json
import pathlib
import typing

import click

from botkit._cli._common import CLIState, common_options, json_option, pass_state
from botkit._duration import parse_duration
from botkit._state import AUDIT_FILE

__all__ = ["audit", "parse_since"]


def parse_since(value: str, now: datetime.datetime | None = None) -> datetime.datetime:
    """A duration back from now (``7d``, ``12h``) or an ISO 8601 date or time (UTC if naive).

    Raises:
        ValueError: `value` is neither.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    try:
        return now - parse_duration(value)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{value!r} is neither a duration (7d, 12h) nor a date (2025-03-01, "
            "2025-03-01T12:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _since_option(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> datetime.datetime | None:
    if value is None:
        return None
    try:
        return parse_since(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def _log_path(state: CLIState) -> pathlib.Path:
    return state.settings.state.dir / AUDIT_FILE


def _format_details(details: dict[str, typing.Any]) -> str:
    parts = []
    for key, value in details.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}={text}")
    return " ".join(parts)


@click.group("audit")
@common_options
def audit() -> None:
    """Show or verify the audit log."""


@audit.command("show")
@common_options
@click.option(
    "--since", metavar="WHEN", default=None, callback=_since_option,
    help="Only records since a duration ago (7d, 12h) or a date (2025-03-01).",
)
@click.option(
    "--event", metavar="NAME", default=None,
    help="Only this event; a trailing * matches a prefix (token.*).",
)
@json_option
@pass_state
def show(
    state: CLIState, since: datetime.datetime | None, event: str | None, as_json: bool
) -> None:
    """List the audit records, oldest first."""
    from botkit._audit import read

    records = read(_log_path(state), since=since, event=event)
    if as_json:
        click.echo(json.dumps(records, ensure_ascii=False, indent=2))
        return
    if not records:
        click.echo("no audit records" + (" match" if since or event else ""))
        return
    for record in records:
        click.echo(
            f"{record['seq']:>5}  {record['time']}  {record['actor']:<8} "
            f"{record['event']:<20} {_format_details(record['details'])}".rstrip()
        )


@audit.command("verify")
@common_options
@json_option
@pass_state
@click.pass_context
def verify_cmd(ctx: click.Context, state: CLIState, as_json: bool) -> None:
    """Check the hash chain; exit 1 at the first broken record."""
    from botkit._audit import verify

    path = _log_path(state)
    result = verify(path)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "path": str(path),
                    "ok": result.ok,
                    "records": result.records,
                    "first_bad_line": result.first_bad_line,
                    "reason": result.reason,
                },
                indent=2,
            )
        )
    elif result.ok:
        click.echo(f"audit log OK: {result.records} records, chain intact ({path})")
    if not result.ok:
        if not as_json:
            click.echo(f"botkit: error: audit log {path} is broken: {result.reason}", err=True)
        ctx.exit(1)
