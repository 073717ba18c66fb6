"""`muxctl pair` and `muxctl bindings …`: pairing tokens, the tenant's bindings, unbind."""

from __future__ import annotations

import time
from typing import Any

import click

from muxctl.context import State, connection_options, pass_state, table
from muxctl.errors import EXIT_FAILED
from muxctl.qr import terminal_qr
from muxctl.timefmt import until, when

CHANNEL_CHOICE = click.Choice(["telegram", "discord", "whatsapp"])
CLOCK_SLACK_SEC = 10  # the granted lifetime is measured against this machine's clock


def create_token(
    state: State, channel: str, ttl: int | None = None, session_key: str | None = None, agent_id: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": channel}
    if ttl is not None:
        body["ttlSec"] = ttl
    if session_key:
        body["sessionKey"] = session_key
    if agent_id:
        body["agentId"] = agent_id
    return state.client().call("POST", "/v1/pairings/token", auth="tenant", json_body=body, what="pairing token")


def whatsapp_number(result: dict[str, Any], number: str | None) -> str | None:
    """The business number to message: --number, else a `+<digits>` the mux's `instructions` name."""
    if number:
        digits = "".join(ch for ch in number if ch.isdigit())
        return digits or None
    import re

    found = re.search(r"\+(\d{6,15})\b", str(result.get("instructions") or ""))
    return found.group(1) if found else None


def with_whatsapp_link(result: dict[str, Any], number: str | None) -> dict[str, Any]:
    """Add `whatsappNumber` and `waMeLink` (the chat with the number, the token prefilled) to a token answer."""
    from muxctl.whatsapp import wa_me_link

    digits = whatsapp_number(result, number)
    if digits is None or not result.get("token"):
        return result
    return {**result, "whatsappNumber": "+" + digits, "waMeLink": wa_me_link(digits, str(result["token"]))}


def print_token(result: dict[str, Any], *, qr: bool = True) -> None:
    click.echo(f"Pairing token ({result.get('channel')}): {result.get('token')}")
    if result.get("tokenId"):
        click.echo(f"Token id:         {result['tokenId']} (not secret: `muxctl tokens status|revoke` take it)")
    if result.get("channel") == "whatsapp":
        if result.get("whatsappNumber"):
            click.echo(f"Send it to:       {result['whatsappNumber']} on WhatsApp (the token as the message)")
            click.echo(f"wa.me link:       {result['waMeLink']}")
        else:
            click.echo("Send it as a WhatsApp message to the business number (pass --number to get a wa.me link "
                       "and QR code).")
    if result.get("startCommand"):
        click.echo(f"Send to the bot:  {result['startCommand']}")
    if result.get("deepLink"):
        click.echo(f"Deep link:        {result['deepLink']}")
    if result.get("instructions"):
        click.echo(f"How:              {result['instructions']}")
    click.echo(f"Expires:          {until(result.get('expiresAtMs'))}")
    link = result.get("deepLink") or result.get("waMeLink")
    if qr and link:
        code = terminal_qr(str(link))
        if code:
            click.echo("")
            click.echo(code, nl=False)


def list_bindings(
    state: State, *, limit: int | None = None, follow: bool = False
) -> tuple[list[dict[str, Any]], str | None]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {}
        if limit:
            params["limit"] = limit
        if cursor:
            params["cursor"] = cursor
        page = state.client().call("GET", "/v1/pairings", auth="tenant", params=params, what="list bindings")
        items.extend(page.get("items") or [])
        cursor = page.get("nextCursor")
        if not follow or not cursor:
            return items, cursor


@click.command("pair")
@click.argument("channel", type=CHANNEL_CHOICE)
@click.option("--ttl", type=click.IntRange(min=1), help="Token lifetime in seconds (clamped by the mux).")
@click.option("--session-key", help="Bind the chat to this OpenClaw session key (verbatim).")
@click.option("--agent-id", help="Derive agent:<id>:… session keys instead of agent:main:….")
@click.option("--no-qr", is_flag=True, help="Do not draw the QR code.")
@click.option("--wait", "wait_sec", type=click.IntRange(min=1), metavar="SECONDS",
              help="Then wait up to SECONDS for the user to pair (exit 0 once claimed, 1 when it expires, is "
                   "revoked or the wait ends).")
@click.option("--number", envvar="MUX_WHATSAPP_DISPLAY_NUMBER", show_envvar=True,
              help="WhatsApp: the business number users message (e.g. +15551230042), for the wa.me link and QR "
                   "(default: the number the mux's instructions name).")
@connection_options(admin=False)
@pass_state
def pair(
    state: State, channel: str, ttl: int | None, session_key: str | None, agent_id: str | None, no_qr: bool,
    wait_sec: int | None, number: str | None,
) -> None:
    """Create a one-time pairing token; the user sends it to the bot to bind their chat (WhatsApp: as a
    message to the business number, through the wa.me link or QR code with the token prefilled)."""
    sent_at_ms = int(time.time() * 1000)
    result = create_token(state, channel, ttl, session_key, agent_id)
    if channel == "whatsapp":
        result = with_whatsapp_link(result, number)
    granted = granted_ttl(result, sent_at_ms)
    if ttl is not None and granted is not None and granted + CLOCK_SLACK_SEC < ttl:
        # The mux clamps to MUX_PAIRING_TOKEN_MAX_TTL_SEC without an error: say so, or the operator is misled.
        message = f"--ttl {ttl} was clamped by the mux to {granted} s (its MUX_PAIRING_TOKEN_MAX_TTL_SEC)"
        result = {**result, "requestedTtlSec": ttl, "grantedTtlSec": granted}
        state.warn(message)
    if wait_sec is None or not result.get("tokenId"):
        state.emit(result, lambda: print_token(result, qr=not no_qr))
        return
    if not state.json_output:
        print_token(result, qr=not no_qr)
        state.note(f"Waiting up to {wait_sec} s for the chat to pair…")
    status = wait_for_status(state, str(result["tokenId"]), wait_sec)
    state.emit({**result, "pairing": status}, lambda: print_status(status))
    finish(status)


# The mux answers a long poll after at most 20 s (its MAX_WAIT_MS); muxctl asks again until its own wait ends.
LONG_POLL_MS = 20_000


def token_status(state: State, token_id: str, wait_ms: int = 0) -> dict[str, Any]:
    params = {"waitMs": wait_ms} if wait_ms else None
    return state.client().call(
        "GET", f"/v1/pairings/tokens/{token_id}", auth="tenant", params=params, what="pairing token status"
    )


def wait_for_status(state: State, token_id: str, wait_sec: int) -> dict[str, Any]:
    """The token's status once it is no longer pending, or when `wait_sec` is over (long polls in a row)."""
    deadline = time.monotonic() + wait_sec
    while True:
        left_ms = int((deadline - time.monotonic()) * 1000)
        status = token_status(state, token_id, max(0, min(LONG_POLL_MS, left_ms)))
        if status.get("status") != "pending" or time.monotonic() >= deadline:
            return status


def print_status(status: dict[str, Any]) -> None:
    state = status.get("status")
    if state == "claimed":
        shown = status.get("chatTitle") or status.get("displayName") or status.get("userName")
        chat = f" ({status.get('chatType') or 'chat'} {shown})" if shown else ""
        click.echo(f"Paired: binding {status.get('bindingId')}{chat}")
    elif state == "pending":
        click.echo(f"Still pending; it expires {until(status.get('expiresAtMs'))}.")
    else:
        click.echo(f"The token is {state}: request a new one.")


def finish(status: dict[str, Any]) -> None:
    if status.get("status") != "claimed":
        raise SystemExit(EXIT_FAILED)


@click.group()
def tokens() -> None:
    """Pairing tokens by their id (the `tokenId` of `muxctl pair`): status, wait, revoke."""


@tokens.command("status")
@click.argument("token_id")
@click.option("--wait", "wait_sec", type=click.IntRange(min=1), metavar="SECONDS",
              help="Wait up to SECONDS while it is pending (exit 0 once claimed, else 1).")
@connection_options(admin=False)
@pass_state
def status_cmd(state: State, token_id: str, wait_sec: int | None) -> None:
    """pending | claimed | expired | revoked; once claimed, the binding and the chat's names."""
    status = wait_for_status(state, token_id, wait_sec) if wait_sec else token_status(state, token_id)
    state.emit(status, lambda: print_status(status))
    if wait_sec:
        finish(status)


@tokens.command("revoke")
@click.argument("token_id")
@connection_options(admin=False)
@pass_state
def revoke_cmd(state: State, token_id: str) -> None:
    """Revoke a pending token: it stops working at once (a claimed one: unbind its binding instead)."""
    status = state.client().call(
        "POST", f"/v1/pairings/tokens/{token_id}/revoke", auth="tenant", what="revoke pairing token"
    )
    state.emit(status, f"Revoked {token_id}: it can no longer be used.")


def granted_ttl(result: dict[str, Any], sent_at_ms: int) -> int | None:
    """The lifetime the mux gave the token, in whole seconds (rounded: the request took some time)."""
    expires = result.get("expiresAtMs")
    if not isinstance(expires, int):
        return None
    return max(0, round((expires - sent_at_ms) / 1000))


@click.group()
def bindings() -> None:
    """The tenant's bound chats."""


@bindings.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), help="Page size.")
@click.option("--all", "follow", is_flag=True, help="Follow nextCursor to list every binding.")
@connection_options(admin=False)
@pass_state
def list_cmd(state: State, limit: int | None, follow: bool) -> None:
    """List bindings, newest first."""
    items, cursor = list_bindings(state, limit=limit, follow=follow)

    def human() -> None:
        if not items:
            click.echo("No bindings.")
            return
        rows = [
            (i.get("bindingId"), i.get("channel"), i.get("scope"), i.get("routeKey"),
             ", ".join(i.get("sessionKeys") or []), when(i.get("createdAtMs")))
            for i in items
        ]
        click.echo(table(rows, ["BINDING", "CHANNEL", "SCOPE", "ROUTE", "SESSION KEYS", "CREATED"]))
        if cursor:
            click.echo(f"(more: pass --all, or the next page's cursor is {cursor})")

    state.emit({"ok": True, "items": items, "nextCursor": cursor}, human)


@bindings.command("unbind")
@click.argument("binding_id")
@connection_options(admin=False)
@pass_state
def unbind(state: State, binding_id: str) -> None:
    """Remove a binding: messages from that chat are no longer forwarded."""
    result = state.client().call(
        "POST", "/v1/pairings/unbind", auth="tenant", json_body={"bindingId": binding_id}, what="unbind"
    )
    state.emit(result, f"Unbound {binding_id}: its chat is no longer forwarded.")
