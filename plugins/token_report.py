"""A weekly token-hygiene report, sent to an admin by direct message.

```toml
[plugins.token_report]
admin = "alice"          # who gets the report
max_age = "30d"          # flag tokens older than this
```

It lists the bot user's personal access tokens (name, age, last characters, 2FA
bypass) and flags the ones that need attention. Rocket.Chat records no last-use time
for tokens, so age and the bypass flag are what can be judged.
"""

from __future__ import annotations

import datetime

from pydantic import BaseModel, Field, field_validator

from botkit import Context, Plugin, parse_duration


class Settings(BaseModel):
    """[plugins.token_report]"""

    admin: str = Field(min_length=1)
    max_age: datetime.timedelta = datetime.timedelta(days=30)
    max_tokens: int = 5

    @field_validator("max_age", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str | int | float) else value


plugin = Plugin(
    "token_report", version="1.0", description="Weekly token audit for an admin",
    settings=Settings,
)


def build_report(
    tokens: list[dict[str, object]], settings: Settings, now: datetime.datetime
) -> tuple[str, int]:
    """The report text and the number of findings."""
    lines: list[str] = []
    findings = 0
    for token in tokens:
        created = datetime.datetime.fromisoformat(str(token["createdAt"]).replace("Z", "+00:00"))
        age = now - created
        flags = []
        if age > settings.max_age:
            flags.append("older than max_age")
        if token.get("bypassTwoFactor"):
            flags.append("bypasses 2FA")
        findings += len(flags)
        note = f"  <- {', '.join(flags)}" if flags else ""
        lines.append(f"- {token['name']} (...{token.get('lastTokenPart', '')}), "
                     f"{age.days} day(s) old{note}")
    if len(tokens) > settings.max_tokens:
        findings += 1
        lines.append(f"{len(tokens)} tokens exist, more than {settings.max_tokens}")
    head = ("Token report: nothing to do." if findings == 0
            else f"Token report: {findings} finding(s).")
    return "\n".join([head, *lines]), findings


@plugin.job(cron="0 8 * * mon", misfire_grace="12h")
async def weekly(ctx: Context[Settings]) -> None:
    """List the tokens, judge them, and send the report to the admin."""
    answer = await ctx.rest.get("users.getPersonalAccessTokens")
    tokens = [t for t in answer.get("tokens", []) if isinstance(t, dict)]
    now = ctx.scheduled_time or datetime.datetime.now(datetime.UTC)
    text, findings = build_report(tokens, ctx.settings, now)
    await ctx.chat.post(f"@{ctx.settings.admin}", text)
    await ctx.audit("audit.findings", {"count": findings, "source": "token_report"})
    ctx.log.info("token report sent to {} ({} finding(s))", ctx.settings.admin, findings)
