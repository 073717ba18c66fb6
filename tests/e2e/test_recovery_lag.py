"""A tenant's OpenClaw down for 8.5 s, then back, against the real local stack (`python -m local`): its
backlog arrives within seconds of the recovery, in chat order (local stage: probe every 1 s)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import BOT_TOKEN, SECRET, private_update
from tests.localstack import LocalStack, wait_until

ADMIN = "e2e-admin-token-0123456789"
KEY = "e2e-recovery-key-0123456789abcdefghijkl"
OUTAGE_SEC = 8.5  # just after the heads' 4th attempt (backoff 1, 2, 4 s: attempts at 0, 1, 3, 7, 15 s)


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


def webhook(stack: LocalStack, update: dict[str, object]) -> None:
    resp = requests.post(stack.url + "/v1/webhooks/telegram", json=update,
                         headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=10)
    assert resp.status_code == 200, resp.text


def test_a_recovered_tenant_gets_its_backlog_within_seconds(
    stack: LocalStack, fakes: tuple[FakeTelegram, FakeOpenClaw]
) -> None:
    """Before: each chat's head waited for its next backoff step, ≈ 6.5 s after this outage."""
    _, openclaw = fakes
    boot = requests.post(
        stack.url + "/v1/admin/tenants/bootstrap",
        json={"tenantId": "acme", "apiKey": KEY, "inboundUrl": openclaw.url, "inboundTimeoutMs": 5000},
        headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10,
    )
    assert boot.status_code == 200, boot.text
    tenant = {"Authorization": f"Bearer {KEY}"}
    chats = [7101, 7102, 7103]
    for chat in chats:
        token = requests.post(stack.url + "/v1/pairings/token", json={"channel": "telegram"}, headers=tenant,
                              timeout=10).json()
        webhook(stack, private_update(chat, token["startCommand"]))
    wait_until(lambda: len(requests.get(stack.url + "/v1/pairings", headers=tenant, timeout=10)
                           .json()["items"]) == len(chats), what="three pairings")
    openclaw.answer_for(503, OUTAGE_SEC)
    recovered_at = time.monotonic() + OUTAGE_SEC
    for n in range(2):
        for chat in chats:
            webhook(stack, private_update(chat, f"{chat}/{n}"))
    assert openclaw.wait_for(lambda got: len(got) == 2 * len(chats), timeout=OUTAGE_SEC + 12)
    lag = time.monotonic() - recovered_at
    assert lag < 4.0, f"backlog delivered {lag:.1f} s after the recovery"
    got = openclaw.bodies()
    for chat in chats:
        assert [b for b in got if b.startswith(f"{chat}/")] == [f"{chat}/0", f"{chat}/1"]
    dead = requests.get(stack.url + "/v1/admin/dead-letters", headers={"Authorization": f"Bearer {ADMIN}"},
                        timeout=10)
    assert dead.status_code == 200 and dead.json()["items"] == []
