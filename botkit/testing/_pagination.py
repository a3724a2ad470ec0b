"""`count`/`offset`/`sort` query parameters (§4.0; `helpers/getPaginationItems.ts`,
`helpers/parseJsonQuery.ts`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from botkit.testing._envelope import meteor_error
from botkit.testing._routing import Ctx

__all__ = ["paginate", "parse_sort", "sort_items"]

T = TypeVar("T")


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def paginate(ctx: Ctx, items: Sequence[T]) -> tuple[list[T], int, int]:
    """The page of `items`, the offset and the count as echoed; `count` above
    `API_Upper_Count_Limit` is clamped silently; 0 means "no limit" if infinite is allowed."""
    settings = ctx.fake.settings
    default = int(settings["API_Default_Count"])
    upper = int(settings["API_Upper_Count_Limit"])
    offset = max(_int(ctx.query.get("offset")) or 0, 0)
    count = _int(ctx.query.get("count")) if "count" in ctx.query else default
    if count is None or count < 0:
        count = default
    count = min(count, upper)
    if count == 0 and not settings["API_Allow_Infinite_Count"]:
        count = default
    page = list(items[offset:]) if count == 0 else list(items[offset : offset + count])
    return page, offset, count


def parse_sort(ctx: Ctx, default: dict[str, int]) -> dict[str, int]:
    """A JSON object whose values are 1 or -1, else 400 `error-invalid-sort`."""
    raw = ctx.query.get("sort")
    if raw is None:
        return default
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict) or any(v not in (1, -1) for v in value.values()):
        raise meteor_error("error-invalid-sort", f'Invalid sort parameter provided: "{raw}"')
    return {str(k): int(v) for k, v in value.items()}


def sort_items(items: list[T], sort: dict[str, int], key: Callable[[T, str], Any]) -> list[T]:
    """Stable multi-key sort (last key first)."""
    result = list(items)
    for field, direction in reversed(list(sort.items())):
        result.sort(key=lambda item: _sortable(key(item, field)), reverse=direction == -1)
    return result


def _sortable(value: Any) -> tuple[int, Any]:
    return (
        (0, "") if value is None else (1, value if isinstance(value, int | float) else str(value))
    )
