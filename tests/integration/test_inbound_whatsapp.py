"""WhatsApp inbound in-process: webhook → SQS (moto) → worker → fake OpenClaw / fake Graph API.

The multi-message webhook, the BSUID-only user's pairing and chat, and unbind are covered over real HTTP in
tests/e2e/test_acceptance_whatsapp.py."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes.graph_inbound import FakeGraph
from tests.fakes.openclaw_server import FakeOpenClaw
from tests.inbound_support import drain, queue_depth
from tests.whatsapp_support import (
    ACCESS_TOKEN,
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    WA_ID,
    fixture,
    message_of,
    post_signed,
    sign,
    text_body,
)

PAIRED = "Paired successfully. You can chat now."
INVALID = "Pairing link is invalid or expired. Request a new link from your dashboard."
HINT = "This chat is not paired yet. Open your dashboard and use a new pairing link."
HIDDEN = "US.58203317440219867531"  # text_username_no_phone.json: number hidden, BSUID only


@pytest.fixture
def graph(configure: Callable[..., None]) -> Iterator[FakeGraph]:
    with FakeGraph(ACCESS_TOKEN) as fake:
        configure(
            WHATSAPP_ACCESS_TOKEN=ACCESS_TOKEN,
            WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
            WHATSAPP_APP_SECRET=APP_SECRET,
            WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
            MUX_WHATSAPP_API_BASE_URL=fake.url,
        )
        yield fake


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def new_token(client: Any, key: str, **body: Any) -> str:
    resp = client.http.post("/v1/pairings/token", headers=auth(key), body=json.dumps({"channel": "whatsapp", **body}))
    assert resp.status_code == 200, resp.body
    data = json.loads(resp.body)
    assert data["startCommand"] is None and data["deepLink"] is None and data["token"] in data["instructions"]
    return str(data["token"])


def pairings(client: Any, key: str) -> list[dict[str, Any]]:
    resp = client.http.get("/v1/pairings", headers=auth(key))
    assert resp.status_code == 200, resp.body
    items: list[dict[str, Any]] = json.loads(resp.body)["items"]
    return items


def send(client: Any, sqs_event: Any, body: dict[str, Any]) -> None:
    resp = post_signed(client, body)
    assert resp.status_code == 200, resp.body
    drain(sqs_event)


def pair(client: Any, sqs_event: Any, key: str, name: str = "text.json", **kw: Any) -> None:
    send(client, sqs_event, text_body(new_token(client, key), name=name, **kw))


@pytest.fixture
def tenant(make_tenant: Any) -> Iterator[tuple[str, FakeOpenClaw]]:
    with FakeOpenClaw() as openclaw:
        _, key = make_tenant("acme", inbound_url=openclaw.url)
        openclaw.rules.token = key  # apply OpenClaw's handler rules with the tenant's key
        yield key, openclaw


def test_handshake_answers_the_challenge_as_plain_text_and_403_otherwise(client: Any, graph: FakeGraph) -> None:
    q = fixture("verify_get.json")["query"]
    ok = client.http.get(
        f"/v1/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge={q['hub.challenge']}"
    )
    assert (ok.status_code, ok.body, ok.headers["Content-Type"].split(";")[0]) == (
        200, q["hub.challenge"].encode(), "text/plain")
    bad = client.http.get("/v1/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1")
    assert bad.status_code == 403 and json.loads(bad.body)["code"]
    assert client.http.get("/v1/webhooks/whatsapp").status_code == 403


def test_whatsapp_off_answers_404_channel_disabled(client: Any, aws_env: Any) -> None:
    resp = post_signed(client, fixture("text.json"))
    assert resp.status_code == 404 and json.loads(resp.body)["code"] == "CHANNEL_DISABLED"


def test_tampered_or_missing_signature_is_401_and_nothing_is_queued(
    client: Any, graph: FakeGraph, aws_env: Any
) -> None:
    case = fixture("signed_request_tampered.json")
    raw = case["raw_body"].encode()
    assert post_signed(client, raw, case["headers"]["X-Hub-Signature-256"]).status_code == 401
    assert post_signed(client, raw, "sha256=" + "0" * 64).status_code == 401
    resp = client.http.post("/v1/webhooks/whatsapp", headers={"Content-Type": "application/json"}, body=raw)
    assert resp.status_code == 401 and json.loads(resp.body)["code"] == "UNAUTHORIZED"
    assert queue_depth(aws_env.inbound_queue_url) == 0
    # The untampered fixture (signed with the same secret as configured here) is accepted and queued.
    good = fixture("signed_request.json")
    assert post_signed(client, good["raw_body"].encode(), good["headers"]["X-Hub-Signature-256"]).status_code == 200
    assert queue_depth(aws_env.inbound_queue_url) == 1


def test_status_only_webhooks_answer_200_and_nothing_is_forwarded(
    client: Any, graph: FakeGraph, aws_env: Any, tenant: tuple[str, FakeOpenClaw]
) -> None:
    for name in ("status.json", "status_failed_131047.json"):
        resp = post_signed(client, fixture(name))
        assert resp.status_code == 200 and json.loads(resp.body) == {"ok": True, "ignored": True}
    assert queue_depth(aws_env.inbound_queue_url) == 0
    assert tenant[1].attempts == []


def test_pairing_by_token_message_then_chat_is_forwarded(
    client: Any, sqs_event: Any, graph: FakeGraph, tenant: tuple[str, FakeOpenClaw]
) -> None:
    key, openclaw = tenant
    pair(client, sqs_event, key)
    items = pairings(client, key)
    assert [(i["channel"], i["routeKey"], i["scope"], i["sessionKeys"]) for i in items] == [
        ("whatsapp", f"whatsapp:{PHONE_NUMBER_ID}:chat:{WA_ID}", "chat", [f"agent:main:whatsapp:direct:+{WA_ID}"])
    ]
    assert graph.texts_to(f"+{WA_ID}") == [PAIRED] and graph.sent_from == [PHONE_NUMBER_ID]
    assert openclaw.attempts == []  # the token message itself is never forwarded

    send(client, sqs_event, fixture("text.json"))
    assert len(openclaw.turns) == 1
    env = openclaw.received[0]
    assert (env["channel"], env["sessionKey"], env["body"], env["from"], env["to"]) == (
        "whatsapp", f"agent:main:whatsapp:direct:+{WA_ID}", "Can you summarise the report I sent yesterday?",
        f"whatsapp:+{WA_ID}", f"whatsapp:{WA_ID}")
    assert env["eventId"] == "wa:" + message_of(fixture("text.json"))["id"]
    # Meta redelivers for a week, long after SQS's 5-minute deduplication: the worker's durable record
    # (`wa:<wamid>`) keeps it from being forwarded again.
    from chalicelib.models import QueuedEvent
    from chalicelib.services import inbound

    again = QueuedEvent(eventId=env["eventId"], channel="whatsapp", routeKey=env["channelData"]["routeKey"],
                        receivedAtMs=0, payload=fixture("text.json"))
    assert inbound.process(again, 1) == "duplicate"
    assert len(openclaw.received) == 1


def test_a_used_token_answers_invalid_and_an_unpaired_chat_gets_the_hint(
    client: Any, sqs_event: Any, graph: FakeGraph, tenant: tuple[str, FakeOpenClaw]
) -> None:
    key, openclaw = tenant
    token = new_token(client, key)
    send(client, sqs_event, text_body(token))
    send(client, sqs_event, text_body(token, name="text_username_no_phone.json"))
    assert graph.texts_to(HIDDEN) == [INVALID]
    send(client, sqs_event, text_body("hello?", name="text_username_no_phone.json"))
    assert graph.texts_to(HIDDEN) == [INVALID, HINT]
    send(client, sqs_event, text_body("chatter", name="group_text.json"))  # unpaired group: silence
    assert len(graph.sent) == 3 and openclaw.attempts == []


def test_a_binding_on_the_bsuid_still_matches_once_the_number_shows(
    client: Any, sqs_event: Any, graph: FakeGraph, tenant: tuple[str, FakeOpenClaw]
) -> None:
    key, openclaw = tenant
    pair(client, sqs_event, key, name="text_username_no_phone.json")
    shown = text_body("my number is visible now")
    msg = message_of(shown)
    msg["from"], msg["from_user_id"] = "14155550142", HIDDEN
    send(client, sqs_event, shown)
    assert [e["sessionKey"] for e in openclaw.received] == [f"agent:main:whatsapp:direct:{HIDDEN}"]


def test_bot_commands_with_slash_or_bang_are_answered_and_never_forwarded(
    client: Any, sqs_event: Any, graph: FakeGraph, tenant: tuple[str, FakeOpenClaw]
) -> None:
    key, openclaw = tenant
    pair(client, sqs_event, key)
    send(client, sqs_event, text_body("/bot_status"))
    send(client, sqs_event, text_body("!bot_unpair"))
    texts = graph.texts_to(f"+{WA_ID}")
    assert texts[1] == (f"Status: paired.\nSession: agent:main:whatsapp:direct:+{WA_ID}\n"
                        f"Route: whatsapp:{PHONE_NUMBER_ID}:chat:{WA_ID}")
    assert texts[2].startswith("This chat is no longer paired")
    assert pairings(client, key) == [] and openclaw.attempts == []


def test_group_pairing_and_session_key(
    client: Any, sqs_event: Any, graph: FakeGraph, tenant: tuple[str, FakeOpenClaw]
) -> None:
    key, openclaw = tenant
    gid = message_of(fixture("group_text.json"))["group_id"]
    pair(client, sqs_event, key, name="group_text.json")
    assert [(i["routeKey"], i["scope"], i["sessionKeys"]) for i in pairings(client, key)] == [
        (f"whatsapp:{PHONE_NUMBER_ID}:chat:{gid}", "group", [f"agent:main:whatsapp:group:{gid}"])]
    assert graph.sent[0]["recipient_type"] == "group" and graph.sent[0]["to"] == gid
    send(client, sqs_event, fixture("group_text.json"))
    env = openclaw.received[0]
    assert (env["chatType"], env["to"], env["from"]) == ("group", f"whatsapp:{gid}", "whatsapp:+14155550142")


def test_several_business_numbers_route_and_answer_by_the_number_messaged(
    client: Any, sqs_event: Any, graph: FakeGraph, tenant: tuple[str, FakeOpenClaw]
) -> None:
    key, openclaw = tenant
    other = "419876543210987"
    pair(client, sqs_event, key, phone_number_id=other)
    assert [i["routeKey"] for i in pairings(client, key)] == [f"whatsapp:{other}:chat:{WA_ID}"]
    assert graph.sent_from == [other]
    send(client, sqs_event, text_body("to the first number"))  # same user, the other number: not paired there
    assert graph.sent_from == [other, PHONE_NUMBER_ID] and openclaw.attempts == []


def test_media_is_inlined_with_the_file_proxy_url_and_served_by_the_proxy(
    client: Any, sqs_event: Any, graph: FakeGraph, tenant: tuple[str, FakeOpenClaw], make_tenant: Any
) -> None:
    from chalicelib.clock import now_ms
    from chalicelib.storage import events

    key, openclaw = tenant
    pair(client, sqs_event, key)
    graph.media["1183746529304857"] = (b"\xff\xd8jpeg-bytes", "image/jpeg")
    send(client, sqs_event, fixture("image.json"))
    env = openclaw.received[0]
    assert env["body"] == "What does this error dialog mean?"
    (att,) = env["attachments"]
    assert att["type"] == "image" and base64.b64decode(att["content"]) == b"\xff\xd8jpeg-bytes"
    assert att["url"].endswith("/v1/mux/files/whatsapp?id=1183746529304857")
    owner = events.file_owner("whatsapp", "1183746529304857", now_ms())
    assert owner is not None and owner["tenantId"] == "acme"
    assert len(openclaw.turns) == 1  # OpenClaw's rules accepted it
    # The file proxy serves it to this tenant only.
    proxied = client.http.get("/v1/mux/files/whatsapp?id=1183746529304857", headers={**auth(key), "Accept": "*/*"})
    assert proxied.status_code == 200 and proxied.body == b"\xff\xd8jpeg-bytes"
    _, other_key = make_tenant("other", inbound_url=openclaw.url)
    denied = client.http.get("/v1/mux/files/whatsapp?id=1183746529304857", headers=auth(other_key))
    assert denied.status_code == 404 and json.loads(denied.body)["code"] == "FILE_NOT_FOUND"

    # A voice note the Graph API no longer has: url only, and a one-line body so the turn is not empty.
    send(client, sqs_event, fixture("audio_voice.json"))
    env = openclaw.received[1]
    assert env["body"] == "[voice]" and "content" not in env["attachments"][0]


def test_interactive_reply_and_reaction_are_forwarded_as_text(
    client: Any, sqs_event: Any, graph: FakeGraph, tenant: tuple[str, FakeOpenClaw]
) -> None:
    key, openclaw = tenant
    pair(client, sqs_event, key)
    send(client, sqs_event, fixture("interactive_button_reply.json"))
    reaction = copy.deepcopy(fixture("text.json"))
    m = message_of(reaction)
    m["id"], m["type"], m["reaction"] = "wamid.reaction1", "reaction", {"message_id": "wamid.X", "emoji": "👍"}
    del m["text"]
    send(client, sqs_event, reaction)
    assert [e["body"] for e in openclaw.received] == ["Smart", "[reaction: 👍]"]
    assert openclaw.received[0]["channelData"]["whatsapp"]["interactive"]["id"] == "model:smart"


def test_an_unusable_message_is_acknowledged_and_not_queued(client: Any, graph: FakeGraph, aws_env: Any) -> None:
    body = fixture("text.json")
    message_of(body)["text"] = {"body": 42}
    raw = json.dumps(body).encode()
    resp = post_signed(client, raw, sign(raw))
    assert resp.status_code == 200 and json.loads(resp.body)["ignored"] is True
    assert queue_depth(aws_env.inbound_queue_url) == 0


def test_a_forwarded_message_can_be_replied_to_and_typing_marks_it_read(
    client: Any, sqs_event: Any, graph: FakeGraph, tenant: tuple[str, FakeOpenClaw]
) -> None:
    """Inbound and outbound meet: the forward records the wamid on the tenant's route (the reply's
    `context`) and as the route's newest message (what typing marks read)."""
    key, openclaw = tenant
    pair(client, sqs_event, key)
    send(client, sqs_event, fixture("text.json"))
    env = openclaw.received[0]
    wamid = message_of(fixture("text.json"))["id"]
    assert env["messageId"] == wamid
    reply = client.http.post("/v1/mux/outbound/send", headers=auth(key), body=json.dumps(
        {"channel": "whatsapp", "sessionKey": env["sessionKey"], "text": "here it is", "replyToId": wamid}))
    assert reply.status_code == 200, reply.body
    sent = [b for b in graph.sent if b.get("type") == "text" and b["text"]["body"] == "here it is"]
    assert len(sent) == 1 and sent[0].get("context") == {"message_id": wamid}
    typing = client.http.post("/v1/mux/outbound/typing", headers=auth(key),
                              body=json.dumps({"channel": "whatsapp", "sessionKey": env["sessionKey"]}))
    assert typing.status_code == 200, typing.body
    reads = [b for b in graph.sent if b.get("status") == "read"]
    assert len(reads) == 1 and reads[0]["message_id"] == wamid


