"""The 2FA engine: `checkCodeForUser` with its TOTP, email and password checkers.

Source: rocketchat-server-behaviour.md §3 (Rocket.Chat `apps/meteor/app/2fa/server/code/index.ts`,
`TOTPCheck.ts`, `EmailCheck.ts`, `PasswordCheckFallback.ts`, `lib/totp.ts`). Used by REST routes
with `twoFactorRequired` (with a connection, i.e. the token in use) and by login (no connection,
§2.4).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pyotp

from botkit.testing._model import EmailCode, LoginToken, OutboxEmail, User, iso, sha256_hex

if TYPE_CHECKING:
    from botkit.testing._fake import FakeRocketChat

__all__ = [
    "Connection",
    "TwoFactorFailure",
    "TwoFactorOptions",
    "check_code_for_user",
    "fingerprint",
    "send_email_code",
]


@dataclass(frozen=True)
class TwoFactorOptions:
    """A route's `twoFactorOptions` (§3.1)."""

    disable_password_fallback: bool = False
    disable_remember_me: bool = False
    require_second_factor: bool = False


@dataclass(frozen=True)
class Connection:
    """The synthetic per-request connection: the token in use and the client fingerprint."""

    token: LoginToken
    client_ip: str
    user_agent: str | None


class TwoFactorFailure(Exception):
    """A `Meteor.Error` of the 2FA engine: `totp-required`, `totp-invalid`, `totp-max-attempts`."""

    def __init__(self, code: str, reason: str, details: dict[str, Any] | None) -> None:
        super().__init__(code)
        self.code = code
        self.reason = reason
        self.details = details


def fingerprint(user_agent: str | None, client_ip: str) -> str:
    """MD5 hex of `JSON.stringify({userAgent, clientAddress})`; no UA drops the key (§3.8)."""
    data: dict[str, str] = {}
    if user_agent is not None:
        data["userAgent"] = user_agent
    data["clientAddress"] = client_ip
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def send_email_code(fake: FakeRocketChat, user: User) -> None:
    """Generate, store and "email" a new 6-digit code; replaces any old one (§3.5).

    The real server stores bcrypt; SHA-256 hex keeps the plaintext out of the fake's state.
    """
    code = "".join(secrets.choice("0123456789") for _ in range(6))
    now = fake.clock.now()
    seconds = int(fake.settings["Accounts_TwoFactorAuthentication_By_Email_Code_Expiration"])
    user.email_code = EmailCode(code_hash=sha256_hex(code), expire=now + timedelta(seconds=seconds))
    shown = f"{code[:3]}-{code[3:]}"
    for address in user.verified_emails:
        fake.outbox.append(
            OutboxEmail(
                to=address,
                subject="Authentication code",
                code=code,
                text=f"Here is your authentication code: {shown}",
                sent_at=now,
            )
        )


# --- checkers -------------------------------------------------------------------------------


def _totp_enabled(fake: FakeRocketChat, user: User) -> bool:
    return bool(fake.settings["Accounts_TwoFactorAuthentication_By_TOTP_Enabled"]) and (
        user.totp_enabled
    )


def _email_enabled(fake: FakeRocketChat, user: User) -> bool:
    # OAuth users are not modelled (every fake user has a password service or none).
    return (
        bool(fake.settings["Accounts_TwoFactorAuthentication_By_Email_Enabled"])
        and user.email2fa_enabled
        and bool(user.verified_emails)
    )


def _password_enabled(fake: FakeRocketChat, user: User) -> bool:
    return bool(fake.settings["Accounts_TwoFactorAuthentication_Enforce_Password_Fallback"]) and (
        user.password_digest is not None
    )


class _AnyLengthTOTP(pyotp.TOTP):
    # speakeasy accepts any secret length; pyotp >= 2.12.1 refuses secrets under 112 bits.
    min_secret_length_bits = 0


def _verify_totp(fake: FakeRocketChat, user: User, code: str) -> bool:
    """TOTPCheck.verify + lib/totp.ts (§3.6)."""
    if not _totp_enabled(fake, user) or not user.totp_secret:
        return False
    # An 8-character code is only ever a backup code while backup codes remain.
    if len(code) == 8 and user.hashed_backup:
        hashed = sha256_hex(code)
        if hashed in user.hashed_backup:
            user.hashed_backup.remove(hashed)
            return True
        return False
    totp = _AnyLengthTOTP(user.totp_secret)
    window = int(fake.settings["Accounts_TwoFactorAuthentication_MaxDelta"])
    # No "last used step" is stored: a code stays valid for its whole window (§3.6).
    return bool(totp.verify(code, for_time=int(fake.clock.timestamp()), valid_window=window))


def _email_process_invalid_code(
    fake: FakeRocketChat, user: User, loaded: EmailCode | None
) -> dict[str, Any]:
    """EmailCheck.processInvalidCode (§3.5), reproducing its comparisons as written."""
    now = fake.clock.now()
    if user.email_code is not None and user.email_code.expire < now:
        user.email_code = None
    max_attempts = _max_email_attempts(fake)
    # "more than 5 minutes to expire" in the comment; the code accepts a code that expired
    # less than 5 minutes ago (uses the user as loaded before the deletion above).
    # Every part of the test reads the user as loaded, attempts included (§3.5): a code
    # that expired under 5 minutes ago with its attempts used up is not reusable either.
    reusable = (
        loaded is not None
        and loaded.expire > now - timedelta(minutes=5)
        and loaded.attempts < max_attempts
    )
    verified = user.verified_emails
    email_or_username = user.username or (verified[0] if verified else None)
    if reusable and loaded is not None:
        return {
            "emailOrUsername": email_or_username,
            "codeGenerated": False,
            "codeExpires": iso(loaded.expire),
        }
    send_email_code(fake, user)
    return {"codeGenerated": True, "emailOrUsername": email_or_username}


