"""The token store: slots, the private file, refusals, crash safety, injected tokens."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import pathlib
import pickle
import stat
import typing

import pytest
from pydantic import SecretStr

from botkit._cli._errors import EXIT_AUTH, exit_code_for
from botkit._config import load_settings
from botkit._redact import redact
from botkit._tokens import (
    INJECTED_TOKEN_NAME,
    READ_ONLY_NOTICE,
    FileTokenStore,
    InjectedTokenStore,
    TokenRecord,
    TokenSlot,
    check_owner,
    injected_token,
    normalise_server_url,
    open_token_store,
)
from botkit.errors import TokenStoreError

T0 = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.UTC)
SERVER = "https://chat.example.com"
SECRETS = {
    "current": "cUrReNtTokenValue-aaaaaaaaaaaaaaaaaaaa-Cur123",
    "pending": "pEnDiNgTokenValue-bbbbbbbbbbbbbbbbbbbb-Pen456",
    "previous": "pReViOuSTokenValue-cccccccccccccccccc-Pre789",
}


def slot(which: str, *, days: int = 0, bypass: bool = False) -> TokenSlot:
    return TokenSlot(
        name=f"botkit-{which}",
        secret=SecretStr(SECRETS[which]),
        created_at=T0 + datetime.timedelta(days=days),
        bypass_two_factor=bypass,
    )


def full_record() -> TokenRecord:
    return TokenRecord(
        server_url=SERVER + "/",
        user_id="u1",
        username="bot",
        current=slot("current"),
        pending=slot("pending", days=30, bypass=True),
        previous=slot("previous", days=-30),
    )


@pytest.fixture
def state_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "state"


@pytest.fixture
def store(state_dir: pathlib.Path) -> FileTokenStore:
    return FileTokenStore(state_dir)


# --- slots and records -----------------------------------------------------------------------


def test_slot_last_chars_and_no_secret_in_text() -> None:
    token = slot("current")
    assert token.last_chars == "Cur123"
    for text in (repr(token), str(token), repr(full_record()), str(full_record())):
        for secret in SECRETS.values():
            assert secret not in text
    assert str(token) == "botkit-current (...Cur123)"
    # Loading a slot registers its secret: every output path masks it from now on.
    assert redact(f"x {SECRETS['current']} y") == "x [REDACTED] y"
    assert redact(token.last_chars) == token.last_chars


def test_slot_times_are_aware_utc() -> None:
    zone = datetime.timezone(datetime.timedelta(hours=2))
    moment = datetime.datetime(2025, 1, 1, 2, tzinfo=zone)
    token = TokenSlot("n", SecretStr(SECRETS["current"]), moment)
    assert token.created_at == datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    assert token.created_at.tzinfo is datetime.UTC
    with pytest.raises(ValueError, match="aware"):
        TokenSlot("n", SecretStr("x" * 10), datetime.datetime(2025, 1, 1))
    with pytest.raises(TypeError, match="SecretStr"):
        TokenSlot("n", "plain" * 3, T0)  # type: ignore[arg-type]


def test_rotation_steps_return_new_records() -> None:
    start = TokenRecord(SERVER, "u1", "bot", current=slot("current"))
    pending = start.with_pending(slot("pending"))
    assert start.pending is None and pending.pending == slot("pending")
    promoted = pending.promote()
    assert (promoted.current, promoted.pending, promoted.previous) == (
        slot("pending"), None, slot("current"),
    )
    assert promoted.clear_previous().slots() == {"current": slot("pending")}
    assert pending.drop_pending() == start
    assert start.without_current() == TokenRecord(SERVER, "u1", "bot")
    with pytest.raises(TokenStoreError, match="no pending token"):
        start.promote()
    with pytest.raises(dataclasses.FrozenInstanceError):
        start.current = None  # type: ignore[misc]


def test_server_url_is_normalised() -> None:
    assert normalise_server_url("HTTPS://Chat.Example.com/") == SERVER
    assert normalise_server_url("https://example.com/chat/") == "https://example.com/chat"
    assert full_record().server_url == SERVER


# --- the file --------------------------------------------------------------------------------


def test_missing_file_is_none(store: FileTokenStore) -> None:
    assert store.load() is None


def test_round_trip(store: FileTokenStore) -> None:
    record = full_record()
    store.save(record)
    assert store.load() == record
    loaded = store.load()
    assert loaded is not None and loaded.pending is not None
    assert loaded.pending.bypass_two_factor is True
    assert loaded.current is not None
    assert loaded.current.secret.get_secret_value() == SECRETS["current"]
    assert loaded.current.created_at == T0


def test_empty_slots_round_trip(store: FileTokenStore) -> None:
    record = TokenRecord(SERVER, "u1", "", current=slot("current"))
    store.save(record)
    assert store.load() == record


def test_file_format(store: FileTokenStore) -> None:
    store.save(full_record().drop_pending())
    data = json.loads(store.path.read_text())
    assert data == {
        "version": 1,
        "server_url": SERVER,
        "user_id": "u1",
        "username": "bot",
        "slots": {
            "current": {
                "name": "botkit-current",
                "secret": SECRETS["current"],
                "created_at": "2025-03-01T12:00:00+00:00",
                "bypass_two_factor": False,
            },
            "pending": None,
            "previous": {
                "name": "botkit-previous",
                "secret": SECRETS["previous"],
                "created_at": "2025-01-30T12:00:00+00:00",
                "bypass_two_factor": False,
            },
        },
    }


def test_modes(store: FileTokenStore, state_dir: pathlib.Path) -> None:
    store.save(full_record())
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.path.name == "token.json"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_refuses_a_file_others_can_read(store: FileTokenStore, mode: int) -> None:
    store.save(full_record())
    store.path.chmod(mode)
    with pytest.raises(TokenStoreError) as info:
        store.load()
    error = info.value
    assert error.message == f"token file {store.path} is readable by others (mode {mode:04o})"
    assert error.hint == f"run: chmod 600 {store.path}"
    assert exit_code_for(error) == EXIT_AUTH == 3


def test_refuses_an_open_state_dir(store: FileTokenStore, state_dir: pathlib.Path) -> None:
    store.save(full_record())
    state_dir.chmod(0o755)
    with pytest.raises(TokenStoreError) as info:
        store.load()
    assert info.value.message == f"state directory {state_dir} is open to others (mode 0755)"
    assert info.value.hint == f"run: chmod 700 {state_dir}"


def test_saving_refuses_an_open_state_dir(
    store: FileTokenStore, state_dir: pathlib.Path
) -> None:
    """A folder others can read is not botkit's to tighten: refused, nothing written."""
    from botkit.errors import ConfigError

    state_dir.mkdir(mode=0o755)
    state_dir.chmod(0o755)
    with pytest.raises(ConfigError, match="open to others"):
        store.save(full_record())
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o755
    assert list(state_dir.iterdir()) == []


