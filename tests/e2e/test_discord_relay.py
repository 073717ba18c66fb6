"""The real gateway relay (`python -m relay`) posting into the real local stack (`python -m local`): a chat is paired
by a token typed in a guild channel, then its messages reach the tenant's OpenClaw; the bot's own messages (the
pairing notice as the gateway echoes it) never do. (Outages, restarts and resumes are tests/relay's, against a fake mux
that checks the same HMAC.)
Fakes on 127.0.0.1: the Discord gateway the relay holds, the Discord REST API the mux calls, the tenant's OpenClaw.
"""

from __future__ import annotations

from pathlib import Path

import requests

from tests.fakes.discord_gateway import FakeGateway
from tests.fakes.discord_server import (
    APPLICATION_ID,
    BOT_TOKEN,
    CHANNEL_ID,
    GUILD_ID,
    RELAY_SECRET,
    USER_ID,
    FakeDiscord,
)
from tests.fakes.openclaw_server import FakeOpenClaw
from tests.localstack import LocalStack, free_port, wait_until
from tests.relay.support import Relay

ADMIN = "e2e-admin-token-relay-0123456789"
KEY = "e2e-relay-tenant-key-0123456789abcdefghij"
PAIRED = "Paired successfully. You can chat now."


def test_guild_chat_through_the_relay_into_the_local_stack(tmp_path: Path) -> None:
    port = free_port()
    stack_url = f"http://127.0.0.1:{port}"
    with FakeDiscord() as discord, FakeOpenClaw(KEY) as openclaw, \
            FakeGateway(token=BOT_TOKEN, bot_user_id=APPLICATION_ID) as gateway:
        discord.fixture_world()
        stack_env = {"MUX_ADMIN_TOKEN": ADMIN, **discord.env()}
        relay = Relay(mux_url=stack_url, api_url=gateway.api_url, spool_dir=tmp_path / "spool",
                      log_path=tmp_path / "relay.log",
                      extra={"DISCORD_BOT_TOKEN": BOT_TOKEN, "MUX_DISCORD_RELAY_SECRET": RELAY_SECRET})
        with LocalStack(stack_env, port=port) as stack, relay:
            boot = requests.post(stack.url + "/v1/admin/tenants/bootstrap",
                                 headers={"Authorization": f"Bearer {ADMIN}"},
                                 json={"tenantId": "acme", "apiKey": KEY, "inboundUrl": openclaw.url}, timeout=10)
            assert boot.status_code == 200, boot.text
            token = requests.post(stack.url + "/v1/pairings/token", json={"channel": "discord"},
                                  headers={"Authorization": f"Bearer {KEY}"}, timeout=10).json()["token"]
            wait_until(gateway.connected, timeout=10, what="the relay to IDENTIFY")

            gateway.message_create(channel_id=CHANNEL_ID, guild_id=GUILD_ID, author_id=USER_ID,
                                   content=f"our token: {token}")
            notices = lambda: [c.body.get("content") for c in discord.calls("POST /channels/{channel}/messages")  # noqa: E731
                               if c.params["channel"] == CHANNEL_ID and c.ok]
            wait_until(lambda: notices() == [PAIRED], timeout=20, what="the pairing notice in the channel")
            # Discord echoes the bot's own post on the gateway; the relay must not hand it back to the mux.
            gateway.message_create(channel_id=CHANNEL_ID, guild_id=GUILD_ID, author_id=APPLICATION_ID, content=PAIRED)
            gateway.message_create(channel_id=CHANNEL_ID, guild_id=GUILD_ID, author_id=USER_ID,
                                   content="summarise the release thread")
            assert openclaw.wait_for(lambda got: len(got) == 1, timeout=20)
            event = openclaw.received[0]
            assert (event["body"], event["sessionKey"]) == ("summarise the release thread",
                                                           f"agent:main:discord:channel:{CHANNEL_ID}")
            assert (relay.health() or (0, {}))[1]["skippedOwn"] == 1

        assert openclaw.refused == []
