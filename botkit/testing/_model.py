"""The fake server's records: users and their token arrays, rooms, subscriptions, emails.

Field names follow the Rocket.Chat documents they imitate (rocketchat-server-behaviour.md
§1.4 for the token array, §3.5-§3.6 for the 2FA services), with Python spelling.
Secrets are never stored in plaintext: tokens as base64(SHA-256), passwords as SHA-256 hex,
backup codes as SHA-256 hex, email codes as SHA-256 hex.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "LOGIN_TOKEN_NAME",
    "EmailCode",
    "LoginToken",
    "OutboxEmail",
    "RequestLogEntry",
    "Room",
    "Subscription",
    "User",
    "hash_token",
    "iso",
    "random_id",
    "random_secret",
    "sha256_hex",
    "to_json",
]

#: What the request log shows for a request authenticated with a login (non-PAT) token.
LOGIN_TOKEN_NAME = "login-token"

_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"
_SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def random_id(length: int = 17) -> str:
    """A Meteor `Random.id()`: 17 characters from the unambiguous alphabet."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def random_secret(length: int = 43) -> str:
    """A Meteor `Random.secret()`: 43 base64url characters (used for tokens)."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(length))


def hash_token(token: str) -> str:
    """`Accounts._hashLoginToken`: base64 of SHA-256 (§1.1)."""
    return base64.b64encode(hashlib.sha256(token.encode()).digest()).decode()


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def iso(value: datetime) -> str:
    """A JavaScript `Date.toISOString()`: UTC with milliseconds and a `Z`."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def to_json(value: Any) -> Any:
    """Turn stored values into their REST JSON form (dates become ISO strings, §3.4)."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


@dataclass
class LoginToken:
    """One element of `services.resume.loginTokens` (§1.4): a login token or a PAT."""

    hashed_token: str
    when: datetime | None = None
    type: str | None = None
    created_at: datetime | None = None
    last_token_part: str | None = None
    name: str | None = None
    bypass_two_factor: bool = False
    two_factor_authorized_hash: str | None = None
    two_factor_authorized_until: datetime | None = None

    @property
    def is_pat(self) -> bool:
        return self.type == "personalAccessToken"

    @property
    def label(self) -> str:
        """The name shown in the request log: the PAT name, or "login-token"."""
        return self.name if self.is_pat and self.name is not None else LOGIN_TOKEN_NAME


@dataclass
class EmailCode:
    """`services.emailCode` (§3.5). The real server stores bcrypt; SHA-256 hex is enough here."""

    code_hash: str
    expire: datetime
    attempts: int = 0


@dataclass
class User:
    """A Rocket.Chat user with the parts of `services` that authentication reads."""

    id: str
    username: str
    name: str
    password_digest: str | None  # SHA-256 hex of the password; None = no password
    emails: list[dict[str, Any]]
    roles: list[str]
    created_at: datetime
    updated_at: datetime
    active: bool = True
    type: str = "user"
    status: str = "online"
    utc_offset: int = 0
    totp_enabled: bool = False
    totp_secret: str | None = None
    hashed_backup: list[str] = field(default_factory=list)
    email2fa_enabled: bool = False
    email_code: EmailCode | None = None
    login_tokens: list[LoginToken] = field(default_factory=list)
    granted_permissions: set[str] = field(default_factory=set)
    denied_permissions: set[str] = field(default_factory=set)

    @property
    def verified_emails(self) -> list[str]:
        return [str(e["address"]) for e in self.emails if e.get("verified")]

    def find_token(self, hashed: str) -> LoginToken | None:
        return next((t for t in self.login_tokens if t.hashed_token == hashed), None)

    def pats(self) -> list[LoginToken]:
        return [t for t in self.login_tokens if t.is_pat]

    def find_pat(self, name: str) -> LoginToken | None:
        return next((t for t in self.login_tokens if t.is_pat and t.name == name), None)


@dataclass
class Room:
    """A room: `c` public channel, `p` private group, `d` direct message."""

    id: str
    t: str
    name: str | None
    created_at: datetime
    updated_at: datetime
    creator_id: str | None = None
    creator_username: str | None = None
    fname: str | None = None
    ro: bool = False
    archived: bool = False
    default: bool = False
    muted: list[str] = field(default_factory=list)
    usernames: list[str] = field(default_factory=list)
    uids: list[str] = field(default_factory=list)
    msgs: int = 0
    last_message: dict[str, Any] | None = None
    topic: str | None = None


@dataclass
class Subscription:
    """A user's membership of a room (`rocketchat_subscription`)."""

    id: str
    rid: str
    user_id: str
    username: str
    name: str
    t: str
    ts: datetime
    updated_at: datetime
    fname: str | None = None
    open: bool = True
    alert: bool = False
    unread: int = 0
    roles: list[str] = field(default_factory=list)
    ls: datetime | None = None  # last seen ("read up to"); None: never read since joining

    @property
    def last_seen(self) -> datetime:
        """`ls`: the server sets it to the subscription time on join and moves it on read."""
        return self.ls or self.ts


@dataclass(frozen=True)
class OutboxEmail:
    """An email the fake "sent" (instead of SMTP); `code` is the 6-digit 2FA code it carries."""

    to: str
    subject: str
    code: str
    text: str
    sent_at: datetime


@dataclass(frozen=True)
class RequestLogEntry:
    """One request as the fake saw it. Never holds a secret: tokens appear by name only."""

    method: str
    path: str
    route: str | None
    status: int
    client_ip: str
    user_id: str | None
    token_name: str | None
    two_factor_headers: bool
    at: datetime
