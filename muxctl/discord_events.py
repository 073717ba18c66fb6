"""Simulated Discord events for the mux's two Discord webhooks: slash-command interactions signed as Discord signs
them (Ed25519 over timestamp + body) and gateway MESSAGE_CREATE dispatches signed as the relay signs them
(HMAC-SHA256 over `ts.body`), shaped as tests/fixtures/discord has them. Keys and secrets are never printed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any

from muxctl.client import MuxClient, Reply
from muxctl.discord import INTERACTIONS_PATH, signed_headers

GATEWAY_PATH = "/v1/webhooks/discord/gateway"
DEFAULT_APPLICATION_ID = "1299938960998531079"
DISCORD_EPOCH_MS = 1_420_070_400_000
STRING_OPTION = 3
# The option each command carries its text in (muxctl/discord.py COMMANDS); other commands take none.
COMMAND_OPTION = {"ask": "prompt", "pair": "token", "bot_use": "session"}

_last = 0
_lock = threading.Lock()


def snowflake() -> str:
    """A fresh Discord id whose embedded time is now (unique within the process)."""
    global _last
    with _lock:
        value = ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | secrets.randbelow(1 << 22)
        _last = value = max(value, _last + 1)
    return str(value)


def _user(user_id: str, name: str) -> dict[str, Any]:
    return {"id": user_id, "username": name.lower().replace(" ", "."), "global_name": name, "discriminator": "0",
            "avatar": None, "public_flags": 0}


def build_interaction(name: str, value: str | None, *, user_id: str, channel_id: str,
                      application_id: str = DEFAULT_APPLICATION_ID, guild_id: str | None = None,
                      user_name: str = "Muxctl Check") -> dict[str, Any]:
    """An application command (type 2) as Discord posts it: in the user's DM with the bot, or in a guild channel
    (with `guild_id`, the user as a member with Manage Guild)."""
    option = COMMAND_OPTION.get(name)
    data: dict[str, Any] = {"id": snowflake(), "name": name, "type": 1}
    if option is not None and value is not None:
        data["options"] = [{"name": option, "type": STRING_OPTION, "value": value}]
    user = _user(user_id, user_name)
    body: dict[str, Any] = {
        "app_permissions": "562949953601536", "application_id": application_id,
        "attachment_size_limit": 10485760, "authorizing_integration_owners": {"0": guild_id or "0"},
        "channel_id": channel_id, "data": data, "entitlements": [], "id": snowflake(), "locale": "en-GB",
        "token": base64.urlsafe_b64encode(secrets.token_bytes(96)).decode("ascii").rstrip("="), "type": 2,
        "version": 1,
    }
    if guild_id is None:
        body.update(context=1, user=user,
                    channel={"id": channel_id, "type": 1, "flags": 0, "recipients": [user]})
    else:
        body.update(context=0, guild_id=guild_id, guild_locale="en-US",
                    member={"user": user, "roles": [], "permissions": str(1 << 5), "nick": None},
                    channel={"id": channel_id, "type": 0, "guild_id": guild_id, "name": "general", "flags": 0})
    return body


def build_message(text: str, *, user_id: str, channel_id: str, guild_id: str | None = None,
                  user_name: str = "Muxctl Check") -> dict[str, Any]:
    """A MESSAGE_CREATE dispatch as the relay posts it (the gateway's frame unchanged): a DM, or a guild message."""
    d: dict[str, Any] = {
        "attachments": [], "author": _user(user_id, user_name), "channel_id": channel_id, "components": [],
        "content": text, "edited_timestamp": None, "embeds": [], "flags": 0, "id": snowflake(),
        "mention_everyone": False, "mention_roles": [], "mentions": [], "pinned": False,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime()), "tts": False, "type": 0,
    }
    if guild_id is None:
        d["channel_type"] = 1
    else:
        d.update(channel_type=0, guild_id=guild_id,
                 member={"roles": [], "joined_at": "2025-01-01T00:00:00.000000+00:00", "nick": None})
    return {"op": 0, "s": 1, "t": "MESSAGE_CREATE", "d": d}


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def relay_signature(secret: str, timestamp: str, raw: bytes) -> str:
    """`X-Mux-Signature`: hex HMAC-SHA256 of `<ts>.<raw body>` with MUX_DISCORD_RELAY_SECRET."""
    return hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + raw, hashlib.sha256).hexdigest()


def post_interaction(client: MuxClient, payload: dict[str, Any], key: Any) -> Reply:
    """POST a signed interaction; the mux's answer whatever its status (the caller says what went wrong)."""
    raw = encode(payload)
    return client.request("POST", INTERACTIONS_PATH, data=raw, headers=signed_headers(key, str(int(time.time())), raw))


def post_message(client: MuxClient, payload: dict[str, Any], secret: str) -> Reply:
    """POST a relay-signed gateway dispatch; the mux's answer whatever its status."""
    raw = encode(payload)
    timestamp = str(int(time.time()))
    return client.request("POST", GATEWAY_PATH, data=raw, headers={
        "Content-Type": "application/json", "X-Mux-Timestamp": timestamp,
        "X-Mux-Signature": relay_signature(secret, timestamp, raw)})
