"""The token store: the PAT botkit signs in with, in three slots, in a private file.

Design sections 3 and 4. Rotation is make-before-break, like a secrets manager's stages:
`pending` (created on the server, not yet trusted), `current` (in use), `previous` (replaced,
still valid on the server until it is removed). Every step is saved before the next one
starts, so a crash leaves at least one working token on disk.

The file, ``<state dir>/token.json``, holds the secrets in clear: like ``~/.ssh/id_*`` its
protection is its mode. It is written 0600 through `atomic_write`, and botkit refuses to
read one that group or others could read, or that sits in such a folder.

Containers may instead inject a token through ``BOTKIT_AUTH__USER_ID`` and
``BOTKIT_AUTH__TOKEN``. That token is read-only: botkit cannot store a successor, so rotation
is off (`READ_ONLY_NOTICE` says so to the user).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import os
import pathlib
import stat
import typing
import urllib.parse

from pydantic import SecretStr

from botkit._redact import register_secret
from botkit._state import TOKEN_FILE, atomic_write, ensure_state_dir
from botkit.errors import TokenStoreError

if typing.TYPE_CHECKING:
    from botkit._config import Settings

__all__ = [
    "INJECTED_TOKEN_NAME",
    "READ_ONLY_NOTICE",
    "FileTokenStore",
    "InjectedTokenStore",
    "TokenRecord",
    "TokenSlot",
    "check_owner",
    "injected_token",
    "normalise_server_url",
    "open_token_store",
]

FORMAT_VERSION = 1
SLOTS = ("current", "pending", "previous")

#: Rocket.Chat shows (and `users.getPersonalAccessTokens` returns) the last 6 characters.
LAST_CHARS = 6

#: The name shown for an injected token, whose real name botkit does not know.
INJECTED_TOKEN_NAME = "BOTKIT_AUTH__TOKEN"

READ_ONLY_NOTICE = (
    "using the token injected through BOTKIT_AUTH__USER_ID and BOTKIT_AUTH__TOKEN: "
    "it is read-only, so token rotation is off"
)


def normalise_server_url(url: str) -> str:
    """A server URL for comparison: scheme and host lower case, no trailing slash."""
    parts = urllib.parse.urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return urllib.parse.urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), path, parts.query, "")
    )


@dataclasses.dataclass(frozen=True)
class TokenSlot:
    """One personal access token.

    Attributes:
        name: the token's name on the server (unique per user).
        secret: the token itself; never shown (SecretStr masks it in repr and str).
        created_at: when it was created, aware (stored and compared in UTC).
        bypass_two_factor: whether it was created with `bypassTwoFactor`.
    """

    name: str
    secret: SecretStr
    created_at: datetime.datetime
    bypass_two_factor: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.secret, SecretStr):
            raise TypeError("TokenSlot.secret must be a SecretStr")
        if self.created_at.tzinfo is None:
            raise ValueError("TokenSlot.created_at must be timezone-aware")
        object.__setattr__(self, "created_at", self.created_at.astimezone(datetime.UTC))
        register_secret(self.secret.get_secret_value())

    @property
    def last_chars(self) -> str:
        """The token's last characters, as Rocket.Chat shows them (safe to display)."""
        return self.secret.get_secret_value()[-LAST_CHARS:]

    def __str__(self) -> str:
        return f"{self.name} (...{self.last_chars})"


@dataclasses.dataclass(frozen=True)
class TokenRecord:
    """Everything in the token file: whose tokens these are, and the three slots.

    Records are immutable; the helpers return a new record for each rotation step.

    Attributes:
        read_only: the token was injected through the environment and cannot be saved.
    """

    server_url: str
    user_id: str
    username: str
    current: TokenSlot | None = None
    pending: TokenSlot | None = None
    previous: TokenSlot | None = None
    read_only: bool = dataclasses.field(default=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "server_url", normalise_server_url(self.server_url))

    def slots(self) -> dict[str, TokenSlot]:
        """The filled slots by name (`current`, `pending`, `previous`)."""
        filled = {name: getattr(self, name) for name in SLOTS}
        return {name: slot for name, slot in filled.items() if slot is not None}

    def with_pending(self, slot: TokenSlot) -> TokenRecord:
        """A new token, created on the server and not yet trusted."""
        return dataclasses.replace(self, pending=slot)

    def promote(self) -> TokenRecord:
        """Pending becomes current; current becomes previous (until it is removed)."""
        if self.pending is None:
            raise TokenStoreError("there is no pending token to promote")
        return dataclasses.replace(
            self, current=self.pending, pending=None, previous=self.current
        )

    def drop_pending(self) -> TokenRecord:
        """Forget the pending token (an undone rotation)."""
        return dataclasses.replace(self, pending=None)

    def clear_previous(self) -> TokenRecord:
        """Forget the previous token (it was removed on the server)."""
        return dataclasses.replace(self, previous=None)

    def without_current(self) -> TokenRecord:
        """Forget the current token (it was revoked on the server)."""
        return dataclasses.replace(self, current=None)


