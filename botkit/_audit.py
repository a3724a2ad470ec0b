"""The local audit log: JSON Lines, hash-chained, one writer at a time, fail closed.

Design section 5. Each line is one record::

    {"actor": "cli", "details": {...}, "event": "token.created", "hash": "...",
     "prev": "...", "seq": 7, "time": "2025-01-31T12:00:00.000Z"}

`hash` is the SHA-256 (hex) of the canonical encoding of the record without `hash`:
``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` as UTF-8.
`prev` is the previous record's hash (64 zeros for the first record). Every line is itself
written in that canonical encoding, so a byte-level edit that leaves the parsed value alone
(an escape spelled differently) is caught too.

What the chain detects: an edited, removed, reordered or inserted line, and a truncated last
line. What a chain alone cannot detect is the removal of the *last* records: the shorter log
is still a valid chain. For that a small sidecar, ``audit.head`` (0600), holds the last
sequence number and hash, replaced atomically after each append; `verify` compares the log's
end with it. The head is written after the log line, so a crash between the two leaves the
head exactly one record behind, which `verify` accepts (that record's `prev` must match).

The chain has no key: whoever can write the files can recompute every hash and the head.
It makes accidental damage and naive edits evident; it is not a signature.

Writers in several processes (the CLI and the daemon) take an exclusive `flock` on the
sidecar ``audit.jsonl.lock`` for the whole read-tail/append/fsync/update-head step, so the
chain never forks. Token-changing steps write their record *before* the step and do not
start if that fails (`AuditError`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import errno
import fcntl
import fnmatch
import hashlib
import json
import os
import pathlib
import re
import typing
from collections.abc import Awaitable, Callable, Iterator

from botkit._redact import redact
from botkit._state import atomic_write, ensure_state_dir
from botkit.errors import AuditError, ConfigError

__all__ = [
    "GENESIS_HASH",
    "AuditLog",
    "AuditSink",
    "Events",
    "VerifyResult",
    "canonical_json",
    "head_path",
    "lock_path",
    "read",
    "record_hash",
    "verify",
]

#: Reports one audit event: (event name, details). Awaiting it raises AuditError on failure.
AuditSink = Callable[[str, dict[str, typing.Any]], Awaitable[None]]

#: The `prev` of the first record.
GENESIS_HASH = "0" * 64

_FIELDS = frozenset({"seq", "time", "event", "actor", "details", "prev", "hash"})
_ACTOR = re.compile(r"^(?:cli|daemon|plugin:[A-Za-z0-9_.-]+)$")
_EVENT = re.compile(r"^[a-z0-9_]+(?:\.[a-z0-9_]+)*$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TAIL_CHUNK = 4096
_FILE_MODE = 0o600


class Events:
    """The event names botkit writes (design section 5)."""

    BOOTSTRAP_STARTED: typing.Final = "bootstrap.started"
    BOOTSTRAP_COMPLETED: typing.Final = "bootstrap.completed"
    LOGIN: typing.Final = "login"
    TWO_FACTOR_CHALLENGE: typing.Final = "2fa.challenge"
    TOKEN_REQUESTED: typing.Final = "token.requested"
    TOKEN_CREATED: typing.Final = "token.created"
    TOKEN_VERIFIED: typing.Final = "token.verified"
    TOKEN_PROMOTED: typing.Final = "token.promoted"
    TOKEN_REMOVED: typing.Final = "token.removed"
    TOKEN_REJECTED: typing.Final = "token.rejected"
    ROTATION_STARTED: typing.Final = "rotation.started"
    ROTATION_COMPLETED: typing.Final = "rotation.completed"
    ROTATION_FAILED: typing.Final = "rotation.failed"
    ROTATION_RECONCILED: typing.Final = "rotation.reconciled"
    AUDIT_FINDINGS: typing.Final = "audit.findings"
    DAEMON_STARTED: typing.Final = "daemon.started"
    DAEMON_STOPPED: typing.Final = "daemon.stopped"
    LOGOUT: typing.Final = "logout"

    @classmethod
    def all(cls) -> frozenset[str]:
        """Every event name above."""
        return frozenset(v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str))


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    """The outcome of `verify`.

    Attributes:
        ok: the chain is intact and ends where the head says.
        records: how many records verified (before the first bad one, if any).
        first_bad_line: 1-based line number of the first bad record, or None.
        reason: one readable sentence saying what is wrong, or None.
    """

    ok: bool
    records: int
    first_bad_line: int | None = None
    reason: str | None = None


def canonical_json(obj: typing.Any) -> bytes:
    """The canonical encoding records are hashed and written in."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def record_hash(record: dict[str, typing.Any]) -> str:
    """SHA-256 hex of the canonical encoding of `record` without its `hash` field."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def lock_path(path: pathlib.Path) -> pathlib.Path:
    """The sidecar lock file of a log (``audit.jsonl.lock``)."""
    return path.with_name(path.name + ".lock")


def head_path(path: pathlib.Path) -> pathlib.Path:
    """The sidecar head file of a log (``audit.head``)."""
    return path.with_suffix(".head")


def _format_time(moment: datetime.datetime) -> str:
    if moment.tzinfo is None:
        raise AuditError("the audit clock returned a naive datetime; it must be aware")
    utc = moment.astimezone(datetime.UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


# --- writing -------------------------------------------------------------------------------


def _check_clean(event: str, value: typing.Any, where: str) -> None:
    """Refuse anything that is not plain JSON, and any string that holds a known secret."""
    if isinstance(value, str):
        if redact(value) != value:
            # Never quote the value: it holds a secret.
            raise AuditError(
                f"audit record {event!r} refused: {where} contains a secret",
                hint="audit details may hold token names and last characters, never secrets",
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditError(f"audit record {event!r} refused: {where} has a non-text key")
            _check_clean(event, key, f"{where} key")
            _check_clean(event, item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_clean(event, item, f"{where}[{index}]")
    elif value is None or isinstance(value, bool | int):
        pass
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise AuditError(f"audit record {event!r} refused: {where} is not a finite number")
    else:
        raise AuditError(
            f"audit record {event!r} refused: {where} is a {type(value).__name__}, "
            "not text, a number, a list or a mapping"
        )


def _validate(event: str, actor: str, details: dict[str, typing.Any]) -> None:
    if not _EVENT.fullmatch(event):
        raise AuditError(f"audit record refused: {event!r} is not an event name")
    if not _ACTOR.fullmatch(actor):
        raise AuditError(
            f"audit record {event!r} refused: actor {actor!r} is not cli, daemon or plugin:<name>"
        )
    _check_clean(event, event, "the event name")
    _check_clean(event, actor, "the actor")
    _check_clean(event, details, "details")


def _read_tail(fd: int, size: int) -> bytes:
    """The last line of the file (with its newline), reading backwards in chunks."""
    end = size
    data = b""
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        data = os.pread(fd, end - start, start) + data
        end = start
        # The last line starts after the last newline that is not the final byte.
        cut = data.rfind(b"\n", 0, len(data) - 1)
        if cut != -1:
            return data[cut + 1 :]
    return data


def _parse_head(path: pathlib.Path) -> tuple[int, str]:
    """(seq, hash) from the head file; (0, GENESIS_HASH) if there is none yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return 0, GENESIS_HASH
    try:
        head = json.loads(raw)
        seq, digest = head["seq"], head["hash"]
        if type(seq) is not int or not isinstance(digest, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise AuditError(f"the audit head file {path} is damaged") from None
    return seq, digest


def _last_record(fd: int, path: pathlib.Path) -> tuple[int, str, str]:
    """(seq, hash, prev) of the log's last record; (0, GENESIS_HASH, "") for an empty log."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0, GENESIS_HASH, ""
    tail = _read_tail(fd, size)
    hint = "run `botkit audit verify` to see what is wrong"
    if not tail.endswith(b"\n"):
        raise AuditError(f"the audit log {path} ends with an incomplete line", hint=hint)
    try:
        last = json.loads(tail)
        seq, digest, prev = last["seq"], last["hash"], last["prev"]
        if type(seq) is not int or not isinstance(digest, str) or not isinstance(prev, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise AuditError(f"the audit log {path} ends with a damaged record", hint=hint) from None
    return seq, digest, prev


def _head_consistent(head: tuple[int, str], last: tuple[int, str, str]) -> bool:
    """Whether the head matches the log's end, or trails it by the one record a crash allows."""
    head_seq, head_hash = head
    seq, digest, prev = last
    return (head_seq, head_hash) == (seq, digest) or (head_seq == seq - 1 and head_hash == prev)


@contextlib.contextmanager
def _locked(path: pathlib.Path, operation: int) -> Iterator[None]:
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, _FILE_MODE)
    try:
        fcntl.flock(fd, operation)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _append(
    path: pathlib.Path, event: str, actor: str, details: dict[str, typing.Any], now: str
) -> dict[str, typing.Any]:
    """One append under the exclusive lock. OSError propagates to the caller."""
    if not path.parent.exists():
        ensure_state_dir(path.parent)
    with _locked(path, fcntl.LOCK_EX):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, _FILE_MODE)
        try:
            last = _last_record(fd, path)
            head = _parse_head(head_path(path))
            if not _head_consistent(head, last):
                raise AuditError(
                    f"the audit log {path} ends at seq {last[0]} but its head says {head[0]} "
                    "(records removed from the end?); nothing was written",
                    hint="run `botkit audit verify`, then move the log and audit.head aside "
                    "to start a new chain",
                )
            record: dict[str, typing.Any] = {
                "seq": last[0] + 1,
                "time": now,
                "event": event,
                "actor": actor,
                "details": details,
                "prev": last[1],
            }
            record["hash"] = record_hash(record)
            line = canonical_json(record) + b"\n"
            size = os.fstat(fd).st_size
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                os.fsync(fd)
            except OSError:
                # Take back a partial line so the log stays a valid chain.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)
        atomic_write(
            head_path(path), canonical_json({"seq": record["seq"], "hash": record["hash"]})
        )
    return record


