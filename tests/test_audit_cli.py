"""`botkit audit show` and `botkit audit verify` through click."""

from __future__ import annotations

import datetime
import json
import pathlib

import click
import pytest
from click.testing import CliRunner, Result

from botkit._audit import AuditLog, Events, head_path
from botkit._cli import LazyGroup
from botkit._cli._audit_cmds import audit, parse_since
from botkit._cli._common import common_options

T0 = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.UTC)


@click.group(cls=LazyGroup, lazy={"audit": ("botkit._cli._audit_cmds:audit", "Audit log.")})
@common_options
def root() -> None:
    """The root group as botkit registers the command (lazily, with its error mapping)."""


@pytest.fixture
def state_dir(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> pathlib.Path:
    monkeypatch.chdir(tmp_path)  # no ./botkit.toml
    path = tmp_path / "state"
    monkeypatch.setenv("BOTKIT_STATE__DIR", str(path))
    return path


@pytest.fixture
def log_path(state_dir: pathlib.Path) -> pathlib.Path:
    """A log with records spread over 20 days, the last one now."""
    path = state_dir / "audit.jsonl"
    now = datetime.datetime.now(datetime.UTC)
    times = iter([now - datetime.timedelta(days=20), now - datetime.timedelta(days=10), now])
    log = AuditLog(path, clock=lambda: next(times))
    log.record_sync(Events.BOOTSTRAP_STARTED, path="password")
    log.record_sync(Events.TOKEN_CREATED, token="botkit-1", last="Ab12Cd")
    log.record_sync(Events.ROTATION_STARTED, actor="daemon", token="botkit-1", n=2)
    return path


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(root, ["audit", *args], catch_exceptions=False)


def test_show_lists_records(runner: CliRunner, log_path: pathlib.Path) -> None:
    result = invoke(runner, "show")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert lines[1].split()[0] == "2"
    assert "token.created" in lines[1] and "last=Ab12Cd token=botkit-1" in lines[1]
    assert "daemon" in lines[2] and "n=2" in lines[2]


def test_show_json_is_one_document(runner: CliRunner, log_path: pathlib.Path) -> None:
    result = invoke(runner, "show", "--json")
    assert result.exit_code == 0
    records = json.loads(result.stdout)
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[1]["details"] == {"token": "botkit-1", "last": "Ab12Cd"}
    assert set(records[0]) == {"seq", "time", "event", "actor", "details", "prev", "hash"}


def test_show_filters(runner: CliRunner, log_path: pathlib.Path) -> None:
    def seqs(*args: str) -> list[int]:
        result = invoke(runner, "show", "--json", *args)
        assert result.exit_code == 0, result.output
        return [r["seq"] for r in json.loads(result.stdout)]

    assert seqs("--since", "15d") == [2, 3]
    assert seqs("--since", "1d") == [3]
    assert seqs("--event", "token.*") == [2]
    assert seqs("--event", "rotation.started", "--since", "30d") == [3]
    assert seqs("--event", "nothing") == []
    assert seqs("--since", "2000-01-01") == [1, 2, 3]
    assert seqs("--since", "2999-01-01T00:00:00Z") == []


def test_show_bad_since_is_a_usage_error(runner: CliRunner, log_path: pathlib.Path) -> None:
    result = invoke(runner, "show", "--since", "last tuesday")
    assert result.exit_code == 2
    assert "neither a duration" in result.stderr


def test_show_without_a_log(runner: CliRunner, state_dir: pathlib.Path) -> None:
    result = invoke(runner, "show")
    assert (result.exit_code, result.stdout) == (0, "no audit records\n")
    assert json.loads(invoke(runner, "show", "--json").stdout) == []


def test_show_damaged_log_is_one_error_line(runner: CliRunner, log_path: pathlib.Path) -> None:
    log_path.write_bytes(log_path.read_bytes() + b"garbage\n")
    result = invoke(runner, "show")
    assert result.exit_code == 1
    assert result.stderr.startswith("botkit: error: line 4 of the audit log")
    assert "Traceback" not in result.output


def test_verify_ok(runner: CliRunner, log_path: pathlib.Path) -> None:
    result = invoke(runner, "verify")
    assert result.exit_code == 0
    assert result.stdout.startswith("audit log OK: 3 records, chain intact")
    assert result.stderr == ""


def test_verify_names_the_first_bad_record(runner: CliRunner, log_path: pathlib.Path) -> None:
    lines = log_path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"Ab12Cd", b"Zz99Zz")
    log_path.write_bytes(b"".join(lines))
    result = invoke(runner, "verify")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"botkit: error: audit log {log_path} is broken: "
        "line 2: hash does not match its content (edited?)\n"
    )


def test_verify_removed_tail(runner: CliRunner, log_path: pathlib.Path) -> None:
    lines = log_path.read_bytes().splitlines(keepends=True)
    log_path.write_bytes(b"".join(lines[:2]))
    result = invoke(runner, "verify")
    assert result.exit_code == 1
    assert "line 3: the log ends at seq 2 but the head says 3" in result.stderr


def test_verify_json(runner: CliRunner, log_path: pathlib.Path) -> None:
    good = json.loads(invoke(runner, "verify", "--json").stdout)
    assert good == {
        "path": str(log_path), "ok": True, "records": 3, "first_bad_line": None, "reason": None,
    }
    head_path(log_path).unlink()
    result = invoke(runner, "verify", "--json")
    assert result.exit_code == 1
    bad = json.loads(result.stdout)
    assert bad["ok"] is False and "audit.head is missing" in bad["reason"]


def test_verify_without_a_log(runner: CliRunner, state_dir: pathlib.Path) -> None:
    result = invoke(runner, "verify")
    assert result.exit_code == 0
    assert result.stdout.startswith("audit log OK: 0 records")


def test_group_works_standalone(runner: CliRunner, log_path: pathlib.Path) -> None:
    result = runner.invoke(audit, ["verify"])
    assert result.exit_code == 0 and "3 records" in result.stdout
    assert "show" in runner.invoke(audit, ["--help"]).stdout


def test_parse_since() -> None:
    assert parse_since("7d", now=T0) == T0 - datetime.timedelta(days=7)
    assert parse_since("90m", now=T0) == T0 - datetime.timedelta(minutes=90)
    assert parse_since("2025-02-01") == datetime.datetime(2025, 2, 1, tzinfo=datetime.UTC)
    zone = datetime.timezone(datetime.timedelta(hours=1))
    assert parse_since("2025-02-01T10:00+01:00") == datetime.datetime(2025, 2, 1, 10, tzinfo=zone)
    with pytest.raises(ValueError, match="neither a duration"):
        parse_since("soon")