def check_owner(record: TokenRecord, server_url: str, user_id: str | None = None) -> None:
    """Refuse a record stored for another server (or, if given, another user)."""
    server = normalise_server_url(server_url)
    if record.server_url != server:
        raise TokenStoreError(
            f"the stored token belongs to {record.username} on {record.server_url}, "
            f"not to {server}",
            hint="use another [state] dir for this server, or run `botkit bootstrap`",
        )
    if user_id is not None and record.user_id != user_id:
        raise TokenStoreError(
            f"the stored token belongs to {record.username} (user id {record.user_id}) "
            f"on {record.server_url}, not to user id {user_id}",
            hint="use another [state] dir for this user, or run `botkit bootstrap`",
        )


# --- the file format -------------------------------------------------------------------------


def _slot_to_json(slot: TokenSlot | None) -> dict[str, typing.Any] | None:
    if slot is None:
        return None
    return {
        "name": slot.name,
        "secret": slot.secret.get_secret_value(),
        "created_at": slot.created_at.isoformat(),
        "bypass_two_factor": slot.bypass_two_factor,
    }


def _record_to_json(record: TokenRecord) -> bytes:
    document = {
        "version": FORMAT_VERSION,
        "server_url": record.server_url,
        "user_id": record.user_id,
        "username": record.username,
        "slots": {name: _slot_to_json(getattr(record, name)) for name in SLOTS},
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


class _Damaged(Exception):
    """What is wrong with the file; the text never quotes a value (it may be a secret)."""


def _text(data: dict[str, typing.Any], key: str, where: str, *, empty: bool = False) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not (value or empty):
        raise _Damaged(f"{where}{key} is missing or not text")
    return value


def _slot_from_json(data: typing.Any, name: str) -> TokenSlot | None:
    if data is None:
        return None
    where = f"slots.{name}."
    if not isinstance(data, dict):
        raise _Damaged(f"slots.{name} is not an object")
    secret = _text(data, "secret", where)
    register_secret(secret)
    try:
        created_at = datetime.datetime.fromisoformat(_text(data, "created_at", where))
    except ValueError:
        raise _Damaged(f"{where}created_at is not a date and time") from None
    if created_at.tzinfo is None:
        raise _Damaged(f"{where}created_at has no time zone")
    bypass = data.get("bypass_two_factor", False)
    if not isinstance(bypass, bool):
        raise _Damaged(f"{where}bypass_two_factor is not true or false")
    return TokenSlot(
        name=_text(data, "name", where),
        secret=SecretStr(secret),
        created_at=created_at,
        bypass_two_factor=bypass,
    )


def _record_from_json(raw: bytes) -> TokenRecord:
    try:
        data = json.loads(raw)
    except ValueError:
        raise _Damaged("not JSON") from None
    if not isinstance(data, dict):
        raise _Damaged("not a JSON object")
    version = data.get("version")
    if version != FORMAT_VERSION:
        known = type(version) is int
        raise _Damaged(
            f"format version {version}, from a newer botkit?" if known else "no format version"
        )
    slots = data.get("slots")
    if not isinstance(slots, dict):
        raise _Damaged("slots is missing")
    return TokenRecord(
        server_url=_text(data, "server_url", ""),
        user_id=_text(data, "user_id", ""),
        username=_text(data, "username", "", empty=True),
        current=_slot_from_json(slots.get("current"), "current"),
        pending=_slot_from_json(slots.get("pending"), "pending"),
        previous=_slot_from_json(slots.get("previous"), "previous"),
    )


# --- stores ----------------------------------------------------------------------------------


def _mode_text(mode: int) -> str:
    return f"{stat.S_IMODE(mode):04o}"


class FileTokenStore:
    """The token file ``token.json`` in the state directory.

    Args:
        state_dir: the [state] dir; created 0700 on the first save.
    """

    #: Whether `save` is refused (tokens from the environment).
    read_only: bool = False

    def __init__(self, state_dir: pathlib.Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / TOKEN_FILE

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.state_dir)!r})"

    def load(self) -> TokenRecord | None:
        """The stored record, or None if there is no token file yet.

        Raises:
            TokenStoreError: the file or its folder is open to group or others, the file
                belongs to another user, or it is damaged (then nothing is changed).
        """
        try:
            with self.path.open("rb") as handle:
                # fstat of the open file: the mode checked is the mode of what is read.
                self._check_private(os.fstat(handle.fileno()))
                raw = handle.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise TokenStoreError(
                f"cannot read the token file {self.path}: {error.strerror}"
            ) from None
        try:
            return _record_from_json(raw)
        except _Damaged as problem:
            raise TokenStoreError(
                f"the token file {self.path} is damaged ({problem}); nothing was changed",
                hint="restore it from a backup, or move it aside and run `botkit bootstrap`",
            ) from None

    def _check_private(self, info: os.stat_result) -> None:
        """Refuse what ssh refuses: a token file or folder others can read or replace."""
        if info.st_uid != os.geteuid():
            raise TokenStoreError(
                f"token file {self.path} belongs to another user (uid {info.st_uid})",
                hint=f"run: chown {os.geteuid()} {self.path}",
            )
        if info.st_mode & 0o077:
            raise TokenStoreError(
                f"token file {self.path} is readable by others (mode {_mode_text(info.st_mode)})",
                hint=f"run: chmod 600 {self.path}",
            )
        folder = os.stat(self.state_dir)
        if folder.st_mode & 0o077:
            raise TokenStoreError(
                f"state directory {self.state_dir} is open to others "
                f"(mode {_mode_text(folder.st_mode)})",
                hint=f"run: chmod 700 {self.state_dir}",
            )

    async def load_async(self) -> TokenRecord | None:
        """`load` off the event loop (async callers: the daemon, rotation, bootstrap)."""
        return await asyncio.to_thread(self.load)

    async def save_async(self, record: TokenRecord) -> None:
        """`save` off the event loop: an atomic write fsyncs twice."""
        await asyncio.to_thread(self.save, record)

    def save(self, record: TokenRecord) -> None:
        """Replace the token file with `record`, atomically, mode 0600, folder 0700."""
        if record.read_only:
            raise _read_only_error()
        ensure_state_dir(self.state_dir)
        try:
            atomic_write(self.path, _record_to_json(record))
        except OSError as error:
            raise TokenStoreError(
                f"cannot write the token file {self.path}: {error.strerror}; "
                "the previous file is unchanged",
                hint="make the state directory writable",
            ) from None

    def check_owner(
        self, record: TokenRecord, server_url: str, user_id: str | None = None
    ) -> None:
        """Refuse a record stored for another server or user (see `check_owner`)."""
        check_owner(record, server_url, user_id)


