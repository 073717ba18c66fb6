"""`muxctl discord …`: register the global slash commands, and probe the interactions URL the way Discord does."""

from __future__ import annotations

import secrets
import time
from typing import Any

import click

from muxctl.context import State, connection_options, pass_state
from muxctl.discord import (
    COMMANDS,
    DEFAULT_API_BASE,
    INTERACTIONS_PATH,
    load_signing_key,
    ping_body,
    rest,
    same_commands,
    signed_headers,
)
from muxctl.errors import CliError, UsageProblem

bot_token_option = click.option(
    "--bot-token", envvar="DISCORD_BOT_TOKEN", show_envvar=True, help="The bot's token (never printed).")
application_option = click.option(
    "--application-id", envvar="DISCORD_APPLICATION_ID", show_envvar=True,
    help="The application id (default: the bot user's id, which Discord makes the same).")
api_base_option = click.option(
    "--api-base", envvar="MUX_DISCORD_API_BASE_URL", show_envvar=True, default=DEFAULT_API_BASE, show_default=True,
    help="Discord REST base URL (a fake Discord locally).")
json_option = click.option("--json", "json_output", is_flag=True, help="Machine-readable JSON on stdout.")


@click.group()
def discord() -> None:
    """Discord application setup and checks."""


@discord.command("register-commands")
@bot_token_option
@application_option
@api_base_option
@json_option
@pass_state
def register_commands(state: State, bot_token: str | None, application_id: str | None, api_base: str,
                      json_output: bool) -> None:
    """Install the mux's global slash commands (/ask, /pair, /bot_status, /bot_unpair, /bot_help, /bot_sessions,
    /bot_use) for guild and user installs, usable in guilds and DMs. Idempotent: the set is read first and
    written (one bulk overwrite) only when it differs."""
    state.json_output = state.json_output or json_output
    if not bot_token:
        raise UsageProblem("no bot token: pass --bot-token or set DISCORD_BOT_TOKEN")
    app = application_id or str((rest(api_base, bot_token, "GET", "/users/@me") or {}).get("id") or "")
    if not app.isdigit():
        raise UsageProblem("no application id: pass --application-id or set DISCORD_APPLICATION_ID")
    path = f"/applications/{app}/commands"
    current = rest(api_base, bot_token, "GET", path)
    names = ", ".join("/" + c["name"] for c in COMMANDS)
    if isinstance(current, list) and same_commands(current, COMMANDS):
        state.emit({"ok": True, "changed": False, "applicationId": app, "commands": [c["name"] for c in COMMANDS]},
                   f"Discord commands unchanged for application {app} ({len(COMMANDS)} global: {names}).")
        return
    stored = rest(api_base, bot_token, "PUT", path, COMMANDS)
    count = len(stored) if isinstance(stored, list) else len(COMMANDS)
    state.emit({"ok": True, "changed": True, "applicationId": app, "commands": [c["name"] for c in COMMANDS]},
               f"Discord commands registered for application {app} ({count} global: {names}). Global commands "
               "can take a few minutes to show in clients.")


@discord.command("check")
@click.option("--signing-key", envvar="MUXCTL_DISCORD_SIGNING_KEY", show_envvar=True,
              help="Ed25519 private key (hex or base64) whose public key is the mux's DISCORD_PUBLIC_KEY: only "
                   "for a local stack's test key (Discord keeps the real one).")
@application_option
@connection_options(admin=False, key=False)
@pass_state
def check(state: State, signing_key: str | None, application_id: str | None) -> None:
    """Probe <url>/v1/webhooks/discord/interactions as Discord does when the URL is saved: a validly signed
    PING must answer {"type":1}, and a PING with a tampered signature must get 401 (Discord removes endpoints
    that accept it). One line per probe; exit 1 when one fails."""
    client = state.client()
    url = client.base_url + INTERACTIONS_PATH
    key = load_signing_key(signing_key) if signing_key else None
    body = ping_body(application_id or "1299938960998531079")
    timestamp = str(int(time.time()))
    probes: list[dict[str, Any]] = []

    if key is None:
        probes.append({"probe": "signed PING", "result": "skip",
                       "detail": "no --signing-key: Discord signs with the application's private key, which only "
                                 "Discord holds (pass the local stack's test key to run this probe)"})
    else:
        reply = client.request("POST", INTERACTIONS_PATH, data=body, headers=signed_headers(key, timestamp, body))
        ok = reply.status == 200 and reply.body == {"type": 1}
        detail = "answered {\"type\":1}" if ok else (
            f"answered {reply.status} {reply.text[:120]!r}" + (
                " (is the mux's DISCORD_PUBLIC_KEY the public key of --signing-key?)" if reply.status == 401 else ""))
        probes.append({"probe": "signed PING", "result": "pass" if ok else "fail", "status": reply.status,
                       "detail": detail})

    if key is not None:
        headers = signed_headers(key, timestamp, body)
        tampered = body.replace(b'"type":1', b'"type":1 ', 1)  # the signature no longer covers the body
    else:
        headers = signed_headers(load_signing_key(secrets.token_hex(32)), timestamp, body)  # a stranger's key
        tampered = body
    reply = client.request("POST", INTERACTIONS_PATH, data=tampered, headers=headers)
    ok = reply.status == 401
    probes.append({"probe": "tampered signature", "result": "pass" if ok else "fail", "status": reply.status,
                   "detail": "refused with 401" if ok else f"answered {reply.status} instead of 401: Discord "
                                                          "will refuse (or remove) this endpoint"})

    passed = all(p["result"] != "fail" for p in probes)
    data = {"ok": passed, "url": url, "probes": probes}
    if not passed:
        failed = "; ".join(f"{p['probe']}: {p['detail']}" for p in probes if p["result"] == "fail")
        if not state.json_output:
            for probe in probes:
                click.echo(_line(probe))
        raise CliError(f"{url}: {failed}", details=data)

    def human() -> None:
        for probe in probes:
            click.echo(_line(probe))
        click.echo(f"{url}: OK" + (" (signed PING not probed)" if key is None else ""))

    state.emit(data, human)


def _line(probe: dict[str, Any]) -> str:
    return f"{probe['result'].upper():<5}{probe['probe']}: {probe['detail']}"
