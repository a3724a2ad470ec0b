"""`botkit run`: the daemon that runs plugin jobs for months, through restarts and failures.

Start: config, token (NotBootstrapped -> exit 3), verify it with `me`, reconcile tokens,
load plugins, start jobs and the two system jobs (rotation check, token audit).
Stop: the first SIGTERM/SIGINT drains running jobs up to `shutdown_timeout`; a second
one cancels them at once. A 401 while running stops every job and ends with exit 3
instead of hammering the server with a revoked token.

While it runs, the daemon holds an exclusive lock on `daemon.lock` in the state dir
(two daemons on one token would rotate it under each other's feet) and keeps
`daemon.json` up to date for `botkit status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import fcntl
import json
import os
import pathlib
import signal
import typing

from loguru import logger

from botkit._audit import AuditLog
from botkit._chat import Chat
from botkit._config import Settings
from botkit._context import ContextFactory
from botkit._duration import format_duration
from botkit._inventory import audit_tokens, inventory
from botkit._loader import LoadedPlugin, discover_plugins
from botkit._rotation import created_here, list_server_tokens, reconcile, rotate
from botkit._scheduler import Scheduler
from botkit._services import (
    StoredAuth,
    TokenServices,
    load_auth,
    open_audit,
    open_session,
    token_lock,
    unattended_provider,
)
from botkit._session import Credentials, Session
from botkit._state import STATE_DB, atomic_write, ensure_state_dir
from botkit._storage import StateDB
from botkit._tokens import FileTokenStore, open_token_store
from botkit._twofactor import SecondFactorProvider
from botkit.errors import (
    ApiError,
    AuthError,
    BotkitError,
    LockHeld,
    TwoFactorError,
    Unauthorized,
)

__all__ = [
    "DAEMON_LOCK",
    "DAEMON_STATUS",
    "Daemon",
    "RotationPolicy",
    "build_scheduler",
    "daemon_running",
    "read_daemon_status",
    "run_daemon",
]

DAEMON_LOCK = "daemon.lock"
DAEMON_STATUS = "daemon.json"
#: Runs kept per job in the history (pruned at start and with the daily token audit).
RUN_HISTORY_KEEP = 1000
#: How often `daemon.json` is refreshed while the daemon runs.
STATUS_INTERVAL = 5.0

Clock = typing.Callable[[], datetime.datetime]


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def daemon_running(state_dir: pathlib.Path) -> bool:
    """Whether a daemon holds the state dir's lock right now."""
    path = state_dir / DAEMON_LOCK
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def read_daemon_status(state_dir: pathlib.Path) -> dict[str, typing.Any] | None:
    """The last status the daemon wrote, or None."""
    try:
        data = json.loads((state_dir / DAEMON_STATUS).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class _DaemonLock:
    """An exclusive, non-blocking flock held for the daemon's lifetime."""

    def __init__(self, path: pathlib.Path) -> None:
        self._path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BotkitError(
                f"another botkit daemon is running with the state directory {self._path.parent}",
                hint="stop it first, or give this one its own [state] dir",
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class RotationPolicy:
    """The daemon's rotation check: rotate when due and possible, else warn ahead."""

    def __init__(
        self,
        services: TokenServices,
        provider: SecondFactorProvider | None,
        db: StateDB,
        clock: Clock,
    ) -> None:
        self.services = services
        self.settings, self.session = services.settings, services.session
        self.store, self.audit = services.store, services.audit
        self.provider = provider
        self.db = db
        self.clock = clock

    async def check(self) -> None:
        """Run as the system job `botkit.rotation`."""
        record = await self.store.load_async()
        if record is None or record.current is None or self.store.read_only:
            return
        current = record.current
        age = self.clock() - current.created_at
        policy = self.settings.tokens
        unattended = self.provider is not None or current.bypass_two_factor
        if age >= policy.rotate_after and unattended:
            logger.info("token {} is {} old: rotating", current.name,
                        format_duration(datetime.timedelta(seconds=int(age.total_seconds()))))
            if self.provider is None and not policy.bypass_two_factor:
                logger.warning(
                    "the new token will not bypass 2FA ([tokens] bypass_two_factor = false) "
                    "and there is no TOTP secret: its own rotation will need a human"
                )
            try:
                async with token_lock(self.settings, wait=0):
                    result = await rotate(self.services, self.provider, now=self.clock)
            except LockHeld as error:
                # A CLI command is changing tokens right now; the next check tries again.
                logger.info("rotation postponed: {}", error)
                return
            logger.info("rotated to {} (...{})", result.new_name, result.new_last_chars)
        elif age >= policy.rotate_after - policy.warn_before and not unattended:
            await self._warn(current.name, policy.rotate_after - age)

    async def _warn(self, name: str, due_in: datetime.timedelta) -> None:
        """Say that a human must rotate: in the log at every check, once a day elsewhere."""
        whole = datetime.timedelta(seconds=int(abs(due_in.total_seconds())))
        overdue = due_in.total_seconds() <= 0
        when = f"is overdue by {format_duration(whole)}" if overdue else (
            f"is due in {format_duration(whole)}")
        message = (
            f"botkit: rotation of token {name} {when}, and botkit cannot rotate it "
            "unattended (no TOTP secret, token not bypass-2FA): run `botkit token rotate` "
            "(or set [auth] totp_secret)"
        )
        logger.warning(message)
        # One audit record and one direct message a day are enough; the state database
        # remembers the day of the last one across checks and restarts.
        key = f"rotation-warning:{name}"
        today = json.dumps(self.clock().date().isoformat())
        if await self.db.kv_get("botkit", key) == today:
            return
        await self.audit.record(
            "rotation.failed", token=name, reason="needs a human for 2FA",
            overdue=overdue, due_in_seconds=int(due_in.total_seconds()),
        )
        admin = self.settings.tokens.admin_user
        if admin:
            try:
                await Chat(self.session).post(f"@{admin}", message)
            except BotkitError as error:
                # The reminder is a courtesy: the log and the audit record already say it.
                logger.warning("cannot send the rotation reminder to @{}: {}", admin,
                               error.message)
        await self.db.kv_set("botkit", key, today)


def _plugin_audit(
    audit: AuditLog,
) -> typing.Callable[[str, dict[str, typing.Any]], typing.Awaitable[None]]:
    """Plugins' audit records carry the actor `plugin:<name>` (design section 5)."""

    async def record(event: str, details: dict[str, typing.Any]) -> None:
        await audit.record_details(event, details, actor=f"plugin:{details['plugin']}")

    return record


async def token_audit_job(services: TokenServices, clock: Clock) -> None:
    """The system job `botkit.token_audit`: log and audit the inventory's findings."""
    settings, audit = services.settings, services.audit
    record = await services.store.load_async()
    rows = inventory(record, await list_server_tokens(services.session),
                     settings.tokens.name_prefix)
    ours = await asyncio.to_thread(created_here, audit.path)
    findings = audit_tokens(rows, settings.tokens, clock(), ours=ours)
    for finding in findings:
        logger.warning("token audit: {}: {}", finding.kind, finding.message)
    await audit.record("audit.findings", count=len(findings),
                       kinds=sorted({f.kind for f in findings}))


def build_scheduler(
    services: TokenServices,
    db: StateDB,
    provider: SecondFactorProvider | None,
    *,
    clock: Clock = _utc_now,
    on_fatal: typing.Callable[[BaseException], None] | None = None,
) -> tuple[Scheduler, list[LoadedPlugin]]:
    """The scheduler with every enabled plugin's jobs and botkit's two system jobs.

    Shared by the daemon, `botkit jobs list/run` and `botkit status`, so that all of
    them see the same jobs under the same names.
    """
    settings, session, audit = services.settings, services.session, services.audit
    plugins = discover_plugins(settings.plugins)
    factory = ContextFactory(
        db=db, rest=session, chat=Chat(session), audit=_plugin_audit(audit),
        rest_for_plugin=session.for_plugin,
        chat_for_plugin=lambda name: Chat(session.for_plugin(name)),
    )
    scheduler = Scheduler(settings.scheduler, db, factory, clock=clock, on_fatal=on_fatal)
    scheduler.add_plugin_jobs(plugins)
    policy = RotationPolicy(services, provider, db, clock)
    scheduler.add_system_job("botkit.rotation", policy.check,
                             interval=settings.tokens.check_interval, timeout="10m")

    async def token_audit() -> None:
        await token_audit_job(services, clock)
        await db.prune_runs(keep=RUN_HISTORY_KEEP)

    scheduler.add_system_job("botkit.token_audit", token_audit,
                             interval=settings.tokens.audit_interval, timeout="5m")
    return scheduler, plugins


class Daemon:
    """The long-running process behind `botkit run`."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = _utc_now,
        install_signal_handlers: bool = True,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.install_signal_handlers = install_signal_handlers
        self.stop_requested = asyncio.Event()
        self._signals = 0
        self._fatal: BaseException | None = None
        self.scheduler: Scheduler | None = None
        self.plugins: list[LoadedPlugin] = []
        self._session: Session | None = None
        self._store: FileTokenStore | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._last_status: dict[str, typing.Any] | None = None
        self.started_at = clock()

    def request_stop(self) -> None:
        """First call: drain and stop. Second call: cancel running jobs at once."""
        self._signals += 1
        if self._signals == 1:
            logger.info("stopping: waiting for running jobs (send the signal again to cancel)")
            self.stop_requested.set()
        elif self.scheduler is not None:
            logger.warning("second signal: cancelling running jobs")
            self.scheduler.cancel_running()

    def _on_fatal(self, error: BaseException) -> None:
        """A job or hook got a 401: confirm the token really is dead before stopping."""
        if not isinstance(error, AuthError) or self._session is None or self._store is None:
            self._stop_fatally(error)
            return
        task = asyncio.get_running_loop().create_task(self._confirm_rejection(error))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _confirm_rejection(self, error: BaseException) -> None:
        session, store = self._session, self._store
        assert session is not None and store is not None
        if not session.token_rejected:
            # A 401 for other credentials (an old token after a rotation, a pending token
            # being checked): the live token is fine.
            return
        if await self._follow_store(session, store):
            return
        self._stop_fatally(error)

    def _stop_fatally(self, error: BaseException) -> None:
        if self._fatal is None:
            self._fatal = error
        self.stop_requested.set()

    async def run(self) -> None:
        """Run until stopped; raises Unauthorized (exit 3) if the token is revoked."""
        settings = self.settings
        state_dir = ensure_state_dir(settings.state.dir)
        lock = _DaemonLock(state_dir / DAEMON_LOCK)
        lock.acquire()
        try:
            auth = load_auth(settings)
            audit = open_audit(settings, actor="daemon")
            provider = unattended_provider(settings)
            async with open_session(settings, auth.credentials, second_factor=provider,
                                    audit=audit) as session:
                services = TokenServices(settings, session, open_token_store(settings), audit)
                await self._verify(session, auth)
                if not auth.read_only:
                    await self._reconcile(services, provider)
                async with StateDB(state_dir / STATE_DB) as db:
                    await self._serve(services, provider, db, state_dir)
        finally:
            lock.release()

    async def _verify(self, session: Session, auth: StoredAuth) -> None:
        try:
            me = await session.get("me")
        except Unauthorized as error:
            raise Unauthorized(
                f"the server rejected token {auth.credentials.name}", status=error.status,
                hint="the token was revoked or deleted: run `botkit bootstrap` again",
            ) from None
        logger.info("signed in as {} with token {}", me.get("username"), auth.credentials.name)
        if auth.read_only:
            logger.info("the token comes from BOTKIT_AUTH__TOKEN: rotation is off")

    async def _reconcile(
        self, services: TokenServices, provider: SecondFactorProvider | None
    ) -> None:
        try:
            async with token_lock(self.settings):
                _, actions = await reconcile(services, provider)
        except TwoFactorError:
            logger.warning(
                "an interrupted rotation needs a 2FA code to be cleaned up: "
                "run `botkit token reconcile` (it will ask for the code)"
            )
            return
        except ApiError as error:
            # The token works (verified just before); cleaning up can wait for a human.
            logger.warning("reconciliation skipped: {}", error)
            return
        for action in actions:
            logger.info("reconciled: {}", action)
        await self._follow_store(services.session, services.store)

    async def _follow_store(self, session: Session, store: FileTokenStore) -> bool:
        """Switch the session to the store's current token if another process changed it.

        Returns True if it switched: a `botkit token rotate` run while the daemon runs
        replaces (and removes) the token the daemon was using.
        """
        record = await store.load_async()
        if record is None or record.current is None:
            return False
        in_use = session.credentials
        if in_use is not None and in_use.name == record.current.name:
            return False
        session.set_credentials(
            Credentials(record.user_id, record.current.secret, record.current.name)
        )
        logger.info("now using token {} (changed by another botkit process)",
                    record.current.name)
        return True

    async def _serve(
        self,
        services: TokenServices,
        provider: SecondFactorProvider | None,
        db: StateDB,
        state_dir: pathlib.Path,
    ) -> None:
        settings, session, audit = self.settings, services.session, services.audit
        self._session, self._store = session, services.store
        await db.prune_runs(keep=RUN_HISTORY_KEEP)
        scheduler, self.plugins = build_scheduler(
            services, db, provider, clock=self.clock, on_fatal=self._on_fatal
        )
        self.scheduler = scheduler
        loop = asyncio.get_running_loop()
        if self.install_signal_handlers:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.request_stop)
        await scheduler.start()
        await audit.record("daemon.started", pid=os.getpid(),
                           plugins=[p.name for p in self.plugins if p.enabled])
        enabled = [p.name for p in self.plugins if p.enabled]
        logger.info("running {} job(s) from plugins: {}", len(scheduler.job_names),
                    ", ".join(enabled) or "(none)")
        status_task = loop.create_task(self._status_loop(session, state_dir))
        try:
            await self.stop_requested.wait()
        finally:
            status_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await status_task
            if self._fatal is not None:
                await scheduler.stop_now()
            else:
                await scheduler.shutdown(settings.scheduler.shutdown_timeout)
            if self.install_signal_handlers:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
            reason = "token rejected" if self._fatal is not None else "stopped"
            with contextlib.suppress(BotkitError):
                await audit.record("daemon.stopped", reason=reason)
            await self._write_status(session, state_dir, running=False)
        if self._fatal is not None:
            if isinstance(self._fatal, AuthError):
                raise Unauthorized(
                    "the server rejected botkit's token while running; all jobs were stopped",
                    status=401, hint="the token was revoked: run `botkit bootstrap` again",
                )
            raise self._fatal

    async def _status_loop(self, session: Session, state_dir: pathlib.Path) -> None:
        while True:
            await self._write_status(session, state_dir, running=True)
            if session.token_rejected:
                await self._confirm_rejection(Unauthorized("token rejected", status=401))
            await asyncio.sleep(STATUS_INTERVAL)

    async def _write_status(
        self, session: Session, state_dir: pathlib.Path, *, running: bool
    ) -> None:
        """Refresh daemon.json for `botkit status`, only when something changed."""
        stats = {name: dataclasses.asdict(counters) for name, counters in session.stats.items()}
        status = {
            "pid": os.getpid(),
            "running": running,
            "started_at": self.started_at.isoformat(),
            "plugins": {p.name: {"enabled": p.enabled, "reason": p.reason} for p in self.plugins},
            "requests": stats,
        }
        if status == self._last_status:
            return
        self._last_status = status
        try:
            data = json.dumps({**status, "updated_at": self.clock().isoformat()},
                              default=str).encode()
            await asyncio.to_thread(atomic_write, state_dir / DAEMON_STATUS, data)
        except OSError as error:
            logger.warning("cannot write {}: {}", DAEMON_STATUS, error.strerror)


async def run_daemon(settings: Settings) -> None:
    """Entry point for `botkit run`."""
    await Daemon(settings).run()

