"""Configuration: one TOML file plus `BOTKIT_<SECTION>__<KEY>` environment overrides.

Precedence, highest first: environment, file, defaults. Every section forbids unknown
keys (pydantic's nested models would otherwise drop a typo silently), and every error
names the file (or variable), the key and the problem, as one line.
"""

from __future__ import annotations

import contextvars
import datetime
import os
import pathlib
import re
import tomllib
import typing
import zoneinfo

import platformdirs
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from botkit._duration import parse_duration
from botkit._redact import register_secret
from botkit._version import __version__
from botkit.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "ENV_PREFIX",
    "AuthConfig",
    "LoggingConfig",
    "PluginsConfig",
    "SchedulerConfig",
    "ServerConfig",
    "Settings",
    "StateConfig",
    "TokensConfig",
    "load_settings",
    "value_sources",
]

DEFAULT_CONFIG_FILE = pathlib.Path("botkit.toml")
ENV_PREFIX = "BOTKIT_"
_DELIMITER = "__"

Duration = typing.Annotated[datetime.timedelta, BeforeValidator(parse_duration)]
Seconds = typing.Annotated[float, BeforeValidator(lambda v: parse_duration(v).total_seconds())]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class ServerConfig(_Section):
    """[server]: where Rocket.Chat is and how to talk to it."""

    url: HttpUrl | None = None
    timeout: Seconds = 30.0
    verify_tls: bool = True
    # Stable on purpose: the server's 2FA "remember" window is keyed on user agent + IP.
    user_agent: str = f"botkit/{__version__}"
    max_connections: int = Field(default=10, ge=1, le=1000)
    max_rate_limit_wait: Seconds = 61.0
    # The connection layer under the httpx API; bench/RESULTS.md says why aiohttp is default.
    transport: typing.Literal["aiohttp", "httpx"] = "aiohttp"

    @property
    def base_url(self) -> str:
        """The server URL without trailing slash; ConfigError if it is not set."""
        if self.url is None:
            raise ConfigError(
                "no server URL is configured",
                hint="set [server] url in botkit.toml or BOTKIT_SERVER__URL",
            )
        return str(self.url).rstrip("/")


