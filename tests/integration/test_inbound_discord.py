"""Discord inbound in-process: both webhooks → SQS (moto) → worker → fake OpenClaw / fake Discord REST.

The acceptance checks over real HTTP are tests/e2e/test_acceptance_discord.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.discord_support import (
    ADMIN_PERMISSIONS,
    MEMBER_PERMISSIONS,
    command,
    component,
    fixture,
    gateway_message,
    interaction_headers,
    post_gateway,
    post_interaction,
    relay_headers,
)
from tests.fakes.discord_server import CHANNEL_ID, DM_CHANNEL_ID, GUILD_ID, USER_ID, FakeDiscord
from tests.fakes.openclaw_server import FakeOpenClaw
from tests.inbound_support import drain, queue_depth
from tests.integration.test_no_secrets_in_logs import every_logger  # noqa: F401 - the fixture, by name

PAIRED = "Paired successfully. You can chat now."
INVALID = "Pairing link is invalid or expired. Request a new link from your dashboard."
HINT = "This chat is not paired yet. Open your dashboard and use a new pairing link."
THREAD_ID = "1300000000000000001"
DM_ROUTE = f"discord:default:dm:user:{USER_ID}"
CHANNEL_ROUTE = f"discord:default:guild:{GUILD_ID}:channel:{CHANNEL_ID}"


@pytest.fixture
def dc(configure: Callable[..., None]) -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake:
        fake.fixture_world()
        fake.add_channel(THREAD_ID, guild_id=GUILD_ID, type=11, parent_id=CHANNEL_ID, name="release-42")
        configure(**fake.env())
        yield fake


@pytest.fixture
def tenant(make_tenant: Any) -> Iterator[tuple[str, FakeOpenClaw]]:
    with FakeOpenClaw() as openclaw:
        _, key = make_tenant("acme", inbound_url=openclaw.url)
        openclaw.rules.token = key
        yield key, openclaw


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def new_token(client: Any, key: str) -> str:
    resp = client.http.post("/v1/pairings/token", headers=auth(key), body=json.dumps({"channel": "discord"}))
    assert resp.status_code == 200, resp.body
    data = json.loads(resp.body)
    assert data["startCommand"] is None and f"/pair token:{data['token']}" in data["instructions"]
    return str(data["token"])


def pairings(client: Any, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(client.http.get("/v1/pairings", headers=auth(key)).body)["items"]
    return items


def slash(client: Any, sqs_event: Any, dc: FakeDiscord, name: str, options: dict[str, Any] | None = None,
          **kw: Any) -> tuple[dict[str, Any], str | None]:
    """A slash command as Discord sends it; (the webhook's answer, the text the worker put into @original)."""
    channel = kw.get("channel", {}).get("id") or (CHANNEL_ID if kw.get("guild") else DM_CHANNEL_ID)
    ix = dc.new_interaction(channel)
    resp = post_interaction(client, command(name, options, interaction_id=ix.id, token=ix.token, **kw))
    assert resp.status_code == 200, resp.body
    dc.acknowledge(ix, json.loads(resp.body)["type"])
    drain(sqs_event)
    edits = [c for c in dc.calls("PATCH /webhooks/{app}/{token}/messages/{message}") if ix.token in c.path]
    return json.loads(resp.body), (edits[-1].body["content"] if edits else None)


def relay(client: Any, sqs_event: Any, body: dict[str, Any]) -> dict[str, Any]:
    resp = post_gateway(client, body)
    assert resp.status_code == 200, resp.body
    drain(sqs_event)
    answer: dict[str, Any] = json.loads(resp.body)
    return answer


def bot_posts(dc: FakeDiscord, channel_id: str) -> list[str]:
    calls = dc.calls("POST /channels/{channel}/messages")
    return [c.body["content"] for c in calls if c.params["channel"] == channel_id]


def test_ping_pong_and_bad_signatures_are_401_with_nothing_queued(client: Any, dc: FakeDiscord, aws_env: Any) -> None:
    ping = fixture("signed_request_ping.json")["raw_body"].encode()
    resp = post_interaction(client, ping)
    assert (resp.status_code, json.loads(resp.body)) == (200, {"type": 1})
    case = fixture("signed_request_tampered.json")
    for headers in (
        case["headers"],  # the tampered body (and a stale timestamp)
        interaction_headers(ping, "1781596400"),  # genuine, but replayed months later
        {"Content-Type": "application/json"},
        {**interaction_headers(ping), "X-Signature-Ed25519": "00" * 64},
    ):
        bad = post_interaction(client, case["raw_body"].encode() if headers is case["headers"] else ping, headers)
        assert bad.status_code == 401 and json.loads(bad.body)["code"] == "UNAUTHORIZED"
    assert queue_depth(aws_env.inbound_queue_url) == 0


def test_discord_off_is_404_and_no_relay_secret_is_503(client: Any, configure: Any, dc: FakeDiscord) -> None:
    configure(MUX_DISCORD_RELAY_SECRET=None)
    body = gateway_message("hi")
    resp = post_gateway(client, body)
    assert resp.status_code == 503 and json.loads(resp.body)["code"] == "NOT_CONFIGURED"
    configure(DISCORD_BOT_TOKEN=None)
    assert json.loads(post_gateway(client, body).body)["code"] == "CHANNEL_DISABLED"
    assert post_interaction(client, fixture("ping.json")).status_code == 404


def test_pair_by_slash_command_then_ask_and_dm_messages_are_forwarded(
    client: Any, sqs_event: Any, dc: FakeDiscord, tenant: tuple[str, FakeOpenClaw]
) -> None:
    key, openclaw = tenant
    answer, notice = slash(client, sqs_event, dc, "pair", {"token": new_token(client, key)})
    assert answer == {"type": 5, "data": {"flags": 64}} and notice == PAIRED
    assert [(i["routeKey"], i["scope"], i["sessionKeys"], i["userName"]) for i in pairings(client, key)] == [
        (DM_ROUTE, "dm", [f"agent:main:discord:direct:{USER_ID}"], "Carol")]

    answer, notice = slash(client, sqs_event, dc, "ask", {"prompt": "  what's up?  "})
    assert answer == {"type": 5} and notice is None  # OpenClaw's reply replaces the placeholder
    relay(client, sqs_event, gateway_message("and hello from the DM"))
    assert [(e["event"]["kind"], e["body"], e["sessionKey"], e["to"]) for e in openclaw.received] == [
        ("command", "  what's up?  ", f"agent:main:discord:direct:{USER_ID}", f"channel:{DM_CHANNEL_ID}"),
        ("message", "and hello from the DM", f"agent:main:discord:direct:{USER_ID}", f"channel:{DM_CHANNEL_ID}")]
    assert openclaw.received[0]["eventId"].startswith("dci:") and openclaw.received[1]["eventId"].startswith("dc:")
    assert openclaw.refused == []

    # A button press: answered type 6 in the webhook, forwarded as a callback with the custom_id as body.
    resp = post_interaction(client, component("mux:model:fast"))
    assert json.loads(resp.body) == {"type": 6}
    drain(sqs_event)
    assert (openclaw.received[-1]["event"]["kind"], openclaw.received[-1]["body"]) == ("callback", "mux:model:fast")


def test_malformed_pair_token_and_unpaired_ask_get_notices(
    client: Any, sqs_event: Any, dc: FakeDiscord, tenant: tuple[str, FakeOpenClaw]
) -> None:
    assert slash(client, sqs_event, dc, "pair", {"token": "pair_7fQ2mZt4yR7pL1aVbN9cD3eF6gH0jK5x"})[1] == INVALID
    assert slash(client, sqs_event, dc, "ask", {"prompt": "hello?"}, guild=True)[1] == HINT
    assert tenant[1].received == []


def test_bare_token_pairs_a_guild_channel_threads_get_their_own_session(
    client: Any, sqs_event: Any, dc: FakeDiscord, tenant: tuple[str, FakeOpenClaw], make_tenant: Any
) -> None:
    key, openclaw = tenant
    token = new_token(client, key)
    assert relay(client, sqs_event, gateway_message(f"pairing {token}", guild=True)) == {"ok": True}
    assert bot_posts(dc, CHANNEL_ID) == [PAIRED]
    [item] = pairings(client, key)
    assert (item["routeKey"], item["scope"], item["sessionKeys"], item["chatTitle"]) == (
        CHANNEL_ROUTE, "channel", [f"agent:main:discord:channel:{CHANNEL_ID}"], "#general")

    relay(client, sqs_event, gateway_message("in the channel", guild=True))
    # The relay's message names only the thread (type from the fake's GET /channels/{id}).
    relay(client, sqs_event, gateway_message("in the thread", guild=True, channel_id=THREAD_ID, channel_type=11))
    assert [(e["body"], e["sessionKey"], e.get("threadId"), e["chatType"]) for e in openclaw.received] == [
        ("in the channel", f"agent:main:discord:channel:{CHANNEL_ID}", None, "group"),
        ("in the thread", f"agent:main:discord:channel:{THREAD_ID}", THREAD_ID, "group")]
    assert openclaw.received[1]["channelData"]["routeKey"] == CHANNEL_ROUTE

    # Another tenant's token cannot take the bound channel (from the channel or from its thread).
    _, other_key = make_tenant("other", inbound_url=openclaw.url)
    relay(client, sqs_event, gateway_message(new_token(client, other_key), guild=True))
    relay(client, sqs_event, gateway_message(new_token(client, other_key), guild=True, channel_id=THREAD_ID,
                                             channel_type=11))
    assert bot_posts(dc, CHANNEL_ID)[-1] == INVALID and bot_posts(dc, THREAD_ID)[-1] == INVALID
    assert pairings(client, other_key) == [] and len(pairings(client, key)) == 1
    assert len(openclaw.received) == 2


def test_relay_posts_bots_other_dispatches_service_messages_and_duplicates(
    client: Any, sqs_event: Any, dc: FakeDiscord, tenant: tuple[str, FakeOpenClaw], aws_env: Any
) -> None:
    key, openclaw = tenant
    relay(client, sqs_event, gateway_message(new_token(client, key), guild=True))
    ignored = {"ok": True, "ignored": True}
    assert relay(client, sqs_event, gateway_message("beep", guild=True, author={"id": "1", "bot": True})) == ignored
    assert relay(client, sqs_event, {"op": 0, "s": 9, "t": "TYPING_START", "d": {"channel_id": CHANNEL_ID}}) == ignored
    assert relay(client, sqs_event, gateway_message("", guild=True, type=7)) == ignored  # member joined
    assert relay(client, sqs_event, gateway_message("x", guild=True, author={"id": "oops"})) == ignored  # unusable
    assert queue_depth(aws_env.inbound_queue_url) == 0
    once = gateway_message("only once", guild=True)
    relay(client, sqs_event, once)
    relay(client, sqs_event, once)
    assert [e["body"] for e in openclaw.received] == ["only once"]
    # Stale, unsigned or wrongly signed relay posts: 401.
    raw = json.dumps(gateway_message("late", guild=True)).encode()
    for headers in (relay_headers(raw, "1781600000"), {"Content-Type": "application/json"},
                    relay_headers(raw, secret="not-the-relay-secret")):
        assert post_gateway(client, raw, headers).status_code == 401


def test_control_commands_in_a_guild_need_manage_permissions(
    client: Any, sqs_event: Any, dc: FakeDiscord, tenant: tuple[str, FakeOpenClaw]
) -> None:
    key, _ = tenant
    assert slash(client, sqs_event, dc, "pair", {"token": new_token(client, key)}, guild=True)[1] == PAIRED
    status = slash(client, sqs_event, dc, "bot_status", guild=True)[1]
    assert status is not None and status.startswith("Status: paired.") and CHANNEL_ROUTE in status
    denied = slash(client, sqs_event, dc, "bot_unpair", guild=True, permissions=MEMBER_PERMISSIONS)[1]
    assert denied == "Only chat administrators can do that." and len(pairings(client, key)) == 1
    done = slash(client, sqs_event, dc, "bot_unpair", guild=True, permissions=ADMIN_PERMISSIONS)[1]
    assert done is not None and done.startswith("This chat is no longer paired") and pairings(client, key) == []


def test_unusable_interactions_are_answered_and_not_queued(client: Any, dc: FakeDiscord, aws_env: Any) -> None:
    for body in ({**fixture("command_dm.json"), "data": {"name": "no_such_command"}},
                 {**fixture("command_dm.json"), "user": {"id": "not-a-snowflake"}}):
        resp = post_interaction(client, body)
        answer = json.loads(resp.body)
        assert resp.status_code == 200 and answer["type"] == 4 and answer["data"]["flags"] == 64
    assert queue_depth(aws_env.inbound_queue_url) == 0


def test_pairing_inside_a_thread_binds_its_parent_channel(
    client: Any, sqs_event: Any, dc: FakeDiscord, tenant: tuple[str, FakeOpenClaw]
) -> None:
    key, openclaw = tenant
    relay(client, sqs_event, gateway_message(new_token(client, key), guild=True, channel_id=THREAD_ID,
                                             channel_type=11))
    assert bot_posts(dc, THREAD_ID) == [PAIRED]
    [item] = pairings(client, key)
    assert (item["routeKey"], item["sessionKeys"], item["chatTitle"]) == (
        CHANNEL_ROUTE, [f"agent:main:discord:channel:{CHANNEL_ID}"], "#general")
    relay(client, sqs_event, gateway_message("in the parent", guild=True))
    relay(client, sqs_event, gateway_message("in the thread", guild=True, channel_id=THREAD_ID, channel_type=11))
    assert [(e["body"], e["sessionKey"]) for e in openclaw.received] == [
        ("in the parent", f"agent:main:discord:channel:{CHANNEL_ID}"),
        ("in the thread", f"agent:main:discord:channel:{THREAD_ID}")]


def test_interaction_tokens_bot_token_and_message_text_stay_out_of_logs(
    client: Any, sqs_event: Any, dc: FakeDiscord, tenant: tuple[str, FakeOpenClaw], configure: Any,
    capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest,
) -> None:
    from chalicelib.observability import logger

    logs = request.getfixturevalue("every_logger")  # every record of every logger, at DEBUG
    from tests.fakes.discord_server import BOT_TOKEN, RELAY_SECRET

    key, openclaw = tenant
    previous = logger().log_level
    logger().setLevel("DEBUG")
    text = "my card number is 4111 1111 1111 1111"
    try:
        _, notice = slash(client, sqs_event, dc, "pair", {"token": new_token(client, key)})
        assert notice == PAIRED
        openclaw.fail_next(1, 503)
        ask = command("ask", {"prompt": text}, token="ix-token-never-logged-0123456789")
        post_interaction(client, ask)  # retried, then delivered; the fake never saw this interaction
        drain(sqs_event)
        post_interaction(client, command("bot_status", token="ix-token-of-a-failed-notice-0123"))  # PATCH 401
        dc.fail({"message": "Missing Access", "code": 50001}, status=403, times=3)
        relay(client, sqs_event, gateway_message(text, guild=True))  # unpaired channel: ignored silently
        relay(client, sqs_event, gateway_message("/bot_help", guild=True))  # the notice is refused (403)
        post_gateway(client, gateway_message(text), relay_headers(b"{}"))  # forged
        drain(sqs_event)
        assert openclaw.bodies() == [text]
    finally:
        logger().setLevel(previous)
    captured = capsys.readouterr()
    output = "\n".join([logs.getvalue(), captured.out, captured.err])
    assert "will retry" in output and "notice not delivered" in output  # the failure paths did log
    for secret in ("ix-token-never-logged", "ix-token-of-a-failed-notice", BOT_TOKEN, RELAY_SECRET, key,
                   "4111 1111"):
        assert secret not in output, f"{secret[:6]}… leaked into the logs"