class AuditLog:
    """Append-only, hash-chained audit log at `path` (normally ``<state dir>/audit.jsonl``).

    Args:
        path: the log file; created 0600 (and its folder 0700) on the first record.
        actor: who writes by default: ``cli``, ``daemon`` or ``plugin:<name>``.
        clock: returns the current aware datetime (tests inject a fixed one).
    """

    def __init__(
        self,
        path: pathlib.Path,
        *,
        actor: str = "cli",
        clock: Callable[[], datetime.datetime] = _utc_now,
    ) -> None:
        self.path = path
        self.actor = actor
        self._clock = clock

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r}, actor={self.actor!r})"

    async def record(
        self, event: str, *, actor: str | None = None, **details: typing.Any
    ) -> dict[str, typing.Any]:
        """Append one record and return it; AuditError (nothing written) if that fails."""
        return await self.record_details(event, details, actor=actor)

    async def record_details(
        self, event: str, details: dict[str, typing.Any], *, actor: str | None = None
    ) -> dict[str, typing.Any]:
        """`record` with the details as one mapping (keys may be any text)."""
        prepared = self._prepare(event, details, actor)
        # flock and fsync block: keep them off the event loop.
        return await asyncio.to_thread(self._write, *prepared)

    def record_sync(
        self, event: str, *, actor: str | None = None, **details: typing.Any
    ) -> dict[str, typing.Any]:
        """`record` for code that is not async (blocks until the line is on disk)."""
        return self._write(*self._prepare(event, details, actor))

    def sink(self, actor: str | None = None) -> AuditSink:
        """An `AuditSink` that writes records as `actor` (default: this log's actor)."""

        async def sink(event: str, details: dict[str, typing.Any]) -> None:
            await self.record_details(event, details, actor=actor)

        return sink

    def verify(self) -> VerifyResult:
        """Check this log's chain and head (see the module `verify`)."""
        return verify(self.path)

    def read(
        self, *, since: datetime.datetime | None = None, event: str | None = None
    ) -> list[dict[str, typing.Any]]:
        """The records, filtered (see the module `read`)."""
        return read(self.path, since=since, event=event)

    def _prepare(
        self, event: str, details: dict[str, typing.Any], actor: str | None
    ) -> tuple[str, str, dict[str, typing.Any], str]:
        who = actor if actor is not None else self.actor
        _validate(event, who, details)
        # A private copy through JSON: later changes by the caller cannot alter the record.
        frozen = json.loads(canonical_json(details))
        return event, who, frozen, _format_time(self._clock())

    def _write(
        self, event: str, actor: str, details: dict[str, typing.Any], now: str
    ) -> dict[str, typing.Any]:
        try:
            return _append(self.path, event, actor, details, now)
        except OSError as error:
            raise AuditError(
                f"cannot write the audit log {self.path}: {error.strerror or error}",
                hint="botkit does not change tokens without an audit record; "
                "make the state directory writable and retry",
            ) from None
        except ConfigError as error:
            raise AuditError(
                f"cannot write the audit log {self.path}: {error.message}", hint=error.hint
            ) from None


