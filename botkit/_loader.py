"""Plugin discovery: `[plugins] paths` folders and the `botkit.plugins` entry-point group.

Every candidate becomes a `LoadedPlugin`, enabled or not and why not, so that
`botkit plugins list` can show all of them. One plugin's failure (import error, bad
settings, duplicate name) disables that plugin only; discovery never raises for it.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import pathlib
import sys
import types
import typing

from loguru import logger
from pydantic import BaseModel

from botkit._config import PluginsConfig
from botkit._plugin import JobSpec, Plugin, SettingsInvalid, make_job_spec
from botkit.errors import PluginError

__all__ = ["ENTRY_POINT_GROUP", "LoadedPlugin", "discover_plugins", "load_module"]

ENTRY_POINT_GROUP = "botkit.plugins"
_PACKAGE = "botkit_plugins"

NOT_ENABLED = "not in [plugins] enabled"
#: `[plugins.<name>.schedule]`: per-job trigger overrides, e.g. `morning = { cron = "0 8 * * *" }`.
SCHEDULE_KEY = "schedule"
_TRIGGER_KEYS = ("cron", "interval", "at")


@dataclasses.dataclass
class LoadedPlugin:
    """One discovered plugin (or a failed candidate).

    Attributes:
        name: the plugin's name (the file/entry-point name if it failed before that).
        plugin: the Plugin object, or None if it could not be loaded.
        source: the file or folder path, or `entry point <name> = <module:attr>`.
        enabled: whether the daemon runs it.
        reason: why it is not enabled, or None.
        settings: the validated settings model (None if disabled or it has none).
    """

    name: str
    plugin: Plugin | None
    source: str
    enabled: bool = True
    reason: str | None = None
    settings: BaseModel | None = None
    schedule: dict[str, JobSpec] = dataclasses.field(default_factory=dict)

    @property
    def jobs(self) -> list[JobSpec]:
        """The plugin's jobs, with `[plugins.<name>.schedule]` overrides applied."""
        if self.plugin is None:
            return []
        return [self.schedule.get(spec.function, spec) for spec in self.plugin.jobs]

    def disable(self, reason: str) -> None:
        """Mark the plugin disabled with a reason, and log it once."""
        self.enabled = False
        self.reason = reason
        logger.bind(plugin=self.name).warning(
            "plugin {} disabled: {} ({})", self.name, reason, self.source
        )


def _schedule_overrides(plugin: Plugin, table: typing.Any) -> dict[str, JobSpec]:
    """Jobs re-scheduled from configuration: same function and options, new trigger.

    Lets an operator move a job (or the demo speed one up) without editing the plugin.
    """
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise PluginError(f"[plugins.{plugin.name}.schedule] must be a table of jobs")
    specs = {spec.function: spec for spec in plugin.jobs}
    overrides: dict[str, JobSpec] = {}
    for function, trigger in table.items():
        spec = specs.get(function)
        if spec is None:
            known = ", ".join(sorted(specs)) or "none"
            raise PluginError(f"no job {function!r} in plugin {plugin.name} (jobs: {known})")
        if isinstance(trigger, str):
            trigger = {"cron": trigger}
        if not isinstance(trigger, dict) or set(trigger) - set(_TRIGGER_KEYS):
            raise PluginError(
                f"{function}: give a cron text or a table with one of cron, interval, at"
            )
        overrides[function] = make_job_spec(
            plugin.name, function, spec.func,
            cron=trigger.get("cron"), interval=trigger.get("interval"), at=trigger.get("at"),
            misfire_grace=spec.misfire_grace, coalesce=spec.coalesce,
            max_instances=spec.max_instances,
            jitter=spec.jitter if "at" not in trigger else None, timeout=spec.timeout,
        )
    return overrides


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _candidates(folder: pathlib.Path) -> list[tuple[str, pathlib.Path]]:
    """(stem, file to import) for `*.py` modules and packages, sorted by name."""
    found: list[tuple[str, pathlib.Path]] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(("_", ".")):
            continue
        if entry.is_file() and entry.suffix == ".py":
            found.append((entry.stem, entry))
        elif entry.is_dir() and (entry / "__init__.py").is_file():
            found.append((entry.name, entry / "__init__.py"))
    return found


def _ensure_package() -> None:
    """A bare `botkit_plugins` parent package, so plugin module names are importable."""
    if _PACKAGE not in sys.modules:
        package = types.ModuleType(_PACKAGE)
        package.__path__ = []
        sys.modules[_PACKAGE] = package


