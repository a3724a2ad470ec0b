"""The part of ajv (v8) the fake needs to answer schema failures with the server's exact text.

Sources (rocketchat-server-behaviour.md §1.2, §4.0; Rocket.Chat
`packages/rest-typings/src/v1/Ajv.ts`, `v1/dm/DmCreateProps.ts`, `v1/users/UsersInfoParamsGet.ts`,
`apps/meteor/app/api/server/ApiClass.ts`, `packages/http-router/src/Router.ts`):

* No Rocket.Chat ajv instance sets `allErrors`, so ajv stops at the first failing keyword of a
  schema. Inside `oneOf` / `anyOf` every branch that is tried adds its own first error, then the
  composite adds "must match exactly one schema in oneOf" / "must match a schema in anyOf";
  when the composite passes, the branch errors are dropped. `anyOf` stops at the first passing
  branch, `oneOf` tries all of them.
* Keyword order within one schema: `type` first, then the keywords that apply to any type
  (`enum`, `anyOf`, `oneOf`), then string keywords (`minLength`), array keywords (`items`) and
  object keywords in vocabulary order: `required` (first missing name only), then
  `additionalProperties`, then `properties` in schema order (first failing property only).
* Both the legacy `validateParams` and the http-router send only `error.message` of each
  error, never ajv's `instancePath`: "must be string", not "/roomId must be string".
* `coerce=True` stands for `coerceTypes` on query strings: a string becomes a number when
  `value && value == +value`, i.e. JavaScript `Number(value)` is not NaN.
"""

from __future__ import annotations

import copy
import re
from typing import Any

__all__ = ["JS_WHITESPACE", "js_number", "validate"]

Schema = dict[str, Any]

_ONE_OF = "must match exactly one schema in oneOf"
_ANY_OF = "must match a schema in anyOf"

# ECMAScript WhiteSpace and LineTerminator (what `Number()` and `parseInt` trim): tab, VT, FF,
# space, NBSP, ZWNBSP and the other Unicode "Zs" spaces, LF, CR, LS, PS.
JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_JS_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_JS_RADIX = {"x": (16, "0-9a-fA-F"), "o": (8, "0-7"), "b": (2, "01")}


def js_number(value: str) -> float | None:
    """JavaScript `Number(string)`; None for NaN. Sign is not allowed before 0x/0o/0b."""
    text = value.strip(JS_WHITESPACE)
    if not text:
        return 0.0
    if _JS_DECIMAL.fullmatch(text):
        return float(text.replace("Infinity", "inf"))
    if len(text) > 2 and text[0] == "0" and text[1].lower() in _JS_RADIX:
        base, digits = _JS_RADIX[text[1].lower()]
        if re.fullmatch(f"[{digits}]+", text[2:]):
            return float(int(text[2:], base))
    return None


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "array": (list,),
    "object": (dict,),
    "boolean": (bool,),
}


def _is_type(name: str, data: Any) -> bool:
    if name == "number":
        return isinstance(data, int | float) and not isinstance(data, bool)
    if name == "null":
        return data is None
    return isinstance(data, _TYPES[name])


class _Run:
    def __init__(self, coerce: bool) -> None:
        self.coerce = coerce
        self.errors: list[str] = []

    def check(self, schema: Schema, data: Any) -> tuple[bool, Any]:
        """(valid, data after coercion); appends at most the first error of this schema."""
        expected = schema.get("type")
        if expected is not None and not _is_type(expected, data):
            coerced = self._coerce(expected, data)
            if coerced is None:
                self.errors.append(f"must be {expected}")
                return False, data
            data = coerced
        if "enum" in schema and not any(
            type(data) is type(v) and data == v for v in schema["enum"]
        ):
            self.errors.append("must be equal to one of the allowed values")
            return False, data
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                valid, data = self._composite(keyword, schema[keyword], data)
                if not valid:
                    return False, data
        if isinstance(data, str) and len(data) < schema.get("minLength", 0):
            self.errors.append(f"must NOT have fewer than {schema['minLength']} characters")
            return False, data
        if isinstance(data, list) and "items" in schema:
            for index, item in enumerate(data):
                valid, data[index] = self.check(schema["items"], item)
                if not valid:
                    return False, data
        if isinstance(data, dict):
            return self._object(schema, data), data
        return True, data

    def _coerce(self, expected: str, data: Any) -> float | None:
        if self.coerce and expected == "number" and isinstance(data, str) and data:
            return js_number(data)
        return None

    def _object(self, schema: Schema, data: dict[str, Any]) -> bool:
        missing = next((k for k in schema.get("required", ()) if k not in data), None)
        if missing is not None:
            self.errors.append(f"must have required property '{missing}'")
            return False
        properties: dict[str, Schema] = schema.get("properties", {})
        if schema.get("additionalProperties") is False and set(data) - set(properties):
            self.errors.append("must NOT have additional properties")
            return False
        for key, sub in properties.items():
            if key in data:
                valid, data[key] = self.check(sub, data[key])
                if not valid:
                    return False
        return True

    def _composite(self, keyword: str, branches: list[Schema], data: Any) -> tuple[bool, Any]:
        before = len(self.errors)
        passing = 0
        for branch in branches:
            valid, data = self.check(branch, data)
            passing += valid
            if valid and keyword == "anyOf":
                break
        if passing == 1 or (keyword == "anyOf" and passing):
            del self.errors[before:]
            return True, data
        self.errors.append(_ONE_OF if keyword == "oneOf" else _ANY_OF)
        return False, data


def validate(schema: Schema, data: Any, *, coerce: bool = False) -> tuple[list[str], Any]:
    """ajv's `errors[].message` list (empty when valid) and the data as coerced (a copy)."""
    run = _Run(coerce)
    _, result = run.check(schema, copy.deepcopy(data))
    return run.errors, result
