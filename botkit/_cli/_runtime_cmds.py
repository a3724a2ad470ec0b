"""`botkit run`, `botkit status`, `botkit jobs list|run` and `botkit plugins list`."""

from __future__ import annotations

import contextlib
import datetime
import json
import typing

import click

from botkit._cli._common import CLIState, common_options, json_option, pass_state, run_async

if typing.TYPE_CHECKING:
    from botkit._config import Settings
    from botkit._scheduler import JobInfo, RunResult

__all__ = ["jobs", "plugins", "run_cmd", "status_cmd"]


@click.command("run")
@common_options
@pass_state
def run_cmd(state: CLIState) -> None:
    """Run the daemon: plugins and their scheduled jobs, until SIGTERM/SIGINT."""
    from botkit._daemon import run_daemon

    run_async(run_daemon(state.settings))


def _when(moment: datetime.datetime | None) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@contextlib.asynccontextmanager
async def _offline_scheduler(
    settings: Settings, *, for_running: bool = False
) -> typing.AsyncIterator[typing.Any]:
    """The daemon's scheduler, not started: for listings, or to run one job now."""
    from botkit._daemon import build_scheduler
    from botkit._services import (
        load_auth,
        open_audit,
        open_session,
        token_services,
        unattended_provider,
    )
    from botkit._state import STATE_DB, ensure_state_dir
    from botkit._storage import StateDB

    credentials = load_auth(settings).credentials if for_running else None
    audit = open_audit(settings, actor="cli")
    provider = unattended_provider(settings)
    state_dir = ensure_state_dir(settings.state.dir)
    async with (
        open_session(settings, credentials, second_factor=provider, audit=audit) as session,
        StateDB(state_dir / STATE_DB) as db,
    ):
        services = token_services(settings, session, audit)
        scheduler, _plugins = build_scheduler(services, db, provider)
        yield scheduler


def _job_json(info: JobInfo) -> dict[str, typing.Any]:
    return {
        "name": info.name, "plugin": info.plugin, "trigger": info.trigger,
        "next_run": _iso(info.next_run), "last_outcome": info.last_outcome,
        "last_run_at": _iso(info.last_run_at), "last_error": info.last_error,
    }


def _print_jobs(infos: list[JobInfo]) -> None:
    click.echo(f"{'JOB':<32} {'TRIGGER':<24} {'NEXT RUN (UTC)':<20} {'LAST':<10} LAST RUN (UTC)")
    for info in infos:
        click.echo(
            f"{info.name:<32} {info.trigger[:24]:<24} {_when(info.next_run):<20} "
            f"{info.last_outcome or '-':<10} {_when(info.last_run_at)}"
        )


@click.group("jobs")
def jobs() -> None:
    """List jobs, or run one now."""


@jobs.command("list")
@common_options
@json_option
@pass_state
def jobs_list(state: CLIState, as_json: bool) -> None:
    """Every job with its next run and last outcome."""

    async def main() -> list[JobInfo]:
        async with _offline_scheduler(state.settings) as scheduler:
            return typing.cast("list[JobInfo]", await scheduler.jobs())

    infos = run_async(main())
    if as_json:
        click.echo(json.dumps([_job_json(i) for i in infos], indent=2))
    else:
        _print_jobs(infos)


@jobs.command("run")
@click.argument("name")
@common_options
@pass_state
def jobs_run(state: CLIState, name: str) -> None:
    """Run one job once, now, in this process (exit 1 if it fails)."""

    async def main() -> RunResult:
        async with _offline_scheduler(state.settings, for_running=True) as scheduler:
            return typing.cast("RunResult", await scheduler.run_now(name))

    result = run_async(main())
    took = (result.ended_at - result.started_at).total_seconds() if (
        result.ended_at and result.started_at) else 0.0
    click.echo(f"{name}: {result.outcome} in {took:.2f}s")


@click.group("plugins")
def plugins() -> None:
    """Discovered plugins."""


@plugins.command("list")
@common_options
@json_option
@pass_state
def plugins_list(state: CLIState, as_json: bool) -> None:
    """Discovered plugins, enabled or not, and why not."""
    from botkit._loader import discover_plugins

    found = discover_plugins(state.settings.plugins)
    rows: list[dict[str, typing.Any]] = [
        {
            "name": p.name, "enabled": p.enabled, "reason": p.reason, "source": p.source,
            "version": p.plugin.version if p.plugin else None,
            "jobs": [j.name for j in p.jobs],
        }
        for p in found
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        paths = ", ".join(str(p) for p in state.settings.plugins.paths)
        click.echo(f"no plugins found (looked in: {paths}, and the botkit.plugins entry points)")
        return
    for row in rows:
        status = "enabled" if row["enabled"] else f"disabled: {row['reason']}"
        click.echo(f"{row['name']:<20} {status}")
        click.echo(f"{'':<20} {row['source']}; jobs: {', '.join(row['jobs']) or '-'}")


@click.command("status")
@common_options
@json_option
@pass_state
def status_cmd(state: CLIState, as_json: bool) -> None:
    """What the daemon is doing: jobs, last outcomes, token age, rotation due."""
    from botkit._daemon import daemon_running, read_daemon_status
    from botkit._tokens import open_token_store

    settings = state.settings
    running = daemon_running(settings.state.dir)
    daemon = read_daemon_status(settings.state.dir) or {}

    async def main() -> list[JobInfo]:
        async with _offline_scheduler(settings) as scheduler:
            return typing.cast("list[JobInfo]", await scheduler.jobs())

    infos = run_async(main())
    record = open_token_store(settings).load()
    now = datetime.datetime.now(datetime.UTC)
    token: dict[str, typing.Any] | None = None
    if record is not None and record.current is not None:
        age = now - record.current.created_at
        due_in = settings.tokens.rotate_after - age
        unattended = settings.auth.totp_secret is not None or record.current.bypass_two_factor
        token = {
            "name": record.current.name, "last_chars": record.current.last_chars,
            "age_seconds": int(age.total_seconds()),
            "rotation_due_in_seconds": int(due_in.total_seconds()),
            "rotation_unattended": unattended,
            "needs_human": not unattended and due_in <= settings.tokens.warn_before,
        }
    report: dict[str, typing.Any] = {
        "daemon": {"running": running, "pid": daemon.get("pid") if running else None,
                   "started_at": daemon.get("started_at") if running else None,
                   "requests": daemon.get("requests", {})},
        "token": token,
        "jobs": [_job_json(i) for i in infos],
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    if running:
        click.echo(f"daemon:   running (pid {daemon.get('pid')}, since {daemon.get('started_at')})")
    else:
        click.echo("daemon:   not running")
    if token is None:
        click.echo("token:    none stored (run `botkit bootstrap`)")
    else:
        days = token["age_seconds"] // 86400
        due = token["rotation_due_in_seconds"]
        click.echo(f"token:    {token['name']} (...{token['last_chars']}), {days} day(s) old")
        if due <= 0:
            click.echo("rotation: overdue" + (
                "" if token["rotation_unattended"] else ": run `botkit token rotate`"))
        else:
            click.echo(f"rotation: due in {due // 86400} day(s)" + (
                " (unattended)" if token["rotation_unattended"]
                else "; a human must run `botkit token rotate`" if token["needs_human"]
                else " (botkit cannot rotate unattended: a human will be asked)"))
    for plugin, counters in sorted(report["daemon"]["requests"].items()):
        click.echo(f"requests: {plugin}: {counters}")
    click.echo("")
    _print_jobs(infos)
