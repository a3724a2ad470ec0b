"""The audit log: record format, the hash chain, tamper detection, locking, fail closed."""

from __future__ import annotations

import asyncio
import datetime
import errno
import fcntl
import hashlib
import json
import os
import pathlib
import stat
import subprocess
import sys
import tempfile
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import botkit._audit as audit_module
from botkit._audit import (
    GENESIS_HASH,
    AuditLog,
    Events,
    canonical_json,
    head_path,
    lock_path,
    read,
    record_hash,
    verify,
)
from botkit._redact import forget_secret, register_secret
from botkit.errors import AuditError

T0 = datetime.datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=datetime.UTC)


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime.datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += datetime.timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log_path(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "state" / "audit.jsonl"


@pytest.fixture
def log(log_path: pathlib.Path, clock: Clock) -> AuditLog:
    return AuditLog(log_path, clock=clock)


def lines_of(path: pathlib.Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def contents(path: pathlib.Path) -> bytes:
    return path.read_bytes()


def write_lines(path: pathlib.Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def make_log(log: AuditLog, count: int) -> None:
    for index in range(count):
        log.record_sync(Events.TOKEN_VERIFIED, name=f"botkit-{index}", last="abc123")


# --- format ----------------------------------------------------------------------------------


async def test_first_record_fields(log: AuditLog, log_path: pathlib.Path) -> None:
    record = await log.record(Events.TOKEN_CREATED, name="botkit-1", last="Xy12z9")
    assert record == {
        "seq": 1,
        "time": "2025-03-01T12:00:00.123Z",
        "event": "token.created",
        "actor": "cli",
        "details": {"name": "botkit-1", "last": "Xy12z9"},
        "prev": GENESIS_HASH,
        "hash": record["hash"],
    }
    body = {k: v for k, v in record.items() if k != "hash"}
    expected = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    assert record["hash"] == expected == record_hash(record)
    assert contents(log_path) == canonical_json(record) + b"\n"


async def test_chain_links_and_actor(log: AuditLog, log_path: pathlib.Path) -> None:
    first = await log.record(Events.DAEMON_STARTED)
    second = await log.record(Events.LOGIN, actor="daemon", method="token")
    third = await log.sink("plugin:weather")(Events.AUDIT_FINDINGS, {"count": 2})
    assert third is None
    records = read(log_path)
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert second["prev"] == first["hash"]
    assert records[2]["prev"] == second["hash"]
    assert [r["actor"] for r in records] == ["cli", "daemon", "plugin:weather"]
    assert verify(log_path).ok


async def test_files_are_private(log: AuditLog, log_path: pathlib.Path) -> None:
    await log.record(Events.LOGOUT)
    assert stat.S_IMODE(log_path.parent.stat().st_mode) == 0o700
    for path in (log_path, lock_path(log_path), head_path(log_path)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert lock_path(log_path).name == "audit.jsonl.lock"
    assert head_path(log_path).name == "audit.head"


def test_head_tracks_the_last_record(log: AuditLog, log_path: pathlib.Path) -> None:
    make_log(log, 3)
    last = json.loads(lines_of(log_path)[-1])
    head = json.loads(head_path(log_path).read_bytes())
    assert head == {"seq": 3, "hash": last["hash"]}


def test_time_is_utc_with_milliseconds(log_path: pathlib.Path) -> None:
    zone = datetime.timezone(datetime.timedelta(hours=2))
    moment = datetime.datetime(2025, 3, 1, 14, 0, 0, 5000, tzinfo=zone)
    record = AuditLog(log_path, clock=lambda: moment).record_sync(Events.LOGIN)
    assert record["time"] == "2025-03-01T12:00:00.005Z"


def test_unicode_details_are_kept(log: AuditLog, log_path: pathlib.Path) -> None:
    log.record_sync(Events.TOKEN_CREATED, name="bötkit\u2028\x1f")
    assert read(log_path)[0]["details"]["name"] == "bötkit\u2028\x1f"
    assert verify(log_path).ok


def test_every_event_name_is_accepted(log: AuditLog, log_path: pathlib.Path) -> None:
    names = sorted(Events.all())
    assert len(names) == 18
    assert {"2fa.challenge", "rotation.reconciled", "token.rejected"} <= set(names)
    for name in names:
        log.record_sync(name)
    assert verify(log_path) == verify(log_path)
    assert verify(log_path).records == 18


def test_caller_changes_after_recording_do_not_alter_the_record(
    log: AuditLog, log_path: pathlib.Path
) -> None:
    names = ["a"]
    log.record_sync(Events.AUDIT_FINDINGS, names=names)
    names.append("b")
    assert read(log_path)[0]["details"] == {"names": ["a"]}


# --- read ------------------------------------------------------------------------------------


def test_read_filters(log: AuditLog, log_path: pathlib.Path, clock: Clock) -> None:
    log.record_sync(Events.DAEMON_STARTED)
    clock.advance(days=2)
    log.record_sync(Events.TOKEN_CREATED, name="b")
    clock.advance(days=2)
    log.record_sync(Events.TOKEN_PROMOTED, name="b")
    log.record_sync(Events.ROTATION_COMPLETED)
    assert [r["seq"] for r in read(log_path, event="token.*")] == [2, 3]
    assert [r["seq"] for r in read(log_path, event="token.created")] == [2]
    assert [r["seq"] for r in read(log_path, since=T0 + datetime.timedelta(days=1))] == [2, 3, 4]
    since = T0 + datetime.timedelta(days=3)
    assert [r["seq"] for r in read(log_path, since=since, event="token.*")] == [3]
    naive = (T0 + datetime.timedelta(days=3)).replace(tzinfo=None)
    assert [r["seq"] for r in read(log_path, since=naive)] == [3, 4]
    assert read(log_path, event="nothing") == []
    assert log.read(event="rotation.*")[0]["seq"] == 4


def test_read_missing_log_is_empty(tmp_path: pathlib.Path) -> None:
    assert read(tmp_path / "audit.jsonl") == []


def test_read_names_a_damaged_line(log: AuditLog, log_path: pathlib.Path) -> None:
    make_log(log, 2)
    write_lines(log_path, [lines_of(log_path)[0], b"garbage\n"])
    with pytest.raises(AuditError, match="line 2 of the audit log"):
        read(log_path)


# --- concurrency -----------------------------------------------------------------------------

_WRITER = """
import pathlib, sys
from botkit._audit import AuditLog
log = AuditLog(pathlib.Path(sys.argv[1]), actor="daemon")
for i in range(int(sys.argv[2])):
    log.record_sync("token.verified", writer=sys.argv[3], n=i)
"""


def test_two_processes_append_one_chain(log_path: pathlib.Path) -> None:
    per_process = 25
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(log_path), str(per_process), name])
        for name in ("a", "b")
    ]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    result = verify(log_path)
    assert result.ok, result.reason
    records = read(log_path)
    assert [r["seq"] for r in records] == list(range(1, 2 * per_process + 1))
    for writer in ("a", "b"):
        mine = [r["details"]["n"] for r in records if r["details"]["writer"] == writer]
        assert mine == list(range(per_process))


def test_verify_holds_off_writers_until_it_has_read_the_head(
    log: AuditLog, log_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Otherwise an append between reading the lines and reading the head would look like
    # records removed from the end.
    make_log(log, 2)
    real_parse_head = audit_module._parse_head
    attempts: list[bool] = []

    def parse_head(path: pathlib.Path) -> tuple[int, str]:
        fd = os.open(lock_path(log_path), os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            attempts.append(True)
        except BlockingIOError:
            attempts.append(False)
        finally:
            os.close(fd)
        return real_parse_head(path)

    monkeypatch.setattr(audit_module, "_parse_head", parse_head)
    assert verify(log_path).ok
    assert attempts == [False]


async def test_concurrent_tasks_append_one_chain(log: AuditLog, log_path: pathlib.Path) -> None:
    await asyncio.gather(*(log.record(Events.TOKEN_VERIFIED, n=i) for i in range(20)))
    result = verify(log_path)
    assert result.ok and result.records == 20
    assert sorted(r["details"]["n"] for r in read(log_path)) == list(range(20))


# --- tamper detection ------------------------------------------------------------------------


@pytest.fixture
def six(log: AuditLog, log_path: pathlib.Path) -> list[bytes]:
    """A log of six records; returns its lines."""
    make_log(log, 6)
    assert verify(log_path).ok
    return lines_of(log_path)


def forge(line: bytes, **changes: typing.Any) -> bytes:
    """A record changed and re-hashed, as a careful forger would."""
    record = json.loads(line)
    record.update(changes)
    record["hash"] = record_hash(record)
    return canonical_json(record) + b"\n"


def check(path: pathlib.Path, line: int | None, *reason_parts: str) -> None:
    result = verify(path)
    assert not result.ok
    assert result.first_bad_line == line, result.reason
    assert result.reason is not None
    for part in reason_parts:
        assert part in result.reason


def test_intact_log_verifies(log_path: pathlib.Path, six: list[bytes]) -> None:
    result = verify(log_path)
    assert (result.ok, result.records, result.first_bad_line, result.reason) == (
        True, 6, None, None,
    )


def test_missing_log_is_empty_and_intact(tmp_path: pathlib.Path) -> None:
    assert verify(tmp_path / "audit.jsonl").ok


def test_edited_line(log_path: pathlib.Path, six: list[bytes]) -> None:
    six[3] = six[3].replace(b"botkit-3", b"botkit-X")
    write_lines(log_path, six)
    check(log_path, 4, "line 4: hash does not match its content (edited?)")
    assert verify(log_path).records == 3


def test_edited_line_with_recomputed_hash(log_path: pathlib.Path, six: list[bytes]) -> None:
    six[2] = forge(six[2], details={"name": "evil"})
    write_lines(log_path, six)
    check(log_path, 4, "line 4: its prev does not match the hash of the record before it")


def test_non_canonical_bytes(log_path: pathlib.Path, six: list[bytes]) -> None:
    record = json.loads(six[1])
    six[1] = json.dumps(record, indent=None).encode() + b"\n"  # same value, other spacing
    write_lines(log_path, six)
    check(log_path, 2, "line 2: not in canonical form")


def test_removed_line(log_path: pathlib.Path, six: list[bytes]) -> None:
    del six[2]
    write_lines(log_path, six)
    check(log_path, 3, "line 3: sequence 4 follows 2 (a record was removed?)")


def test_removed_lines(log_path: pathlib.Path, six: list[bytes]) -> None:
    del six[1:3]
    write_lines(log_path, six)
    check(log_path, 2, "line 2: sequence 4 follows 1 (records were removed?)")


def test_removed_first_line(log_path: pathlib.Path, six: list[bytes]) -> None:
    del six[0]
    write_lines(log_path, six)
    check(log_path, 1, "line 1: sequence 2 follows 0 (a record was removed?)")


def test_reordered_lines(log_path: pathlib.Path, six: list[bytes]) -> None:
    six[2], six[3] = six[3], six[2]
    write_lines(log_path, six)
    check(log_path, 3, "line 3: sequence 4 follows 2 (records reordered?)")


def test_inserted_copy_of_an_old_line(log_path: pathlib.Path, six: list[bytes]) -> None:
    six.insert(4, six[1])
    write_lines(log_path, six)
    check(log_path, 5, "line 5: sequence 2 follows 4 (records reordered or inserted?)")


def test_inserted_forged_record(log_path: pathlib.Path, six: list[bytes]) -> None:
    # A well-formed record that chains onto line 2: the chain breaks at the next line.
    six.insert(2, forge(six[2], details={"name": "forged"}))
    write_lines(log_path, six)
    check(log_path, 4, "line 4: sequence 3 follows 3 (a record was inserted?)")


def test_inserted_garbage_line(log_path: pathlib.Path, six: list[bytes]) -> None:
    six.insert(3, b'{"hello": "world"}\n')
    write_lines(log_path, six)
    check(log_path, 4, "line 4: not an audit record")
    six[3] = b"not json at all\n"
    write_lines(log_path, six)
    check(log_path, 4, "line 4: not a JSON record")
    six[3] = b"\n"
    write_lines(log_path, six)
    check(log_path, 4, "line 4: an empty line")


def test_truncated_last_line(log_path: pathlib.Path, six: list[bytes]) -> None:
    six[5] = six[5][:40]
    write_lines(log_path, six)
    check(log_path, 6, "line 6: the last line is incomplete (the log was truncated?)")


def test_last_newline_removed(log_path: pathlib.Path, six: list[bytes]) -> None:
    six[5] = six[5].rstrip(b"\n")
    write_lines(log_path, six)
    check(log_path, 6, "incomplete")


def test_removed_last_lines_caught_by_the_head(log_path: pathlib.Path, six: list[bytes]) -> None:
    write_lines(log_path, six[:4])
    check(
        log_path,
        5,
        "line 5: the log ends at seq 4 but the head says 6 (records removed from the end?)",
    )


def test_whole_log_removed_caught_by_the_head(log_path: pathlib.Path, six: list[bytes]) -> None:
    log_path.unlink()
    check(log_path, 1, "the log ends at seq 0 but the head says 6")


def test_removed_head(log_path: pathlib.Path, six: list[bytes]) -> None:
    head_path(log_path).unlink()
    check(log_path, None, "audit.head is missing")


def test_damaged_head(log_path: pathlib.Path, six: list[bytes]) -> None:
    head_path(log_path).write_text("{")
    check(log_path, None, "head file", "damaged")


def test_rewritten_end(log_path: pathlib.Path, six: list[bytes]) -> None:
    six[5] = forge(six[5], details={"name": "rewritten"})
    write_lines(log_path, six)
    check(log_path, 6, "line 6: the log ends at seq 6 but the head says 6 with another hash")


def test_head_one_behind_is_a_crash_not_tampering(
    log: AuditLog, log_path: pathlib.Path, six: list[bytes]
) -> None:
    # A crash after the line's fsync and before the head's replacement.
    head_path(log_path).write_bytes(
        canonical_json({"seq": 5, "hash": json.loads(six[4])["hash"]})
    )
    assert verify(log_path).ok
    record = log.record_sync(Events.LOGOUT)
    assert record["seq"] == 7
    assert verify(log_path).ok


def test_first_record_without_head_is_a_crash_not_tampering(
    log: AuditLog, log_path: pathlib.Path
) -> None:
    log.record_sync(Events.LOGIN)
    head_path(log_path).unlink()
    assert verify(log_path).ok


def test_append_refused_after_records_removed_from_the_end(
    log: AuditLog, log_path: pathlib.Path, six: list[bytes]
) -> None:
    write_lines(log_path, six[:4])
    before = log_path.read_bytes()
    with pytest.raises(AuditError, match="ends at seq 4 but its head says 6"):
        log.record_sync(Events.ROTATION_STARTED)
    assert log_path.read_bytes() == before
    check(log_path, 5, "records removed from the end")


def test_append_refused_after_a_torn_last_line(
    log: AuditLog, log_path: pathlib.Path, six: list[bytes]
) -> None:
    six[5] = six[5][:-10]
    write_lines(log_path, six)
    with pytest.raises(AuditError, match="incomplete line"):
        log.record_sync(Events.ROTATION_STARTED)


def test_append_reads_only_the_tail(
    log: AuditLog, log_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Long lines, so that the tail read needs more than one chunk and less than the file.
    for i in range(5):
        log.record_sync(Events.AUDIT_FINDINGS, blob="x" * 6000, n=i)
    size = log_path.stat().st_size
    read_bytes: list[int] = []
    real_pread = os.pread

    def counting_pread(fd: int, length: int, offset: int) -> bytes:
        read_bytes.append(length)
        return real_pread(fd, length, offset)

    monkeypatch.setattr(os, "pread", counting_pread)
    record = log.record_sync(Events.LOGOUT)
    assert record["seq"] == 6
    assert 6000 < sum(read_bytes) < size / 2
    assert verify(log_path).ok


# The original log for the property test, built once: hypothesis reruns the test body.
_ORIGINAL: dict[str, bytes] = {}


def _original() -> dict[str, bytes]:
    if not _ORIGINAL:
        with tempfile.TemporaryDirectory() as folder:
            path = pathlib.Path(folder) / "audit.jsonl"
            log = AuditLog(path, clock=Clock())
            log.record_sync(Events.BOOTSTRAP_STARTED)
            log.record_sync(Events.TOKEN_CREATED, name="bötkit-1", last="aB3dE6", n=1.5)
            log.record_sync(Events.TWO_FACTOR_CHALLENGE, method="totp", ok=True, x=None)
            log.record_sync(Events.AUDIT_FINDINGS, items=["a\\b", 'q"t', "\x1f"])
            _ORIGINAL["log"] = path.read_bytes()
            _ORIGINAL["head"] = head_path(path).read_bytes()
    return _ORIGINAL


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.integers(min_value=0), new_byte=st.integers(min_value=0, max_value=255))
def test_any_single_byte_edit_is_detected(position: int, new_byte: int) -> None:
    original = _original()
    data = bytearray(original["log"])
    position %= len(data)
    if data[position] == new_byte:
        new_byte = (new_byte + 1) % 256
    data[position] = new_byte
    edited_line = original["log"][:position].count(b"\n") + 1
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "audit.jsonl"
        path.write_bytes(bytes(data))
        head_path(path).write_bytes(original["head"])
        result = verify(path)
    assert not result.ok
    assert result.first_bad_line == edited_line, result.reason


def test_every_letter_case_swap_is_detected() -> None:
    # Catches edits that parse to the same value, e.g. the escape \u001f written \u001F.
    original = _original()
    assert b"\\u001f" in original["log"]
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "audit.jsonl"
        head_path(path).write_bytes(original["head"])
        for position, byte in enumerate(original["log"]):
            if not chr(byte).isalpha():
                continue
            data = bytearray(original["log"])
            data[position] = ord(chr(byte).swapcase())
            path.write_bytes(bytes(data))
            result = verify(path)
            assert not result.ok, position
            assert result.first_bad_line == original["log"][:position].count(b"\n") + 1


# --- fail closed -----------------------------------------------------------------------------


def test_unwritable_path_raises_audit_error(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.mkdir()  # a directory where the log should be: every open fails
    log = AuditLog(path)
    with pytest.raises(AuditError, match=r"cannot write the audit log .*audit\.jsonl: ") as info:
        log.record_sync(Events.TOKEN_CREATED, name="x")
    assert info.value.hint is not None and "audit record" in info.value.hint
    assert not head_path(path).exists()


async def test_async_record_fails_closed(tmp_path: pathlib.Path) -> None:
    parent = tmp_path / "not-a-dir"
    parent.write_text("")
    with pytest.raises(AuditError, match="cannot write the audit log"):
        await AuditLog(parent / "audit.jsonl").record(Events.ROTATION_STARTED)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only modes")
def test_read_only_directory_fails_closed(log: AuditLog, log_path: pathlib.Path) -> None:
    make_log(log, 2)
    before = log_path.read_bytes()
    log_path.chmod(0o400)
    try:
        with pytest.raises(AuditError, match="cannot write the audit log"):
            log.record_sync(Events.TOKEN_REMOVED, name="x")
    finally:
        log_path.chmod(0o600)
    assert log_path.read_bytes() == before


def test_permission_denied_fails_closed(
    log: AuditLog, log_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The read-only case as root sees it too (root writes through a 0400 mode).
    make_log(log, 2)
    before = log_path.read_bytes()
    real_open = os.open

    def deny(path: typing.Any, flags: int, mode: int = 0o777) -> int:
        if pathlib.Path(path) == log_path and flags & (os.O_WRONLY | os.O_RDWR):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(AuditError, match=r"cannot write the audit log .*: Permission denied"):
        log.record_sync(Events.TOKEN_REMOVED, name="x")
    monkeypatch.undo()
    assert log_path.read_bytes() == before
    assert verify(log_path).ok


def test_disk_full_leaves_the_log_unchanged(
    log: AuditLog, log_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_log(log, 2)
    before = log_path.read_bytes()
    head_before = head_path(log_path).read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(AuditError, match="No space left on device"):
        log.record_sync(Events.TOKEN_PROMOTED, name="x")
    monkeypatch.undo()
    assert log_path.read_bytes() == before
    assert head_path(log_path).read_bytes() == head_before
    assert verify(log_path).ok


@pytest.fixture
def secret() -> typing.Iterator[str]:
    value = "pat-Sup3rS3cretValue-0123456789"
    register_secret(value)
    yield value
    forget_secret(value)


@pytest.mark.parametrize(
    "details",
    [
        {"token": "{secret}"},
        {"note": "the token is {secret}!"},
        {"nested": {"deeper": ["ok", "{secret}"]}},
        {"{secret}": "as a key"},
        {"header": "X-Auth-Token: abcdef123456"},
    ],
)
def test_secret_in_details_is_refused(
    log: AuditLog, log_path: pathlib.Path, secret: str, details: dict[str, typing.Any]
) -> None:
    filled = json.loads(json.dumps(details).replace("{secret}", secret))
    with pytest.raises(AuditError, match="contains a secret") as info:
        log.record_sync(Events.TOKEN_CREATED, **filled)
    assert secret not in str(info.value) and secret not in (info.value.hint or "")
    assert not log_path.exists() or log_path.read_bytes() == b""


async def test_secret_through_the_sink_is_refused(
    log: AuditLog, log_path: pathlib.Path, secret: str
) -> None:
    log.record_sync(Events.DAEMON_STARTED)
    before = contents(log_path)
    with pytest.raises(AuditError, match="contains a secret"):
        await log.sink("daemon")(Events.TOKEN_CREATED, {"name": "ok", "token": secret})
    assert contents(log_path) == before


def test_last_characters_of_a_secret_are_fine(
    log: AuditLog, log_path: pathlib.Path, secret: str
) -> None:
    log.record_sync(Events.TOKEN_CREATED, name="botkit-1", last=secret[-6:])
    assert read(log_path)[0]["details"]["last"] == "456789"


@pytest.mark.parametrize(
    ("event", "actor", "details", "message"),
    [
        ("token.created", "root", {}, "actor 'root'"),
        ("token.created", "plugin:", {}, "actor"),
        ("Token Created", "cli", {}, "not an event name"),
        ("token.created", "cli", {"when": T0}, "is a datetime"),
        ("token.created", "cli", {"n": float("nan")}, "finite"),
        ("token.created", "cli", {"d": {1: "x"}}, "non-text key"),
    ],
)
def test_malformed_records_are_refused(
    log: AuditLog,
    log_path: pathlib.Path,
    event: str,
    actor: str,
    details: dict[str, typing.Any],
    message: str,
) -> None:
    with pytest.raises(AuditError, match=message):
        log.record_sync(event, actor=actor, **details)
    assert not log_path.exists()


def test_naive_clock_is_refused(log_path: pathlib.Path) -> None:
    log = AuditLog(log_path, clock=lambda: datetime.datetime(2025, 1, 1))
    with pytest.raises(AuditError, match="naive"):
        log.record_sync(Events.LOGIN)
