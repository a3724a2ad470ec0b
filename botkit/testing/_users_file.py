"""The users file of `python -m botkit.testing serve --users FILE`, and user specs.

A JSON list of user objects, or `{"users": [...], "settings": {...}}`. A user object has
`username`, `password`, and optionally `user_id`, `email`, `email_verified` (true),
`email2fa` (false), `totp_secret` (base32; TOTP on when set), `backup_codes`, `roles`
(`["user"]`), `created_at` (ISO 8601; default long ago, outside the new-user grace).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botkit.testing._model import User

if TYPE_CHECKING:
    from botkit.testing._fake import FakeRocketChat

__all__ = ["load_users_file", "user_from_spec"]

_KEYS = {
    "username",
    "password",
    "user_id",
    "name",
    "email",
    "email_verified",
    "email2fa",
    "totp_secret",
    "backup_codes",
    "roles",
    "created_at",
    "active",
}


def user_from_spec(fake: FakeRocketChat, spec: dict[str, Any]) -> User:
    """Create a user from one users-file object (unknown keys are refused)."""
    unknown = set(spec) - _KEYS
    if unknown:
        raise ValueError(f"unknown user keys: {sorted(unknown)}")
    if not isinstance(spec.get("username"), str):
        raise ValueError("a user needs a 'username'")
    created = spec.get("created_at")
    return fake.add_user(
        spec["username"],
        spec.get("password"),
        user_id=spec.get("user_id"),
        name=spec.get("name"),
        email=spec.get("email"),
        email_verified=bool(spec.get("email_verified", True)),
        email2fa=bool(spec.get("email2fa", False)),
        totp_secret=spec.get("totp_secret"),
        backup_codes=spec.get("backup_codes", ()),
        roles=spec.get("roles", ["user"]),
        created_at=datetime.fromisoformat(created) if created else None,
        active=bool(spec.get("active", True)),
    )


def load_users_file(fake: FakeRocketChat, path: Path) -> list[User]:
    """Apply a users file to `fake`: settings first, then the users."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, list):
        users, settings = data, {}
    elif isinstance(data, dict):
        users, settings = data.get("users", []), data.get("settings", {})
    else:
        raise ValueError("the users file must hold a list or an object")
    fake.update_settings(settings)
    return [user_from_spec(fake, spec) for spec in users]
