"""Logging with loguru: readable lines or JSON lines, and never a secret.

Redaction happens at the last moment, in the sink, on the final text: a loguru patcher
would clean the message and `extra` but not exception text or tracebacks. The sink
never raises either, because loguru prints the raw (unredacted) record to stderr when
a sink fails, for instance on a closed pipe.
"""

from __future__ import annotations

import datetime
import inspect
import json
import logging
import sys
import typing

from loguru import logger

from botkit._redact import redact

if typing.TYPE_CHECKING:
    from loguru import Message, Record

    from botkit._config import LoggingConfig

__all__ = ["RedactingSink", "configure_logging", "configured", "logger"]

#: Whether `configure_logging` has run in this process (botkit's records are then on).
configured = False

#: stdlib loggers whose per-request or per-run INFO lines are noise at botkit's level.
QUIET_LOGGERS = ("httpx", "httpcore", "apscheduler", "uvicorn", "uvicorn.access", "aiosqlite")

# loguru appends the traceback itself after a string format.
_TEXT_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <7} | {extra[_where]}{message}"
_RESERVED_EXTRA = {"_where"}


def _where(record: Record) -> None:
    """Prefix lines from plugin jobs with `[plugin.job]`, so operators see who spoke."""
    extra = record["extra"]
    plugin, job = extra.get("plugin"), extra.get("job")
    if job:
        extra["_where"] = f"[{job}] "
    elif plugin:
        extra["_where"] = f"[{plugin}] "
    else:
        extra["_where"] = ""


class RedactingSink:
    """A loguru sink that redacts the final text (or JSON line) and never raises."""

    def __init__(self, stream: typing.TextIO, *, json_lines: bool) -> None:
        self._stream = stream
        self._json_lines = json_lines

    def __call__(self, message: Message) -> None:
        try:
            text = self._to_json(message.record) if self._json_lines else str(message)
            self._stream.write(redact(text))
            self._stream.flush()
        except Exception:  # noqa: S110 - a log sink must never fail (see module docstring)
            pass

    @staticmethod
    def _to_json(record: Record) -> str:
        data: dict[str, typing.Any] = {
            "time": record["time"].astimezone(datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record["level"].name,
            "message": record["message"],
            "logger": record["name"],
        }
        for key, value in record["extra"].items():
            if key not in _RESERVED_EXTRA:
                data[key] = value if isinstance(value, str | int | float | bool) else str(value)
        exception = record["exception"]
        if exception is not None and exception.type is not None:
            import traceback

            data["exception"] = "".join(
                traceback.format_exception(exception.type, exception.value, exception.traceback)
            )
        return json.dumps(data, ensure_ascii=False) + "\n"


class InterceptHandler(logging.Handler):
    """Route stdlib logging (httpx, apscheduler, uvicorn) into loguru, keeping the name."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        frame, depth = inspect.currentframe(), 0
        while frame is not None and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame = frame.f_back
            depth += 1
        name = record.name
        logger.patch(lambda r: r.update({"name": name})).opt(
            depth=depth, exception=record.exc_info
        ).log(level, record.getMessage())


def configure_logging(
    config: LoggingConfig | None = None,
    *,
    debug: bool = False,
    stream: typing.TextIO | None = None,
) -> None:
    """Install botkit's one sink (text or JSON lines, redacted) and route stdlib logging."""
    level = "DEBUG" if debug else (config.level if config is not None else "INFO")
    json_lines = bool(config is not None and config.json_lines)
    target = stream if stream is not None else sys.stderr
    global configured
    configured = True
    logger.remove()
    logger.enable("botkit")
    logger.configure(patcher=_where, extra={"_where": ""})
    logger.add(
        RedactingSink(target, json_lines=json_lines),
        level=level,
        format=_TEXT_FORMAT,
        colorize=False,
        diagnose=False,
        backtrace=False,
        catch=True,
    )
    logging.basicConfig(handlers=[InterceptHandler()], level=0, force=True)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