def _verify_email(fake: FakeRocketChat, user: User, loaded: EmailCode | None, code: str) -> bool:
    """EmailCheck.verify: compares with the code as loaded at the start of the check (§3.5)."""
    if not _email_enabled(fake, user) or loaded is None:
        return False
    digits = re.sub(r"\D", "", code)
    if loaded.expire < fake.clock.now():
        return False
    if hmac.compare_digest(sha256_hex(digits), loaded.code_hash):
        user.email_code = None
        return True
    if user.email_code is not None:
        user.email_code.attempts += 1
    return False


def _max_email_attempts(fake: FakeRocketChat) -> int:
    return int(fake.settings["Accounts_TwoFactorAuthentication_Max_Invalid_Email_Code_Attempts"])


def _email_max_attempts_reached(fake: FakeRocketChat, user: User) -> bool:
    max_attempts = _max_email_attempts(fake)
    return user.email_code is not None and user.email_code.attempts >= max_attempts


def _verify_password(user: User, code: str) -> bool:
    """PasswordCheckFallback: the code is the lowercase SHA-256 hex of the password (§3.7)."""
    if not code or user.password_digest is None:
        return False
    return hmac.compare_digest(code.lower(), user.password_digest)


# --- the algorithm --------------------------------------------------------------------------


def _is_authorized_for_token(
    fake: FakeRocketChat, user: User, connection: Connection, options: TwoFactorOptions
) -> bool:
    """isAuthorizedForToken (§3.3 step 5)."""
    token = user.find_token(connection.token.hashed_token)
    if token is None:
        return False
    if options.require_second_factor:
        return False
    if token.bypass_two_factor:
        return True
    if options.disable_remember_me:
        return False
    remember_for = int(fake.settings["Accounts_TwoFactorAuthentication_RememberFor"])
    now = fake.clock.now()
    if remember_for <= 0:
        return False
    if user.created_at + timedelta(seconds=remember_for) >= now:
        return True  # new-user grace (§3.8)
    return (
        token.two_factor_authorized_until is not None
        and token.two_factor_authorized_hash is not None
        and token.two_factor_authorized_until >= now
        and token.two_factor_authorized_hash
        == fingerprint(connection.user_agent, connection.client_ip)
    )


def _remember(fake: FakeRocketChat, user: User, connection: Connection) -> None:
    """Store the trusted-client window on the token in use; a fixed window (§3.8)."""
    remember_for = int(fake.settings["Accounts_TwoFactorAuthentication_RememberFor"])
    token = user.find_token(connection.token.hashed_token)
    if remember_for <= 0 or token is None:
        return
    token.two_factor_authorized_hash = fingerprint(connection.user_agent, connection.client_ip)
    token.two_factor_authorized_until = fake.clock.now() + timedelta(seconds=remember_for)


def check_code_for_user(
    fake: FakeRocketChat,
    user: User,
    *,
    code: str | None,
    method: str | None,
    options: TwoFactorOptions,
    connection: Connection | None,
) -> None:
    """Pass silently or raise `TwoFactorFailure` (§3.3, steps 1-11)."""
    if fake.test_mode and not options.require_second_factor:
        return
    if not fake.settings["Accounts_TwoFactorAuthentication_Enabled"]:
        return
    loaded_email_code = copy.copy(user.email_code)
    if connection is not None and _is_authorized_for_token(fake, user, connection, options):
        return

    # Step 6: an explicit `totp`/`email` wins even when not enabled (it then always fails);
    # `password` is not in the name map and cannot override an enabled method.
    selected: str | None
    if method in ("totp", "email"):
        selected = method
    elif _totp_enabled(fake, user):
        selected = "totp"
    elif _email_enabled(fake, user):
        selected = "email"
    elif options.require_second_factor or (
        not options.disable_password_fallback and _password_enabled(fake, user)
    ):
        selected = "password"
    else:
        return

    data: dict[str, Any]
    if selected == "email":
        data = _email_process_invalid_code(fake, user, loaded_email_code)
    else:
        data = {"codeGenerated": False}
    available = [
        name
        for name, enabled in (
            ("totp", _totp_enabled(fake, user)),
            ("email", _email_enabled(fake, user)),
        )
        if enabled
    ]
    details = {"method": selected, **data, "availableMethods": available}
    if not code:
        raise TwoFactorFailure("totp-required", "TOTP Required", details)

    if selected == "totp":
        valid = _verify_totp(fake, user, code)
    elif selected == "email":
        valid = _verify_email(fake, user, loaded_email_code, code)
    else:
        valid = _verify_password(user, code)
    if not valid:
        # Only the email checker counts failures; TOTP never reaches max attempts (§3.6).
        if selected == "email" and _email_max_attempts_reached(fake, user):
            raise TwoFactorFailure(
                "totp-max-attempts", "TOTP Maximun Failed Attempts Reached", details
            )
        raise TwoFactorFailure("totp-invalid", "TOTP Invalid", details)

    if not options.disable_remember_me and connection is not None:
        _remember(fake, user, connection)
