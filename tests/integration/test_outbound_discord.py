"""POST /v1/mux/outbound/send and typing for Discord against the fake Discord REST API on loopback (moto for AWS).

Every test asserts what the fake Discord received (or that it received nothing) and the mux's answer.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest

from chalicelib.channels.discord import outbound
from chalicelib.models import Binding
from chalicelib.storage import bindings, messages, table
from tests.fakes.discord_server import (
    APPLICATION_ID,
    BOT_TOKEN,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    GUILD_ID,
    USER_ID,
    FakeDiscord,
)

KEY_1 = "tenant-one-key-0123456789abcdef"
KEY_2 = "tenant-two-key-0123456789abcdef"
SEND = "/v1/mux/outbound/send"
TYPING = "/v1/mux/outbound/typing"
POST_MESSAGE = "POST /channels/{channel}/messages"
DM_ROUTE = f"discord:default:dm:user:{USER_ID}"
DM_SESSION = f"agent:main:discord:direct:{USER_ID}"
GUILD_ROUTE = f"discord:default:guild:{GUILD_ID}:channel:{CHANNEL_ID}"
GUILD_SESSION = f"agent:main:discord:channel:{CHANNEL_ID}"
THREAD_ID = "1174109843095689999"
OTHER_GUILD_CHANNEL = "1399999999999999999"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture
def dc(configure: Any) -> Iterator[FakeDiscord]:
    outbound._dm_channels.clear()
    with FakeDiscord() as fake:
        fake.fixture_world()
        fake.add_channel(THREAD_ID, guild_id=GUILD_ID, type=11, parent_id=CHANNEL_ID)
        fake.add_channel(OTHER_GUILD_CHANNEL, guild_id="1388888888888888888")
        configure(**fake.env())
        yield fake
    outbound._dm_channels.clear()


@pytest.fixture
def tenants(make_tenant: Any, dc: FakeDiscord) -> None:
    make_tenant("t1", "http://127.0.0.1:9/v1/mux/inbound", KEY_1)


@pytest.fixture
def second_tenant(make_tenant: Any, tenants: None) -> None:
    make_tenant("t2", "http://127.0.0.1:9/v1/mux/inbound", KEY_2)


@pytest.fixture
def media() -> Iterator[str]:
    """A tenant's media host on loopback: /cat.png, /report (a PDF without extension), anything else 404."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return None

        def do_GET(self) -> None:  # noqa: N802
            found = {"/cat.png": (PNG, "image/png"), "/report": (b"%PDF-1.4 x", "application/pdf")}.get(self.path)
            if found is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", found[1])
            self.send_header("Content-Length", str(len(found[0])))
            self.end_headers()
            self.wfile.write(found[0])

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def bind(tenant_id: str, route: str, session_key: str, chat_id: str, scope: str) -> Binding:
    """Claim a Discord route for `tenant_id` (as pairing would)."""
    now = int(time.time() * 1000)
    token_hash = uuid.uuid4().hex
    bindings.put_token(token_hash, {"tenantId": tenant_id, "channel": "discord"}, now + 60_000)
    binding = Binding(binding_id=f"bind_{uuid.uuid4()}", tenant_id=tenant_id, channel="discord", scope=scope,
                      route_key=route, session_key=session_key, chat_id=chat_id, created_at_ms=now)
    return bindings.claim(token_hash=token_hash, channel="discord", binding=binding,
                          existing=bindings.get_route(route), now_ms=now)


def bind_dm(tenant_id: str = "t1", chat_id: str = DM_CHANNEL_ID) -> Binding:
    return bind(tenant_id, DM_ROUTE, DM_SESSION, chat_id, "dm")


def bind_guild(tenant_id: str = "t1") -> Binding:
    return bind(tenant_id, GUILD_ROUTE, GUILD_SESSION, CHANNEL_ID, "channel")


