"""Server settings and role permissions with the defaults of current Rocket.Chat.

Sources: rocketchat-server-behaviour.md Appendix A (`apps/meteor/server/settings/accounts.ts`,
`rate.ts`, `general.ts`, `message.ts`) and §4.1 for the role grants
(`apps/meteor/app/authorization/server/constant/permissions.ts`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_PERMISSIONS", "DEFAULT_SETTINGS"]

DEFAULT_SETTINGS: dict[str, Any] = {
    "Site_Url": "http://localhost:3000",
    "Accounts_TwoFactorAuthentication_Enabled": True,
    "Accounts_TwoFactorAuthentication_By_TOTP_Enabled": True,
    "Accounts_TwoFactorAuthentication_MaxDelta": 1,
    "Accounts_TwoFactorAuthentication_By_Email_Enabled": True,
    "Accounts_twoFactorAuthentication_email_available_for_OAuth_users": True,
    "Accounts_TwoFactorAuthentication_By_Email_Auto_Opt_In": True,
    "Accounts_TwoFactorAuthentication_By_Email_Code_Expiration": 3600,
    "Accounts_TwoFactorAuthentication_Max_Invalid_Email_Code_Attempts": 5,
    "Accounts_TwoFactorAuthentication_RememberFor": 1800,
    "Accounts_TwoFactorAuthentication_Enforce_Password_Fallback": True,
    "Accounts_LoginExpiration": 90,
    "Accounts_EmailVerification": False,
    "Block_Multiple_Failed_Logins_Enabled": True,
    "Block_Multiple_Failed_Logins_By_User": True,
    "Block_Multiple_Failed_Logins_Attempts_Until_Block_by_User": 10,
    "Block_Multiple_Failed_Logins_Time_To_Unblock_By_User_In_Minutes": 5,
    "Block_Multiple_Failed_Logins_By_Ip": True,
    "Block_Multiple_Failed_Logins_Attempts_Until_Block_By_Ip": 50,
    "Block_Multiple_Failed_Logins_Time_To_Unblock_By_Ip_In_Minutes": 5,
    "Block_Multiple_Failed_Logins_Ip_Whitelist": "",
    "API_Enable_Rate_Limiter": True,
    "API_Enable_Rate_Limiter_Limit_Calls_Default": 10,
    "API_Enable_Rate_Limiter_Limit_Time_Default": 60000,
    "API_Upper_Count_Limit": 100,
    "API_Default_Count": 50,
    "API_Allow_Infinite_Count": True,
    "API_Apply_permission_view-outside-room_on_users-list": False,
    "Message_MaxAllowedSize": 5000,
    "Threads_enabled": True,
}

#: permission -> roles that hold it by default.
DEFAULT_PERMISSIONS: dict[str, set[str]] = {
    "create-personal-access-tokens": {"admin", "user"},
    "api-bypass-rate-limit": {"admin", "bot", "app"},
    "create-d": {"admin", "user", "bot", "app"},
    "logout-other-user": {"admin"},
    "message-impersonate": {"bot", "app"},
    "view-d-room": {"admin", "owner", "moderator", "user", "bot", "app", "guest"},
    "view-c-room": {"admin", "owner", "moderator", "user", "bot", "app", "guest", "anonymous"},
    "view-outside-room": {"admin", "owner", "moderator", "user"},
    "view-other-user-channels": {"admin"},
    "view-full-other-user-info": {"admin"},
    "post-readonly": {"admin", "owner", "moderator"},
}
