"""`botkit token list | rotate | audit | revoke`."""

from __future__ import annotations

import contextlib
import datetime
import json
import typing

import click

from botkit._cli._common import CLIState, common_options, json_option, pass_state, run_async

if typing.TYPE_CHECKING:
    from botkit._config import Settings
    from botkit._inventory import InventoryRow
    from botkit._services import StoredAuth
    from botkit._session import Session
    from botkit._twofactor import SecondFactorProvider

__all__ = ["token"]


def _provider(
    settings: Settings, session: Session, username: str | None
) -> SecondFactorProvider:
    """TOTP from the config if there is a secret, else ask the person at the terminal.

    A user without 2FA confirms token changes with the password (behaviour document
    3.7): it is asked for only when the server names that method, and never stored.
    A user with TOTP and email 2FA may type `email` to get a code by email instead.
    """
    from pydantic import SecretStr

    from botkit._prompt import TerminalPrompter
    from botkit._twofactor import (
        ChainProvider,
        PasswordFallbackProvider,
        PromptProvider,
        TotpProvider,
    )

    prompter = TerminalPrompter()

    async def ask(method: str, details: dict[str, typing.Any]) -> str:
        if method == "email":
            target = details.get("emailOrUsername") or "the user"
            prompter.say(f"A 6-digit code was emailed to {target}'s verified address.")
            return await prompter.ask("Email code (or type 'resend')", secret=True)
        question = "Code from your authenticator app"
        if prompt.can_switch(method, details):
            question += " (or type 'email' to get a code by email)"
        return await prompter.ask(question, secret=True)

    class PasswordPrompt:
        async def code_for(
            self, method: str, details: dict[str, typing.Any], *, attempt: int
        ) -> str | None:
            if method != "password":
                return None
            password = await prompter.ask(
                f"Password of {settings.auth.username or 'the bot user'} (the server asks "
                "for it to confirm the token change)", secret=True,
            )
            if not password:
                return None
            return await PasswordFallbackProvider(SecretStr(password)).code_for(
                method, details, attempt=attempt
            )

    providers: list[SecondFactorProvider] = []
    if settings.auth.totp_secret is not None:
        providers.append(TotpProvider(settings.auth.totp_secret))
    prompt = PromptProvider.for_session(ask, session, username=username)
    providers.append(prompt)
    providers.append(PasswordPrompt())
    return ChainProvider(providers)


@click.group("token")
def token() -> None:
    """Inspect, rotate, audit and revoke botkit's personal access tokens."""


@token.command("list")
@common_options
@json_option
@pass_state
def list_cmd(state: CLIState, as_json: bool) -> None:
    """The server's tokens for this user beside the local slots."""
    rows, _ = _inventory(state)
    if as_json:
        click.echo(json.dumps([row.as_json() for row in rows], indent=2))
        return
    click.echo(f"{'NAME':<34} {'LAST':<8} {'CREATED (UTC)':<17} {'SERVER':<7} {'SLOT':<9} BYPASS")
    for row in rows:
        created = row.created_at.strftime("%Y-%m-%d %H:%M") if row.created_at else "-"
        click.echo(
            f"{row.name:<34} {row.last_chars:<8} {created:<17} "
            f"{'yes' if row.on_server else 'no':<7} {row.slot or '-':<9} "
            f"{'yes' if row.bypass_two_factor else 'no'}"
        )


def _inventory(state: CLIState) -> tuple[list[InventoryRow], StoredAuth]:
    """The inventory; Unauthorized (exit 3) naming the token if the server rejects it."""
    from botkit._inventory import inventory
    from botkit._rotation import list_server_tokens
    from botkit._services import load_auth, open_audit, open_session
    from botkit.errors import Unauthorized

    settings = state.settings
    auth = load_auth(settings)

    async def main() -> list[InventoryRow]:
        async with open_session(settings, auth.credentials, audit=open_audit(settings)) as s:
            try:
                server = await list_server_tokens(s)
            except Unauthorized as error:
                # The listing is made with the current token itself, so a 401 is the
                # current-missing finding: nothing else can be judged without a token.
                slot = auth.record.current
                assert slot is not None
                raise Unauthorized(
                    f"the server rejected token {slot.name} (...{slot.last_chars}): it no "
                    "longer exists on the server (revoked, deleted, or the user deactivated)",
                    status=error.status,
                    hint="run `botkit bootstrap` again to get a new one",
                ) from None
        return inventory(auth.record, server, settings.tokens.name_prefix)

    return run_async(main()), auth