def load_module(module_name: str, path: pathlib.Path) -> types.ModuleType:
    """Import a file (or a package's `__init__.py`) under `module_name`.

    The module is registered in sys.modules before it runs (dataclasses, pickling and a
    package's relative imports need that) and removed again if it fails.
    """
    _ensure_package()
    is_package = path.name == "__init__.py"
    spec = importlib.util.spec_from_file_location(
        module_name,
        path,
        submodule_search_locations=[str(path.parent)] if is_package else None,
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


class _NoPlugin(PluginError):
    """The module or entry point gives no Plugin object."""


def _plugin_of(obj: object) -> Plugin:
    """The Plugin an entry point or module gives; _NoPlugin if there is none."""
    if isinstance(obj, types.ModuleType):
        if not hasattr(obj, "plugin"):
            raise _NoPlugin("the module defines no module-level `plugin = Plugin(...)`")
        obj = obj.plugin
    if not isinstance(obj, Plugin):
        raise _NoPlugin(f"`plugin` is a {type(obj).__name__}, not a botkit Plugin")
    return obj


def _failure(error: BaseException) -> str:
    """The reason text for a candidate that could not be loaded."""
    if isinstance(error, _NoPlugin):
        return error.message
    if isinstance(error, PluginError):  # e.g. a bad cron text, raised by the decorator
        return f"failed to import: {' '.join(error.message.split())}"
    return f"failed to import: {_one_line(error)}"


def _from_paths(paths: typing.Iterable[pathlib.Path]) -> list[LoadedPlugin]:
    results: list[LoadedPlugin] = []
    used: set[str] = set()
    for folder in paths:
        if not folder.is_dir():
            logger.debug("plugin folder {} does not exist; skipped", folder)
            continue
        for stem, file in _candidates(folder):
            source = str(file.parent if file.name == "__init__.py" else file)
            # Unique module names even when two folders hold a `hello.py` each.
            safe = "".join(c if c.isalnum() or c == "_" else "_" for c in stem)
            module_name, n = f"{_PACKAGE}.{safe}", 1
            while module_name in used:
                n += 1
                module_name = f"{_PACKAGE}.{safe}_{n}"
            used.add(module_name)
            try:
                plugin = _plugin_of(load_module(module_name, file))
            except (Exception, SystemExit) as error:
                # A plugin's import may fail any way at all; it must not stop the others.
                results.append(LoadedPlugin(stem, None, source, False, _failure(error)))
                continue
            results.append(LoadedPlugin(plugin.name, plugin, source))
    return results


def _from_entry_points() -> list[LoadedPlugin]:
    results: list[LoadedPlugin] = []
    # Looked up through the module attribute so tests can substitute entry points.
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {entry_point.name} = {entry_point.value}"
        try:
            plugin = _plugin_of(entry_point.load())
        except (Exception, SystemExit) as error:
            results.append(LoadedPlugin(entry_point.name, None, source, False, _failure(error)))
            continue
        results.append(LoadedPlugin(plugin.name, plugin, source))
    return results


def discover_plugins(settings: PluginsConfig) -> list[LoadedPlugin]:
    """Find, import and validate plugins; every candidate is returned, enabled or not.

    Order: the `paths` folders in order (files sorted by name), then entry points. The
    first plugin of a name wins; later ones are disabled as duplicates. Settings are
    validated only for plugins that would otherwise run.
    """
    found = _from_paths(settings.paths) + _from_entry_points()
    by_name: dict[str, LoadedPlugin] = {}
    for loaded in found:
        if loaded.plugin is None:
            logger.bind(plugin=loaded.name).warning(
                "plugin {} disabled: {} ({})", loaded.name, loaded.reason, loaded.source
            )
            continue
        first = by_name.get(loaded.name)
        if first is not None:
            loaded.disable(f"duplicate name, also in {first.source}")
            continue
        by_name[loaded.name] = loaded
        if settings.enabled is not None and loaded.name not in settings.enabled:
            loaded.enabled, loaded.reason = False, NOT_ENABLED
            continue
        raw = settings.settings_for(loaded.name)
        try:
            loaded.schedule = _schedule_overrides(loaded.plugin, raw.pop(SCHEDULE_KEY, None))
        except PluginError as error:
            loaded.disable(f"schedule: {error}")
            continue
        try:
            loaded.settings = loaded.plugin.validate_settings(raw)
        except SettingsInvalid as error:
            loaded.disable(f"settings: {error.plugin}.{error.field}: {error.problem}")
        except Exception as error:
            # A settings model's own validator may raise anything.
            loaded.disable(f"settings: {_one_line(error)}")
    for name in settings.enabled or []:
        if name not in by_name and not any(item.name == name for item in found):
            reason = "listed in [plugins] enabled but not found"
            found.append(LoadedPlugin(name, None, "(not found)", False, reason))
            logger.warning("plugin {}: {}", name, reason)
    known = {item.name for item in found}
    for name in sorted((settings.model_extra or {}).keys() - known):
        logger.warning("[plugins.{}] configures a plugin that was not found", name)
    return found
