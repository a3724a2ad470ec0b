"""Configuration: file, environment overrides, strictness, and the one-line errors."""

from __future__ import annotations

import datetime
import json
import pathlib
import typing

import pytest
from click.testing import CliRunner

from botkit._cli import cli
from botkit._config import load_settings

WriteConfig = typing.Callable[..., pathlib.Path]


def test_defaults_without_file(workdir: pathlib.Path) -> None:
    settings = load_settings(None)
    assert settings.config_file is None
    assert settings.tokens.name_prefix == "botkit"
    assert settings.tokens.rotate_after == datetime.timedelta(days=30)
    assert settings.scheduler.misfire_grace == datetime.timedelta(seconds=60)
    assert settings.server.user_agent.startswith("botkit/")


def test_file_values_and_durations(write_config: WriteConfig) -> None:
    path = write_config(
        '[server]\nurl = "https://chat.example.org"\ntimeout = "2m"\n'
        '[tokens]\nrotate_after = "12h"\n[scheduler]\nmisfire_grace = 90\n'
    )
    settings = load_settings(path)
    assert settings.server.base_url == "https://chat.example.org"
    assert settings.server.timeout == 120.0
    assert settings.tokens.rotate_after == datetime.timedelta(hours=12)
    assert settings.scheduler.misfire_grace == datetime.timedelta(seconds=90)