# --- reading and verifying -----------------------------------------------------------------


@contextlib.contextmanager
def _shared_lock(path: pathlib.Path) -> Iterator[None]:
    """Hold off writers while reading, so no append is seen half done (line without head)."""
    with contextlib.ExitStack() as stack:
        # A read-only state dir (e.g. a copy being inspected): read without the lock.
        with contextlib.suppress(OSError):
            stack.enter_context(_locked(path, fcntl.LOCK_SH))
        yield


def _lines(path: pathlib.Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line with its newline if it has one)."""
    with path.open("rb") as handle:
        yield from enumerate(handle, 1)


def _problem(raw: bytes) -> tuple[str, dict[str, typing.Any] | None]:
    """A reason the line is not a well-formed record (or ""), and the record."""
    if not raw.endswith(b"\n"):
        return "the last line is incomplete (the log was truncated?)", None
    if raw.strip() == b"":
        return "an empty line (a line was inserted?)", None
    try:
        record = json.loads(raw)
    except ValueError:
        return "not a JSON record (the line was edited or inserted?)", None
    if not isinstance(record, dict) or set(record) != _FIELDS:
        return "not an audit record: wrong fields (the line was edited or inserted?)", None
    types_ok = (
        type(record["seq"]) is int
        and all(isinstance(record[k], str) for k in ("time", "event", "actor", "prev", "hash"))
        and isinstance(record["details"], dict)
    )
    if not types_ok:
        return "not an audit record: a field has the wrong type (edited?)", None
    if record["hash"] != record_hash(record):
        return "hash does not match its content (edited?)", None
    if canonical_json(record) + b"\n" != raw:
        return "not in canonical form, although its hash matches (edited?)", None
    return "", record


def _later_seqs(path: pathlib.Path, after_line: int) -> set[int]:
    """Sequence numbers of parseable records after a line (to tell removal from reordering)."""
    seqs: set[int] = set()
    for number, raw in _lines(path):
        if number > after_line:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                seq = json.loads(raw)["seq"]
                if type(seq) is int:
                    seqs.add(seq)
    return seqs


def verify(path: pathlib.Path) -> VerifyResult:
    """Check the whole chain of the log at `path`, and its end against ``audit.head``.

    Detects an edited line (hash mismatch or non-canonical bytes), a removed, reordered or
    inserted line (sequence gap or repeat, `prev` mismatch), a line that is not JSON, a
    truncated last line, and, through the head, records removed from the end. A missing log
    with no head is an empty, intact log. Reads the file once, streaming; holds a shared lock
    so that a concurrent append is never seen half written.
    """
    with _shared_lock(path):
        return _verify(path)


def _verify(path: pathlib.Path) -> VerifyResult:
    records = 0
    seq, digest, prev = 0, GENESIS_HASH, ""
    number = 0
    try:
        for number, raw in _lines(path):
            reason, record = _problem(raw)
            if record is None:
                return VerifyResult(False, records, number, f"line {number}: {reason}")
            expected = seq + 1
            if record["seq"] != expected:
                if record["seq"] > expected:
                    if expected in _later_seqs(path, number):
                        why = "records reordered?"
                    elif record["seq"] == expected + 1:
                        why = "a record was removed?"
                    else:
                        why = "records were removed?"
                elif record["seq"] == seq:
                    why = "a record was inserted?"
                else:
                    why = "records reordered or inserted?"
                reason = f"line {number}: sequence {record['seq']} follows {seq} ({why})"
                return VerifyResult(False, records, number, reason)
            if record["prev"] != digest:
                reason = (
                    f"line {number}: its prev does not match the hash of the record before it "
                    "(a record before it was edited, or this one was inserted?)"
                )
                return VerifyResult(False, records, number, reason)
            seq, digest, prev = record["seq"], record["hash"], record["prev"]
            records += 1
    except FileNotFoundError:
        pass
    except OSError as error:
        raise AuditError(f"cannot read the audit log {path}: {error.strerror}") from None
    if seq > 1 and not head_path(path).exists():
        reason = (
            f"the head file {head_path(path).name} is missing, so records removed from the end "
            "cannot be ruled out (deleted?)"
        )
        return VerifyResult(False, records, None, reason)
    try:
        head = _parse_head(head_path(path))
    except AuditError as error:
        return VerifyResult(False, records, None, error.message)
    except OSError as error:
        raise AuditError(f"cannot read {head_path(path)}: {error.strerror}") from None
    if not _head_consistent(head, (seq, digest, prev)):
        if head[0] > seq:
            reason = (
                f"line {number + 1}: the log ends at seq {seq} but the head says {head[0]} "
                "(records removed from the end?)"
            )
            return VerifyResult(False, records, number + 1, reason)
        reason = (
            f"the log ends at seq {seq} but the head says {head[0]} with another hash "
            "(the end of the log was rewritten, or appended to outside botkit?)"
        )
        if number:
            reason = f"line {number}: {reason}"
        return VerifyResult(False, records, number or None, reason)
    return VerifyResult(True, records)


def _parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def read(
    path: pathlib.Path,
    *,
    since: datetime.datetime | None = None,
    event: str | None = None,
) -> list[dict[str, typing.Any]]:
    """The log's records, oldest first, optionally filtered.

    Args:
        since: only records at or after this moment (a naive value is taken as UTC).
        event: an event name, or a pattern with ``*`` such as ``token.*``.

    Raises:
        AuditError: a line is not a readable record (`verify` says more).
    """
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=datetime.UTC)
    with _shared_lock(path):
        return _read(path, since, event)


def _read(
    path: pathlib.Path, since: datetime.datetime | None, event: str | None
) -> list[dict[str, typing.Any]]:
    result: list[dict[str, typing.Any]] = []
    try:
        for number, raw in _lines(path):
            try:
                record = json.loads(raw)
                moment = _parse_time(record["time"])
                name = record["event"]
            except (ValueError, KeyError, TypeError):
                raise AuditError(
                    f"line {number} of the audit log {path} is not a readable record",
                    hint="run `botkit audit verify`",
                ) from None
            if since is not None and moment < since:
                continue
            if event is not None and not fnmatch.fnmatchcase(str(name), event):
                continue
            result.append(record)
    except FileNotFoundError:
        return []
    except OSError as error:
        raise AuditError(f"cannot read the audit log {path}: {error.strerror}") from None
    return result
