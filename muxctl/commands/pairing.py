"""`muxctl pair` and `muxctl bindings …`: pairing tokens, the tenant's bindings, unbind."""

from __future__ import annotations

import time
from typing import Any

import click

from muxctl.context import State, connection_options, pass_state, table
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
@click.option("--number", envvar="MUX_WHATSAPP_DISPLAY_NUMBER", show_envvar=True,
              help="WhatsApp: the business number users message (e.g. +15551230042), for the wa.me link and QR "
                   "(default: the number the mux's instructions name).")
@connection_options(admin=False)
@pass_state
def pair(
    state: State, channel: str, ttl: int | None, session_key: str | None, agent_id: str | None, no_qr: bool,
    number: str | None,
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
    state.emit(result, lambda: print_token(result, qr=not no_qr))


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
