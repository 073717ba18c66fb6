"""CONTRACT §12 minimum acceptance checks on Telegram, over real HTTP against the real local stack.

The stack runs as `make run` starts it (`python -m local`, configured only by environment variables); the
Telegram Bot API and the tenant's OpenClaw are fake HTTP servers on 127.0.0.1 that record what they get.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import BOT_TOKEN, SECRET, private_update
from tests.localstack import LocalStack, wait_until

ADMIN = "e2e-admin-token-0123456789"
KEY = "e2e-tenant-key-0123456789abcdefghijkl"
CHAT = 5123456789


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeTelegram, FakeOpenClaw]]:
    with FakeTelegram() as tg, FakeOpenClaw() as openclaw:
        yield tg, openclaw


@pytest.fixture(scope="module")
def stack(fakes: tuple[FakeTelegram, FakeOpenClaw]) -> Iterator[LocalStack]:
    tg, _ = fakes
    env = {
        "MUX_ADMIN_TOKEN": ADMIN,
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "MUX_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "MUX_TELEGRAM_API_BASE_URL": tg.url,
        "MUX_TELEGRAM_BOT_USERNAME": "MuxAssistBot",
    }
    with LocalStack(env) as running:
        yield running


def webhook(stack: LocalStack, update: dict[str, Any]) -> None:
    resp = requests.post(
        stack.url + "/v1/webhooks/telegram",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text


def tenant(method: str, stack: LocalStack, path: str, body: Any = None) -> requests.Response:
    return requests.request(
        method, stack.url + path, json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    )


def test_minimum_acceptance_checks_on_telegram(stack: LocalStack, fakes: tuple[FakeTelegram, FakeOpenClaw]) -> None:
    tg, openclaw = fakes
    boot = requests.post(
        stack.url + "/v1/admin/tenants/bootstrap",
        json={"tenantId": "acme", "apiKey": KEY, "inboundUrl": openclaw.url, "inboundTimeoutMs": 5000},
        headers={"Authorization": f"Bearer {ADMIN}"},
        timeout=10,
    )
    assert boot.status_code == 200, boot.text

    # 2. Pairing: a token created through the API and redeemed in the chat shows up in GET /v1/pairings.
    token = tenant("POST", stack, "/v1/pairings/token", {"channel": "telegram"}).json()
    webhook(stack, private_update(CHAT, token["startCommand"]))
    items = wait_until(lambda: tenant("GET", stack, "/v1/pairings").json()["items"])
    assert [(i["routeKey"], i["sessionKeys"]) for i in items] == [
        (f"telegram:default:chat:{CHAT}", [f"agent:main:telegram:direct:{CHAT}"])
    ]
    wait_until(lambda: any(b.get("text", "").startswith("Paired") for b in tg.bodies("sendMessage")))

    # 3. Inbound: a message from the paired chat reaches the tenant's OpenClaw with the exact envelope.
    update = private_update(CHAT, "What is on my calendar today?")
    webhook(stack, update)
    assert openclaw.wait_for(lambda got: len(got) == 1)
    envelope = openclaw.received[0]
    assert envelope["eventId"] == f"tg:{update['update_id']}"
    assert envelope["sessionKey"] == f"agent:main:telegram:direct:{CHAT}"
    assert envelope["body"] == "What is on my calendar today?"
    assert envelope["raw"] == update and envelope["event"] == {"kind": "message", "raw": update}
    assert (envelope["from"], envelope["to"], envelope["chatType"], envelope["accountId"]) == (
        f"telegram:{CHAT}", f"telegram:{CHAT}", "direct", "mux"
    )
    assert openclaw.headers[0]["authorization"] == f"Bearer {KEY}"

    # 1. Outbound: a send from the tenant's OpenClaw reaches the chat (and only the bound chat).
    sent = tenant(
        "POST",
        stack,
        "/v1/mux/outbound/send",
        {"channel": "telegram", "sessionKey": f"agent:main:telegram:direct:{CHAT}", "text": "Two meetings.",
         "to": "telegram:999"},
    )
    assert sent.status_code == 200, sent.text
    assert isinstance(sent.json()["messageId"], str) and sent.json()["messageId"]
    last = tg.bodies("sendMessage")[-1]
    assert (last["chat_id"], last["text"]) in ((CHAT, "Two meetings."), (str(CHAT), "Two meetings."))

    # 4. Unbind: after POST /v1/pairings/unbind, messages from that route are no longer forwarded.
    unbind = tenant("POST", stack, "/v1/pairings/unbind", {"bindingId": items[0]["bindingId"]})
    assert unbind.status_code == 200 and unbind.json() == {"ok": True}
    hints_before = sum(1 for b in tg.bodies("sendMessage") if "not paired" in b.get("text", ""))
    webhook(stack, private_update(CHAT, "are you still there?"))
    # The worker handled it (the chat got the unpaired hint) and OpenClaw got nothing new.
    wait_until(lambda: sum(1 for b in tg.bodies("sendMessage") if "not paired" in b.get("text", "")) > hints_before)
    assert len(openclaw.received) == 1
    outbound_after = tenant(
        "POST", stack, "/v1/mux/outbound/send",
        {"channel": "telegram", "sessionKey": f"agent:main:telegram:direct:{CHAT}", "text": "hello?"},
    )
    assert outbound_after.status_code == 403 and outbound_after.json()["code"] == "ROUTE_NOT_BOUND"


def test_retries_survive_an_openclaw_outage_in_the_local_stack(
    stack: LocalStack, fakes: tuple[FakeTelegram, FakeOpenClaw]
) -> None:
    """OpenClaw refuses twice, then recovers: the local poller drives the worker's retries (seconds apart)."""
    tg, openclaw = fakes
    token = tenant("POST", stack, "/v1/pairings/token", {"channel": "telegram"}).json()
    chat = 4242
    webhook(stack, private_update(chat, token["startCommand"]))
    wait_until(
        lambda: any(i["routeKey"].endswith(f":{chat}") for i in tenant("GET", stack, "/v1/pairings").json()["items"])
    )
    already = len(openclaw.received)
    openclaw.fail_next(2, 503)
    for n in range(3):
        webhook(stack, private_update(chat, f"outage {n}"))
    assert openclaw.wait_for(lambda got: len(got) >= already + 3, timeout=30)
    assert [e["body"] for e in openclaw.received[already:]] == ["outage 0", "outage 1", "outage 2"]
    dead = requests.get(stack.url + "/v1/admin/dead-letters", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    assert dead.status_code == 200 and json.loads(dead.text)["items"] == []


def test_tenant_answering_401_then_404_then_202_loses_nothing_in_the_local_stack(
    stack: LocalStack, fakes: tuple[FakeTelegram, FakeOpenClaw]
) -> None:
    """A key rotation (401), then a config being fixed (404), for a short "minute" in the local stage's retry
    delays (1, 2, 4 s …): three queued messages arrive in order, none dead-lettered, failures counted by status."""
    tg, openclaw = fakes
    token = tenant("POST", stack, "/v1/pairings/token", {"channel": "telegram"}).json()
    chat = 4343
    webhook(stack, private_update(chat, token["startCommand"]))
    wait_until(
        lambda: any(i["routeKey"].endswith(f":{chat}") for i in tenant("GET", stack, "/v1/pairings").json()["items"])
    )
    already = len(openclaw.received)
    openclaw.answer_for(401, 2.5)
    openclaw.answer_for(404, 2.5)
    for n in range(3):
        webhook(stack, private_update(chat, f"rotation {n}"))
    assert openclaw.wait_for(lambda got: len(got) >= already + 3, timeout=30)
    assert [e["body"] for e in openclaw.received[already:]] == ["rotation 0", "rotation 1", "rotation 2"]
    admin = {"Authorization": f"Bearer {ADMIN}"}
    dead = requests.get(stack.url + "/v1/admin/dead-letters", headers=admin, timeout=10)
    assert dead.status_code == 200 and json.loads(dead.text)["items"] == []
    counters = requests.get(stack.url + "/v1/admin/health", headers=admin, timeout=10).json()["counters"]
    assert counters.get("ForwardFailures{channel=telegram,status=401}", 0) >= 1
    assert counters.get("ForwardFailures{channel=telegram,status=404}", 0) >= 1
