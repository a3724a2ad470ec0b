"""Authentication routes: login, logout, me, info, the PAT endpoints, sendEmailCode.

Sources: rocketchat-server-behaviour.md §2 (login; `ApiClass.ts` `_initAuth`,
`2fa/server/loginHandler.ts`, `authentication/server/startup/index.js`,
`authentication/server/lib/restrictLoginAttempts.ts`), §4.2-§4.6 (`v1/users.ts`, `v1/misc.ts`,
`default/info.ts`, `personal-access-tokens/server/api/methods/*.ts`).
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any

from botkit.testing._envelope import ApiFailure, meteor_error, plain_error
from botkit.testing._model import LoginToken, User, hash_token, iso, random_secret, sha256_hex
from botkit.testing._routing import Ctx, Route, require_user
from botkit.testing._twofactor import (
    TwoFactorFailure,
    TwoFactorOptions,
    check_code_for_user,
    send_email_code,
)
from botkit.testing._views import me_view

__all__ = ["ROUTES"]

_MAX_RESUME_LOGIN_TOKENS = 50  # env MAX_RESUME_LOGIN_TOKENS default (§1.5)
_COMPAT_KEYS = {"user", "username", "email", "password", "code"}
_VALIDATE_LOGIN = {"function": "Accounts.validateLoginAttempt"}


class _LoginError(Exception):
    """A `Meteor.Error` raised during login; `error` may be numeric (Meteor's own errors)."""

    def __init__(self, error: str | int, reason: str, details: dict[str, Any] | None = None):
        super().__init__(str(error))
        self.error = error
        self.reason = reason
        self.details = details


# --- login ------------------------------------------------------------------------------------


def _compatibility_form(ctx: Ctx) -> dict[str, Any]:
    """The compatibility translation of §2.1 (form A); anything else passes through (form B)."""
    body = ctx.body
    if "password" not in body or not set(body) <= _COMPAT_KEYS:
        return body
    user = body.get("user")
    identity: dict[str, Any]
    if isinstance(user, str):
        identity = {"email": user} if "@" in user else {"username": user}
    elif body.get("username"):
        identity = {"username": body["username"]}
    elif body.get("email"):
        identity = {"email": body["email"]}
    else:
        # An object `user` without `username`/`email`: the body passes through unchanged and
        # its `code` is silently ignored (§2.1, pitfall §7.18).
        return body
    password = body["password"]
    if isinstance(password, dict) and password.get("hashed"):
        # The `hashed` quirk: the whole object becomes the digest and cannot match (§2.1).
        password = {"digest": password, "algorithm": "sha-256"}
    credentials: dict[str, Any] = {"user": identity, "password": password}
    code = body.get("code") or ctx.headers.get("x-2fa-code")  # x-2fa-method is ignored here
    if code:
        credentials = {"totp": {"login": credentials, "code": code}}
    return credentials


def _find_login_user(ctx: Ctx, identity: Any) -> User | None:
    fake = ctx.fake
    if not isinstance(identity, dict):
        return None
    if isinstance(identity.get("username"), str):
        return next((u for u in fake.users.values() if u.username == identity["username"]), None)
    if isinstance(identity.get("email"), str):
        return fake.find_user_by_email(identity["email"])
    if isinstance(identity.get("id"), str):
        return fake.users.get(identity["id"])
    return None


def _password_matches(user: User, password: Any) -> bool:
    if user.password_digest is None:
        return False
    if isinstance(password, str):
        return hmac.compare_digest(sha256_hex(password), user.password_digest)
    if isinstance(password, dict) and password.get("algorithm") == "sha-256":
        digest = password.get("digest")
        return isinstance(digest, str) and hmac.compare_digest(digest, user.password_digest)
    return False


def _blocked(ctx: Ctx, username: str | None) -> _LoginError | None:
    """Brute-force blocking (`restrictLoginAttempts.ts`, §2.3): failures since the last
    successful login; blocked until the last failure + the unblock time."""
    fake, settings = ctx.fake, ctx.fake.settings
    if not settings["Block_Multiple_Failed_Logins_Enabled"]:
        return None
    now = fake.clock.now()
    whitelist = {
        ip.strip()
        for ip in str(settings["Block_Multiple_Failed_Logins_Ip_Whitelist"]).split(",")
        if ip.strip()
    }
    checks = []
    if settings["Block_Multiple_Failed_Logins_By_Ip"] and ctx.client_ip not in whitelist:
        checks.append(
            (
                1,
                ctx.client_ip,
                int(settings["Block_Multiple_Failed_Logins_Attempts_Until_Block_By_Ip"]),
                int(settings["Block_Multiple_Failed_Logins_Time_To_Unblock_By_Ip_In_Minutes"]),
                "error-login-blocked-for-ip",
                "Login has been temporarily blocked For IP",
            )
        )
    if settings["Block_Multiple_Failed_Logins_By_User"] and username is not None:
        checks.append(
            (
                2,
                username,
                int(settings["Block_Multiple_Failed_Logins_Attempts_Until_Block_by_User"]),
                int(settings["Block_Multiple_Failed_Logins_Time_To_Unblock_By_User_In_Minutes"]),
                "error-login-blocked-for-user",
                "Login has been temporarily blocked For User",
            )
        )
    for index, key, attempts, minutes, code, reason in checks:
        events = [e for e in fake.login_events if e[index] == key]
        successes = [e[0] for e in events if e[3]]
        last_success = max(successes) if successes else None
        failures = [
            e[0] for e in events if not e[3] and (last_success is None or e[0] > last_success)
        ]
        if len(failures) >= attempts and now <= max(failures) + timedelta(minutes=minutes):
            return _LoginError(code, reason, dict(_VALIDATE_LOGIN))
    return None


def _check_can_login(ctx: Ctx, user: User, *, password_login: bool) -> None:
    """`validateLoginAttempt` checks on the user (§2.3 table)."""
    if user.type == "app":
        raise _LoginError(
            "error-app-user-is-not-allowed-to-login",
            "App user is not allowed to login",
            dict(_VALIDATE_LOGIN),
        )
    if not user.active:
        raise _LoginError(
            "error-user-is-not-activated", "User is not activated", dict(_VALIDATE_LOGIN)
        )
    if not user.roles:
        raise _LoginError("error-user-has-no-roles", "User has no roles", dict(_VALIDATE_LOGIN))
    if (
        password_login
        and ctx.fake.settings["Accounts_EmailVerification"]
        and "admin" not in user.roles
        and not user.verified_emails
    ):
        raise _LoginError("error-invalid-email", "Invalid email __email__")


def _password_login(ctx: Ctx, credentials: dict[str, Any], code: str | None) -> User:
    fake = ctx.fake
    user = _find_login_user(ctx, credentials.get("user"))
    username = user.username if user else None
    try:
        blocked = _blocked(ctx, username)
        if blocked is not None:
            raise blocked
        if user is None:
            raise _LoginError(403, "User not found")
        if not _password_matches(user, credentials.get("password")):
            raise _LoginError(403, "Incorrect password")
        _check_can_login(ctx, user, password_login=True)
        try:
            # At login: code from `totp.code`, no method, no connection, no password
            # fallback (loginHandler.ts, §2.4).
            check_code_for_user(
                fake,
                user,
                code=code,
                method=None,
                options=TwoFactorOptions(disable_password_fallback=True),
                connection=None,
            )
        except TwoFactorFailure as exc:
            raise _LoginError(exc.code, exc.reason, exc.details) from None
    except _LoginError:
        # Every failed attempt counts, a blocked one too (the stricter reading: a client
        # that keeps retrying stays blocked).
        fake.login_events.append((fake.clock.now(), ctx.client_ip, username, False))
        raise
    fake.login_events.append((fake.clock.now(), ctx.client_ip, user.username, True))
    return user


def _resume_login(ctx: Ctx, token: Any) -> tuple[User, str]:
    """`{"resume": token}`: never 2FA (§2.4); echoes the same token (§2.2)."""
    if isinstance(token, str):
        hashed = hash_token(token)
        for user in ctx.fake.users.values():
            if user.find_token(hashed) is not None:
                _check_can_login(ctx, user, password_login=False)
                return user, token
    # Meteor's own error for an unknown resume token (Meteor; UNVERIFIED wording).
    raise _LoginError(403, "You've been logged out by the server. Please log in again.")


def _new_login_token(ctx: Ctx, user: User) -> str:
    token = random_secret()
    user.login_tokens.append(LoginToken(hashed_token=hash_token(token), when=ctx.fake.clock.now()))
    # Pruning of the oldest non-PAT tokens on login; PATs survive (§1.5).
    plain = [t for t in user.login_tokens if not t.is_pat]
    if len(plain) > _MAX_RESUME_LOGIN_TOKENS:
        excess = len(plain) - _MAX_RESUME_LOGIN_TOKENS
        oldest = sorted(plain, key=lambda t: t.when or ctx.fake.clock.now())[:excess]
        drop = {id(t) for t in oldest}
        user.login_tokens = [t for t in user.login_tokens if id(t) not in drop]
    return token


def _login_failure(ctx: Ctx, error: _LoginError) -> ApiFailure:
    """401 bodies of §2.3; >= 8.0.0 hides everything behind "unauthorized"."""
    if ctx.breaking:
        return ApiFailure(401, {"success": False, "error": "unauthorized"})
    code: str | int = error.error
    reason = error.reason
    if reason == "User not found" or reason == "Incorrect password":
        # The current e2e test expects "Unauthorized" for bad credentials (treat as opaque).
        code, reason = "Unauthorized", "Unauthorized"
    body: dict[str, Any] = {"success": False, "error": code, "status": "error"}
    if error.details is not None:
        body["details"] = error.details
    body["message"] = reason
    return ApiFailure(401, body)


def _login(ctx: Ctx) -> dict[str, Any]:
    credentials = _compatibility_form(ctx)
    try:
        if "resume" in credentials:
            user, token = _resume_login(ctx, credentials["resume"])
        else:
            if isinstance(credentials.get("totp"), dict):
                inner = credentials["totp"].get("login")
                code = credentials["totp"].get("code")
                if not isinstance(inner, dict) or not isinstance(code, str):
                    raise _LoginError(400, "Match failed")
                user = _password_login(ctx, inner, code)
            elif "user" in credentials and "password" in credentials:
                user = _password_login(ctx, credentials, None)
            else:
                raise _LoginError(400, "Unrecognized options for login request")
            token = _new_login_token(ctx, user)
    except _LoginError as error:
        raise _login_failure(ctx, error) from None
    return {
        "status": "success",
        "data": {"userId": user.id, "authToken": token, "me": me_view(ctx.fake, user)},
        "success": True,
    }


# --- logout, me, info -------------------------------------------------------------------------


def _logout(ctx: Ctx) -> dict[str, Any]:
    """Removes the token that authenticated the call, a PAT included (§4.2, pitfall §7.1).
    The body is the handler's object, without `success` (current body UNVERIFIED)."""
    user = require_user(ctx)
    if ctx.token is not None:
        user.login_tokens = [t for t in user.login_tokens if t is not ctx.token]
    return {"status": "success", "data": {"message": "You've been logged out!"}}


def _me(ctx: Ctx) -> dict[str, Any]:
    return me_view(ctx.fake, require_user(ctx))


def _info(ctx: Ctx) -> dict[str, Any]:
    """Unauthenticated: version without the patch level (§4.4)."""
    major_minor = ".".join(ctx.fake.version.split(".")[:2])
    return {
        "version": major_minor,
        "minimumClientVersions": {"desktop": "3.9.6", "mobile": "4.39.0"},
    }


# --- personal access tokens -------------------------------------------------------------------


def _token_name(ctx: Ctx) -> str:
    name = ctx.body.get("tokenName")
    if not isinstance(name, str) or not name:
        raise plain_error("The 'tokenName' param is required")
    return name


def _check_pat_permission(ctx: Ctx, method: str) -> User:
    """The permission is checked inside the method: 400 `not-authorized`, not 403 (§4.5)."""
    user = require_user(ctx)
    if not ctx.fake.has_permission(user, "create-personal-access-tokens"):
        raise meteor_error("not-authorized", "Not Authorized", {"method": method})
    return user


def _generate(ctx: Ctx) -> dict[str, Any]:
    name = _token_name(ctx)
    method = "personalAccessTokens:generateToken"
    user = _check_pat_permission(ctx, method)
    if user.find_pat(name) is not None:
        raise meteor_error(
            "error-token-already-exists",
            "A token with this name already exists",
            {"method": method},
        )
    token = random_secret()
    bypass = ctx.body.get("bypassTwoFactor") is True
    user.login_tokens.append(ctx.fake.new_pat_element(token, name, bypass))
    return {"token": token}


def _existing_pat(ctx: Ctx, method: str) -> tuple[User, LoginToken]:
    name = _token_name(ctx)
    user = _check_pat_permission(ctx, method)
    element = user.find_pat(name)
    if element is None:
        raise meteor_error(
            "error-token-does-not-exists", "Token does not exist", {"method": method}
        )
    return user, element


def _regenerate(ctx: Ctx) -> dict[str, Any]:
    """Remove + generate: new `createdAt`, same `bypassTwoFactor`, trusted window lost;
    the old token dies even if it authenticates this very request (§4.5)."""
    user, element = _existing_pat(ctx, "personalAccessTokens:regenerateToken")
    assert element.name is not None
    user.login_tokens.remove(element)
    token = random_secret()
    user.login_tokens.append(
        ctx.fake.new_pat_element(token, element.name, element.bypass_two_factor)
    )
    return {"token": token}


def _remove(ctx: Ctx) -> dict[str, Any]:
    user, element = _existing_pat(ctx, "personalAccessTokens:removeToken")
    user.login_tokens.remove(element)
    return {}


def _list_tokens(ctx: Ctx) -> dict[str, Any]:
    """PATs only, storage order, no hash/plaintext/usage data (§4.5)."""
    user = require_user(ctx)
    return {
        "tokens": [
            {
                "name": t.name,
                "createdAt": iso(t.created_at) if t.created_at else None,
                "lastTokenPart": t.last_token_part,
                "bypassTwoFactor": bool(t.bypass_two_factor),
            }
            for t in user.pats()
        ]
    }


def _send_email_code(ctx: Ctx) -> dict[str, Any]:
    """Unauthenticated; success even for unknown users; always a new code (§4.6)."""
    value = ctx.body.get("emailOrUsername")
    if not value or not isinstance(value, str):
        raise meteor_error("error-parameter-required", "emailOrUsername is required")
    fake = ctx.fake
    user = (
        fake.find_user_by_email(value)
        if "@" in value
        else next((u for u in fake.users.values() if u.username == value), None)
    )
    if user is not None:
        send_email_code(fake, user)
    return {}


_PAT_2FA = TwoFactorOptions()

ROUTES: list[Route] = [
    Route("login", ("POST",), _login, auth=False, raw=True),
    Route("logout", ("POST", "GET"), _logout, raw=True),
    Route("me", ("GET",), _me),
    Route("info", ("GET",), _info, auth=False, versioned=False),
    Route("users.generatePersonalAccessToken", ("POST",), _generate, two_factor=_PAT_2FA),
    Route("users.regeneratePersonalAccessToken", ("POST",), _regenerate, two_factor=_PAT_2FA),
    Route("users.removePersonalAccessToken", ("POST",), _remove, two_factor=_PAT_2FA),
    Route(
        "users.getPersonalAccessTokens",
        ("GET",),
        _list_tokens,
        permissions=("create-personal-access-tokens",),
    ),
    Route("users.2fa.sendEmailCode", ("POST",), _send_email_code, auth=False),
]
