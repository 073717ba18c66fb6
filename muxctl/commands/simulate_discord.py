"""`muxctl simulate discord …`: post a signed Discord event to the mux — a gateway message as the relay posts it, or
a slash command as Discord posts it — and show what it led to (the mux's reply at a `muxctl dev discord`
stand-in, what reached the tenant's OpenClaw stand-in) where the local stand-ins can tell."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from muxctl import outcome
from muxctl.acceptance import DISCORD_MESSAGE_ROUTES, DiscordRecord, Observer, ObserverError
from muxctl.client import api_error, require_http_url
from muxctl.context import State, connection_options, pass_state
from muxctl.discord import COMMANDS, load_signing_key
from muxctl.discord_events import (
    DEFAULT_APPLICATION_ID,
    build_interaction,
    build_message,
    post_interaction,
    post_message,
    snowflake,
)
from muxctl.errors import UsageProblem

DEFAULT_DISCORD_API = "http://127.0.0.1:18905"  # `muxctl dev discord`
SLASH_NAMES = [str(c["name"]) for c in COMMANDS]


def _snowflake_option(value: str | None, option: str) -> str | None:
    if value is not None and not value.isdigit():
        raise UsageProblem(f"{option} {value!r}: a Discord id is digits")
    return value


@click.command("discord")
@click.argument("text", default="")
@click.option("--user", "user_id", required=True, help="The Discord user id the message comes from.")
@click.option("--channel", "channel_id",
              help="The channel id (default: a new DM channel; with --guild: required, a guild channel).")
@click.option("--guild", "guild_id", help="A guild message: the guild id (the user acts as a server manager).")
@click.option("--slash", type=click.Choice(SLASH_NAMES),
              help="Send a slash-command interaction instead of a message; TEXT is its option (/ask's prompt, "
                   "/pair's token, /bot_use's session).")
@click.option("--name", default="Muxctl Test", show_default=True, help="The user's display name.")
@click.option("--relay-secret", envvar="MUX_DISCORD_RELAY_SECRET", show_envvar=True,
              help="Signs gateway messages as the relay does (X-Mux-Signature).")
@click.option("--signing-key", envvar="MUXCTL_DISCORD_SIGNING_KEY", show_envvar=True,
              help="Signs interactions: the Ed25519 private key (hex or base64) whose public key is the mux's "
                   "DISCORD_PUBLIC_KEY (a local stack's test or dev key).")
@click.option("--application-id", envvar="DISCORD_APPLICATION_ID", show_envvar=True,
              default=DEFAULT_APPLICATION_ID, show_default=True)
@click.option("--print-payload", is_flag=True, help="Also print the payload that was sent.")
@click.option("--discord-api", envvar="MUX_DISCORD_API_BASE_URL", show_envvar=True,
              help="The Discord REST stand-in (`muxctl dev discord`), to show what the mux posted back "
                   f"[default with a local mux: {DEFAULT_DISCORD_API}].")
@outcome.watch_options()
@connection_options(admin=False, key=False)
@pass_state
def discord_cmd(
    state: State,
    text: str,
    user_id: str,
    channel_id: str | None,
    guild_id: str | None,
    slash: str | None,
    name: str,
    relay_secret: str | None,
    signing_key: str | None,
    application_id: str,
    print_payload: bool,
    discord_api: str | None,
    observe: str | None,
    wait: float,
) -> None:
    """Post TEXT as a Discord message from --user (through <url>/v1/webhooks/discord/gateway, as the relay posts
    it), or with --slash as a slash command (through <url>/v1/webhooks/discord/interactions, as Discord posts it)."""
    _snowflake_option(user_id, "--user")
    _snowflake_option(channel_id, "--channel")
    _snowflake_option(guild_id, "--guild")
    if guild_id and not channel_id:
        raise UsageProblem("--guild needs --channel (the guild channel the message is in)")
    channel = channel_id or snowflake()
    client = state.client()
    local = outcome.is_local(client.base_url)
    api = require_http_url(discord_api, "--discord-api/MUX_DISCORD_API_BASE_URL") if discord_api else None
    if api and "discord.com" in api:
        api = None  # the real API keeps no record to read
    observe = require_http_url(observe, "--observe/MUX_OBSERVE_URL") if observe else None
    token: str | None = None
    if slash:
        if not signing_key:
            raise UsageProblem("no signing key: pass --signing-key or set MUXCTL_DISCORD_SIGNING_KEY")
        payload = build_interaction(slash, text or None, user_id=user_id, channel_id=channel, guild_id=guild_id,
                                    application_id=application_id, user_name=name)
        event_id, token = f"dci:{payload['id']}", str(payload["token"])
    else:
        if not relay_secret:
            raise UsageProblem("no relay secret: pass --relay-secret or set MUX_DISCORD_RELAY_SECRET")
        payload = build_message(text, user_id=user_id, channel_id=channel, guild_id=guild_id, user_name=name)
        event_id = f"dc:{payload['d']['id']}"
    watch = _DiscordWatch((api or (DEFAULT_DISCORD_API if local else None)) if wait > 0 else None,
                          (observe or (outcome.DEFAULT_TENANT if local else None)) if wait > 0 else None)
    if slash:
        reply = post_interaction(client, payload, load_signing_key(signing_key or ""))
    else:
        reply = post_message(client, payload, relay_secret or "")
    if not reply.ok:
        raise api_error(reply, "Discord interactions POST" if slash else "Discord gateway POST")
    seen = watch.collect(event_id, channel=channel, user_id=user_id, token=token, wait=wait)
    data = {"ok": True, "eventId": event_id, "status": reply.status, "answer": reply.body, "channelId": channel,
            "payload": payload, **seen}

    def human() -> None:
        if print_payload:
            click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        what = f"/{slash}" if slash else "message"
        click.echo(f"Sent {event_id} ({what}) from user {user_id} in channel {channel}; the mux's webhook "
                   f"accepted it ({reply.status}{' ' + json.dumps(reply.body) if slash else ''}).")
        outcome.echo_seen(seen, lambda body: f"replied {json.dumps(body.get('content'), ensure_ascii=False)}")

    state.emit(data, human)


class _DiscordWatch:
    """Baselines of the Discord stand-in's calls and the tenant stand-in's records, taken before the post."""

    def __init__(self, api: str | None, tenant: str | None) -> None:
        self.notes: list[str] = []
        self.api = DiscordRecord(api) if api else None
        self.api_base = 0
        self.tenant = Observer(tenant) if tenant else None
        self.tenant_base = 0
        if self.api is not None:
            try:
                self.api_base = len(self.api.calls())
            except ObserverError:
                self.notes.append(f"the mux's replies are not observed (no `muxctl dev discord` at {api}; "
                                  "pass --discord-api URL)")
                self.api = None
        if self.tenant is not None:
            try:
                self.tenant_base = len(self.tenant.records())
            except ObserverError:
                self.notes.append(f"the tenant side is not observed (no `muxctl dev openclaw` at {tenant}; "
                                  "pass --observe URL)")
                self.tenant = None

    def _replies(self, channel: str, user_id: str, token: str | None) -> list[dict[str, Any]]:
        assert self.api is not None
        calls = [c for c in self.api.calls()[self.api_base:] if c.get("ok")]
        # A DM reply may go to the bot's own DM with the user, opened on the way.
        channels = {channel} | {str((c.get("answer") or {}).get("id")) for c in calls
                                if c.get("route") == "POST /users/@me/channels"
                                and str((c.get("body") or {}).get("recipient_id")) == user_id}
        return [c.get("body") or {} for c in calls if c.get("route") in DISCORD_MESSAGE_ROUTES and (
            (token is not None and token in str(c.get("path"))) or (c.get("params") or {}).get("channel") in channels)]

    def collect(self, event_id: str, *, channel: str, user_id: str, token: str | None,
                wait: float) -> dict[str, Any]:
        started = time.monotonic()
        replies: list[dict[str, Any]] = []
        delivered: list[dict[str, Any]] = []
        while wait > 0:
            if self.api is not None:
                replies = self._replies(channel, user_id, token)
            if self.tenant is not None:
                delivered = [r for r in self.tenant.records(self.tenant_base) if r.get("eventId") == event_id]
            if replies or delivered or time.monotonic() - started >= wait or (not self.api and not self.tenant):
                break
            time.sleep(0.1)
        return {"botReplies": replies if self.api else None,
                "tenant": delivered if self.tenant is not None else None,
                "notes": self.notes, "waited": time.monotonic() - started}