def test_environment_overrides_file(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config('[server]\nurl = "https://a.example"\nmax_connections = 3\n')
    monkeypatch.setenv("BOTKIT_SERVER__MAX_CONNECTIONS", "7")
    monkeypatch.setenv("BOTKIT_TOKENS__ROTATE_AFTER", "5d")
    settings = load_settings(path)
    assert settings.server.max_connections == 7
    assert settings.server.base_url == "https://a.example"  # the rest of the section stays
    assert settings.tokens.rotate_after == datetime.timedelta(days=5)


def test_env_only_configuration(workdir: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOTKIT_SERVER__URL", "https://env.example")
    monkeypatch.setenv("BOTKIT_AUTH__USER_ID", "u1")
    monkeypatch.setenv("BOTKIT_AUTH__TOKEN", "injected-token-value")
    settings = load_settings(None)
    assert settings.server.base_url == "https://env.example"
    assert settings.auth.token is not None
    assert "injected-token-value" not in repr(settings)


def test_relative_paths_follow_the_file(write_config: WriteConfig, tmp_path: pathlib.Path) -> None:
    path = write_config('[state]\ndir = "state"\n[plugins]\npaths = ["mine"]\n')
    settings = load_settings(path)
    assert settings.state.dir == tmp_path.resolve() / "state"
    assert settings.plugins.paths == [tmp_path.resolve() / "mine"]


def test_plugin_tables_are_kept(write_config: WriteConfig) -> None:
    path = write_config('[plugins]\nenabled = ["hello"]\n[plugins.hello]\nroom = "dev"\n')
    settings = load_settings(path)
    assert settings.plugins.enabled == ["hello"]
    assert settings.plugins.settings_for("hello") == {"room": "dev"}
    assert settings.plugins.settings_for("other") == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[server]\nurll = "x"\n', "server.urll: unknown key"),
        ("[serverr]\n", "serverr: unknown key"),
        ('[server]\ntimeout = "soon"\n', "server.timeout: 'soon' is not a duration"),
        ('[server]\nurl = "not a url"\n', "server.url:"),
        ("[server]\nmax_connections = 0\n", "server.max_connections:"),
        ('[scheduler]\ntimezone = "Mars/Olympus"\n', "scheduler.timezone: unknown time zone"),
        ('[auth]\nuser_id = "u"\n', "auth: user_id and token must be given together"),
        ('[auth]\ntotp_secret = "not base32!"\n', "auth.totp_secret: totp_secret must be base32"),
        ('[logging]\nlevel = "LOUD"\n', "logging.level:"),
        ("[plugins]\nfoo = 1\n", "unknown key 'foo'"),
        ("[server\nurl=", "malformed TOML"),
    ],
)
def test_bad_config_is_one_line_exit_2(
    runner: CliRunner, write_config: WriteConfig, text: str, expected: str
) -> None:
    path = write_config(text)
    result = runner.invoke(cli, ["config", "--config", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"botkit: error: {path}")
    assert expected in lines[0]
    assert "Traceback" not in result.output


def test_bad_environment_value_names_the_variable(
    runner: CliRunner, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config('[server]\nurl = "https://a.example"\n')
    monkeypatch.setenv("BOTKIT_SERVER__TIMEOUT", "whenever")
    result = runner.invoke(cli, ["config", "--config", str(path)])
    assert result.exit_code == 2
    assert "environment BOTKIT_SERVER__TIMEOUT: server.timeout" in result.stderr


def test_missing_explicit_file(runner: CliRunner, tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "nope.toml"
    result = runner.invoke(cli, ["config", "--config", str(missing)])
    assert result.exit_code == 2
    assert f"{missing}: no such configuration file" in result.stderr
    assert "botkit init" in result.stderr


def test_config_file_from_environment_variable(
    runner: CliRunner, write_config: WriteConfig
) -> None:
    path = write_config('[server]\nurl = "https://from-env.example"\n', name="other.toml")
    result = runner.invoke(cli, ["config", "--json"], env={"BOTKIT_CONFIG": str(path)})
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["config_file"] == str(path)
    assert data["settings"]["server"]["url"]["value"] == "https://from-env.example/"


def test_init_then_config_round_trips(runner: CliRunner, workdir: pathlib.Path) -> None:
    first = runner.invoke(cli, ["init"])
    assert first.exit_code == 0, first.stderr
    written = (workdir / "botkit.toml").read_text()
    assert "[server]" in written and "rotate_after" in written
    again = runner.invoke(cli, ["init"])
    assert again.exit_code == 2
    assert "already exists" in again.stderr
    assert (workdir / "botkit.toml").read_text() == written

    shown = runner.invoke(cli, ["config", "--json"], env={"BOTKIT_SERVER__TIMEOUT": "45s"})
    assert shown.exit_code == 0, shown.stderr
    data = json.loads(shown.stdout)["settings"]
    assert data["server"]["url"] == {"value": "https://chat.example.org/", "source": "file"}
    assert data["server"]["timeout"] == {"value": 45.0, "source": "environment"}
    assert data["tokens"]["rotate_after"] == {"value": "30d", "source": "file"}
    assert data["tokens"]["admin_user"] == {"value": None, "source": "default"}
    assert data["logging"]["json"]["source"] == "file"


def test_config_masks_secrets(runner: CliRunner, write_config: WriteConfig) -> None:
    secret = "JBSWY3DPEHPK3PXP"
    path = write_config(f'[auth]\ntotp_secret = "{secret}"\n')
    env = {"BOTKIT_AUTH__USER_ID": "uid", "BOTKIT_AUTH__TOKEN": "tok-very-secret-123"}
    for args in (["config"], ["config", "--json"]):
        result = runner.invoke(cli, [*args, "--config", str(path)], env=env)
        assert result.exit_code == 0, result.stderr
        assert secret not in result.output
        assert "tok-very-secret-123" not in result.output
        assert "**********" in result.output


def test_example_config_documents_every_key() -> None:
    """Every key of every section appears in config.example.toml with a comment above it."""
    from botkit._cli._config_cmds import example_config
    from botkit._config import Settings

    text = example_config()
    for section_name, section_field in Settings.model_fields.items():
        assert f"[{section_name}]" in text
        model = section_field.annotation
        assert model is not None
        for key, field in model.model_fields.items():
            shown = field.alias or key
            assert f"\n{shown} =" in text or f"\n# {shown} =" in text, f"{section_name}.{shown}"


def test_config_masks_plugin_settings_that_look_secret(
    runner: CliRunner, write_config: WriteConfig
) -> None:
    path = write_config(
        '[plugins.alerts]\nroom = "#ops"\nwebhook_token = "hook-s3cr3t-value"\n'
        '[plugins.alerts.upstream]\napi_key = "key-s3cr3t-value"\n'
    )
    for args in (["config"], ["config", "--json"]):
        result = runner.invoke(cli, [*args, "--config", str(path)])
        assert result.exit_code == 0, result.stderr
        assert "s3cr3t" not in result.output
        assert "#ops" in result.output
