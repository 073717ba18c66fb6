"""Session switching from the chat over real HTTP against the local stack (`python -m local`, in memory): a paired
Telegram chat lists its sessions, switches with `/bot_use`, and inbound and outbound follow at once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import BOT_TOKEN, SECRET, private_update
from tests.localstack import LocalStack, wait_until

ADMIN = "e2e-admin-token-0123456789"
KEY = "e2e-switch-key-0123456789abcdefghijkl"
CHAT = 6123456789


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeTelegram, FakeOpenClaw]]:
    with FakeTelegram() as tg, FakeOpenClaw() as openclaw:
        yield tg, openclaw


@pytest.fixture(scope="module")
def stack(fakes: tuple[FakeTelegram, FakeOpenClaw]) -> Iterator[LocalStack]:
    tg, _ = fakes
    env = {"MUX_ADMIN_TOKEN": ADMIN, "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "MUX_TELEGRAM_WEBHOOK_SECRET": SECRET,
           "MUX_TELEGRAM_API_BASE_URL": tg.url}
    with LocalStack(env, args=["--in-memory"]) as running:
        yield running


def call(stack: LocalStack, method: str, path: str, body: Any = None, key: str = KEY) -> requests.Response:
    return requests.request(method, stack.url + path, json=body, headers={"Authorization": f"Bearer {key}"},
                            timeout=10)


def say(stack: LocalStack, tg: FakeTelegram, text: str) -> str:
    """Send `text` from the chat and answer the bot's reply to it."""
    before = len(tg.bodies("sendMessage"))
    resp = requests.post(stack.url + "/v1/webhooks/telegram", json=private_update(CHAT, text),
                         headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=10)
    assert resp.status_code == 200, resp.text
    wait_until(lambda: len(tg.bodies("sendMessage")) > before)
    return str(tg.bodies("sendMessage")[-1]["text"])


def test_bot_use_switches_inbound_and_outbound_at_once(
    stack: LocalStack, fakes: tuple[FakeTelegram, FakeOpenClaw]
) -> None:
    tg, openclaw = fakes
    boot = call(stack, "POST", "/v1/admin/tenants/bootstrap", {
        "tenantId": "acme", "apiKey": KEY, "inboundUrl": openclaw.url, "agents": ["support"]}, key=ADMIN)
    assert boot.status_code == 200, boot.text
    token = call(stack, "POST", "/v1/pairings/token", {"channel": "telegram"}).json()["token"]
    assert say(stack, tg, f"/start {token}").startswith("Paired")
    main, support = (f"agent:{a}:telegram:direct:{CHAT}" for a in ("main", "support"))
    assert say(stack, tg, "/bot_sessions").endswith(f"1. main: {main} (current)\n2. support: {support}")
    assert say(stack, tg, "/bot_use support").startswith(f"This chat now uses {support}.")

    sent = requests.post(stack.url + "/v1/webhooks/telegram", json=private_update(CHAT, "after the switch"),
                         headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=10)
    assert sent.status_code == 200, sent.text
    assert openclaw.wait_for(lambda got: len(got) == 1)
    assert (openclaw.received[0]["body"], openclaw.received[0]["sessionKey"]) == ("after the switch", support)
    new = call(stack, "POST", "/v1/mux/outbound/send", {"channel": "telegram", "sessionKey": support, "text": "hi"})
    assert new.status_code == 200, new.text
    assert tg.bodies("sendMessage")[-1]["text"] == "hi"
    old = call(stack, "POST", "/v1/mux/outbound/send", {"channel": "telegram", "sessionKey": main, "text": "hi"})
    assert old.status_code == 403 and old.json()["code"] == "ROUTE_NOT_BOUND"
    listed = call(stack, "GET", "/v1/mux/sessions").json()["items"]
    assert [(i["sessionKey"], i["routeKey"]) for i in listed if i["source"] == "seen"] == [
        (support, f"telegram:default:chat:{CHAT}")]