def test_refuses_a_file_of_another_user(
    store: FileTokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save(full_record())
    real_uid = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: real_uid + 1)
    with pytest.raises(TokenStoreError, match="belongs to another user"):
        store.load()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "not JSON"),
        (b"{not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"version": 2, "slots": {}}', "format version 2"),
        (b'{"version": 1}', "slots is missing"),
        (b'{"version": 1, "slots": {}, "user_id": "u", "username": "b"}', "server_url"),
        (
            b'{"version": 1, "server_url": "s", "user_id": "u", "username": "b",'
            b' "slots": {"current": {"name": "n", "secret": "SeCrEt-in-a-bad-slot",'
            b' "created_at": "yesterday"}}}',
            "slots.current.created_at is not a date and time",
        ),
        (
            b'{"version": 1, "server_url": "s", "user_id": "u", "username": "b",'
            b' "slots": {"pending": {"name": "n", "secret": 42}}}',
            "slots.pending.secret is missing or not text",
        ),
    ],
)
def test_damaged_file(store: FileTokenStore, content: bytes, problem: str) -> None:
    store.save(full_record())
    store.path.write_bytes(content)
    with pytest.raises(TokenStoreError) as info:
        store.load()
    assert problem in info.value.message
    assert "is damaged" in info.value.message and "nothing was changed" in info.value.message
    assert "SeCrEt" not in info.value.message
    assert store.path.read_bytes() == content


