"""Plugin discovery: paths folders, entry points, enabled list, settings, isolation."""

from __future__ import annotations

import importlib.metadata
import pathlib
import sys
import types
import typing

import pytest

from botkit._config import PluginsConfig
from botkit._loader import ENTRY_POINT_GROUP, LoadedPlugin, discover_plugins
from botkit._plugin import Plugin

FIXTURES = pathlib.Path(__file__).parent / "plugins_fixtures"


@pytest.fixture(autouse=True)
def no_installed_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the entry points a test fakes (an installed package must not leak in)."""
    fake_entry_points([], monkeypatch)


def fake_entry_points(
    points: list[importlib.metadata.EntryPoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    def entry_points(**params: typing.Any) -> list[importlib.metadata.EntryPoint]:
        assert params == {"group": ENTRY_POINT_GROUP}
        return points

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def config(*folders: str, **extra: typing.Any) -> PluginsConfig:
    return PluginsConfig(paths=[FIXTURES / f for f in folders], **extra)


def by_name(found: list[LoadedPlugin]) -> dict[str, LoadedPlugin]:
    return {item.name: item for item in found}


def test_good_folder_loads_module_and_package() -> None:
    found = by_name(discover_plugins(config("good")))
    assert set(found) == {"hello", "pkg"}  # _private.py and README.txt are not candidates
    hello = found["hello"]
    assert hello.enabled and hello.reason is None
    assert hello.plugin is not None and hello.plugin.version == "1.0"
    assert hello.source == str(FIXTURES / "good" / "hello.py")
    assert [job.name for job in hello.jobs] == ["hello.morning", "hello.poll"]
    assert hello.settings is not None and hello.settings.model_dump() == {
        "room": "general",
        "greeting": "Good morning",
    }
    pkg = found["pkg"]
    assert pkg.enabled and pkg.source == str(FIXTURES / "good" / "pkgplugin")
    assert pkg.jobs[0].describe() == "every 1h"  # the value came through a relative import


def test_settings_table_is_validated() -> None:
    found = by_name(discover_plugins(config("good", hello={"room": "ops"})))
    settings = found["hello"].settings
    assert settings is not None and settings.model_dump()["room"] == "ops"


def test_bad_settings_disable_only_that_plugin() -> None:
    found = by_name(discover_plugins(config("good", hello={"room": 5})))
    assert not found["hello"].enabled
    assert found["hello"].reason == "settings: hello.room: Input should be a valid string"
    assert found["hello"].settings is None
    assert found["pkg"].enabled


def test_missing_required_and_unknown_settings() -> None:
    found = by_name(discover_plugins(config("extra")))
    assert found["strict"].reason == "settings: strict.room: required key is missing"
    found = by_name(discover_plugins(config("extra", strict={"room": "a", "limt": 3})))
    assert found["strict"].reason == "settings: strict.limt: unknown key"


def test_broken_plugins_are_isolated() -> None:
    found = by_name(discover_plugins(config("broken")))
    assert found["fine"].enabled
    assert found["bad_import"].reason == (
        "failed to import: ModuleNotFoundError: No module named 'botkit_no_such_module_x'"
    )
    assert found["bad_import"].plugin is None and not found["bad_import"].enabled
    reason = found["bad_cron"].reason or ""
    assert reason.startswith("failed to import: plugin badcron: job nope: bad cron '61 * * * *'")
    assert found["exits"].reason == "failed to import: SystemExit: plugins must not exit the daemon"
    assert found["no_plugin"].reason == (
        "the module defines no module-level `plugin = Plugin(...)`"
    )
    # A failed module is not left half-imported.
    assert not any(name.endswith("bad_import") for name in sys.modules)


def test_enabled_list() -> None:
    found = by_name(discover_plugins(config("good", "broken", enabled=["hello", "ghost"])))
    assert found["hello"].enabled
    assert not found["pkg"].enabled and found["pkg"].reason == "not in [plugins] enabled"
    assert found["pkg"].plugin is not None  # still listed with its details
    assert found["ghost"].reason == "listed in [plugins] enabled but not found"
    assert found["bad_import"].reason is not None
    assert found["bad_import"].reason.startswith("failed to import")


def test_disabled_plugin_settings_are_not_validated() -> None:
    found = by_name(discover_plugins(config("good", enabled=["pkg"], hello={"room": 5})))
    assert found["hello"].reason == "not in [plugins] enabled"


def test_duplicate_name_keeps_the_first() -> None:
    found = discover_plugins(config("good", "dup"))
    hellos = [item for item in found if item.name == "hello"]
    assert len(hellos) == 2
    first, second = hellos
    assert first.enabled and first.plugin is not None and first.plugin.version == "1.0"
    assert not second.enabled
    assert second.reason == f"duplicate name, also in {FIXTURES / 'good' / 'hello.py'}"


def test_same_file_name_in_two_folders_gets_two_modules() -> None:
    found = discover_plugins(config("good", "dup"))
    first, second = (item.plugin for item in found if item.name == "hello")
    assert first is not None and second is not None and first is not second


def test_missing_folder_is_skipped(tmp_path: pathlib.Path) -> None:
    assert discover_plugins(PluginsConfig(paths=[tmp_path / "nope"])) == []


def test_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("botkit_test_ep_module")
    module.plugin = Plugin("fromep", version="3.1")  # type: ignore[attr-defined]
    module.not_a_plugin = 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "botkit_test_ep_module", module)
    EntryPoint = importlib.metadata.EntryPoint
    fake_entry_points(
        [
            EntryPoint("fromep", "botkit_test_ep_module:plugin", ENTRY_POINT_GROUP),
            EntryPoint("whole", "botkit_test_ep_module", ENTRY_POINT_GROUP),
            EntryPoint("missing", "botkit_no_such_ep_module:plugin", ENTRY_POINT_GROUP),
            EntryPoint("wrong", "botkit_test_ep_module:not_a_plugin", ENTRY_POINT_GROUP),
            EntryPoint("hello", "botkit_test_ep_module:plugin", ENTRY_POINT_GROUP),
        ],
        monkeypatch,
    )
    found = discover_plugins(config("good"))
    names = [(item.name, item.enabled, item.reason) for item in found]
    assert ("hello", True, None) in names  # the folder's plugin
    ep = [item for item in found if item.source.startswith("entry point")]
    assert ep[0].name == "fromep" and ep[0].enabled
    assert ep[0].source == "entry point fromep = botkit_test_ep_module:plugin"
    # A module-valued entry point is accepted, but its plugin's name is taken by now.
    assert ep[1].name == "fromep" and ep[1].reason == (
        "duplicate name, also in entry point fromep = botkit_test_ep_module:plugin"
    )
    assert ep[2].name == "missing"
    assert ep[2].reason == (
        "failed to import: ModuleNotFoundError: No module named 'botkit_no_such_ep_module'"
    )
    assert ep[3].name == "wrong" and "is a int, not a botkit Plugin" in (ep[3].reason or "")
    assert ep[4].name == "fromep"  # the hello entry point points at the same Plugin object


def test_entry_point_failure_in_load_is_isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    class Exploding(importlib.metadata.EntryPoint):
        def load(self) -> typing.Any:
            raise RuntimeError("boom\nsecond line")

    fake_entry_points([Exploding("x", "m:p", ENTRY_POINT_GROUP)], monkeypatch)
    (item,) = discover_plugins(PluginsConfig(paths=[]))
    assert item.reason == "failed to import: RuntimeError: boom second line"
