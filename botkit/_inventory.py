"""The token inventory: the server's PATs beside the local slots, judged against policy.

Rocket.Chat records no last-used time for a PAT (behaviour document 4.5), so findings
can only rest on name, creation time, last characters and the bypass flag.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

from botkit._config import TokensConfig
from botkit._rotation import ServerToken, botkit_name_pattern
from botkit._tokens import TokenRecord

__all__ = ["Finding", "InventoryRow", "audit_tokens", "inventory"]

SLOTS = ("current", "pending", "previous")


@dataclasses.dataclass(frozen=True)
class InventoryRow:
    """One token: where it is (server, local slot) and what botkit knows of it."""

    name: str
    last_chars: str
    created_at: datetime.datetime | None
    bypass_two_factor: bool
    on_server: bool
    slot: str | None
    botkit_named: bool

    def as_json(self) -> dict[str, typing.Any]:
        """A JSON-ready dict (names and last characters only, never a secret)."""
        data = dataclasses.asdict(self)
        data["created_at"] = self.created_at.isoformat() if self.created_at else None
        return data


@dataclasses.dataclass(frozen=True)
class Finding:
    """One policy problem; `fixable` ones are orphans botkit created and may remove."""

    kind: str
    token: str | None
    message: str
    fixable: bool = False

    def as_json(self) -> dict[str, typing.Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)


def inventory(
    record: TokenRecord | None, server: list[ServerToken], prefix: str
) -> list[InventoryRow]:
    """Server tokens in server order, then local slots the server does not have."""
    pattern = botkit_name_pattern(prefix)
    slots = {
        name: slot for name in SLOTS
        if record is not None and (slot := getattr(record, name)) is not None
    }
    # Match by name first; a slot whose name the server does not know (a token stored
    # through `bootstrap --token` without a name, or injected by BOTKIT_AUTH__TOKEN) is
    # matched by its last characters, which the server lists as `lastTokenPart`.
    by_token: dict[int, str] = {}
    names = {token.name: index for index, token in enumerate(server)}
    for slot_name, slot in slots.items():
        if slot.name in names:
            by_token[names[slot.name]] = slot_name
    for slot_name, slot in slots.items():
        if slot.name in names:
            continue
        tails = [i for i, t in enumerate(server)
                 if t.last_chars == slot.last_chars and i not in by_token]
        if len(tails) == 1:
            by_token[tails[0]] = slot_name
    rows: list[InventoryRow] = []
    matched = set(by_token.values())
    for index, token in enumerate(server):
        rows.append(InventoryRow(
            name=token.name, last_chars=token.last_chars, created_at=token.created_at,
            bypass_two_factor=token.bypass_two_factor, on_server=True, slot=by_token.get(index),
            botkit_named=bool(pattern.match(token.name)),
        ))
    for slot_name, slot in slots.items():
        if slot_name not in matched:
            rows.append(InventoryRow(
                name=slot.name, last_chars=slot.last_chars, created_at=slot.created_at,
                bypass_two_factor=slot.bypass_two_factor, on_server=False, slot=slot_name,
                botkit_named=bool(pattern.match(slot.name)),
            ))
    return rows


def audit_tokens(
    rows: list[InventoryRow],
    policy: TokensConfig,
    now: datetime.datetime,
    *,
    ours: typing.AbstractSet[str] = frozenset(),
) -> list[Finding]:
    """Judge the inventory: stale, unknown, bypass-2FA, orphaned, missing, too many.

    `ours`: names this install asked the server for (`botkit._rotation.created_here`).
    Only those can be orphans; a botkit-like name from elsewhere is merely unknown.
    """
    findings: list[Finding] = []
    on_server = [r for r in rows if r.on_server]
    for row in on_server:
        if row.slot is None and row.botkit_named and row.name in ours:
            findings.append(Finding(
                "orphaned", row.name,
                f"{row.name} (...{row.last_chars}) was created by botkit but is not in the "
                "token store (a rotation was interrupted)", fixable=True,
            ))
        elif row.slot is None and row.botkit_named:
            findings.append(Finding(
                "unknown", row.name,
                f"{row.name} (...{row.last_chars}) is named like botkit's tokens but this "
                "install did not create it (another install, or a lost audit log)",
            ))
        elif row.slot is None:
            findings.append(Finding(
                "unknown", row.name,
                f"{row.name} (...{row.last_chars}) is not botkit's: check who uses it",
            ))
        if row.bypass_two_factor:
            findings.append(Finding(
                "bypass-2fa", row.name,
                f"{row.name} bypasses 2FA: it can create further tokens without a code",
            ))
        if row.created_at is not None and now - row.created_at > policy.rotate_after:
            age = (now - row.created_at).days
            findings.append(Finding(
                "stale", row.name,
                f"{row.name} is {age} days old, older than rotate_after",
            ))
    current = next((r for r in rows if r.slot == "current"), None)
    if current is not None and not current.on_server:
        findings.append(Finding(
            "current-missing", current.name,
            f"the stored token {current.name} no longer exists on the server: "
            "run `botkit bootstrap` again",
        ))
    if len(on_server) > policy.max_tokens:
        findings.append(Finding(
            "too-many", None,
            f"{len(on_server)} personal access tokens exist, more than max_tokens "
            f"({policy.max_tokens})",
        ))
    return findings
