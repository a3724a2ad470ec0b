"""`count`/`offset`/`sort` query parameters (§4.0; `helpers/getPaginationItems.ts`,
`helpers/parseJsonQuery.ts`)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from botkit.testing._ajv import JS_WHITESPACE
from botkit.testing._envelope import js_error, meteor_error
from botkit.testing._routing import Ctx

__all__ = ["js_parse_int", "js_string", "paginate", "pagination_items", "parse_sort", "sort_items"]

T = TypeVar("T")

_JS_DIGITS = {10: "0123456789", 16: "0123456789abcdefABCDEF"}


def js_parse_int(text: str) -> int | None:
    """JavaScript `parseInt(text)` with no radix, as `getPaginationItems` calls it; None = NaN.

    Leading JS white space is skipped, then one sign; a `0x`/`0X` prefix switches to base 16
    (no radix is given, so `parseInt("0x10")` is 16); the longest run of digits of the base
    counts and the rest is ignored ("12abc" -> 12, "2e1" -> 2, "1.9" -> 1). No digit -> NaN.
    -0 is returned as 0 (`-0 === 0` and JSON writes it as 0). Values past 2**53 are kept
    exact here, where JavaScript would round them to a double.
    """
    rest = text.lstrip(JS_WHITESPACE)
    sign = -1 if rest[:1] == "-" else 1
    if rest[:1] in ("-", "+"):
        rest = rest[1:]
    base = 10
    if rest[:2] in ("0x", "0X"):
        base, rest = 16, rest[2:]
    end = 0
    while end < len(rest) and rest[end] in _JS_DIGITS[base]:
        end += 1
    if end == 0:
        return None
    return sign * int(rest[:end], base)


def js_string(value: str | float) -> str:
    """JavaScript `String(value)` for a query value: a string as is, a number as JS prints it
    (only the part `parseInt` reads needs to be exact: the sign and the leading digits)."""
    if isinstance(value, str):
        return value
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    if 1e-6 <= abs(value) < 1e21:  # positional notation; the fraction (which parseInt
        return str(math.trunc(value))  # stops before) is left out
    mantissa, exponent = repr(value).split("e")  # shortest digits, as JavaScript's
    return f"{mantissa}e{'-' if exponent[0] == '-' else '+'}{int(exponent[1:])}"


def _truthy(value: str | float) -> bool:
    return bool(value) and not (isinstance(value, float) and math.isnan(value))


def pagination_items(
    settings: Mapping[str, Any], offset: str | float | None, count: str | float | None
) -> tuple[int | None, int | None]:
    """`getPaginationItems` (apps/meteor/app/api/server/helpers/getPaginationItems.ts), None = NaN.

    `offset = params.offset ? parseInt(String(params.offset || 0)) : 0`; `count` is
    `parseInt(String(params.count || 0))` when the parameter is present (so `count=` is 0),
    else `API_Default_Count`; above `API_Upper_Count_Limit` it is clamped; 0 stays 0 ("no
    limit") only while `API_Allow_Infinite_Count`, else the default. Nothing else is checked:
    a negative or NaN value goes on to the database as it is.
    """
    upper_setting = int(settings["API_Upper_Count_Limit"])
    default_setting = int(settings["API_Default_Count"])
    upper = 100 if upper_setting and upper_setting <= 0 else upper_setting
    default = 50 if default_setting and default_setting <= 0 else default_setting
    parsed_offset = js_parse_int(js_string(offset)) if offset is not None and _truthy(offset) else 0
    if count is None:
        parsed_count: int | None = default
    else:
        parsed_count = js_parse_int(js_string(count if _truthy(count) else 0))
    if parsed_count is not None and parsed_count > upper:
        parsed_count = upper
    if parsed_count == 0 and not settings["API_Allow_Infinite_Count"]:
        parsed_count = default
    return parsed_offset, parsed_count


def _param(ctx: Ctx, name: str) -> str | float | None:
    """The value the route's action reads: ajv's coerced number after a typed query check."""
    if name in ctx.coerced:
        value: str | float = ctx.coerced[name]
        return value
    return ctx.query.get(name)


def paginate(ctx: Ctx, items: Sequence[T]) -> tuple[list[T], int, int]:
    """The page of `items`, the offset and the count as parsed (see `pagination_items`).

    The database step: a negative `count` is a MongoDB driver limit of -n, i.e. n documents
    in a single batch. A negative or NaN `offset` and a NaN `count` are refused by MongoDB;
    the document does not give the answer, so the fake takes the stricter reading and fails
    the request the way a thrown driver error is answered (400, `error` only). The message
    follows MongoDB's IDL wording and is not verified against a server.
    """
    offset, count = pagination_items(ctx.fake.settings, _param(ctx, "offset"), _param(ctx, "count"))
    if offset is None or offset < 0:
        shown = "nan" if offset is None else str(offset)
        raise js_error(f"BSON field 'skip' value must be >= 0, actual value '{shown}'")
    if count is None:
        raise js_error("BSON field 'limit' value must be >= 0, actual value 'nan'")
    limit = abs(count)
    page = list(items[offset:]) if limit == 0 else list(items[offset : offset + limit])
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
