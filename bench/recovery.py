"""Recovery benchmark: one tenant's OpenClaw down for 10 s while another tenant keeps chatting, on the real
local stack (`python -m local`, as `make run` starts it; local stage: backoff from 1 s, probe every 1 s).

Printed: the down tenant's recovery lag (from the moment it answers again to the last queued message of
each chat, median and p95 over its chats), the attempts per second it received while down, and the
healthy tenant's latency (webhook → its OpenClaw) during the outage.

    python -m bench.recovery [--runs 3]
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from typing import Any

from bench.harness import percentile

OUTAGE_SEC = 10.0
# The first seconds of the outage, whose attempts are counted apart (steady state = the rest).
ONSET_SEC = 2.0
DOWN_CHATS = 8
BACKLOG_PER_CHAT = 2
HEALTHY_MESSAGES = 100  # one every 0.1 s through the outage
ADMIN = "bench-admin-token-0123456789"
SECRET = "bench-recovery-webhook-secret"
BOT_TOKEN = "7012345678:bench-bot-token"


class Arrivals:
    """When each body reached a fake OpenClaw (monotonic seconds), stamped as it arrives."""

    def __init__(self, fake: Any) -> None:
        self.fake = fake
        self.at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        seen = 0
        while not self._stop.is_set():
            self.fake.wait_for(lambda got, n=seen: len(got) > n, timeout=0.2)
            now = time.monotonic()
            bodies = self.fake.bodies()
            for body in bodies[seen:]:
                self.at.setdefault(body, now)
            seen = len(bodies)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


def run_once(tenants: int = 2, bindings: int = DOWN_CHATS + 1) -> dict[str, float]:
    """One outage; the table also holds `tenants` / `bindings` in all (filler items written straight to the
    embedded moto before the two tenants are set up)."""
    import boto3
    import requests

    from bench.harness import fill
    from bench.harness import setup_answer as _answer
    from tests.fakes.openclaw_server import FakeOpenClaw
    from tests.fakes.telegram_server import FakeTelegram
    from tests.inbound_support import private_update
    from tests.localstack import LocalStack, wait_until

    env = {"MUX_ADMIN_TOKEN": ADMIN, "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "MUX_TELEGRAM_WEBHOOK_SECRET": SECRET,
           "MUX_TELEGRAM_BOT_USERNAME": "MuxBenchBot"}
    with FakeTelegram() as tg, FakeOpenClaw() as down, FakeOpenClaw() as healthy, LocalStack(
        {**env, "MUX_TELEGRAM_API_BASE_URL": tg.url}
    ) as stack:
        ddb = boto3.client("dynamodb", endpoint_url=stack.banner("AWS (moto)"), region_name="us-east-1",
                           aws_access_key_id="bench", aws_secret_access_key="bench")
        fill(max(tenants - 2, 0), max(bindings - DOWN_CHATS - 1, 0), client=ddb, table_name=stack.banner("table"))
        session = requests.Session()

        def webhook(update: dict[str, Any]) -> None:
            resp = session.post(stack.url + "/v1/webhooks/telegram", json=update,
                                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=30)
            resp.raise_for_status()

        chats: dict[str, list[int]] = {"down": [8100 + n for n in range(DOWN_CHATS)], "healthy": [8200]}
        for tenant_id, fake in (("down", down), ("healthy", healthy)):
            key = f"bench-{tenant_id}-key-0123456789abcdefghij"
            session.post(stack.url + "/v1/admin/tenants/bootstrap", headers={"Authorization": f"Bearer {ADMIN}"},
                         json={"tenantId": tenant_id, "apiKey": key, "inboundUrl": fake.url,
                               "inboundTimeoutMs": 5000}, timeout=30).raise_for_status()
            auth = {"Authorization": f"Bearer {key}"}
            for chat in chats[tenant_id]:
                token = _answer(lambda a=auth: session.post(stack.url + "/v1/pairings/token",
                                                              json={"channel": "telegram"}, headers=a, timeout=30))
                webhook(private_update(chat, token["startCommand"]))
            wait_until(lambda a=auth, n=len(chats[tenant_id]): len(session.get(
                stack.url + "/v1/pairings", headers=a, timeout=30).json()["items"]) == n, timeout=60,
                what=f"{tenant_id}'s pairings")

        down_at, healthy_at = Arrivals(down), Arrivals(healthy)
        down.answer_for(503, OUTAGE_SEC)
        started = time.monotonic()
        recovered = started + OUTAGE_SEC
        for n in range(BACKLOG_PER_CHAT):
            for chat in chats["down"]:
                webhook(private_update(chat, f"{chat}/{n}"))
        sent: dict[str, float] = {}

        def chat_healthy() -> None:
            with requests.Session() as own:
                for n in range(HEALTHY_MESSAGES):
                    due = started + n * OUTAGE_SEC / HEALTHY_MESSAGES
                    time.sleep(max(0.0, due - time.monotonic()))
                    sent[f"h{n}"] = time.monotonic()
                    own.post(stack.url + "/v1/webhooks/telegram", timeout=30,
                             json=private_update(chats["healthy"][0], f"h{n}"),
                             headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}).raise_for_status()

        sender = threading.Thread(target=chat_healthy, daemon=True)
        sender.start()
        # The onset (the first forwards of several chats' heads, in concurrent batches, before any of them has
        # marked the tenant down) is counted apart from the steady state that follows it.
        time.sleep(max(0.0, started + ONSET_SEC - time.monotonic()))
        attempts_in_onset = len(down.attempts)
        time.sleep(max(0.0, recovered - time.monotonic()))
        attempts_while_down = len(down.attempts)
        sender.join(30)
        expected = DOWN_CHATS * BACKLOG_PER_CHAT
        if not down.wait_for(lambda got: len(got) >= expected, timeout=60):
            raise RuntimeError(f"the down tenant got {len(down.received)} of {expected} after recovering")
        healthy.wait_for(lambda got: len(got) >= HEALTHY_MESSAGES, timeout=30)
        time.sleep(0.3)  # the arrival watchers stamp within their 0.2 s wait
        down_at.stop()
        healthy_at.stop()
    lags = [down_at.at[f"{chat}/{BACKLOG_PER_CHAT - 1}"] - recovered for chat in chats["down"]]
    first = min(down_at.at.values()) - recovered  # the probe that found the tenant answering
    latencies = [(healthy_at.at[b] - t) * 1000 for b, t in sent.items() if b in healthy_at.at]
    return {
        "lag_median": statistics.median(lags),
        "lag_p95": percentile(lags, 0.95),
        "first_delivery": first,
        "attempts_per_sec": attempts_while_down / OUTAGE_SEC,
        "attempts": attempts_while_down,
        "attempts_onset": attempts_in_onset,
        "steady_attempts_per_sec": (attempts_while_down - attempts_in_onset) / (OUTAGE_SEC - ONSET_SEC),
        "healthy_delivered": len(latencies),
        "healthy_median_ms": statistics.median(latencies),
        "healthy_max_ms": max(latencies),
    }


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.recovery [--runs N]` (make bench: one run)."""
    args = sys.argv[1:] if argv is None else argv
    runs = int(args[args.index("--runs") + 1]) if "--runs" in args else 1
    results = [run_once() for _ in range(runs)]

    def show(key: str, fmt: str) -> str:
        values = [r[key] for r in results]
        if len(values) == 1:
            return format(values[0], fmt)
        return f"{format(statistics.median(values), fmt)} (range {format(min(values), fmt)}–{format(max(values), fmt)})"

    print(
        f"\nRecovery: tenant 'down' ({DOWN_CHATS} chats × {BACKLOG_PER_CHAT} queued messages) answers 503 for "
        f"{OUTAGE_SEC:g} s while tenant 'healthy' gets {HEALTHY_MESSAGES} messages; real local stack"
        + (f"; median over {runs} runs" if runs > 1 else "")
    )
    print(f"  recovery lag (answering again → each chat's backlog delivered): median {show('lag_median', '.2f')} s, "
          f"p95 {show('lag_p95', '.2f')} s; first message {show('first_delivery', '.2f')} s (the next probe)")
    print(f"  attempts against the down tenant while down: {show('attempts_per_sec', '.2f')}/s "
          f"({DOWN_CHATS} chats down, {OUTAGE_SEC:g} s): {show('attempts_onset', 'g')} in its first "
          f"{ONSET_SEC:g} s, then {show('steady_attempts_per_sec', '.2f')}/s")
    print(f"  healthy tenant during the outage: {show('healthy_delivered', 'g')}/{HEALTHY_MESSAGES} delivered, "
          f"latency median {show('healthy_median_ms', '.0f')} ms, max {show('healthy_max_ms', '.0f')} ms")


if __name__ == "__main__":
    main()
