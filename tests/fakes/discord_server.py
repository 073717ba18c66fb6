"""A fake Discord REST API (v10) on loopback for the tests: the stand-in of muxctl/discord_rest.py (Discord's
request rules, bot-token auth, interaction tokens valid 15 minutes, rate limits as Discord answers them), plus
fixtures and helpers.

Usage::

    with FakeDiscord() as dc:                        # bot token BOT_TOKEN, base URL dc.base_url
        configure(**dc.env())                        # Discord enabled against it
        dc.add_channel(CHANNEL_ID, guild_id=GUILD_ID)
        dm = dc.add_dm(USER_ID)                      # the DM channel with a user
        ix = dc.new_interaction(dm); dc.acknowledge(ix)   # as the mux's webhook answered it (type 5)
        dc.throttle(0.428, route="POST /channels/{channel}/messages")
        dc.fail(load("error_50007.json"), status=403)
        assert dc.sent()[0]["content"] == "hi"
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from muxctl.discord_rest import Call, Interaction, error_body, form_error, rate_limited
from muxctl.discord_rest import FakeDiscord as _Stand

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "discord"
BOT_TOKEN = "MTI5OTkzODk2MDk5ODUzMTA3OQ.fake.discord-bot-token-not-real"
APPLICATION_ID = "1299938960998531079"
# RFC 8032 test key 1 (the fixtures are signed with it): public key, and the private seed for signing tests.
PUBLIC_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
PRIVATE_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RELAY_SECRET = "fixture-relay-secret-not-real-0123456789"
USER_ID = "412345678901234567"
DM_CHANNEL_ID = "1320910480998531083"
GUILD_ID = "1174109840998531075"
CHANNEL_ID = "1174109843095683076"

__all__ = [
    "APPLICATION_ID", "BOT_TOKEN", "CHANNEL_ID", "DM_CHANNEL_ID", "GUILD_ID", "PUBLIC_KEY", "PRIVATE_SEED",
    "RELAY_SECRET", "USER_ID", "Call", "FakeDiscord", "Interaction", "error_body", "form_error", "load",
    "rate_limited",
]


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class FakeDiscord(_Stand):
    def __init__(self, *, bot_token: str | None = BOT_TOKEN, gateway_url: str = "ws://127.0.0.1:9/") -> None:
        super().__init__(bot_token=bot_token, application_id=APPLICATION_ID, gateway_url=gateway_url)

    def env(self) -> dict[str, str]:
        """Settings that enable Discord against this fake."""
        return {
            "DISCORD_BOT_TOKEN": self.bot_token or BOT_TOKEN,
            "DISCORD_APPLICATION_ID": APPLICATION_ID,
            "DISCORD_PUBLIC_KEY": PUBLIC_KEY,
            "MUX_DISCORD_RELAY_SECRET": RELAY_SECRET,
            "MUX_DISCORD_API_BASE_URL": self.base_url,
        }

    def fixture_world(self) -> FakeDiscord:
        """The fixtures' guild channel and Carol's DM channel."""
        self.add_channel(CHANNEL_ID, guild_id=GUILD_ID, name="general")
        self.add_dm(USER_ID, DM_CHANNEL_ID)
        return self