@token.command("audit")
@click.option("--fix", is_flag=True, help="Remove orphaned tokens that botkit created.")
@common_options
@json_option
@pass_state
def audit_cmd(state: CLIState, fix: bool, as_json: bool) -> None:
    """Judge the server's tokens against policy; exit 1 if anything is flagged."""
    from botkit._inventory import audit_tokens
    from botkit._rotation import created_here
    from botkit._state import AUDIT_FILE
    from botkit.errors import AuthError, Unauthorized

    settings = state.settings
    try:
        rows, auth = _inventory(state)
    except Unauthorized:
        _record_findings(state, ["current-missing"], [])
        raise
    if fix and auth.read_only:
        raise AuthError("--fix is off for a token injected through BOTKIT_AUTH__TOKEN",
                        hint="botkit did not create the tokens on this account")
    now = datetime.datetime.now(datetime.UTC)
    ours = created_here(settings.state.dir / AUDIT_FILE)
    findings = audit_tokens(rows, settings.tokens, now, ours=ours)
    fixed: list[str] = []
    orphans = {f.token for f in findings if f.fixable and f.token}
    if fix and orphans:
        fixed = _remove_orphans(state, [r for r in rows if r.on_server and r.name in orphans])
        # Judge again without the removed tokens: their other findings (stale, too many)
        # went with them.
        rows = [r for r in rows if not (r.on_server and r.name in fixed)]
        findings = audit_tokens(rows, settings.tokens, now, ours=ours)
    _record_findings(state, [f.kind for f in findings], fixed, count=len(findings))
    if as_json:
        click.echo(json.dumps(
            {"findings": [f.as_json() for f in findings], "fixed": fixed}, indent=2
        ))
    else:
        for name in fixed:
            click.echo(f"removed orphan {name}")
        for finding in findings:
            click.echo(f"{finding.kind}: {finding.message}")
        if not findings:
            click.echo(f"no findings: {sum(r.on_server for r in rows)} token(s) checked")
    if findings:
        raise SystemExit(1)


def _remove_orphans(state: CLIState, orphans: list[InventoryRow]) -> list[str]:
    from botkit._services import load_auth, open_audit, open_session, token_lock

    settings = state.settings
    auth = load_auth(settings)
    audit = open_audit(settings)

    async def main() -> list[str]:
        removed: list[str] = []
        async with (
            token_lock(settings),
            open_session(settings, auth.credentials, audit=audit) as base,
        ):
            provider = _provider(settings, base, auth.record.username)
            session = base.with_credentials(auth.credentials, second_factor=provider)
            for row in orphans:
                await audit.record("token.removed", token=row.name, last=row.last_chars,
                                   where="server", reason="orphan removed by token audit --fix")
                await session.post("users.removePersonalAccessToken",
                                   json={"tokenName": row.name})
                removed.append(row.name)
        return removed

    return run_async(main())


def _record_findings(
    state: CLIState, kinds: list[str], fixed: list[str], *, count: int | None = None
) -> None:
    from botkit._services import open_audit

    audit = open_audit(state.settings)
    run_async(audit.record(
        "audit.findings", count=len(kinds) if count is None else count,
        kinds=sorted(set(kinds)), fixed=fixed,
    ))


@token.command("rotate")
@common_options
@pass_state
def rotate_cmd(state: CLIState) -> None:
    """Replace the current token now, make-before-break."""
    from botkit._rotation import rotate
    from botkit._services import load_auth, open_audit, open_session, token_lock, token_services

    settings = state.settings

    async def main() -> None:
        auth = load_auth(settings)
        audit = open_audit(settings)
        async with (
            token_lock(settings),
            open_session(settings, auth.credentials, audit=audit) as session,
        ):
            provider = _provider(settings, session, auth.record.username)
            result = await rotate(token_services(settings, session, audit), provider)
        click.echo(f"rotated: {result.old_name} -> {result.new_name} (...{result.new_last_chars})")

    run_async(main())


@token.command("reconcile")
@common_options
@pass_state
def reconcile_cmd(state: CLIState) -> None:
    """Finish or undo an interrupted rotation now (the daemon does this at every start)."""
    from botkit._rotation import reconcile
    from botkit._services import load_auth, open_audit, open_session, token_lock, token_services

    settings = state.settings

    async def main() -> list[str]:
        auth = load_auth(settings)
        audit = open_audit(settings)
        async with (
            token_lock(settings),
            open_session(settings, auth.credentials, audit=audit) as session,
        ):
            provider = _provider(settings, session, auth.record.username)
            _, actions = await reconcile(token_services(settings, session, audit), provider)
        return actions

    actions = run_async(main())
    for action in actions:
        click.echo(action)
    if not actions:
        click.echo("nothing to reconcile")


@token.command("revoke")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@common_options
@pass_state
def revoke_cmd(state: CLIState, yes: bool) -> None:
    """Remove the current token on the server and locally."""
    from botkit._services import load_auth, open_audit, open_session, token_lock
    from botkit._tokens import open_token_store
    from botkit.errors import AuthError, Unauthorized

    settings = state.settings
    auth = load_auth(settings)
    if auth.read_only:
        raise AuthError("an injected token cannot be revoked by botkit",
                        hint="revoke it in Rocket.Chat (My Account > Personal Access Tokens)")
    slot = auth.record.current
    assert slot is not None
    if not yes and not click.confirm(
        f"Revoke token {slot.name} (...{slot.last_chars})? botkit will need a new bootstrap",
        err=True,
    ):
        raise SystemExit(1)
    audit = open_audit(settings)

    async def main() -> None:
        async with (
            token_lock(settings),
            open_session(settings, auth.credentials, audit=audit) as session,
        ):
            await audit.record("token.removed", token=slot.name, last=slot.last_chars,
                               where="server", reason="revoked by the user")
            # A logout made with a PAT deletes that PAT (behaviour document 4.2), and unlike
            # users.removePersonalAccessToken it needs no 2FA code. A 401: already gone.
            with contextlib.suppress(Unauthorized):
                await session.post("logout")
            open_token_store(settings).save(auth.record.without_current())

    run_async(main())
    click.echo(f"revoked token {slot.name} (...{slot.last_chars}); run `botkit bootstrap` to "
               "get a new one")
