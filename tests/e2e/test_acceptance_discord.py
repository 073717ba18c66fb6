"""The four acceptance checks (CONTRACT §12) for Discord over real HTTP against the real local stack
(`python -m local`), through both entry paths: interactions signed with the RFC 8032 test key, as Discord signs
them, and gateway MESSAGE_CREATE dispatches signed with the relay HMAC, as the relay posts them. Fakes on
127.0.0.1: the Discord REST API (tests/fakes/discord_server.py) and the tenant's OpenClaw (its handler rules).

Also: a tampered interaction → 401 and nothing queued (Discord probes this), and after unbind nothing from the
route is forwarded (a later command on the same route, answered by the mux, proves the earlier message was
processed: one FIFO group per channel).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.discord_support import (
    GATEWAY,
    INTERACTIONS,
    command,
    fixture,
    gateway_message,
    interaction_headers,
    relay_headers,
)
from tests.fakes.discord_server import CHANNEL_ID, DM_CHANNEL_ID, GUILD_ID, USER_ID, FakeDiscord
from tests.fakes.openclaw_server import FakeOpenClaw
from tests.localstack import LocalStack, wait_until

ADMIN = "e2e-admin-token-0123456789"
KEY = "e2e-dc-tenant-key-0123456789abcdefghijkl"
PAIRED = "Paired successfully. You can chat now."
HINT = "This chat is not paired yet. Open your dashboard and use a new pairing link."


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeDiscord, FakeOpenClaw]]:
    with FakeDiscord() as discord, FakeOpenClaw(KEY) as openclaw:
        discord.fixture_world()
        yield discord, openclaw


@pytest.fixture(scope="module")
def stack(fakes: tuple[FakeDiscord, FakeOpenClaw]) -> Iterator[LocalStack]:
    discord, _ = fakes
    with LocalStack({"MUX_ADMIN_TOKEN": ADMIN, **discord.env()}) as running:
        yield running


def tenant(method: str, stack: LocalStack, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, stack.url + path, json=body, headers={"Authorization": f"Bearer {KEY}"},
                            timeout=10)


def interaction(stack: LocalStack, discord: FakeDiscord, name: str, options: dict[str, Any] | None = None,
                **kw: Any) -> tuple[requests.Response, str]:
    """A slash command as Discord sends it (signed now); the webhook's answer and the interaction token."""
    ix = discord.new_interaction(CHANNEL_ID if kw.get("guild") else DM_CHANNEL_ID)
    discord.acknowledge(ix, 5)  # Discord's record of the answer the webhook is about to give
    raw = json.dumps(command(name, options, interaction_id=ix.id, token=ix.token, **kw)).encode()
    return requests.post(stack.url + INTERACTIONS, data=raw, headers=interaction_headers(raw), timeout=10), ix.token


def relay(stack: LocalStack, body: dict[str, Any]) -> requests.Response:
    raw = json.dumps(body).encode()
    return requests.post(stack.url + GATEWAY, data=raw, headers=relay_headers(raw), timeout=10)


def original(discord: FakeDiscord, token: str) -> str | None:
    """What the mux last put into an interaction's @original (the deferred placeholder's replacement)."""
    edits = [c for c in discord.calls("PATCH /webhooks/{app}/{token}/messages/{message}") if token in c.path and c.ok]
    return str(edits[-1].body["content"]) if edits else None


def posts_in(discord: FakeDiscord, channel_id: str) -> list[str]:
    calls = discord.calls("POST /channels/{channel}/messages")
    return [str(c.body.get("content")) for c in calls if c.params["channel"] == channel_id and c.ok]