class AuthConfig(_Section):
    """[auth]: how botkit authenticates."""

    username: str | None = None
    totp_secret: SecretStr | None = None
    token_store: typing.Literal["file"] = "file"
    # Read-only token injection for containers (BOTKIT_AUTH__USER_ID + BOTKIT_AUTH__TOKEN).
    user_id: str | None = None
    token: SecretStr | None = None

    @field_validator("user_id", "token", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        # A trailing newline from `echo $TOKEN > file` or a secrets mount is never meant.
        return value.strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _token_needs_user(self) -> AuthConfig:
        if (self.token is None) != (self.user_id is None):
            raise ValueError("user_id and token must be given together")
        return self

    @field_validator("totp_secret")
    @classmethod
    def _base32(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            text = value.get_secret_value().replace(" ", "").upper()
            if not re.fullmatch(r"[A-Z2-7]+=*", text):
                raise ValueError("totp_secret must be base32 (letters A-Z and digits 2-7)")
            value = SecretStr(text)
        return value


class TokensConfig(_Section):
    """[tokens]: names and rotation policy of the PATs botkit creates."""

    name_prefix: str = Field(default="botkit", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")
    rotate_after: Duration = datetime.timedelta(days=30)
    warn_before: Duration = datetime.timedelta(days=3)
    bypass_two_factor: bool = False
    admin_user: str | None = None
    max_tokens: int = Field(default=5, ge=1)
    check_interval: Duration = datetime.timedelta(hours=1)
    audit_interval: Duration = datetime.timedelta(days=1)


class SchedulerConfig(_Section):
    """[scheduler]: job defaults and limits."""

    timezone: str = "UTC"
    misfire_grace: Duration = datetime.timedelta(seconds=60)
    max_concurrent_jobs: int = Field(default=10, ge=1)
    shutdown_timeout: Duration = datetime.timedelta(seconds=30)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The configured zone as a ZoneInfo."""
        return zoneinfo.ZoneInfo(self.timezone)


class StateConfig(_Section):
    """[state]: where the token file, audit log and state database live."""

    dir: pathlib.Path = Field(default_factory=lambda: platformdirs.user_state_path("botkit"))


class LoggingConfig(_Section):
    """[logging]: level and format."""

    model_config = ConfigDict(extra="forbid", validate_default=True, populate_by_name=True)

    level: typing.Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"] = (
        "INFO"
    )
    # `json` would shadow BaseModel.json; the TOML key and variable are still `json`.
    json_lines: bool = Field(default=False, alias="json")

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class PluginsConfig(BaseModel):
    """[plugins]: where plugins come from; [plugins.<name>] tables hold their settings."""

    model_config = ConfigDict(extra="allow")

    paths: list[pathlib.Path] = Field(default_factory=lambda: [pathlib.Path("plugins")])
    enabled: list[str] | None = None

    @model_validator(mode="after")
    def _extra_are_tables(self) -> PluginsConfig:
        for key, value in (self.model_extra or {}).items():
            if not isinstance(value, dict):
                raise ValueError(
                    f"unknown key {key!r}: only paths, enabled and [plugins.<name>] tables"
                )
        return self

    def settings_for(self, name: str) -> dict[str, typing.Any]:
        """The raw `[plugins.<name>]` table (validated later by the plugin's model)."""
        value = (self.model_extra or {}).get(name, {})
        return dict(value) if isinstance(value, dict) else {}


_file_data: contextvars.ContextVar[dict[str, typing.Any] | None] = contextvars.ContextVar(
    "botkit_config_file_data", default=None
)


class _FileSource(PydanticBaseSettingsSource):
    """The already-parsed TOML file (parsed by `load_settings`, which knows the path)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[typing.Any, str, bool]:
        return (_file_data.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, typing.Any]:
        return dict(_file_data.get() or {})


class Settings(BaseSettings):
    """The whole configuration (design section 2)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=_DELIMITER, extra="forbid"
    )

    server: ServerConfig = Field(default_factory=ServerConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    tokens: TokensConfig = Field(default_factory=TokensConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    plugins: PluginsConfig = Field(default_factory=PluginsConfig)

    #: The file the settings were read from (None: defaults and environment only).
    _config_file: pathlib.Path | None = PrivateAttr(default=None)

    @property
    def config_file(self) -> pathlib.Path | None:
        """The file these settings were read from, if any."""
        return self._config_file

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _FileSource(settings_cls)


def _read_toml(path: pathlib.Path) -> dict[str, typing.Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: malformed TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the configuration file: {error.strerror}") from None


def _env_name(loc: tuple[typing.Any, ...]) -> str:
    return ENV_PREFIX + _DELIMITER.join(str(part).upper() for part in loc)


def _from_env(loc: tuple[typing.Any, ...]) -> bool:
    """Whether the value at `loc` (or one below it) came from an environment variable."""
    name = _env_name(loc[:2])
    return any(key.upper().startswith(name) for key in os.environ)


def _describe(error: ValidationError, path: pathlib.Path | None) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    loc = tuple(str(part) for part in first["loc"])
    key = ".".join(loc) if loc else "(top level)"
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "missing":
        message = "required key is missing"
    message = message.removeprefix("Value error, ")
    if _from_env(first["loc"]):
        where = f"environment {_env_name(first['loc'])}"
    else:
        where = str(path) if path is not None else "configuration"
    more = error.error_count() - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{where}: {key}: {message}{suffix}"


def _resolve_paths(settings: Settings, base: pathlib.Path) -> None:
    """Relative paths in the file are relative to the file's folder, not the cwd."""
    if not settings.state.dir.is_absolute():
        settings.state.dir = base / settings.state.dir
    settings.plugins.paths = [p if p.is_absolute() else base / p for p in settings.plugins.paths]


def load_settings(path: pathlib.Path | None = None) -> Settings:
    """Read the configuration: `path` (must exist), else ./botkit.toml if present.

    Raises:
        ConfigError: a missing explicit file, malformed TOML, an unknown key or a bad value.
    """
    explicit = path is not None
    path = path if path is not None else DEFAULT_CONFIG_FILE
    if path.exists():
        data = _read_toml(path)
        source: pathlib.Path | None = path
    elif explicit:
        raise ConfigError(
            f"{path}: no such configuration file", hint="run `botkit init` to write one"
        )
    else:
        data, source = {}, None
    token = _file_data.set(data)
    try:
        settings = Settings()
    except ValidationError as error:
        raise ConfigError(_describe(error, source)) from None
    finally:
        _file_data.reset(token)
    base = source.parent.resolve() if source is not None else pathlib.Path.cwd()
    _resolve_paths(settings, base)
    settings._config_file = source
    for secret in (settings.auth.totp_secret, settings.auth.token):
        if secret is not None:
            register_secret(secret.get_secret_value())
    return settings


def value_sources(path: pathlib.Path | None) -> dict[str, str]:
    """Where each `section.key` came from: "environment", "file" or (absent) "default"."""
    sources: dict[str, str] = {}
    if path is not None and path.exists():
        for section, table in _read_toml(path).items():
            if isinstance(table, dict):
                for key in table:
                    sources[f"{section}.{key}"] = "file"
    prefix = ENV_PREFIX.upper()
    for name in os.environ:
        upper = name.upper()
        if upper.startswith(prefix) and _DELIMITER in upper and upper != "BOTKIT_CONFIG":
            section, _, key = upper[len(prefix) :].partition(_DELIMITER)
            sources[f"{section.lower()}.{key.split(_DELIMITER)[0].lower()}"] = "environment"
    return sources
