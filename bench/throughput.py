"""Inbound throughput with a deep queue, on the real local stack (`python -m local`, as `make run` starts it).

A minimal version (p1-hotpath; p2-localstack owns making the local stack fast and may refine this): one tenant,
`CHATS` chats paired through the real token flow; its OpenClaw holds every answer (a closed gate) while `queued`
Telegram messages are posted to the webhook, so they all wait in the inbound queue (plus the batch in flight,
held at the gate); then the gate opens and the fake OpenClaw's arrivals are timed. Throughput = messages
delivered per second over the drain, or over its first `window_sec` when the drain would take longer (the queue
is then still deep all the while, which is the figure asked for).

    python -m bench.throughput [--queued 1000]
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

CHATS = 10
ADMIN = "bench-admin-token-0123456789"
SECRET = "bench-throughput-webhook-secret"
BOT_TOKEN = "7012345678:bench-bot-token"
KEY = "bench-throughput-key-0123456789abcdefgh"
POSTERS = 4


def run(queued: int = 1000, tenants: int = 10, bindings: int = 50, window_sec: float = 30.0) -> dict[str, Any]:
    """Post `queued` messages while the tenant's OpenClaw holds its answers, open it, time the drain; the table
    also holds `tenants` / `bindings` (filler items written straight to the embedded moto)."""
    import boto3
    import requests

    from bench.harness import fill
    from tests.fakes.openclaw_server import FakeOpenClaw
    from tests.fakes.telegram_server import FakeTelegram
    from tests.inbound_support import private_update
    from tests.localstack import LocalStack, wait_until

    env = {"MUX_ADMIN_TOKEN": ADMIN, "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "MUX_TELEGRAM_WEBHOOK_SECRET": SECRET,
           "MUX_TELEGRAM_BOT_USERNAME": "MuxBenchBot"}
    with FakeTelegram() as tg, FakeOpenClaw() as openclaw, LocalStack(
        {**env, "MUX_TELEGRAM_API_BASE_URL": tg.url}, args=["--in-memory"]
    ) as stack:
        ddb = boto3.client("dynamodb", endpoint_url=stack.banner("AWS (moto)"), region_name="us-east-1",
                           aws_access_key_id="bench", aws_secret_access_key="bench")
        fill(max(tenants - 1, 0), max(bindings - CHATS, 0), client=ddb, table_name=stack.banner("table"))
        session = requests.Session()
        hook = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        session.post(stack.url + "/v1/admin/tenants/bootstrap", headers={"Authorization": f"Bearer {ADMIN}"},
                     json={"tenantId": "busy", "apiKey": KEY, "inboundUrl": openclaw.url,
                           "inboundTimeoutMs": 60_000}, timeout=60).raise_for_status()
        auth = {"Authorization": f"Bearer {KEY}"}
        chats = [9100 + n for n in range(CHATS)]
        for chat in chats:
            token = _answer(lambda: session.post(stack.url + "/v1/pairings/token", json={"channel": "telegram"},
                                                 headers=auth, timeout=60))
            session.post(stack.url + "/v1/webhooks/telegram", json=private_update(chat, token["startCommand"]),
                         headers=hook, timeout=60).raise_for_status()
        wait_until(lambda: len(session.get(stack.url + "/v1/pairings", headers=auth, timeout=60).json()["items"])
                   == CHATS, timeout=120, what="the pairings")

        gate = threading.Event()
        openclaw.gate = gate
        updates = [private_update(chats[n % CHATS], f"m{n}") for n in range(queued)]
        local = threading.local()

        def post(update: dict[str, Any]) -> None:
            if not hasattr(local, "session"):
                local.session = requests.Session()
            local.session.post(stack.url + "/v1/webhooks/telegram", json=update, headers=hook,
                               timeout=60).raise_for_status()

        started = time.monotonic()
        with ThreadPoolExecutor(POSTERS) as pool:
            list(pool.map(post, updates))
        enqueue_sec = time.monotonic() - started
        opened = time.monotonic()
        gate.set()
        openclaw.wait_for(lambda got: len(got) >= queued, timeout=window_sec)
        elapsed = time.monotonic() - opened
        delivered = len(openclaw.received)
    return {
        "queued": queued,
        "delivered": delivered,
        "drain_sec": elapsed,
        "msgs_per_sec": delivered / elapsed if elapsed > 0 else 0.0,
        "enqueue_per_sec": queued / enqueue_sec if enqueue_sec > 0 else 0.0,
        "complete": delivered >= queued,
    }


def _answer(call: Any, attempts: int = 3) -> Any:
    """The JSON of a setup call answered 200; a 5xx (an overloaded local stack) is tried again."""
    for attempt in range(attempts):
        resp = call()
        if resp.status_code == 200:
            return resp.json()
        if resp.status_code < 500 or attempt == attempts - 1:
            raise RuntimeError(f"setup call answered {resp.status_code}: {resp.text[:300]}")
        time.sleep(1)
    raise AssertionError("unreachable")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    queued = int(args[args.index("--queued") + 1]) if "--queued" in args else 1000
    r = run(queued)
    print(f"\nInbound throughput, real local stack: {r['queued']} queued → {r['msgs_per_sec']:.1f} msgs/s "
          f"({r['delivered']} delivered in {r['drain_sec']:.1f} s{'' if r['complete'] else ', window cut'}); "
          f"webhooks enqueued at {r['enqueue_per_sec']:.1f}/s")


if __name__ == "__main__":
    main()
