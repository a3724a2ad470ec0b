"""`Context`: what a plugin job or hook receives (design section 7).

The services are typed by Protocols (`Rest`, `Chat`, `Audit`) so that plugins, tests and
this module do not depend on the concrete session: anything with the same methods works.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

from loguru import logger

from botkit._storage import PluginStore, StateDB

if typing.TYPE_CHECKING:
    from loguru import Logger

    from botkit._loader import LoadedPlugin
    from botkit._plugin import JobSpec

__all__ = ["Audit", "Chat", "Context", "ContextFactory", "Rest"]

SettingsT = typing.TypeVar("SettingsT")


@typing.runtime_checkable
class Rest(typing.Protocol):
    """The shared REST session as plugins see it (endpoints without `/api/v1/`)."""

    async def get(
        self, endpoint: str, params: typing.Mapping[str, typing.Any] | None = None
    ) -> dict[str, typing.Any]: ...

    async def post(self, endpoint: str, json: typing.Any = None) -> dict[str, typing.Any]: ...

    def paginate(
        self,
        endpoint: str,
        *,
        items_key: str,
        params: typing.Mapping[str, typing.Any] | None = None,
        page_size: int = 100,
    ) -> typing.AsyncIterator[dict[str, typing.Any]]: ...


@typing.runtime_checkable
class Chat(typing.Protocol):
    """Chat conveniences: `post(room, text)` where room is a name, an id or `@username`."""

    async def post(self, room: str, text: str, **extra: typing.Any) -> dict[str, typing.Any]: ...


class Audit(typing.Protocol):
    """An audit sink: `await audit("event.name", {"detail": ...})`."""

    def __call__(self, event: str, details: dict[str, typing.Any], /) -> typing.Awaitable[None]: ...


@dataclasses.dataclass
class Context(typing.Generic[SettingsT]):
    """What a job or hook gets: services bound to one plugin (and one job run).

    Attributes:
        plugin: the plugin's name.
        settings: the validated `[plugins.<name>]` model (None if the plugin has none).
        rest: the shared session (`get`, `post`, `paginate`).
        chat: chat conveniences (`post(room, text)`).
        store: the plugin's key-value storage.
        log: a loguru logger bound with `plugin=` and `job=`.
        audit: records an audit event, tagged with plugin and job.
        job: the job's full name `<plugin>.<function>`; None in hooks.
        scheduled_time: when the run was due; None for hooks and manual runs.
    """

    plugin: str
    settings: SettingsT
    rest: Rest
    chat: Chat
    store: PluginStore
    log: Logger
    audit: Audit
    job: str | None = None
    scheduled_time: datetime.datetime | None = None


class _TaggedAudit:
    """Adds `plugin` and `job` to every audit record a plugin writes."""

    def __init__(self, sink: Audit, plugin: str, job: str | None) -> None:
        self._sink = sink
        self._plugin = plugin
        self._job = job

    def __call__(self, event: str, details: dict[str, typing.Any], /) -> typing.Awaitable[None]:
        return self._sink(event, {**details, "plugin": self._plugin, "job": self._job})


class ContextFactory:
    """Builds a `Context` per run: the `context_factory` the `Scheduler` takes.

    Args:
        db: the open state database (for each plugin's store).
        rest: the shared session.
        chat: chat conveniences over the same session.
        audit: the audit sink (e.g. `AuditLog.record` adapted to `(event, details)`).
        rest_for_plugin: optional `name -> Rest` (e.g. `session.for_plugin`), so that
            request counts are kept per plugin; default: `rest` for everyone.
        chat_for_plugin: optional `name -> Chat` over that plugin's view, so that its
            posts count under it too; built once per plugin. Default: `chat`.
    """

    def __init__(
        self,
        *,
        db: StateDB,
        rest: Rest,
        chat: Chat,
        audit: Audit,
        rest_for_plugin: typing.Callable[[str], Rest] | None = None,
        chat_for_plugin: typing.Callable[[str], Chat] | None = None,
    ) -> None:
        self._db = db
        self._rest = rest
        self._chat = chat
        self._audit = audit
        self._rest_for_plugin = rest_for_plugin
        self._chat_for_plugin = chat_for_plugin
        # One Chat per plugin: it caches room-name resolutions across runs.
        self._chats: dict[str, Chat] = {}

    def __call__(
        self,
        loaded: LoadedPlugin,
        spec: JobSpec | None,
        scheduled_time: datetime.datetime | None,
    ) -> Context[typing.Any]:
        job = spec.name if spec is not None else None
        rest = self._rest_for_plugin(loaded.name) if self._rest_for_plugin else self._rest
        chat = self._chat
        if self._chat_for_plugin is not None:
            chat = self._chats.get(loaded.name) or self._chats.setdefault(
                loaded.name, self._chat_for_plugin(loaded.name)
            )
        return Context(
            plugin=loaded.name,
            settings=loaded.settings,
            rest=rest,
            chat=chat,
            store=PluginStore(self._db, loaded.name),
            log=logger.bind(plugin=loaded.name, job=job),
            audit=_TaggedAudit(self._audit, loaded.name, job),
            job=job,
            scheduled_time=scheduled_time,
        )
