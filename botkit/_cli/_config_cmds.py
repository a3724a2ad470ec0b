"""`botkit init` and `botkit config`."""

from __future__ import annotations

import datetime
import importlib.resources
import json
import pathlib
import re
import typing

import click
from pydantic import BaseModel, SecretStr

from botkit._cli._common import CLIState, common_options, json_option, pass_state
from botkit._config import DEFAULT_CONFIG_FILE, Settings, value_sources
from botkit._duration import format_duration
from botkit.errors import ConfigError

__all__ = ["config_cmd", "init_cmd"]

_MASK = "**********"


def example_config() -> str:
    """The commented example configuration shipped with botkit."""
    return (importlib.resources.files("botkit") / "config.example.toml").read_text("utf-8")


@click.command("init")
@common_options
def init_cmd() -> None:
    """Write a commented botkit.toml into the current folder (never overwrites)."""
    target = DEFAULT_CONFIG_FILE
    try:
        with target.open("x", encoding="utf-8") as handle:
            handle.write(example_config())
    except FileExistsError:
        raise ConfigError(
            f"{target} already exists; botkit init never overwrites it",
            hint="edit it, or remove it first",
        ) from None
    click.echo(f"wrote {target}: set [server] url and [auth] username, then run botkit bootstrap")


#: Keys under [plugins.<name>] whose values are shown masked: botkit cannot know a
#: plugin's secrets, so it goes by the name (webhook_token, api_key, password...).
_SECRET_KEY = re.compile(r"(?i)(token|secret|password|passwd|api_?key|credential|private)")


def _display(value: typing.Any, key: str = "") -> typing.Any:
    """A value as shown to the user: secrets masked, durations and paths as text."""
    if isinstance(value, SecretStr) or (key and _SECRET_KEY.search(key) and value):
        return _MASK
    if isinstance(value, datetime.timedelta):
        return format_duration(value)
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if isinstance(value, list):
        return [_display(v, key) for v in value]
    if isinstance(value, dict):
        return {k: _display(v, str(k)) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def effective_config(settings: Settings) -> dict[str, dict[str, dict[str, typing.Any]]]:
    """section -> key -> {"value": shown value, "source": file | environment | default}."""
    sources = value_sources(settings.config_file)
    result: dict[str, dict[str, dict[str, typing.Any]]] = {}
    for section_name in type(settings).model_fields:
        section = getattr(settings, section_name)
        assert isinstance(section, BaseModel)
        entries: dict[str, dict[str, typing.Any]] = {}
        for key, field in type(section).model_fields.items():
            shown = field.alias or key
            entries[shown] = {
                "value": _display(getattr(section, key)),
                "source": sources.get(f"{section_name}.{shown}", "default"),
            }
        for key, value in (section.model_extra or {}).items():
            entries[key] = {
                "value": _display(value),
                "source": sources.get(f"{section_name}.{key}", "default"),
            }
        result[section_name] = entries
    return result


def _toml_value(value: typing.Any) -> str:
    if value is None:
        return "(not set)"
    return json.dumps(value, ensure_ascii=False)


@click.command("config")
@common_options
@json_option
@pass_state
def config_cmd(state: CLIState, as_json: bool) -> None:
    """Show the effective configuration, secrets masked, with each value's source."""
    settings = state.settings
    table = effective_config(settings)
    origin = str(settings.config_file) if settings.config_file else None
    if as_json:
        click.echo(json.dumps({"config_file": origin, "settings": table}, indent=2))
        return
    click.echo(f"# configuration file: {origin or '(none: defaults and environment)'}")
    for section, entries in table.items():
        click.echo(f"\n[{section}]")
        width = max((len(k) for k in entries), default=0)
        for key, entry in entries.items():
            click.echo(f"{key.ljust(width)} = {_toml_value(entry['value'])}  # {entry['source']}")
