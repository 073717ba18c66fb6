"""Control-plane events on the real local stack (`python -m local`): the stack's own events-queue poller delivers a
claim's `binding.created` and an unbind's `binding.removed`, signed with the tenant key, to a receiver on 127.0.0.1
— after the receiver refused the first attempt, on the local stage's backoff (1 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.fakes.events_receiver import EventsReceiver
from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import BOT_TOKEN, SECRET, private_update
from tests.localstack import LocalStack, wait_until

ADMIN = "e2e-admin-token-0123456789"
KEY = "e2e-events-key-0123456789abcdefghijkl"


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeTelegram, FakeOpenClaw, EventsReceiver]]:
    with FakeTelegram() as tg, FakeOpenClaw() as openclaw, EventsReceiver({"acme": KEY}) as receiver:
        yield tg, openclaw, receiver


@pytest.fixture(scope="module")
def stack(fakes: tuple[FakeTelegram, FakeOpenClaw, EventsReceiver]) -> Iterator[LocalStack]:
    tg, _, _ = fakes
    env = {
        "MUX_ADMIN_TOKEN": ADMIN,
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "MUX_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "MUX_TELEGRAM_API_BASE_URL": tg.url,
    }
    with LocalStack(env) as running:
        yield running


def test_the_local_stack_delivers_signed_events_through_the_receivers_outage(
    stack: LocalStack, fakes: tuple[FakeTelegram, FakeOpenClaw, EventsReceiver]
) -> None:
    _, openclaw, receiver = fakes
    boot = requests.post(
        stack.url + "/v1/admin/tenants/bootstrap",
        json={"tenantId": "acme", "apiKey": KEY, "inboundUrl": openclaw.url, "eventsUrl": receiver.url},
        headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10,
    )
    assert boot.status_code == 200 and boot.json()["eventsUrl"] == receiver.url, boot.text
    tenant = {"Authorization": f"Bearer {KEY}"}
    receiver.fail_next(1, 503)
    token = requests.post(stack.url + "/v1/pairings/token", json={"channel": "telegram"}, headers=tenant,
                          timeout=10).json()
    resp = requests.post(stack.url + "/v1/webhooks/telegram", json=private_update(7301, token["startCommand"]),
                         headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=10)
    assert resp.status_code == 200
    (created,) = wait_until(lambda: receiver.of_type("binding.created"), timeout=15, what="binding.created")
    assert created["data"]["tokenId"] == token["tokenId"] and len(receiver.attempts) == 2
    unbind = requests.post(stack.url + "/v1/pairings/unbind", json={"bindingId": created["data"]["bindingId"]},
                           headers=tenant, timeout=10)
    assert unbind.status_code == 200
    (removed,) = wait_until(lambda: receiver.of_type("binding.removed"), timeout=10, what="binding.removed")
    assert removed["data"] == {
        "bindingId": created["data"]["bindingId"], "channel": "telegram", "scope": "chat",
        "routeKey": "telegram:default:chat:7301", "sessionKey": "agent:main:telegram:direct:7301", "reason": "api",
    }
    assert receiver.rejected == []
