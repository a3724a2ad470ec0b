"""Make-before-break token rotation and the reconciliation that finishes or undoes it.

Design section 4. Rotation never calls `users.regeneratePersonalAccessToken` (it kills
the old token before the new one is stored). Instead, each step is recorded before the
next one starts:

    audit rotation.started (fail closed)  ->  create new PAT  ->  store it as pending
    ->  verify it (`me`)  ->  promote (old becomes previous)  ->  switch the live session
    ->  remove the old PAT on the server  ->  clear previous  ->  audit rotation.completed

A crash anywhere leaves at least one working token in the store, and `reconcile` (run at
every start and before every rotation) takes it from there: a pending token is promoted
if it works or dropped if not, a previous token is removed, and tokens that botkit named
but the store does not know (the server created one, the process died before storing
it) are removed.

The old PAT is removed *with the old PAT*: the creation's 2FA answer opened the
trusted-client window on the token that made the request (behaviour document 3.8), so
the removal needs no second code while the window lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import pathlib
import re
import typing

from loguru import logger
from pydantic import SecretStr

from botkit._audit import AuditLog
from botkit._audit import read as read_audit
from botkit._bootstrap import token_name
from botkit._redact import register_secret
from botkit._services import TokenServices
from botkit._session import Credentials, Session
from botkit._tokens import TokenRecord, TokenSlot
from botkit._twofactor import SecondFactorProvider
from botkit.errors import ApiError, AuthError, Forbidden, Unauthorized

__all__ = [
    "RotationResult",
    "ServerToken",
    "botkit_name_pattern",
    "created_here",
    "list_server_tokens",
    "reconcile",
    "rotate",
]

Now = typing.Callable[[], datetime.datetime]


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclasses.dataclass(frozen=True)
class ServerToken:
    """One PAT as `users.getPersonalAccessTokens` lists it (no secret, no usage data)."""

    name: str
    created_at: datetime.datetime
    last_chars: str
    bypass_two_factor: bool


@dataclasses.dataclass(frozen=True)
class RotationResult:
    """The outcome of one rotation: the names and last characters of old and new."""

    old_name: str
    new_name: str
    new_last_chars: str


def botkit_name_pattern(prefix: str) -> re.Pattern[str]:
    """Names botkit gives its tokens: `<prefix>-YYYYmmddTHHMMSSZ`, maybe with `-<n>`."""
    return re.compile(rf"^{re.escape(prefix)}-\d{{8}}T\d{{6}}Z(?:-\d+)?$")


def created_here(audit_path: pathlib.Path) -> set[str]:
    """Names of the tokens this install asked the server for, from its own audit log.

    Every creation is announced in the audit log before the request is sent
    (`token.requested`, `rotation.started`), so a token the server made but the store
    never saw is still known here. Tokens named like botkit's that are not in this set
    belong to another install (or to one whose audit log is gone): never removed.
    """
    names: set[str] = set()
    if not audit_path.exists():
        return names
    for record in read_audit(audit_path):
        details = record.get("details", {})
        if record.get("event") == "rotation.started":
            names.add(str(details.get("new_token")))
        elif record.get("event") in ("token.requested", "token.created"):
            names.add(str(details.get("token")))
    return names


def _parse_time(text: typing.Any) -> datetime.datetime:
    return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))


async def list_server_tokens(session: Session) -> list[ServerToken]:
    """The user's PATs on the server, in the server's order."""
    answer = await session.get("users.getPersonalAccessTokens")
    tokens = []
    for item in answer.get("tokens", []):
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            tokens.append(ServerToken(
                name=item["name"], created_at=_parse_time(item.get("createdAt")),
                last_chars=str(item.get("lastTokenPart", "")),
                bypass_two_factor=bool(item.get("bypassTwoFactor")),
            ))
    return tokens


def _creds(record: TokenRecord, slot: TokenSlot) -> Credentials:
    return Credentials(record.user_id, slot.secret, slot.name)


async def _works(session: Session, creds: Credentials) -> bool:
    try:
        await session.with_credentials(creds).get("me")
    except Unauthorized:
        return False
    return True


async def _remove(
    session: Session, creds: Credentials, name: str, provider: SecondFactorProvider | None
) -> bool:
    """Remove PAT `name` using `creds`; False if the server says it does not exist."""
    try:
        await session.with_credentials(creds, second_factor=provider).post(
            "users.removePersonalAccessToken", json={"tokenName": name}
        )
    except ApiError as error:
        if error.error_type == "error-token-does-not-exists":
            return False
        raise
    return True


class _Reconciler:
    """One reconciliation pass; each action is audited before or as it happens."""

    def __init__(self, services: TokenServices, provider: SecondFactorProvider | None) -> None:
        self.settings, self.session = services.settings, services.session
        self.store, self.audit = services.store, services.audit
        self.provider = provider
        self.actions: list[str] = []

    async def run(self, record: TokenRecord) -> TokenRecord:
        record = await self._settle_pending(record)
        if record.current is None:
            raise AuthError(
                "no working token is left in the store",
                hint="run `botkit bootstrap` to get a new one",
            )
        working = _creds(record, record.current)
        record = await self._remove_previous(record, working)
        await self._remove_orphans(record, working)
        if self.actions:
            await self.audit.record("rotation.reconciled", actions=self.actions)
        return record

    async def _settle_pending(self, record: TokenRecord) -> TokenRecord:
        pending = record.pending
        if pending is None:
            return record
        if await _works(self.session, _creds(record, pending)):
            await self.audit.record("token.verified", token=pending.name, last=pending.last_chars)
            await self.audit.record("token.promoted", token=pending.name, last=pending.last_chars)
            record = record.promote()
            await self.store.save_async(record)
            self.actions.append(f"promoted pending {pending.name}")
        else:
            # A pending token the server does not accept is not on the server: drop it.
            await self.audit.record("token.removed", token=pending.name, where="local",
                                    reason="pending token rejected by the server")
            record = record.drop_pending()
            await self.store.save_async(record)
            self.actions.append(f"dropped pending {pending.name}")
        return record

    async def _remove_previous(self, record: TokenRecord, working: Credentials) -> TokenRecord:
        previous = record.previous
        if previous is None:
            return record
        # Prefer the old token itself: its trusted window may still be open.
        old = _creds(record, previous)
        use = old if await _works(self.session, old) else working
        await self.audit.record("token.removed", token=previous.name, last=previous.last_chars,
                                where="server", reason="replaced by rotation")
        await _remove(self.session, use, previous.name, self.provider)
        record = record.clear_previous()
        await self.store.save_async(record)
        self.actions.append(f"removed previous {previous.name}")
        return record

    async def _remove_orphans(self, record: TokenRecord, working: Credentials) -> None:
        pattern = botkit_name_pattern(self.settings.tokens.name_prefix)
        known = {slot.name for slot in (record.current, record.pending, record.previous) if slot}
        ours = await asyncio.to_thread(created_here, self.audit.path)
        try:
            server = await list_server_tokens(self.session.with_credentials(working))
        except Forbidden:
            # The user may no longer list tokens (e.g. moved to the `bot` role after
            # bootstrap): the token works, only the orphan sweep is impossible.
            logger.warning("cannot list this user's tokens (403): orphan sweep skipped")
            return
        for token in server:
            if pattern.match(token.name) and token.name in ours and token.name not in known:
                await self.audit.record("token.removed", token=token.name,
                                        last=token.last_chars, where="server",
                                        reason="orphan: created by botkit, never stored")
                await _remove(self.session, working, token.name, self.provider)
                self.actions.append(f"removed orphan {token.name}")


async def reconcile(
    services: TokenServices, provider: SecondFactorProvider | None
) -> tuple[TokenRecord, list[str]]:
    """Finish or undo an interrupted rotation; returns the record and what was done."""
    record = await services.store.load_async()
    if record is None:
        raise AuthError("no token is stored", hint="run `botkit bootstrap`")
    audit = services.audit
    reconciler = _Reconciler(services, provider)
    try:
        record = await reconciler.run(record)
    except BaseException as error:
        # Its removals were announced before they were tried: say that one failed.
        await _note_failure(audit, error, stage="reconcile")
        raise
    return record, reconciler.actions


def _free_name(prefix: str, now: datetime.datetime, taken: set[str]) -> str:
    base = token_name(prefix, now)
    name, n = base, 1
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


async def rotate(
    services: TokenServices,
    provider: SecondFactorProvider | None,
    *,
    now: Now = _utc_now,
) -> RotationResult:
    """Rotate the current PAT, make-before-break; the session is switched to the new one."""
    settings, session = services.settings, services.session
    store, audit = services.store, services.audit
    if store.read_only:
        raise AuthError(
            "the token was injected through the environment; botkit does not rotate it",
            hint="rotate it in Rocket.Chat and update BOTKIT_AUTH__TOKEN",
        )
    record, _ = await reconcile(services, provider)
    current = record.current
    assert current is not None
    old = _creds(record, current)
    taken = {t.name for t in await list_server_tokens(session.with_credentials(old))}
    name = _free_name(settings.tokens.name_prefix, now(), taken)
    bypass = settings.tokens.bypass_two_factor
    # Fail closed: nothing changes on the server unless this record is written.
    await audit.record("rotation.started", token=current.name, new_token=name)
    try:
        answer = await session.with_credentials(old, second_factor=provider).post(
            "users.generatePersonalAccessToken",
            json={"tokenName": name, "bypassTwoFactor": bypass},
        )
        secret = answer.get("token")
        if not isinstance(secret, str) or not secret:
            raise AuthError("the server created a token but did not return it")
        register_secret(secret)
        slot = TokenSlot(name=name, secret=SecretStr(secret), created_at=now(),
                         bypass_two_factor=bypass)
        record = record.with_pending(slot)
        await store.save_async(record)
        await audit.record("token.created", token=name, last=slot.last_chars,
                           bypass_two_factor=bypass)
        new = _creds(record, slot)
        await session.with_credentials(new).get("me")
        await audit.record("token.verified", token=name, last=slot.last_chars)
        # Audit, then change: a promotion that cannot be recorded does not happen.
        await audit.record("token.promoted", token=name, last=slot.last_chars)
        record = record.promote()
        await store.save_async(record)
        session.set_credentials(new)
        await audit.record("token.removed", token=current.name, last=current.last_chars,
                           where="server", reason="replaced by rotation")
        await _remove(session, old, current.name, provider)
        record = record.clear_previous()
        await store.save_async(record)
    except BaseException as error:
        await _note_failure(audit, error)
        raise
    await audit.record("rotation.completed", old_token=current.name, token=name,
                       last=slot.last_chars)
    return RotationResult(old_name=current.name, new_name=name, new_last_chars=slot.last_chars)


async def _note_failure(audit: AuditLog, error: BaseException, *, stage: str = "rotate") -> None:
    """Record a failed rotation (best effort: the failure itself is what matters)."""
    with contextlib.suppress(Exception):
        await audit.record("rotation.failed", stage=stage, error=type(error).__name__)