def test_crash_during_save_keeps_the_old_file(
    store: FileTokenStore, state_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = full_record().drop_pending()
    store.save(old)
    before = store.path.read_bytes()

    def crash(src: typing.Any, dst: typing.Any) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(TokenStoreError, match=r"cannot write the token file .*unchanged"):
        store.save(old.with_pending(slot("pending")))
    monkeypatch.undo()
    assert store.path.read_bytes() == before
    assert store.load() == old
    assert sorted(p.name for p in state_dir.iterdir()) == ["token.json"]


def test_no_temp_file_is_ever_readable_by_others(
    store: FileTokenStore, state_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save(full_record())
    seen: list[int] = []
    real_replace = os.replace

    def spy(src: typing.Any, dst: typing.Any) -> None:
        seen.append(stat.S_IMODE(os.stat(src).st_mode))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    store.save(full_record().promote())
    assert seen == [0o600]


# --- owner -----------------------------------------------------------------------------------


def test_check_owner_accepts_the_same_server() -> None:
    record = full_record()
    check_owner(record, "https://CHAT.example.com/")
    check_owner(record, SERVER, user_id="u1")
    FileTokenStore(pathlib.Path("unused")).check_owner(record, SERVER)


def test_check_owner_refuses_another_server() -> None:
    with pytest.raises(TokenStoreError) as info:
        check_owner(full_record(), "https://other.example.org")
    assert info.value.message == (
        "the stored token belongs to bot on https://chat.example.com, "
        "not to https://other.example.org"
    )
    assert info.value.hint is not None and "[state] dir" in info.value.hint
    assert "botkit bootstrap" in info.value.hint
    assert exit_code_for(info.value) == 3


def test_check_owner_refuses_another_user() -> None:
    with pytest.raises(TokenStoreError, match=r"user id u1\) on .*, not to user id u2"):
        check_owner(full_record(), SERVER, user_id="u2")


def test_errors_pickle_with_their_hint(store: FileTokenStore) -> None:
    with pytest.raises(TokenStoreError) as info:
        check_owner(full_record(), "https://other.example.org")
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.message, copy.hint) == (info.value.message, info.value.hint)


# --- injected tokens -------------------------------------------------------------------------


@pytest.fixture
def injected_env(
    monkeypatch: pytest.MonkeyPatch, state_dir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOTKIT_SERVER__URL", SERVER + "/")
    monkeypatch.setenv("BOTKIT_STATE__DIR", str(state_dir))
    monkeypatch.setenv("BOTKIT_AUTH__USER_ID", "uX")
    monkeypatch.setenv("BOTKIT_AUTH__TOKEN", "InJeCtEdTokenValue-dddddddddddddddddd-Inj000")


def test_injected_token_is_read_only(injected_env: None, state_dir: pathlib.Path) -> None:
    settings = load_settings(None)
    store = open_token_store(settings)
    assert isinstance(store, InjectedTokenStore) and store.read_only
    assert store.notice == READ_ONLY_NOTICE and "rotation is off" in READ_ONLY_NOTICE
    record = store.load()
    assert record is not None and record.read_only
    assert record.server_url == SERVER and record.user_id == "uX" and record.username == "uX"
    assert record.current is not None and record.current.name == INJECTED_TOKEN_NAME
    assert record.current.last_chars == "Inj000"
    assert record.pending is None and record.previous is None
    assert "InJeCtEd" not in repr(record)
    with pytest.raises(TokenStoreError) as info:
        store.save(record)
    assert info.value.message == (
        "tokens injected through BOTKIT_AUTH__TOKEN are read-only; rotation is off"
    )
    # Even through a plain file store, a read-only record is never written.
    with pytest.raises(TokenStoreError, match="read-only"):
        FileTokenStore(state_dir).save(record.with_pending(slot("pending")))
    assert not state_dir.exists()


def test_injected_token_wins_over_the_file(injected_env: None, state_dir: pathlib.Path) -> None:
    FileTokenStore(state_dir).save(full_record())
    record = open_token_store(load_settings(None)).load()
    assert record is not None and record.user_id == "uX"


def test_no_injection_means_the_file_store(
    monkeypatch: pytest.MonkeyPatch, state_dir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOTKIT_STATE__DIR", str(state_dir))
    settings = load_settings(None)
    store = open_token_store(settings)
    assert type(store) is FileTokenStore and not store.read_only
    assert store.path == state_dir / "token.json"
    assert injected_token(settings) is None


def test_injected_token_uses_the_given_time(injected_env: None) -> None:
    record = injected_token(load_settings(None), now=T0)
    assert record is not None and record.current is not None
    assert record.current.created_at == T0
