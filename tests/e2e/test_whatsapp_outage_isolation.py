"""One tenant's WhatsApp outage does not delay its Telegram chats or other tenants, against the real local stack
(`python -m local`) over HTTP, with fake Telegram and Graph APIs and two tenants' fake OpenClaws on 127.0.0.1.

A tenant has one inbound URL, so "its WhatsApp outage" is read as: every forward of tenant A's WhatsApp chat fails
(A's OpenClaw answers 503 to that chat's envelopes only, as a broken WhatsApp channel plugin would) while A's
Telegram chat and tenant B's WhatsApp and Telegram chats are answered normally. Those others must arrive promptly
and in order while A's WhatsApp chat is still being retried; after the outage A's WhatsApp backlog arrives in order.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from muxctl.whatsapp import build_payload, encode, signature
from tests.fakes.graph_inbound import FakeGraph
from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import BOT_TOKEN, SECRET, private_update
from tests.localstack import LocalStack, wait_until
from tests.whatsapp_support import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, VERIFY_TOKEN

ADMIN = "e2e-admin-token-0123456789"
KEY_A = "e2e-wa-outage-key-a-0123456789abcdefghij"
KEY_B = "e2e-wa-outage-key-b-0123456789abcdefghij"
WA_A, WA_B = "447700900301", "447700900302"
TG_A, TG_B = 5301, 5302
PROMPT_SEC = 10.0  # generous: a healthy chat's message normally arrives in well under a second


class WhatsAppOutage:
    """`FakeOpenClaw.inbound_auth` hook: 503 to every WhatsApp envelope while `on` is set, counting them."""

    def __init__(self) -> None:
        self.on = threading.Event()
        self.refused: list[str] = []

    def refuse(self, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]] | None:
        if not self.on.is_set():
            return None
        try:
            envelope = json.loads(raw)
        except ValueError:
            return None
        if envelope.get("channel") != "whatsapp":
            return None
        self.refused.append(str(envelope.get("body")))
        return 503, {"ok": False, "error": "whatsapp channel unavailable"}


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeTelegram, FakeGraph, FakeOpenClaw, FakeOpenClaw]]:
    with FakeTelegram() as tg, FakeGraph(ACCESS_TOKEN) as graph, FakeOpenClaw(KEY_A) as a, FakeOpenClaw(KEY_B) as b:
        yield tg, graph, a, b


@pytest.fixture(scope="module")
def stack(fakes: tuple[FakeTelegram, FakeGraph, FakeOpenClaw, FakeOpenClaw]) -> Iterator[LocalStack]:
    tg, graph, _, _ = fakes
    env = {
        "MUX_ADMIN_TOKEN": ADMIN,
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "MUX_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "MUX_TELEGRAM_API_BASE_URL": tg.url,
        "MUX_TELEGRAM_BOT_USERNAME": "MuxAssistBot",
        "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "MUX_WHATSAPP_API_BASE_URL": graph.url,
    }
    with LocalStack(env) as running:
        yield running


def telegram(stack: LocalStack, chat: int, text: str) -> None:
    resp = requests.post(stack.url + "/v1/webhooks/telegram", json=private_update(chat, text),
                         headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=10)
    assert resp.status_code == 200, resp.text


def whatsapp(stack: LocalStack, sender: str, text: str) -> None:
    raw = encode(build_payload(text, sender=sender, phone_number_id=PHONE_NUMBER_ID))
    resp = requests.post(stack.url + "/v1/webhooks/whatsapp", data=raw, timeout=10, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": signature(APP_SECRET, raw)})
    assert resp.status_code == 200, resp.text


def as_tenant(stack: LocalStack, key: str, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, stack.url + path, json=body, headers={"Authorization": f"Bearer {key}"},
                            timeout=10)


def set_up_tenant(stack: LocalStack, tenant_id: str, key: str, openclaw: FakeOpenClaw, tg_chat: int,
                  wa_user: str) -> None:
    boot = requests.post(stack.url + "/v1/admin/tenants/bootstrap", timeout=10,
                         json={"tenantId": tenant_id, "apiKey": key, "inboundUrl": openclaw.url,
                               "inboundTimeoutMs": 5000},
                         headers={"Authorization": f"Bearer {ADMIN}"})
    assert boot.status_code == 200, boot.text
    tg_token = as_tenant(stack, key, "POST", "/v1/pairings/token", {"channel": "telegram"}).json()
    telegram(stack, tg_chat, tg_token["startCommand"])
    wa_token = as_tenant(stack, key, "POST", "/v1/pairings/token", {"channel": "whatsapp"}).json()
    whatsapp(stack, wa_user, wa_token["token"])
    wanted = {f"telegram:default:chat:{tg_chat}", f"whatsapp:{PHONE_NUMBER_ID}:chat:{wa_user}"}
    wait_until(lambda: {i["routeKey"] for i in as_tenant(stack, key, "GET", "/v1/pairings").json()["items"]}
               == wanted, 15, f"{tenant_id}'s two bindings")


def bodies(openclaw: FakeOpenClaw, channel: str) -> list[str]:
    return [e["body"] for e in list(openclaw.received) if e.get("channel") == channel]


def test_a_tenants_whatsapp_outage_does_not_delay_its_telegram_or_other_tenants(
    stack: LocalStack, fakes: tuple[FakeTelegram, FakeGraph, FakeOpenClaw, FakeOpenClaw]
) -> None:
    _, _, openclaw_a, openclaw_b = fakes
    set_up_tenant(stack, "acme", KEY_A, openclaw_a, TG_A, WA_A)
    set_up_tenant(stack, "globex", KEY_B, openclaw_b, TG_B, WA_B)
    outage = WhatsAppOutage()
    openclaw_a.inbound_auth = outage
    outage.on.set()

    stuck = [f"a wa {n}" for n in range(3)]
    for text in stuck:
        whatsapp(stack, WA_A, text)
    wait_until(lambda: len(outage.refused) >= 2 or None, 15, "A's WhatsApp chat failing and being retried")

    started = time.monotonic()
    healthy = {"a tg": [f"a tg {n}" for n in range(3)], "b tg": [f"b tg {n}" for n in range(3)],
               "b wa": [f"b wa {n}" for n in range(3)]}
    for n in range(3):
        telegram(stack, TG_A, healthy["a tg"][n])
        telegram(stack, TG_B, healthy["b tg"][n])
        whatsapp(stack, WA_B, healthy["b wa"][n])

    def all_healthy_arrived() -> bool:
        return (bodies(openclaw_a, "telegram") == healthy["a tg"] and bodies(openclaw_b, "telegram") == healthy["b tg"]
                and bodies(openclaw_b, "whatsapp") == healthy["b wa"])

    wait_until(all_healthy_arrived, PROMPT_SEC, "A's Telegram and B's chats, in order, during A's WhatsApp outage")
    elapsed = time.monotonic() - started
    assert elapsed < PROMPT_SEC
    assert bodies(openclaw_a, "whatsapp") == [], "A's WhatsApp chat was failing all along"
    assert outage.on.is_set()

    outage.on.clear()
    wait_until(lambda: bodies(openclaw_a, "whatsapp") == stuck, 30, "A's WhatsApp backlog after the outage")
    assert set(outage.refused) <= set(stuck)
