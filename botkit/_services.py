"""Building the objects a command needs from the settings, in one place.

Commands and the daemon get their session, token store, audit log and credentials
here, so that every entry point applies the same checks (token file permissions,
the token belongs to this server, injected tokens are read-only).
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

from botkit._audit import AuditLog
from botkit._config import Settings
from botkit._session import Credentials, Session
from botkit._state import AUDIT_FILE, TOKEN_LOCK, ensure_state_dir, exclusive_lock
from botkit._tokens import FileTokenStore, TokenRecord, open_token_store
from botkit._twofactor import SecondFactorProvider, TotpProvider
from botkit.errors import NotBootstrapped

__all__ = [
    "StoredAuth",
    "TokenServices",
    "load_auth",
    "open_audit",
    "open_session",
    "token_lock",
    "token_services",
    "unattended_provider",
]


@dataclasses.dataclass(frozen=True)
class TokenServices:
    """What every token step (bootstrap, rotation, reconciliation, policy) works with."""

    settings: Settings
    session: Session
    store: FileTokenStore
    audit: AuditLog


def token_services(settings: Settings, session: Session, audit: AuditLog) -> TokenServices:
    """The bundle for this configuration, with its token store."""
    return TokenServices(settings, session, open_token_store(settings), audit)


@dataclasses.dataclass(frozen=True)
class StoredAuth:
    """The token record in use and the credentials of its current token."""

    record: TokenRecord
    credentials: Credentials
    read_only: bool

    def age(self, now: datetime.datetime) -> datetime.timedelta | None:
        """How old the current token is (None if its creation time is unknown)."""
        slot = self.record.current
        return None if slot is None else now - slot.created_at


def open_audit(settings: Settings, actor: str = "cli") -> AuditLog:
    """The audit log in the state directory (created 0700 if needed)."""
    ensure_state_dir(settings.state.dir)
    return AuditLog(settings.state.dir / AUDIT_FILE, actor=actor)


def token_lock(settings: Settings, *, wait: float = 60.0) -> typing.AsyncContextManager[None]:
    """One token-changing process at a time per state dir (the CLI and the daemon).

    Held around bootstrap, rotation, reconciliation, revocation and `token audit --fix`,
    so that a `botkit token rotate` never races the daemon's own rotation check.
    """
    state = ensure_state_dir(settings.state.dir)
    return exclusive_lock(state / TOKEN_LOCK, wait=wait, what="changing tokens")


def unattended_provider(settings: Settings) -> SecondFactorProvider | None:
    """The 2FA answer botkit can give without a human: a configured TOTP secret."""
    secret = settings.auth.totp_secret
    return TotpProvider(secret) if secret is not None else None


def open_session(
    settings: Settings,
    credentials: Credentials | None = None,
    *,
    second_factor: SecondFactorProvider | None = None,
    audit: AuditLog | None = None,
) -> Session:
    """The one HTTP session of this process, configured from [server]."""
    return Session.from_settings(
        settings,
        credentials=credentials,
        second_factor=second_factor,
        audit=audit.sink() if audit is not None else None,
    )


def load_auth(settings: Settings) -> StoredAuth:
    """The stored (or injected) token for this server; NotBootstrapped if there is none."""
    store = open_token_store(settings)
    record = store.load()
    if record is None or record.current is None:
        raise NotBootstrapped(
            f"no token is stored in {settings.state.dir}",
            hint="run `botkit bootstrap` (or set BOTKIT_AUTH__USER_ID and BOTKIT_AUTH__TOKEN)",
        )
    store.check_owner(record, settings.server.base_url)
    slot = record.current
    creds = Credentials(record.user_id, slot.secret, slot.name)
    return StoredAuth(record=record, credentials=creds, read_only=store.read_only)
