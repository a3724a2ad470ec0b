"""The public surface is exactly `botkit.__all__`: nothing exported by accident."""

from __future__ import annotations

import subprocess
import sys

import botkit


def test_every_public_name_resolves() -> None:
    assert sorted(botkit.__all__) == botkit.__all__
    for name in botkit.__all__:
        assert getattr(botkit, name) is not None
    assert dir(botkit) == botkit.__all__


def test_public_classes_come_from_private_modules() -> None:
    for name in set(botkit.__all__) - {"AuditSink"}:  # AuditSink is a Callable alias
        value = getattr(botkit, name)
        module = getattr(value, "__module__", "botkit")
        assert module.startswith("botkit"), (name, module)


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        botkit.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as error:
        assert "NoSuchThing" in str(error)
    else:
        raise AssertionError("expected AttributeError")


def test_help_does_not_import_the_heavy_parts() -> None:
    """`botkit --help` must stay fast: no httpx, apscheduler, aiosqlite or pydantic."""
    code = (
        "import sys\n"
        "from botkit._cli import cli\n"
        "heavy = [m for m in ('httpx', 'apscheduler', 'aiosqlite', 'pydantic_settings', 'loguru', "
        "'pydantic') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == ""
