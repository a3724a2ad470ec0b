"""`FakeRocketChat`: the in-memory world of the fake server and its Python control API."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botkit.testing._clock import Clock
from botkit.testing._faults import Faults
from botkit.testing._model import (
    LoginToken,
    OutboxEmail,
    RequestLogEntry,
    Room,
    Subscription,
    User,
    hash_token,
    random_id,
    random_secret,
    sha256_hex,
)
from botkit.testing._ratelimit import RateLimiter
from botkit.testing._settings import DEFAULT_PERMISSIONS, DEFAULT_SETTINGS

if TYPE_CHECKING:
    from starlette.types import ASGIApp

__all__ = ["GENERAL_ROOM_ID", "FakeRocketChat"]

GENERAL_ROOM_ID = "GENERAL"

# Default creation time of users: long ago, outside the new-user 2FA grace (§3.8).
_LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


class FakeRocketChat:
    """A fake Rocket.Chat server: state, control methods, and `asgi_app` to serve it.

    Defaults are production ones (no TEST_MODE, rate limiter on, 2FA on); pass
    `version="8.0.0"` for the >= 8.0.0 error bodies, `test_mode=True` to imitate a TEST_MODE
    server (§3.10), and `settings={...}` to override settings by their Rocket.Chat names.
    """

    def __init__(
        self,
        *,
        version: str = "7.5.0",
        test_mode: bool = False,
        settings: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
        http_forwarded_count: int = 0,
    ) -> None:
        self.version = version
        self.http_forwarded_count = http_forwarded_count
        self.test_mode = test_mode
        self.clock = clock or Clock()
        self.faults = Faults()
        self.lock = threading.RLock()
        self._initial_settings = dict(settings or {})
        self.rate_limiter = RateLimiter(self.clock)
        self._app: ASGIApp | None = None
        self._init_state()

    def _init_state(self) -> None:
        unknown = set(self._initial_settings) - set(DEFAULT_SETTINGS)
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        self.settings: dict[str, Any] = {**DEFAULT_SETTINGS, **self._initial_settings}
        self.permissions: dict[str, set[str]] = {k: set(v) for k, v in DEFAULT_PERMISSIONS.items()}
        self.users: dict[str, User] = {}
        self.rooms: dict[str, Room] = {}
        self.subscriptions: list[Subscription] = []
        self.messages: dict[str, dict[str, Any]] = {}
        self.outbox: list[OutboxEmail] = []
        self.request_log: list[RequestLogEntry] = []
        # Login attempt events for brute-force blocking: (time, ip, username, success).
        self.login_events: list[tuple[datetime, str, str | None, bool]] = []
        self.rate_limiter.reset()
        now = self.clock.now()
        self.rooms[GENERAL_ROOM_ID] = Room(
            id=GENERAL_ROOM_ID, t="c", name="general", created_at=now, updated_at=now, default=True
        )

    # --- whole server -----------------------------------------------------------------------

    @property
    def breaking(self) -> bool:
        """True for a server >= 8.0.0 (`shouldBreakInVersion('8.0.0')`)."""
        return _version_tuple(self.version) >= (8, 0, 0)

    @property
    def asgi_app(self) -> ASGIApp:
        """The Starlette app serving this fake (built once)."""
        if self._app is None:
            from botkit.testing._app import build_app

            self._app = build_app(self)
        return self._app

    def reset(self) -> None:
        """Back to a fresh server: no users, only #general, default settings, real time."""
        with self.lock:
            self.clock.reset()
            self.faults.clear()
            self._init_state()

    def update_settings(self, values: Mapping[str, Any]) -> None:
        """Set server settings by their Rocket.Chat names (unknown names are refused)."""
        unknown = set(values) - set(DEFAULT_SETTINGS)
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        with self.lock:
            self.settings.update(values)

    def set_permission(self, permission: str, roles: Iterable[str]) -> None:
        """Grant `permission` to exactly `roles` (like the admin permission table)."""
        with self.lock:
            self.permissions[permission] = set(roles)

    def has_permission(self, user: User, permission: str) -> bool:
        if permission in user.denied_permissions:
            return False
        if permission in user.granted_permissions:
            return True
        return bool(self.permissions.get(permission, set()) & set(user.roles))

    # --- users ------------------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        password: str | None = None,
        *,
        user_id: str | None = None,
        name: str | None = None,
        email: str | None = None,
        email_verified: bool = True,
        email2fa: bool = False,
        totp_secret: str | None = None,
        backup_codes: Iterable[str] = (),
        roles: Iterable[str] = ("user",),
        created_at: datetime | None = None,
        active: bool = True,
        user_type: str | None = None,
    ) -> User:
        """Create a user. `created_at` defaults to long ago (outside the new-user grace)."""
        with self.lock:
            if self.find_user(username) is not None:
                raise ValueError(f"username {username!r} already exists")
            uid = user_id or random_id()
            if uid in self.users:
                raise ValueError(f"user id {uid!r} already exists")
            roles = list(roles)
            user = User(
                id=uid,
                username=username,
                name=name or username,
                password_digest=sha256_hex(password) if password is not None else None,
                emails=[
                    {"address": email or f"{username}@example.org", "verified": email_verified}
                ],
                roles=roles,
                created_at=_aware(created_at) if created_at else _LONG_AGO,
                updated_at=self.clock.now(),
                active=active,
                type=user_type
                or ("bot" if "bot" in roles else "app" if "app" in roles else "user"),
                email2fa_enabled=email2fa,
            )
            self.users[uid] = user
            if totp_secret:
                self.set_totp(user, totp_secret, backup_codes)
            self.join_room(user, GENERAL_ROOM_ID)
            return user

    def find_user(self, username_or_id: str) -> User | None:
        """A user by username or by `_id`."""
        if username_or_id in self.users:
            return self.users[username_or_id]
        return next((u for u in self.users.values() if u.username == username_or_id), None)

    def user(self, username_or_id: str) -> User:
        found = self.find_user(username_or_id)
        if found is None:
            raise KeyError(username_or_id)
        return found

    def find_user_by_email(self, email: str) -> User | None:
        lowered = email.lower()
        return next(
            (
                u
                for u in self.users.values()
                if any(e["address"].lower() == lowered for e in u.emails)
            ),
            None,
        )

    def set_password(self, user: User | str, password: str | None) -> None:
        with self.lock:
            self._u(user).password_digest = sha256_hex(password) if password is not None else None

    def set_totp(
        self, user: User | str, secret: str | None, backup_codes: Iterable[str] = ()
    ) -> None:
        """Enable TOTP with `secret` (base32) and backup codes; `None` disables TOTP."""
        with self.lock:
            u = self._u(user)
            u.totp_enabled = secret is not None
            u.totp_secret = secret
            u.hashed_backup = [sha256_hex(c) for c in backup_codes] if secret else []

    def set_email2fa(self, user: User | str, enabled: bool) -> None:
        with self.lock:
            self._u(user).email2fa_enabled = enabled

    def set_roles(self, user: User | str, roles: Iterable[str]) -> None:
        with self.lock:
            self._u(user).roles = list(roles)

    def grant(self, user: User | str, permission: str) -> None:
        """Give one user a permission regardless of roles."""
        with self.lock:
            u = self._u(user)
            u.denied_permissions.discard(permission)
            u.granted_permissions.add(permission)

    def deny(self, user: User | str, permission: str) -> None:
        """Take a permission from one user regardless of roles."""
        with self.lock:
            u = self._u(user)
            u.granted_permissions.discard(permission)
            u.denied_permissions.add(permission)

    def set_created_at(self, user: User | str, when: datetime) -> None:
        with self.lock:
            self._u(user).created_at = _aware(when)

    def set_active(self, user: User | str, active: bool) -> None:
        """Deactivating a user empties its token array: every PAT is gone (§1.5)."""
        with self.lock:
            u = self._u(user)
            u.active = active
            if not active:
                u.login_tokens = []

    def create_login_token(self, user: User | str) -> str:
        """Store a new login token for `user` and return its plaintext (test setup)."""
        with self.lock:
            token = random_secret()
            self._u(user).login_tokens.append(
                LoginToken(hashed_token=hash_token(token), when=self.clock.now())
            )
            return token

    def create_pat(self, user: User | str, name: str, *, bypass_two_factor: bool = False) -> str:
        """Store a PAT as `users.generatePersonalAccessToken` would; return its plaintext."""
        with self.lock:
            u = self._u(user)
            if u.find_pat(name) is not None:
                raise ValueError(f"token {name!r} already exists")
            token = random_secret()
            u.login_tokens.append(self.new_pat_element(token, name, bypass_two_factor))
            return token

    def new_pat_element(self, token: str, name: str, bypass_two_factor: bool) -> LoginToken:
        """The stored PAT element of §1.4 (hash only, last 6 characters, no `when`)."""
        return LoginToken(
            hashed_token=hash_token(token),
            type="personalAccessToken",
            created_at=self.clock.now(),
            last_token_part=token[-6:],
            name=name,
            bypass_two_factor=bypass_two_factor,
        )

    def authenticate(self, user_id: str, token: str) -> tuple[User, LoginToken] | None:
        """The REST lookup of §1.1: `_id` plus hashed token; no expiry or `active` check."""
        user = self.users.get(user_id)
        if user is None:
            return None
        element = user.find_token(hash_token(token))
        return (user, element) if element is not None else None

    def _u(self, user: User | str) -> User:
        return user if isinstance(user, User) else self.user(user)

    # --- rooms and messages -----------------------------------------------------------------

    def add_room(
        self,
        name: str,
        *,
        room_type: str = "c",
        members: Iterable[User | str] = (),
        room_id: str | None = None,
        read_only: bool = False,
        archived: bool = False,
        creator: User | str | None = None,
    ) -> Room:
        """Create a public channel (`c`) or private group (`p`) and subscribe `members`."""
        if room_type not in ("c", "p"):
            raise ValueError("room_type must be 'c' or 'p' (use create_dm for 'd')")
        with self.lock:
            if self.find_room(name) is not None:
                raise ValueError(f"room {name!r} already exists")
            now = self.clock.now()
            owner = self._u(creator) if creator is not None else None
            room = Room(
                id=room_id or random_id(),
                t=room_type,
                name=name,
                fname=name,
                created_at=now,
                updated_at=now,
                creator_id=owner.id if owner else None,
                creator_username=owner.username if owner else None,
                ro=read_only,
                archived=archived,
            )
            self.rooms[room.id] = room
            for member in members:
                self.join_room(self._u(member), room.id)
            return room

    def find_room(self, name_or_id: str) -> Room | None:
        if name_or_id in self.rooms:
            return self.rooms[name_or_id]
        return next((r for r in self.rooms.values() if r.name == name_or_id), None)

    def room(self, name_or_id: str) -> Room:
        found = self.find_room(name_or_id)
        if found is None:
            raise KeyError(name_or_id)
        return found

    def subscription(self, user: User, room_id: str) -> Subscription | None:
        return next(
            (s for s in self.subscriptions if s.user_id == user.id and s.rid == room_id), None
        )

    def join_room(self, user: User | str, room_id: str) -> Subscription:
        """Subscribe a user to a room (idempotent)."""
        with self.lock:
            u = self._u(user)
            existing = self.subscription(u, room_id)
            if existing is not None:
                return existing
            room = self.rooms[room_id]
            now = self.clock.now()
            if room.t == "d":
                others = [n for n in room.usernames if n != u.username]
                name = others[0] if others else u.username
            else:
                name = room.name or room_id
            sub = Subscription(
                id=random_id(),
                rid=room_id,
                user_id=u.id,
                username=u.username,
                name=name,
                fname=name if room.t != "d" else self.user(name).name,
                t=room.t,
                ts=now,
                updated_at=now,
            )
            self.subscriptions.append(sub)
            room.updated_at = now
            return sub

    def create_dm(self, users: Iterable[User | str]) -> Room:
        """The direct-message room between `users`, created if missing (id = sorted user ids)."""
        with self.lock:
            members = sorted(
                {self._u(u).id: self._u(u) for u in users}.values(), key=lambda u: u.id
            )
            rid = "".join(u.id for u in members)
            if rid in self.rooms:
                return self.rooms[rid]
            now = self.clock.now()
            room = Room(
                id=rid,
                t="d",
                name=None,
                created_at=now,
                updated_at=now,
                usernames=sorted(u.username for u in members),
                uids=[u.id for u in members],
            )
            self.rooms[rid] = room
            for member in members:
                self.join_room(member, rid)
            return room

    def add_message(
        self,
        room: Room | str,
        user: User | str,
        text: str,
        *,
        tmid: str | None = None,
        tshow: bool = False,
        ts: datetime | None = None,
        msg_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store a message as if `user` had sent it (no permission checks; test setup)."""
        with self.lock:
            r = room if isinstance(room, Room) else self.room(room)
            return self.store_message(
                r,
                self._u(user),
                {
                    "msg": text,
                    **({"tmid": tmid} if tmid else {}),
                    **({"tshow": True} if tshow else {}),
                    **(extra or {}),
                },
                ts=_aware(ts) if ts else None,
                msg_id=msg_id,
            )

    def store_message(
        self,
        room: Room,
        user: User,
        fields: Mapping[str, Any],
        *,
        ts: datetime | None = None,
        msg_id: str | None = None,
    ) -> dict[str, Any]:
        """Insert a message document (`_id`, `rid`, fields, `ts`, `u`, `_updatedAt`)."""
        now = self.clock.now()
        message: dict[str, Any] = {"_id": msg_id or random_id(), "rid": room.id}
        message.update(fields)
        message["ts"] = ts or now
        message["u"] = {"_id": user.id, "username": user.username, "name": user.name}
        message.setdefault("urls", [])
        message.setdefault("mentions", [])
        message.setdefault("channels", [])
        message["_updatedAt"] = now
        self.messages[message["_id"]] = message
        room.msgs += 1
        if not message.get("tmid") or message.get("tshow"):
            room.last_message = message
        room.updated_at = now
        for sub in self.subscriptions:
            if sub.rid == room.id and sub.user_id != user.id:
                sub.unread += 1
                sub.alert = True
                sub.updated_at = now
        return message

    def room_messages(self, room: Room | str) -> list[dict[str, Any]]:
        rid = room.id if isinstance(room, Room) else self.room(room).id
        return [m for m in self.messages.values() if m["rid"] == rid]

    # --- outbox and log ---------------------------------------------------------------------

    def emails_to(self, address_or_username: str) -> list[OutboxEmail]:
        """Emails sent to an address, or to any verified address of a username."""
        user = self.find_user(address_or_username)
        addresses = set(user.verified_emails) if user else {address_or_username}
        return [e for e in self.outbox if e.to in addresses]

    def last_email_code(self, address_or_username: str) -> str:
        """The code of the newest 2FA email to that user (what a person would read)."""
        emails = self.emails_to(address_or_username)
        if not emails:
            raise LookupError(f"no email sent to {address_or_username!r}")
        return emails[-1].code

    def clear_request_log(self) -> None:
        with self.lock:
            self.request_log.clear()


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    while len(parts) < 3:
        parts.append(0)
    return tuple(parts)
