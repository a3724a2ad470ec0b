"""A process-wide registry of live secret values, and the function that masks them.

Every path to output (log sinks, CLI error lines, reprs) passes text through `redact`.
Secrets are registered the moment botkit learns them: the PAT when it is loaded, the
password and 2FA codes when they are typed, the TOTP secret when the config is read.
"""

from __future__ import annotations

import json
import re
import threading

__all__ = ["MASK", "SENSITIVE_HEADERS", "forget_secret", "redact", "register_secret"]

MASK = "[REDACTED]"

#: Header names whose values are always masked, whatever their value.
SENSITIVE_HEADERS = frozenset(
    {"x-auth-token", "x-2fa-code", "authorization", "proxy-authorization", "cookie", "set-cookie"}
)

# Short values (a 6-digit code) are still secrets, but masking every occurrence of a very
# short string would destroy unrelated text; 4 characters is the floor.
_MIN_SECRET_LENGTH = 4

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None

_HEADER_NAMES = "|".join(re.escape(h) for h in sorted(SENSITIVE_HEADERS))
# `name: value`, `name=value`, `'name': 'value'` (dict and header reprs).
_HEADER_PATTERN = re.compile(
    rf"(?i)(?P<name>[\"']?(?:{_HEADER_NAMES})[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\"'\s,}}\]]+)"
)


def _spellings(value: str) -> set[str]:
    """The value as it appears raw, inside JSON text, inside a repr, and nested twice
    (a repr inside a JSON log line): each escapes quotes and backslashes differently."""
    found = {value}
    for _ in range(2):
        found |= {escaped for v in found for escaped in (json.dumps(v)[1:-1], repr(v)[1:-1])}
    return found


def register_secret(value: str | None) -> None:
    """Remember a secret value so that `redact` masks it from now on."""
    global _pattern
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.update(_spellings(value))
        _pattern = _compile(_secrets)


def forget_secret(value: str | None) -> None:
    """Stop masking a value (used by tests; revoked secrets stay registered in production)."""
    global _pattern
    with _lock:
        _secrets.difference_update(_spellings(value or ""))
        _pattern = _compile(_secrets) if _secrets else None


def _compile(values: set[str]) -> re.Pattern[str]:
    # Longest first, so a secret that contains another is masked whole.
    ordered = sorted(values, key=len, reverse=True)
    return re.compile("|".join(re.escape(v) for v in ordered))


def redact(text: str) -> str:
    """Mask every registered secret and every sensitive header value in `text`."""
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return _HEADER_PATTERN.sub(lambda m: m.group("name") + MASK, text)