def test_a_whatsapp_binding_carries_the_senders_profile_name_and_number(
    client: Any, sqs_event: Any, graph: FakeGraph, tenant: tuple[str, FakeOpenClaw]
) -> None:
    key, _ = tenant
    pair(client, sqs_event, key)
    [item] = pairings(client, key)
    assert (item["chatType"], item["userName"], item["userHandle"], item["displayName"]) == (
        "private", "Dana Whitfield", f"+{WA_ID}", "Dana Whitfield")


def test_token_instructions_name_the_business_number_meta_reports(
    client: Any, graph: FakeGraph, tenant: tuple[str, FakeOpenClaw]
) -> None:
    key, _ = tenant
    resp = client.http.post("/v1/pairings/token", headers=auth(key), body=json.dumps({"channel": "whatsapp"}))
    data = json.loads(resp.body)
    assert data["instructions"] == f"Send {data['token']} as a WhatsApp message to the business number."
    graph.numbers[PHONE_NUMBER_ID] = "+1 555-123-0042"  # Meta's display format
    resp = client.http.post("/v1/pairings/token", headers=auth(key), body=json.dumps({"channel": "whatsapp"}))
    data = json.loads(resp.body)
    assert data["instructions"] == f"Send {data['token']} as a WhatsApp message to +15551230042."
