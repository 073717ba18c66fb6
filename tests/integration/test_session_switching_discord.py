"""Session switching on Discord (the channel-neutral /bot_sessions and /bot_use of services/sessions.py, reached
through Discord's slash commands and through typed commands relayed from the gateway)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.discord_support import gateway_message
from tests.fakes.discord_server import DM_CHANNEL_ID, USER_ID, FakeDiscord
from tests.fakes.openclaw_server import FakeOpenClaw
from tests.integration.test_inbound_discord import THREAD_ID, auth, bot_posts, new_token, relay, slash

MAIN = f"agent:main:discord:direct:{USER_ID}"
RESEARCH = f"agent:research:discord:direct:{USER_ID}"


@pytest.fixture
def dc(configure: Callable[..., None]) -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake:
        fake.fixture_world()
        configure(**fake.env())
        yield fake


@pytest.fixture
def tenant(make_tenant: Any) -> Iterator[tuple[str, FakeOpenClaw]]:
    with FakeOpenClaw() as openclaw:
        _, key = make_tenant("acme", inbound_url=openclaw.url, agents=["research"])
        openclaw.rules.token = key
        yield key, openclaw


def send(client: Any, key: str, session_key: str, text: str) -> tuple[int, dict[str, Any]]:
    resp = client.http.post("/v1/mux/outbound/send", headers=auth(key),
                            body=json.dumps({"channel": "discord", "sessionKey": session_key, "text": text}))
    body: dict[str, Any] = json.loads(resp.body)
    return resp.status_code, body


def test_discord_dm_lists_and_switches_by_slash_command_and_both_directions_follow(
    client: Any, sqs_event: Any, dc: FakeDiscord, tenant: tuple[str, FakeOpenClaw]
) -> None:
    key, openclaw = tenant
    assert slash(client, sqs_event, dc, "pair", {"token": new_token(client, key)})[1] == (
        "Paired successfully. You can chat now.")

    answer, listing = slash(client, sqs_event, dc, "bot_sessions")
    assert answer == {"type": 5, "data": {"flags": 64}}, "control commands answer ephemerally"
    assert listing is not None and MAIN in listing and RESEARCH in listing and "(current)" in listing

    _answer, switched = slash(client, sqs_event, dc, "bot_use", {"session": "research"})
    assert switched is not None and RESEARCH in switched, switched

    relay(client, sqs_event, gateway_message("after the switch"))
    assert [(e["body"], e["sessionKey"]) for e in openclaw.received] == [("after the switch", RESEARCH)]
    status, body = send(client, key, RESEARCH, "from the research agent")
    assert status == 200, body
    assert "from the research agent" in bot_posts(dc, DM_CHANNEL_ID)
    status, body = send(client, key, MAIN, "from the old session")
    assert (status, body["code"]) == (403, "ROUTE_NOT_BOUND")
    assert "from the old session" not in bot_posts(dc, DM_CHANNEL_ID)

    # Back by number, typed in the DM and relayed from the gateway this time.
    _answer, listing = slash(client, sqs_event, dc, "bot_sessions")
    assert listing is not None
    number = next(line.split(".")[0].strip() for line in listing.splitlines() if MAIN in line)
    relay(client, sqs_event, gateway_message(f"/bot_use {number}"))
    relay(client, sqs_event, gateway_message("back on main"))
    assert (openclaw.received[-1]["body"], openclaw.received[-1]["sessionKey"]) == ("back on main", MAIN)
    assert all(e["body"] != f"/bot_use {number}" for e in openclaw.received), "control commands are never forwarded"


def test_discord_guild_member_cannot_switch_and_another_chats_session_is_refused(
    client: Any, sqs_event: Any, dc: FakeDiscord, tenant: tuple[str, FakeOpenClaw]
) -> None:
    from tests.discord_support import ADMIN_PERMISSIONS, MEMBER_PERMISSIONS
    from tests.fakes.discord_server import CHANNEL_ID

    key, openclaw = tenant
    slash(client, sqs_event, dc, "pair", {"token": new_token(client, key)})  # the DM: MAIN is live there
    relay(client, sqs_event, gateway_message(new_token(client, key), guild=True))  # a guild channel
    own = f"agent:main:discord:channel:{CHANNEL_ID}"
    _answer, refused = slash(client, sqs_event, dc, "bot_use", {"session": "research"}, guild=True,
                             permissions=MEMBER_PERMISSIONS)
    assert refused is not None and "admin" in refused.lower(), refused
    _answer, listing = slash(client, sqs_event, dc, "bot_sessions", guild=True, permissions=ADMIN_PERMISSIONS)
    assert listing is not None and own in listing and MAIN not in listing, "another chat's session is not offered"
    _answer, other = slash(client, sqs_event, dc, "bot_use", {"session": MAIN}, guild=True,
                           permissions=ADMIN_PERMISSIONS)
    assert other is not None and other.startswith(f"{MAIN} is not a session this chat can use."), other
    relay(client, sqs_event, gateway_message("still mine", guild=True))
    assert (openclaw.received[-1]["body"], openclaw.received[-1]["sessionKey"]) == ("still mine", own)
    status, _body = send(client, key, MAIN, "to the DM only")
    assert status == 200 and "to the DM only" in bot_posts(dc, DM_CHANNEL_ID)
    assert "to the DM only" not in bot_posts(dc, CHANNEL_ID)
    assert THREAD_ID  # the inbound tests' world (a thread under the channel) is the same fake
