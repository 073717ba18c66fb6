"""Discord for operators: the mux's global slash-command set, REST calls with the bot token (never printed), and
interaction requests signed the way Discord signs them (Ed25519 over timestamp + body) for probing the mux."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from typing import Any

import requests

from muxctl.client import describe_connection_error, origin, require_http_url
from muxctl.errors import AuthError, CliError, UnreachableError, UsageProblem

DEFAULT_API_BASE = "https://discord.com/api/v10"
INTERACTIONS_PATH = "/v1/webhooks/discord/interactions"
# A guild install (0) and a user install (1); usable in guilds (0), the bot's DM (1) and other DMs (2).
INTEGRATION_TYPES = [0, 1]
CONTEXTS = [0, 1, 2]


def _command(name: str, description: str, options: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "type": 1, "description": description}
    if options:
        out["options"] = options
    out["integration_types"] = list(INTEGRATION_TYPES)
    out["contexts"] = list(CONTEXTS)
    return out


def _text_option(name: str, description: str, **limits: int) -> dict[str, Any]:
    return {"type": 3, "name": name, "description": description, "required": True, **limits}


# The global command set (tests/fixtures/discord/register_commands_request.json for /ask and /pair).
COMMANDS: list[dict[str, Any]] = [
    _command("ask", "Send a message to your assistant",
             [_text_option("prompt", "What do you want to say?", max_length=6000)]),
    _command("pair", "Link this chat to your workspace with a one-time token",
             [_text_option("token", "The pairing token shown in your dashboard", min_length=8, max_length=64)]),
    _command("bot_status", "Show whether this chat is paired and to which session"),
    _command("bot_unpair", "Unlink this chat from your workspace"),
    _command("bot_help", "What the bot's commands do"),
    _command("bot_sessions", "List the sessions this chat can use"),
    _command("bot_use", "Switch this chat to another session",
             [_text_option("session", "The session's number or name (see /bot_sessions)", max_length=100)]),
]

_OPTION_FIELDS = ("type", "name", "description", "min_length", "max_length", "min_value", "max_value",
                  "choices", "channel_types", "autocomplete")


def _normal_option(option: dict[str, Any]) -> dict[str, Any]:
    out = {k: option[k] for k in _OPTION_FIELDS if option.get(k) not in (None, [], False)}
    if option.get("required"):
        out["required"] = True
    if option.get("options"):
        out["options"] = [_normal_option(o) for o in option["options"]]
    return out


def normal_command(command: dict[str, Any]) -> dict[str, Any]:
    """What decides a command's behaviour, with Discord's defaults filled in and its own fields (id, version,
    application_id, localizations left null) dropped: two forms compare equal when Discord would treat them
    the same."""
    return {
        "name": command.get("name"),
        "type": command.get("type", 1),
        "description": command.get("description", ""),
        "options": [_normal_option(o) for o in command.get("options") or []],
        "integration_types": sorted(command.get("integration_types") or [0]),
        "contexts": sorted(command["contexts"]) if command.get("contexts") is not None else None,
        "default_member_permissions": command.get("default_member_permissions"),
        "nsfw": bool(command.get("nsfw", False)),
    }


def same_commands(current: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> bool:
    def key(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted((normal_command(c) for c in items), key=lambda c: (c["type"], str(c["name"])))

    return key(current) == key(wanted)


def rest(api_base: str, bot_token: str, method: str, path: str, body: Any = None, *, timeout: float = 15.0) -> Any:
    """One Discord REST call with the bot token; failures become CLI errors naming the call, never the token."""
    api_base = require_http_url(api_base, "--api-base/MUX_DISCORD_API_BASE_URL")
    what = f"Discord {method} {path}"
    try:
        resp = requests.request(method, api_base.rstrip("/") + path, json=body, timeout=timeout,
                                headers={"Authorization": f"Bot {bot_token}", "User-Agent": "muxctl"})
    except requests.RequestException as exc:
        raise UnreachableError(
            f"cannot reach the Discord API at {origin(api_base)} ({describe_connection_error(exc)})") from None
    try:
        data = resp.json() if resp.content else None
    except ValueError:
        data = None
    if resp.status_code // 100 == 2:
        return data
    info = data if isinstance(data, dict) else {}
    message = f"{what} failed: {resp.status_code} #{info.get('code', 0)} {info.get('message') or resp.reason}"
    if resp.status_code == 429:
        message += f" (rate limited: retry after {info.get('retry_after', '?')} s)"
    if resp.status_code in (401, 403):
        hint = " (check the bot token)" if resp.status_code == 401 else " (check the application id)"
        raise AuthError(message + hint, status=resp.status_code, details=info.get("errors"))
    raise CliError(message, status=resp.status_code, details=info.get("errors"))


# --- signed interactions -------------------------------------------------------------------------
def load_signing_key(value: str) -> Any:
    """An Ed25519 private key from hex or base64: the 32-byte seed, or seed + public key (64 bytes)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    text = value.strip()
    raw: bytes | None = None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text or "_" in text
                                   else None, validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) not in (32, 64):
        raise UsageProblem("--signing-key: expected an Ed25519 private key as hex or base64 (32-byte seed, "
                           "or 64 bytes of seed + public key)")
    return Ed25519PrivateKey.from_private_bytes(raw[:32])


def public_key_hex(key: Any) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return str(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex())


def ping_body(application_id: str) -> bytes:
    """A PING as Discord sends it when the interactions URL is saved (tests/fixtures/discord/ping.json)."""
    snowflake = str(((int(time.time() * 1000) - 1_420_070_400_000) << 22) | secrets.randbelow(1 << 22))
    body = {
        "app_permissions": "180224", "application_id": application_id, "entitlements": [], "id": snowflake,
        "token": base64.urlsafe_b64encode(secrets.token_bytes(96)).decode("ascii").rstrip("="), "type": 1,
        "user": {"avatar": None, "bot": True, "discriminator": "0000", "global_name": "Discord",
                 "id": "643945264868098049", "public_flags": 1, "system": True, "username": "discord"},
        "version": 1,
    }
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def signed_headers(key: Any, timestamp: str, body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "User-Agent": "Discord-Interactions/1.0 (+https://discord.com)",
            "X-Signature-Timestamp": timestamp,
            "X-Signature-Ed25519": key.sign(timestamp.encode("ascii") + body).hex()}
