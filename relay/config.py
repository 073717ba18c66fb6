"""The relay's settings, read once from the environment (the relay's only reader of os.environ)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_API_BASE_URL = "https://discord.com/api/v10"
DEFAULT_INTENTS = "GUILDS,GUILD_MESSAGES,DIRECT_MESSAGES,MESSAGE_CONTENT"
# Discord's gateway intent bits (https://discord.com/developers/docs/events/gateway#gateway-intents).
INTENT_BITS = {
    "GUILDS": 1 << 0,
    "GUILD_MEMBERS": 1 << 1,
    "GUILD_MODERATION": 1 << 2,
    "GUILD_EXPRESSIONS": 1 << 3,
    "GUILD_INTEGRATIONS": 1 << 4,
    "GUILD_WEBHOOKS": 1 << 5,
    "GUILD_INVITES": 1 << 6,
    "GUILD_VOICE_STATES": 1 << 7,
    "GUILD_PRESENCES": 1 << 8,
    "GUILD_MESSAGES": 1 << 9,
    "GUILD_MESSAGE_REACTIONS": 1 << 10,
    "GUILD_MESSAGE_TYPING": 1 << 11,
    "DIRECT_MESSAGES": 1 << 12,
    "DIRECT_MESSAGE_REACTIONS": 1 << 13,
    "DIRECT_MESSAGE_TYPING": 1 << 14,
    "MESSAGE_CONTENT": 1 << 15,
    "GUILD_SCHEDULED_EVENTS": 1 << 16,
    "AUTO_MODERATION_CONFIGURATION": 1 << 20,
    "AUTO_MODERATION_EXECUTION": 1 << 21,
    "GUILD_MESSAGE_POLLS": 1 << 24,
    "DIRECT_MESSAGE_POLLS": 1 << 25,
}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class RelaySettings:
    bot_token: str
    mux_public_url: str
    relay_secret: str
    api_base_url: str = DEFAULT_API_BASE_URL
    intents: int = sum(INTENT_BITS[name] for name in DEFAULT_INTENTS.split(","))
    spool_dir: Path = Path(".relay-spool")
    spool_max_events: int = 10000
    health_host: str = "127.0.0.1"
    health_port: int = 18892
    health_grace_sec: float = 60.0
    retry_base_delay_sec: float = 1.0
    retry_max_delay_sec: float = 60.0
    post_timeout_sec: float = 10.0
    concurrency: int = 4
    log_level: str = "INFO"

    @property
    def webhook_url(self) -> str:
        return self.mux_public_url.rstrip("/") + "/v1/webhooks/discord/gateway"

    def __repr__(self) -> str:  # the token and the secret never reach a log line
        return f"RelaySettings(webhook_url={self.webhook_url!r}, api_base_url={self.api_base_url!r})"


def parse_intents(value: str) -> int:
    """`GUILDS,GUILD_MESSAGES` (names joined by `,` or `|`) or a decimal bit field."""
    text = value.strip()
    if text.isdigit():
        return int(text)
    bits = 0
    for name in filter(None, (part.strip().upper() for part in re.split(r"[,|\s]+", text))):
        if name not in INTENT_BITS:
            raise ConfigError(f"MUX_RELAY_INTENTS: unknown intent {name!r} (known: {', '.join(INTENT_BITS)})")
        bits |= INTENT_BITS[name]
    if not bits:
        raise ConfigError("MUX_RELAY_INTENTS is empty")
    return bits


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float, integer: bool) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a {'whole ' if integer else ''}number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, got {raw!r}")
    return value


def load(env: Mapping[str, str] | None = None) -> RelaySettings:
    """Read the settings; ConfigError names the first variable that is missing or malformed."""
    env = os.environ if env is None else env
    required = {}
    for name in ("DISCORD_BOT_TOKEN", "MUX_PUBLIC_URL", "MUX_DISCORD_RELAY_SECRET"):
        value = env.get(name, "").strip()
        if not value:
            raise ConfigError(f"{name} is required by the Discord gateway relay")
        required[name] = value
    public_url = required["MUX_PUBLIC_URL"]
    if not re.match(r"^https?://[^/\s]+", public_url):
        raise ConfigError(f"MUX_PUBLIC_URL must be an http(s) URL, got {public_url!r}")
    api_base = env.get("MUX_DISCORD_API_BASE_URL", "").strip() or DEFAULT_API_BASE_URL
    if not re.match(r"^https?://[^/\s]+", api_base):
        raise ConfigError(f"MUX_DISCORD_API_BASE_URL must be an http(s) URL, got {api_base!r}")
    base_delay = _number(env, "MUX_RELAY_RETRY_BASE_DELAY_SEC", 1.0, minimum=0.001, integer=False)
    max_delay = _number(env, "MUX_RELAY_RETRY_MAX_DELAY_SEC", 60.0, minimum=0.001, integer=False)
    if max_delay < base_delay:
        raise ConfigError("MUX_RELAY_RETRY_MAX_DELAY_SEC must not be below MUX_RELAY_RETRY_BASE_DELAY_SEC")
    return RelaySettings(
        bot_token=required["DISCORD_BOT_TOKEN"],
        mux_public_url=public_url,
        relay_secret=required["MUX_DISCORD_RELAY_SECRET"],
        api_base_url=api_base.rstrip("/"),
        intents=parse_intents(env.get("MUX_RELAY_INTENTS", "") or DEFAULT_INTENTS),
        spool_dir=Path(env.get("MUX_RELAY_SPOOL_DIR", "").strip() or ".relay-spool"),
        spool_max_events=int(_number(env, "MUX_RELAY_SPOOL_MAX_EVENTS", 10000, minimum=1, integer=True)),
        health_host=env.get("MUX_RELAY_HEALTH_HOST", "").strip() or "127.0.0.1",
        health_port=int(_number(env, "MUX_RELAY_HEALTH_PORT", 18892, minimum=0, integer=True)),
        health_grace_sec=_number(env, "MUX_RELAY_HEALTH_GRACE_SEC", 60.0, minimum=0, integer=False),
        retry_base_delay_sec=base_delay,
        retry_max_delay_sec=max_delay,
        post_timeout_sec=_number(env, "MUX_RELAY_POST_TIMEOUT_SEC", 10.0, minimum=0.1, integer=False),
        concurrency=int(_number(env, "MUX_RELAY_CONCURRENCY", 4, minimum=1, integer=True)),
        log_level=_log_level(env.get("MUX_RELAY_LOG_LEVEL", "")),
    )


def _log_level(raw: str) -> str:
    level = raw.strip().upper() or "INFO"
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"MUX_RELAY_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {raw!r}")
    return level