def _read_only_error() -> TokenStoreError:
    return TokenStoreError(
        "tokens injected through BOTKIT_AUTH__TOKEN are read-only; rotation is off",
        hint="unset BOTKIT_AUTH__USER_ID and BOTKIT_AUTH__TOKEN and run `botkit bootstrap` "
        "to let botkit store and rotate its own token",
    )


def injected_token(
    settings: Settings, *, now: datetime.datetime | None = None
) -> TokenRecord | None:
    """The read-only record of a token given through the environment, if any.

    Its name and age are unknown to botkit: the slot is named `INJECTED_TOKEN_NAME` and dated
    `now` (the server can tell the real name from the last characters).
    """
    auth = settings.auth
    if auth.token is None or auth.user_id is None:
        return None
    secret = auth.token.get_secret_value()
    register_secret(secret)
    slot = TokenSlot(
        name=INJECTED_TOKEN_NAME,
        secret=SecretStr(secret),
        created_at=now or datetime.datetime.now(datetime.UTC),
    )
    return TokenRecord(
        server_url=settings.server.base_url,
        user_id=auth.user_id,
        username=auth.username or auth.user_id,
        current=slot,
        read_only=True,
    )


class InjectedTokenStore(FileTokenStore):
    """The token from ``BOTKIT_AUTH__USER_ID``/``BOTKIT_AUTH__TOKEN``: loads, never saves."""

    read_only = True
    notice = READ_ONLY_NOTICE

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.state.dir)
        self._settings = settings

    def load(self) -> TokenRecord | None:
        """The injected record (the token file, if any, is not read)."""
        return injected_token(self._settings)

    def save(self, record: TokenRecord) -> None:
        """Always refused: there is nowhere to store a rotated token."""
        raise _read_only_error()


def open_token_store(settings: Settings) -> FileTokenStore:
    """The store the settings ask for: an injected token wins over the token file."""
    if settings.auth.token is not None:
        return InjectedTokenStore(settings)
    return FileTokenStore(settings.state.dir)