def post(client: Any, body: dict[str, Any], *, key: str = KEY_1, path: str = SEND,
         idem: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    if idem:
        headers["Idempotency-Key"] = idem
    resp = client.http.post(path, headers=headers, body=json.dumps(body))
    return resp.status_code, json.loads(resp.body)


def send(session_key: str = DM_SESSION, **fields: Any) -> dict[str, Any]:
    return {"channel": "discord", "sessionKey": session_key, **fields}


def forwarded(route: str, ref: str, *, typing_ref: str | None = None, age_ms: int = 0, tenant_id: str = "t1") -> None:
    """What the inbound pipeline writes when it forwards a message `ref` from `route`."""
    now = int(time.time() * 1000) - age_ms
    items = [messages.item(route, ref, tenant_id, now)]
    if typing_ref is not None:
        items.append(messages.latest_inbound_item(route, typing_ref, tenant_id, now))
    table.batch_put(items)


def posted(dc: FakeDiscord) -> list[Any]:
    return [c for c in dc.calls(POST_MESSAGE)]


# --- text -----------------------------------------------------------------------------------------
def test_text_goes_to_the_bound_dm_channel_with_the_bot_token(client: Any, tenants: None, dc: FakeDiscord) -> None:
    bind_dm()
    status, answer = post(client, send(text="Here is a draft", to=f"channel:{DM_CHANNEL_ID}"))
    assert status == 200, answer
    [call] = posted(dc)
    assert (call.params["channel"], call.token) == (DM_CHANNEL_ID, BOT_TOKEN)
    assert call.body == {"content": "Here is a draft", "allowed_mentions": {"parse": ["users"]}}
    mid = call.answer["id"]
    assert answer == {"ok": True, "messageId": mid, "providerMessageIds": [mid], "channelId": DM_CHANNEL_ID}
    assert messages.owns(DM_ROUTE, mid, "t1", int(time.time() * 1000))  # the tenant may act on it later


def test_long_text_is_split_at_2000_and_every_part_is_accepted(client: Any, tenants: None, dc: FakeDiscord) -> None:
    bind_guild()
    text = "a" * 1500 + "\n" + "b" * 1999 + " " + "c" * 700
    status, answer = post(client, send(GUILD_SESSION, text=text))
    assert status == 200, answer
    contents = [c.body["content"] for c in posted(dc)]
    assert contents == ["a" * 1500, "b" * 1999, "c" * 700] and all(c.ok for c in posted(dc))
    assert answer["providerMessageIds"] == [c.answer["id"] for c in posted(dc)]
    status, answer = post(client, send(GUILD_SESSION, text="x" * (20 * 2000 + 1)))
    assert (status, answer["code"]) == (400, "TEXT_TOO_LONG") and len(posted(dc)) == 3


def test_nothing_to_send_and_bad_raw_shapes_are_400_before_any_call(client: Any, tenants: None,
                                                                   dc: FakeDiscord) -> None:
    bind_dm()
    for body in (send(text="  "), send(raw={"discord": "x"}), send(raw={"discord": {"body": {}}}),
                 send(raw={"discord": {"body": {"embeds": [{}] * 11}}}), send(text="a", mediaUrl="file:///etc/passwd"),
                 send(raw={"discord": {"send": "x"}})):
        status, answer = post(client, body)
        assert (status, answer["code"]) == (400, "INVALID_REQUEST"), body
    assert dc.calls() == []


# --- raw ------------------------------------------------------------------------------------------
def test_raw_body_is_posted_verbatim_to_the_bound_channel(client: Any, tenants: None, dc: FakeDiscord) -> None:
    bind_guild()
    body = {"content": "hello", "embeds": [{"title": "Release", "description": "notes"}], "tts": False,
            "channel_id": OTHER_GUILD_CHANNEL}
    status, answer = post(client, send(GUILD_SESSION, text="ignored", raw={"discord": {"body": body}}))
    assert status == 200, answer
    [call] = posted(dc)
    assert call.params["channel"] == CHANNEL_ID
    assert call.body == {k: v for k, v in body.items() if k != "channel_id"}
    assert answer["channelId"] == CHANNEL_ID
    # content over 2,000 is refused like Discord's own 50035, before any call
    status, answer = post(client, send(GUILD_SESSION, raw={"discord": {"body": {"content": "x" * 2001}}}))
    assert (status, answer["code"]) == (400, "INVALID_REQUEST")
    assert answer["details"]["fields"] == ["raw.discord.body.content"] and len(dc.calls()) == 1


def test_raw_body_embeds_over_6000_characters_together_are_refused_before_any_call(
        client: Any, tenants: None, dc: FakeDiscord) -> None:
    bind_guild()
    embeds = [{"description": "d" * 3000}, {"description": "e" * 2000, "fields": [{"name": "n", "value": "v" * 1000}]}]
    status, answer = post(client, send(GUILD_SESSION, raw={"discord": {"body": {"embeds": embeds}}}))
    assert (status, answer["code"]) == (400, "INVALID_REQUEST"), answer
    assert answer["details"]["fields"] == ["raw.discord.body.embeds"] and posted(dc) == []
    embeds[1]["fields"][0]["value"] = "v" * 999  # 6000 exactly: Discord takes it
    status, answer = post(client, send(GUILD_SESSION, raw={"discord": {"body": {"embeds": embeds}}}))
    assert status == 200, answer


def test_raw_send_with_media_uploads_an_attachment_captioned_and_replies_to_own_messages(
        client: Any, tenants: None, dc: FakeDiscord, media: str) -> None:
    bind_dm()
    theirs = dc.add_message(DM_CHANNEL_ID, "send me the cat")
    forwarded(DM_ROUTE, theirs)
    raw = {"discord": {"send": {"text": "Here it is", "mediaUrl": f"{media}/cat.png", "replyTo": theirs}}}
    status, answer = post(client, send(text="ignored", raw=raw))
    assert status == 200, answer
    [call] = posted(dc)
    assert call.files == [{"name": "files[0]", "filename": "cat.png", "content_type": "image/png", "size": len(PNG)}]
    assert call.body["content"] == "Here it is" and call.body["attachments"] == [{"id": 0, "filename": "cat.png"}]
    assert call.body["message_reference"] == {"message_id": theirs, "fail_if_not_exists": False}
    assert call.answer["type"] == 19  # shown as a reply


def test_reply_to_a_message_not_forwarded_to_this_tenant_goes_out_unquoted(client: Any, tenants: None,
                                                                          dc: FakeDiscord) -> None:
    bind_dm()
    foreign = dc.add_message(DM_CHANNEL_ID, "not forwarded to t1")
    status, _ = post(client, send(text="hi", replyToId=foreign))
    raw = {"discord": {"body": {"content": "hey", "message_reference": {"message_id": foreign,
                                                                       "channel_id": OTHER_GUILD_CHANNEL}}}}
    status_raw, _ = post(client, send(raw=raw))
    assert status == status_raw == 200
    assert all("message_reference" not in c.body for c in posted(dc)) and len(posted(dc)) == 2


def test_media_without_text_and_unfetchable_media_as_embed_links(client: Any, tenants: None, dc: FakeDiscord,
                                                                 media: str) -> None:
    bind_dm()
    urls = [f"{media}/report", f"{media}/gone.png", f"{media}/gone-doc"]
    status, answer = post(client, send(mediaUrls=urls))
    assert status == 200, answer
    [call] = posted(dc)
    assert "content" not in call.body
    assert [f["filename"] for f in call.files] == ["report.pdf"]
    assert call.body["embeds"] == [{"image": {"url": urls[1]}}, {"title": "gone-doc", "url": urls[2]}]


# --- destination and the guild lock ---------------------------------------------------------------
def test_dm_binding_without_a_channel_id_opens_the_dm_channel(client: Any, tenants: None, dc: FakeDiscord) -> None:
    bind_dm(chat_id=USER_ID)  # the binding knows the user only
    assert post(client, send(text="one"))[0] == 200
    assert post(client, send(text="two"))[0] == 200
    assert len(dc.calls("POST /users/@me/channels")) == 1  # Discord answers the same channel: asked once
    assert [c.params["channel"] for c in posted(dc)] == [DM_CHANNEL_ID, DM_CHANNEL_ID]


def test_a_dm_the_bot_cannot_post_into_falls_back_to_its_own_dm_with_the_user(client: Any, tenants: None,
                                                                              dc: FakeDiscord) -> None:
    private = "1320910480998500002"  # a user-installed app's DM between two users: interactions only
    dc.add_channel(private, type=1, accessible=False)
    bind_dm(chat_id=private)
    status, answer = post(client, send(text="after the interaction expired"))
    assert status == 200, answer
    assert [(c.params["channel"], c.status) for c in posted(dc)] == [(private, 403), (DM_CHANNEL_ID, 200)]
    assert answer["channelId"] == DM_CHANNEL_ID


def test_guild_lock_refuses_a_channel_of_another_guild_before_posting(client: Any, tenants: None,
                                                                       dc: FakeDiscord) -> None:
    bind_guild()
    for body in (send(GUILD_SESSION, text="x", threadId=OTHER_GUILD_CHANNEL),
                 send(GUILD_SESSION, text="x", to=f"channel:{OTHER_GUILD_CHANNEL}"),
                 send(GUILD_SESSION, text="x", to=f"user:{USER_ID}"),
                 send(GUILD_SESSION, text="x", threadId=DM_CHANNEL_ID)):
        status, answer = post(client, body)
        assert (status, answer["code"]) == (403, "ROUTE_NOT_BOUND"), body
    assert posted(dc) == []
    status, answer = post(client, send(text="x", threadId=CHANNEL_ID))  # a DM binding: its channel only
    assert (status, answer["code"]) == (403, "ROUTE_NOT_BOUND")


def test_same_guild_other_channel_is_refused_and_a_thread_of_the_bound_channel_is_allowed(
        client: Any, tenants: None, dc: FakeDiscord) -> None:
    bind_guild()
    sibling = "1174109843095600001"
    dc.add_channel(sibling, guild_id=GUILD_ID)
    status, answer = post(client, send(GUILD_SESSION, text="x", threadId=sibling))
    assert (status, answer["code"]) == (403, "ROUTE_NOT_BOUND") and posted(dc) == []
    status, answer = post(client, send(GUILD_SESSION, text="in the thread", threadId=THREAD_ID))
    assert status == 200, answer
    assert [c.params["channel"] for c in posted(dc)] == [THREAD_ID] and answer["channelId"] == THREAD_ID


def test_a_thread_bound_to_another_tenant_is_not_posted_into(client: Any, second_tenant: None,
                                                             dc: FakeDiscord) -> None:
    bind_guild()
    bind("t2", outbound.thread_route_key(GUILD_ID, CHANNEL_ID, THREAD_ID), "agent:main:discord:channel:x",
         THREAD_ID, "channel")
    status, answer = post(client, send(GUILD_SESSION, text="x", threadId=THREAD_ID))
    assert (status, answer["code"]) == (403, "ROUTE_NOT_BOUND") and posted(dc) == []


def test_a_thread_session_posts_into_its_thread(client: Any, tenants: None, dc: FakeDiscord) -> None:
    binding = bind_guild()
    thread_session = f"agent:main:discord:channel:{THREAD_ID}"
    bindings.touch(binding.model_copy(update={"session_key": thread_session, "topic_id": THREAD_ID}),
                   int(time.time() * 1000), refresh_session=True, route_too=False)
    status, answer = post(client, send(thread_session, text="threaded", to=f"channel:{THREAD_ID}"))
    assert status == 200, answer
    assert [c.params["channel"] for c in posted(dc)] == [THREAD_ID]
    assert dc.calls("GET /channels/{channel}") == []  # the session's own thread needs no lookup


def test_typing_posts_the_typing_indicator(client: Any, tenants: None, dc: FakeDiscord) -> None:
    bind_guild()
    status, answer = post(client, {"channel": "discord", "sessionKey": GUILD_SESSION}, path=TYPING)
    assert (status, answer) == (200, {"ok": True})
    assert [(c.route, c.params["channel"], c.status) for c in dc.calls()] == \
        [("POST /channels/{channel}/typing", CHANNEL_ID, 204)]
    status, _ = post(client, send(GUILD_SESSION, op="action", action="typing"))
    assert status == 200 and len(dc.calls()) == 2


# --- errors ---------------------------------------------------------------------------------------
def test_route_and_global_rate_limits_are_provider_rate_limited_with_retry_after(
        client: Any, tenants: None, dc: FakeDiscord) -> None:
    bind_guild()
    dc.throttle(4.2, route=POST_MESSAGE)
    status, answer = post(client, send(GUILD_SESSION, text="x"))
    assert (status, answer["code"], answer["retryAfterMs"]) == (502, "PROVIDER_RATE_LIMITED", 4200)
    assert answer["details"]["global"] is False and answer["details"]["scope"] == "user"
    dc.throttle(3.37, global_=True)  # the global bucket, on typing this time
    status, answer = post(client, {"channel": "discord", "sessionKey": GUILD_SESSION}, path=TYPING)
    assert (status, answer["code"], answer["retryAfterMs"]) == (502, "PROVIDER_RATE_LIMITED", 3370)
    assert answer["details"]["global"] is True


def test_a_short_rate_limit_is_waited_out_once(client: Any, tenants: None, dc: FakeDiscord) -> None:
    bind_guild()
    dc.throttle(0.05, route=POST_MESSAGE)
    status, answer = post(client, send(GUILD_SESSION, text="x"))
    assert status == 200, answer
    assert [c.status for c in posted(dc)] == [429, 200]


def test_a_counting_bucket_fails_the_part_that_overflows_and_reports_the_delivered_ones(
        client: Any, tenants: None, dc: FakeDiscord) -> None:
    bind_guild()
    dc.limit(POST_MESSAGE, 2, 30)
    status, answer = post(client, send(GUILD_SESSION, text="a" * 2000 + "b" * 2000 + "c"))
    assert (status, answer["code"]) == (502, "PROVIDER_RATE_LIMITED")
    assert 29_000 < answer["retryAfterMs"] <= 30_000
    assert answer["details"]["deliveredMessageIds"] == [c.answer["id"] for c in posted(dc) if c.ok]
    assert len(answer["details"]["deliveredMessageIds"]) == 2


def test_revoked_bot_token_and_blocked_dms(client: Any, tenants: None, dc: FakeDiscord) -> None:
    bind_dm()
    dc.bot_token = "another-token"
    status, answer = post(client, send(text="x"))
    assert (status, answer["code"]) == (502, "PROVIDER_AUTH")
    assert BOT_TOKEN not in json.dumps(answer)
    dc.bot_token = BOT_TOKEN
    dc.dm_blocked.add(USER_ID)
    status, answer = post(client, send(text="x"))
    assert (status, answer["code"], answer["details"]["code"]) == (502, "PROVIDER_ERROR", 50007)


# --- interactions ---------------------------------------------------------------------------------
def interaction(dc: FakeDiscord, channel: str = DM_CHANNEL_ID, route: str = DM_ROUTE, *, age: float = 0.0,
                pointer_age_ms: int = 0) -> Any:
    """An /ask the mux's webhook deferred (type 5) and the worker forwarded: the route's pointer names it."""
    ix = dc.new_interaction(channel, age=age)
    dc.acknowledge(ix)
    forwarded(route, ix.id, typing_ref=f"ix:{APPLICATION_ID}:{ix.id}:{ix.token}", age_ms=pointer_age_ms)
    return ix


def test_reply_to_an_interaction_replaces_the_placeholder_then_follows_up(client: Any, tenants: None,
                                                                           dc: FakeDiscord) -> None:
    bind_dm()
    ix = interaction(dc)
    status, _ = post(client, {"channel": "discord", "sessionKey": DM_SESSION}, path=TYPING)
    assert status == 200 and dc.calls("POST /channels/{channel}/typing") == []  # "thinking…" already shows
    status, first = post(client, send(text="a" * 1999 + " tail", replyToId=ix.id))
    assert status == 200, first
    status, second = post(client, send(text="and one more"))
    assert status == 200, second
    routes = [c.route for c in dc.calls() if c.method != "GET"]
    assert routes == ["PATCH /webhooks/{app}/{token}/messages/{message}", "POST /webhooks/{app}/{token}",
                      "POST /webhooks/{app}/{token}"]
    assert all(c.token is None for c in dc.calls())  # no bot token on interaction routes
    assert first["messageId"] == ix.original and dc.messages[ix.original]["content"] == "a" * 1999
    assert [dc.messages[m]["content"] for m in ix.followups] == ["tail", "and one more"]
    assert posted(dc) == []


def test_after_15_minutes_the_bot_token_answers(client: Any, tenants: None, dc: FakeDiscord) -> None:
    bind_dm()
    interaction(dc, age=15 * 60, pointer_age_ms=15 * 60 * 1000)
    status, answer = post(client, send(text="late answer"))
    assert status == 200, answer
    assert [c.route for c in dc.calls()] == [POST_MESSAGE]


def test_a_token_discord_already_forgot_falls_back_to_the_bot_token(client: Any, tenants: None,
                                                                    dc: FakeDiscord) -> None:
    bind_dm()
    ix = interaction(dc)
    assert post(client, send(text="one"))[0] == 200  # GET @original, PATCH @original
    dc.fail({"message": "Invalid Webhook Token", "code": 50027}, status=401, route="POST /webhooks/{app}/{token}")
    status, answer = post(client, send(text="a" * 2000 + "b"))
    assert status == 200, answer
    assert [(c.route, c.status) for c in dc.calls()[2:]] == [
        ("GET /webhooks/{app}/{token}/messages/{message}", 200), ("POST /webhooks/{app}/{token}", 401),
        (POST_MESSAGE, 200), (POST_MESSAGE, 200)]
    ix.created -= 16 * 60  # Discord's clock says the token is gone although the pointer is young
    assert post(client, send(text="two"))[0] == 200
    assert [(c.route, c.status) for c in dc.calls()[6:]] == [
        ("GET /webhooks/{app}/{token}/messages/{message}", 401), (POST_MESSAGE, 200)]


def test_an_interaction_in_another_channel_of_the_binding_is_not_answered_through(client: Any, tenants: None,
                                                                                  dc: FakeDiscord) -> None:
    bind_guild()
    interaction(dc, channel=THREAD_ID, route=GUILD_ROUTE)  # /ask in a thread; the reply is for the channel
    status, answer = post(client, send(GUILD_SESSION, text="to the channel"))
    assert status == 200, answer
    assert [c.params["channel"] for c in posted(dc)] == [CHANNEL_ID]
    assert dc.calls("PATCH /webhooks/{app}/{token}/messages/{message}") == []

