"""Logging never leaks a registered secret: message, extra, exception text, traceback."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import typing

import pytest
from loguru import logger

from botkit._config import LoggingConfig
from botkit._logging import configure_logging
from botkit._redact import MASK, forget_secret, redact, register_secret

SECRET = "pat-Zx9QwErTyUiOp1234567890AbCdEfGhIjKlMn"


@pytest.fixture
def secret() -> typing.Iterator[str]:
    register_secret(SECRET)
    yield SECRET
    forget_secret(SECRET)


def _emit_everything(secret: str) -> None:
    logger.bind(token=secret, plugin="hello").info("using token {}", secret)
    try:
        raise RuntimeError(f"server refused {secret}")
    except RuntimeError:
        logger.exception("request failed")
    logging.getLogger("apscheduler.scheduler").error("stdlib says %s", secret)


@pytest.mark.parametrize("json_lines", [False, True])
def test_secret_never_reaches_a_sink(secret: str, json_lines: bool) -> None:
    stream = io.StringIO()
    configure_logging(LoggingConfig(json=json_lines), stream=stream)
    _emit_everything(secret)
    output = stream.getvalue()
    assert secret not in output
    assert secret[:20] not in output
    assert output.count(MASK) >= 3  # message, exception text, stdlib (and extra in JSON)
    assert "Traceback" in output
    if json_lines:
        records = [json.loads(line) for line in output.splitlines()]
        assert {r["level"] for r in records} == {"INFO", "ERROR"}
        assert records[0]["plugin"] == "hello"
        assert records[-1]["logger"] == "apscheduler.scheduler"
        assert "RuntimeError" in records[1]["exception"]


def test_sensitive_headers_are_masked_without_registration() -> None:
    text = "headers: {'x-auth-token': 'abcdef123456', 'X-2FA-Code': '123456', 'accept': 'json'}"
    cleaned = redact(text)
    assert "abcdef123456" not in cleaned and "123456'" not in cleaned
    assert "'accept': 'json'" in cleaned


def test_stdlib_chatter_is_lowered() -> None:
    stream = io.StringIO()
    configure_logging(LoggingConfig(), stream=stream)
    logging.getLogger("httpx").info("HTTP Request: GET https://x/api/v1/me?token=abc")
    logging.getLogger("apscheduler.executors.default").info("Running job")
    logger.info("kept")
    assert stream.getvalue().count("\n") == 1
    assert "kept" in stream.getvalue()


def test_level_from_config() -> None:
    stream = io.StringIO()
    configure_logging(LoggingConfig(level="warning"), stream=stream)
    logger.info("hidden")
    logger.warning("shown")
    assert "hidden" not in stream.getvalue() and "shown" in stream.getvalue()


def test_broken_pipe_never_dumps_a_raw_record() -> None:
    """A closed stdout/stderr must not make loguru print the unredacted record."""
    code = (
        "import sys\n"
        "from botkit._redact import register_secret\n"
        "from botkit._logging import configure_logging, logger\n"
        f"register_secret({SECRET!r})\n"
        "class Broken:\n"
        "    def write(self, text): raise BrokenPipeError(32, 'Broken pipe')\n"
        "    def flush(self): raise BrokenPipeError(32, 'Broken pipe')\n"
        "configure_logging(stream=Broken())\n"
        f"logger.error('token {SECRET}')\n"
        "print('done')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert result.stdout.strip() == "done"
    assert SECRET not in result.stderr
    assert "Logging error" not in result.stderr


@pytest.mark.parametrize("json_lines", [False, True])
def test_secrets_with_quotes_and_backslashes_are_masked_escaped_too(json_lines: bool) -> None:
    secret = 'Tr0ub4dor"&3\\x'
    register_secret(secret)
    try:
        stream = io.StringIO()
        configure_logging(LoggingConfig(json=json_lines), stream=stream)
        logger.info("password {!r} and {}", secret, secret)
        logger.bind(password=secret).info("bound")
        output = stream.getvalue()
    finally:
        forget_secret(secret)
    assert "Tr0ub4dor" not in output


def test_library_use_is_quiet_until_logging_is_configured() -> None:
    """Without configure_logging, botkit's own records go nowhere (loguru's default sink
    would print values with diagnose on)."""
    code = (
        "import sys\n"
        "from loguru import logger\n"
        "from botkit._config import PluginsConfig\n"
        "from botkit._loader import discover_plugins\n"
        "logger.remove(); logger.add(sys.stdout, format='{message}')\n"
        "from botkit import Plugin  # a library user's first use of the public API\n"
        "discover_plugins(PluginsConfig(paths=[], enabled=['ghost']))\n"
        "from botkit._logging import configure_logging\n"
        "configure_logging(stream=sys.stdout)\n"
        "discover_plugins(PluginsConfig(paths=[], enabled=['ghost']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.count("ghost") == 1  # only after configure_logging
