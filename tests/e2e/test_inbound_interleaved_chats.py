"""Several chats of two tenants, their messages interleaved on the queue, drained by the real local stack
(`python -m local`, its poller running several batches at once): every message reaches OpenClaw once, each
chat's in the order it was sent."""

from __future__ import annotations

import threading

import requests

from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import BOT_TOKEN, SECRET, private_update
from tests.localstack import LocalStack, wait_until

ADMIN = "e2e-interleave-admin-0123456789"
TENANTS = {"north": [7301, 7302], "south": [7401, 7402]}
PER_CHAT = 5


def test_interleaved_chats_arrive_once_each_in_chat_order() -> None:
    with FakeTelegram() as tg, FakeOpenClaw() as openclaw, LocalStack({
        "MUX_ADMIN_TOKEN": ADMIN, "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "MUX_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "MUX_TELEGRAM_API_BASE_URL": tg.url, "MUX_TELEGRAM_BOT_USERNAME": "MuxAssistBot",
    }) as stack:
        session = requests.Session()

        def webhook(update: dict[str, object]) -> None:
            resp = session.post(stack.url + "/v1/webhooks/telegram", json=update,
                                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=10)
            assert resp.status_code == 200, resp.text

        for tenant, chats in TENANTS.items():
            key = f"e2e-{tenant}-key-0123456789abcdefghijkl"
            boot = session.post(stack.url + "/v1/admin/tenants/bootstrap", headers={"Authorization": f"Bearer {ADMIN}"},
                                json={"tenantId": tenant, "apiKey": key, "inboundUrl": openclaw.url}, timeout=10)
            assert boot.status_code == 200, boot.text
            auth = {"Authorization": f"Bearer {key}"}
            for chat in chats:
                token = session.post(stack.url + "/v1/pairings/token", json={"channel": "telegram"}, headers=auth,
                                     timeout=10).json()
                webhook(private_update(chat, token["startCommand"]))
            wait_until(lambda a=auth, n=len(chats): len(session.get(  # type: ignore[misc]
                stack.url + "/v1/pairings", headers=a, timeout=10).json()["items"]) == n, 60,
                what=f"{tenant}'s pairings")

        # OpenClaw holds its answers while everything is queued, so the queue holds every chat's messages mixed.
        openclaw.gate = threading.Event()
        chats = [chat for tenant_chats in TENANTS.values() for chat in tenant_chats]
        for n in range(PER_CHAT):
            for chat in chats:
                webhook(private_update(chat, f"{chat}/{n}"))
        openclaw.gate.set()
        assert openclaw.wait_for(lambda got: len(got) >= PER_CHAT * len(chats), timeout=60)
        got = openclaw.bodies()
    assert sorted(got) == sorted(f"{chat}/{n}" for chat in chats for n in range(PER_CHAT))
    for chat in chats:
        assert [b for b in got if b.startswith(f"{chat}/")] == [f"{chat}/{n}" for n in range(PER_CHAT)]
