"""Helpers for Discord inbound tests: fixture events with fresh ids, Ed25519 signing with the RFC 8032 test key
(as Discord signs interactions), the relay's HMAC signing (as the gateway relay posts), and the webhook calls."""

from __future__ import annotations

import copy
import itertools
import json
import time
from pathlib import Path
from typing import Any

from chalicelib.channels.discord.verify import relay_signature
from tests.fakes.discord_server import PRIVATE_SEED, RELAY_SECRET

FIXTURES = Path(__file__).parent / "fixtures" / "discord"
INTERACTIONS = "/v1/webhooks/discord/interactions"
GATEWAY = "/v1/webhooks/discord/gateway"
ADMIN_PERMISSIONS = str(1 << 5)  # MANAGE_GUILD
MEMBER_PERMISSIONS = "2048"  # SEND_MESSAGES only
_ids = itertools.count(1)


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def snowflake() -> str:
    """A fresh Discord id (now, so its embedded time is current)."""
    return str(((int(time.time() * 1000) - 1_420_070_400_000) << 22) | (next(_ids) & 0x3FFFFF))


def sign_interaction(raw: bytes, timestamp: str, seed_hex: str = PRIVATE_SEED) -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex))
    return key.sign(timestamp.encode() + raw).hex()


def interaction_headers(raw: bytes, timestamp: str | None = None) -> dict[str, str]:
    ts = timestamp or str(int(time.time()))
    return {"Content-Type": "application/json", "X-Signature-Ed25519": sign_interaction(raw, ts),
            "X-Signature-Timestamp": ts}


def relay_headers(raw: bytes, timestamp: str | None = None, secret: str = RELAY_SECRET) -> dict[str, str]:
    ts = timestamp or str(int(time.time()))
    return {"Content-Type": "application/json", "X-Mux-Timestamp": ts,
            "X-Mux-Signature": relay_signature(secret, ts, raw)}


def gateway_message(text: str, *, guild: bool = False, channel_id: str | None = None, guild_id: str | None = None,
                    user_id: str | None = None, channel_type: int | None = None, **extra: Any) -> dict[str, Any]:
    """A MESSAGE_CREATE dispatch as the relay posts it (DM or guild fixture) with a fresh message id."""
    body = copy.deepcopy(fixture("gateway_message_create_guild.json" if guild else "gateway_message_create_dm.json"))
    d = body["d"]
    d["id"] = snowflake()
    d["content"] = text
    if channel_id is not None:
        d["channel_id"] = channel_id
    if guild_id is not None:
        d["guild_id"] = guild_id
    if user_id is not None:
        d["author"]["id"] = user_id
    if channel_type is not None:
        d["channel_type"] = channel_type
    d.update(extra)
    return body


def command(name: str, options: dict[str, Any] | None = None, *, guild: bool = False,
            interaction_id: str | None = None, token: str | None = None, permissions: str | None = None,
            channel: dict[str, Any] | None = None) -> dict[str, Any]:
    """An application command interaction (the DM or guild fixture) with a fresh id."""
    body = copy.deepcopy(fixture("command_guild.json" if guild else "command_dm.json"))
    body["id"] = interaction_id or snowflake()
    if token is not None:
        body["token"] = token
    body["data"]["name"] = name
    body["data"]["options"] = [{"name": k, "type": 3, "value": v} for k, v in (options or {}).items()]
    if guild and permissions is not None:
        body["member"]["permissions"] = permissions
    if channel is not None:
        body["channel"] = channel
        body["channel_id"] = channel["id"]
    return body


def component(custom_id: str, *, interaction_id: str | None = None, token: str | None = None) -> dict[str, Any]:
    body = copy.deepcopy(fixture("component_button.json"))
    body["id"] = interaction_id or snowflake()
    if token is not None:
        body["token"] = token
    body["data"]["custom_id"] = custom_id
    return body


def post_interaction(client: Any, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.http.post(INTERACTIONS, headers=headers or interaction_headers(raw), body=raw)


def post_gateway(client: Any, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.http.post(GATEWAY, headers=headers or relay_headers(raw), body=raw)
