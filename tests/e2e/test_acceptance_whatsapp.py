"""WhatsApp inbound over real HTTP against the real local stack (`python -m local`), with a fake Graph API and
a fake tenant OpenClaw (OpenClaw's own handler rules) on 127.0.0.1.

Covers the inbound acceptance checks: the handshake, pairing by a token message, inbound forwarding, a
multi-message webhook forwarded once each and in order, a tampered signature (401, nothing forwarded), a
status-only webhook (200, nothing forwarded), a BSUID-only user, and unbind stopping the forwarding.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakes.graph_inbound import FakeGraph
from tests.fakes.openclaw_server import FakeOpenClaw
from tests.localstack import LocalStack, wait_until
from tests.whatsapp_support import (
    ACCESS_TOKEN,
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    WA_ID,
    fixture,
    sign,
    text_body,
)

ADMIN = "e2e-admin-token-0123456789"
KEY = "e2e-wa-tenant-key-0123456789abcdefghijkl"
HIDDEN = "US.58203317440219867531"


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeGraph, FakeOpenClaw]]:
    with FakeGraph(ACCESS_TOKEN) as graph, FakeOpenClaw(KEY) as openclaw:
        yield graph, openclaw


@pytest.fixture(scope="module")
def stack(fakes: tuple[FakeGraph, FakeOpenClaw]) -> Iterator[LocalStack]:
    graph, _ = fakes
    env = {
        "MUX_ADMIN_TOKEN": ADMIN,
        "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "MUX_WHATSAPP_API_BASE_URL": graph.url,
    }
    with LocalStack(env) as running:
        yield running


def webhook(stack: LocalStack, body: dict[str, Any] | bytes, signature: str | None = None) -> requests.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(
        stack.url + "/v1/webhooks/whatsapp",
        data=raw,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature or sign(raw)},
        timeout=10,
    )


def tenant(method: str, stack: LocalStack, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, stack.url + path, json=body, headers={"Authorization": f"Bearer {KEY}"},
                            timeout=10)


def pair(stack: LocalStack, graph: FakeGraph, name: str, who: str) -> None:
    token = tenant("POST", stack, "/v1/pairings/token", {"channel": "whatsapp"}).json()["token"]
    assert webhook(stack, text_body(token, name=name)).status_code == 200
    wait_until(lambda: graph.texts_to(who)[-1:] == ["Paired successfully. You can chat now."], what="paired notice")


def test_whatsapp_inbound_acceptance(stack: LocalStack, fakes: tuple[FakeGraph, FakeOpenClaw]) -> None:
    graph, openclaw = fakes
    boot = requests.post(
        stack.url + "/v1/admin/tenants/bootstrap",
        json={"tenantId": "acme", "apiKey": KEY, "inboundUrl": openclaw.url, "inboundTimeoutMs": 5000},
        headers={"Authorization": f"Bearer {ADMIN}"},
        timeout=10,
    )
    assert boot.status_code == 200, boot.text

    # Meta's subscription handshake.
    hs = requests.get(stack.url + "/v1/webhooks/whatsapp", timeout=10, params={
        "hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"})
    assert (hs.status_code, hs.text, hs.headers["Content-Type"].split(";")[0]) == (200, "1158201444", "text/plain")
    assert requests.get(stack.url + "/v1/webhooks/whatsapp", timeout=10, params={
        "hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"}).status_code == 403

    # Pairing by sending the token as a message.
    pair(stack, graph, "text.json", f"+{WA_ID}")
    items = tenant("GET", stack, "/v1/pairings").json()["items"]
    assert [(i["routeKey"], i["sessionKeys"]) for i in items] == [
        (f"whatsapp:{PHONE_NUMBER_ID}:chat:{WA_ID}", [f"agent:main:whatsapp:direct:+{WA_ID}"])]

    # A tampered signature: 401, nothing forwarded. A status-only webhook: 200, nothing forwarded.
    case = fixture("signed_request_tampered.json")
    assert webhook(stack, case["raw_body"].encode(), case["headers"]["X-Hub-Signature-256"]).status_code == 401
    assert webhook(stack, fixture("status_failed_131047.json")).status_code == 200

    # Inbound forwarded, then a multi-message webhook (posted twice, as Meta retries): once each, in order.
    assert webhook(stack, fixture("text.json")).status_code == 200
    assert openclaw.wait_for(lambda got: len(got) == 1)
    multi = fixture("multiple_messages.json")
    assert webhook(stack, multi).status_code == 200 and webhook(stack, multi).status_code == 200
    assert openclaw.wait_for(lambda got: len(got) == 3)
    assert [e["body"] for e in openclaw.received] == [
        "Can you summarise the report I sent yesterday?", "one more thing", "also translate it to Spanish"]
    assert [t["body"] for t in openclaw.turns][-1] == "also translate it to Spanish"  # OpenClaw's rules took it
    assert {e["sessionKey"] for e in openclaw.received} == {f"agent:main:whatsapp:direct:+{WA_ID}"}
    assert openclaw.refused == []

    # A BSUID-only user pairs and chats.
    pair(stack, graph, "text_username_no_phone.json", HIDDEN)
    assert graph.sent[-1]["recipient"] == HIDDEN and "to" not in graph.sent[-1]  # no number to send to
    assert webhook(stack, fixture("text_username_no_phone.json")).status_code == 200
    assert openclaw.wait_for(lambda got: len(got) == 4)
    assert (openclaw.received[3]["sessionKey"], openclaw.received[3]["from"]) == (
        f"agent:main:whatsapp:direct:{HIDDEN}", f"whatsapp:{HIDDEN}")

    # Unbind: messages from that chat are no longer forwarded (the chat gets the unpaired hint instead).
    binding = next(i for i in tenant("GET", stack, "/v1/pairings").json()["items"] if i["routeKey"].endswith(WA_ID))
    assert tenant("POST", stack, "/v1/pairings/unbind", {"bindingId": binding["bindingId"]}).status_code == 200
    assert webhook(stack, text_body("still there?")).status_code == 200
    wait_until(lambda: graph.texts_to(f"+{WA_ID}")[-1].startswith("This chat is not paired"), what="unpaired hint")
    assert len(openclaw.received) == 4