def inbound_depth(stack: LocalStack) -> int:
    health = requests.get(stack.url + "/v1/admin/health", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    queue = health.json()["queues"]["inbound"]
    return int(queue.get("visible", 0)) + int(queue.get("inFlight", 0))


def send(stack: LocalStack, session_key: str, text: str) -> requests.Response:
    return tenant("POST", stack, "/v1/mux/outbound/send", {"channel": "discord", "sessionKey": session_key,
                                                           "text": text})


def test_discord_acceptance_through_interactions_and_the_gateway_relay(
    stack: LocalStack, fakes: tuple[FakeDiscord, FakeOpenClaw]
) -> None:
    discord, openclaw = fakes
    assert stack.banner("discord") == "enabled,"  # the local stack serves Discord when its variables are set
    boot = requests.post(
        stack.url + "/v1/admin/tenants/bootstrap",
        json={"tenantId": "acme", "apiKey": KEY, "inboundUrl": openclaw.url, "inboundTimeoutMs": 5000},
        headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    assert boot.status_code == 200, boot.text
    ping = fixture("signed_request_ping.json")["raw_body"].encode()
    pong = requests.post(stack.url + INTERACTIONS, data=ping, headers=interaction_headers(ping), timeout=10)
    assert (pong.status_code, pong.json()) == (200, {"type": 1})
    dm_session, channel_session = f"agent:main:discord:direct:{USER_ID}", f"agent:main:discord:channel:{CHANNEL_ID}"

    # 2. Pairing, both ways: /pair in the DM (interactions), the bare token in a guild channel (the relay).
    token = tenant("POST", stack, "/v1/pairings/token", {"channel": "discord"}).json()["token"]
    answer, ix_token = interaction(stack, discord, "pair", {"token": token})
    assert (answer.status_code, answer.json()) == (200, {"type": 5, "data": {"flags": 64}})
    wait_until(lambda: original(discord, ix_token) == PAIRED, what="the /pair answer in @original")
    token = tenant("POST", stack, "/v1/pairings/token", {"channel": "discord"}).json()["token"]
    assert relay(stack, gateway_message(f"our token: {token}", guild=True)).json() == {"ok": True}
    wait_until(lambda: posts_in(discord, CHANNEL_ID) == [PAIRED], what="the pairing notice in the channel")
    items = tenant("GET", stack, "/v1/pairings").json()["items"]
    assert sorted((i["routeKey"], i["sessionKeys"][0]) for i in items) == [
        (f"discord:default:dm:user:{USER_ID}", dm_session),
        (f"discord:default:guild:{GUILD_ID}:channel:{CHANNEL_ID}", channel_session)]

    # A tampered interaction: 401, nothing queued (and, below, never forwarded).
    tampered = fixture("signed_request_tampered.json")
    refused = requests.post(stack.url + INTERACTIONS, data=tampered["raw_body"].encode(), headers=tampered["headers"],
                            timeout=10)
    assert refused.status_code == 401 and refused.json()["code"] == "UNAUTHORIZED"
    genuine = json.dumps(command("ask", {"prompt": "nice"})).encode()
    altered = genuine.replace(b"nice", b"evil")
    assert requests.post(stack.url + INTERACTIONS, data=altered, headers=interaction_headers(genuine),
                         timeout=10).status_code == 401
    assert inbound_depth(stack) == 0

    # 3. Inbound: /ask (interactions) and a channel message (relay) reach the tenant's OpenClaw.
    answer, ask_token = interaction(stack, discord, "ask", {"prompt": "Draft a polite reply"})
    assert answer.json() == {"type": 5}
    assert relay(stack, gateway_message("summarise the release thread", guild=True)).json() == {"ok": True}
    assert openclaw.wait_for(lambda got: len(got) == 2)
    # The worker records what it forwarded (the /ask's interaction, which the reply edits) right after the forward,
    # in the dedupe write: a reply racing that write finds no interaction yet (a known gap, in the closing note).
    # OpenClaw answers later than that; so does this test, once the worker is done with both messages.
    wait_until(lambda: inbound_depth(stack) == 0, what="the worker to finish both messages")
    got = {e["body"]: e for e in openclaw.received}
    assert (got["Draft a polite reply"]["sessionKey"], got["Draft a polite reply"]["event"]["kind"]) == (
        dm_session, "command")
    assert (got["summarise the release thread"]["sessionKey"], got["summarise the release thread"]["to"]) == (
        channel_session, f"channel:{CHANNEL_ID}")
    assert openclaw.refused == [] and all(e["accountId"] == "mux" for e in openclaw.received)

    # 1. Outbound: OpenClaw's answers reach both chats (the /ask placeholder, and the channel with the bot token).
    reply = send(stack, dm_session, "Here is a draft")
    assert reply.status_code == 200, reply.text
    assert reply.json()["messageId"]
    wait_until(lambda: original(discord, ask_token) == "Here is a draft", what="the reply in the /ask @original")
    reply = send(stack, channel_session, "Release 42: three fixes")
    assert reply.status_code == 200, reply.text
    assert posts_in(discord, CHANNEL_ID)[-1] == "Release 42: three fixes"

    # 4. Unbind both: nothing from those routes is forwarded any more.
    for item in tenant("GET", stack, "/v1/pairings").json()["items"]:
        assert tenant("POST", stack, "/v1/pairings/unbind", {"bindingId": item["bindingId"]}).status_code == 200
    assert relay(stack, gateway_message("anyone there?", guild=True)).status_code == 200
    assert relay(stack, gateway_message("!bot_status", guild=True)).status_code == 200  # same channel, after it
    wait_until(lambda: posts_in(discord, CHANNEL_ID)[-1].startswith("Status: not paired."), what="the status answer")
    answer, late_token = interaction(stack, discord, "ask", {"prompt": "still there?"})
    assert answer.status_code == 200
    wait_until(lambda: original(discord, late_token) == HINT, what="the unpaired hint in @original")
    assert len(openclaw.received) == 2
    assert "dci:1516365047398531074" not in {e["eventId"] for e in openclaw.received}  # the tampered one
