"""Outbound benchmark: AWS API calls and handler time per `POST /v1/mux/outbound/send`.

Runs the real handler through `chalice.test.Client` (the same LocalGateway path the tests use) with
moto in-process (`moto.mock_aws`, ≈ 1 ms per DynamoDB call, so times are an upper bound for the
handler's own work plus moto) and the fake Telegram Bot API on loopback (one write per response,
TCP_NODELAY). AWS calls are counted with a botocore `before-call` hook on every client the service
creates: one count per API operation, retries excluded.

    python -m bench            # every suite
    python -c "import bench.outbound as b; b.main()"
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.harness import SCENARIO, CallCounter, Column, call_columns, chalice_client, number, p90, service, table

SENDS = 200
API_KEY = "bench-tenant-key-0123456789abcdef"
CHAT = "5123456789"
SESSION = f"agent:main:telegram:direct:{CHAT}"
COLUMNS = [
    Column("Telegram", lambda row: f"{row['telegram']:g}"),
    number("median ms", "median"),
    number("p90 ms", "p90"),
    number("median ms w/o AWS", "median_own"),
]


def _scenario(
    name: str, client: Any, counter: CallCounter, tg: Any, make: Callable[[int], tuple[dict[str, Any], dict[str, str]]]
) -> dict[str, Any]:
    counter.counts.clear()
    tg.reset()
    times: list[float] = []
    own: list[float] = []
    for i in range(SENDS):
        body, headers = make(i)
        counter.aws_seconds = 0.0
        started = time.perf_counter()
        resp = client.http.post(
            "/v1/mux/outbound/send",
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json", **headers},
            body=json.dumps(body),
        )
        times.append((time.perf_counter() - started) * 1000)
        own.append(times[-1] - counter.aws_seconds * 1000)
        if resp.status_code != 200:
            raise RuntimeError(f"{name}: unexpected {resp.status_code} {resp.body!r}")
    return {
        "name": name,
        "calls": counter.per(SENDS),
        "telegram": len(tg.calls()) / SENDS,
        "median": statistics.median(times),
        "median_own": statistics.median(own),
        "p90": p90(times),
    }


def run() -> list[dict[str, Any]]:
    from tests.fakes.telegram_server import FakeTelegram

    with FakeTelegram() as tg, service(
        {"MUX_TELEGRAM_API_BASE_URL": tg.url}, api_key=API_KEY, inbound_url="http://127.0.0.1:9/v1/mux/inbound",
        chat=CHAT,
    ):
        counter = CallCounter().attach()
        text = {"channel": "telegram", "sessionKey": SESSION, "text": "hello from the bench"}
        raw = {
            "channel": "telegram",
            "sessionKey": SESSION,
            "raw": {
                "telegram": {"method": "sendMessage", "body": {"chat_id": 1, "text": "<b>hi</b>", "parse_mode": "HTML"}}
            },
        }
        replay_key = f"replay-{uuid.uuid4()}"
        with chalice_client() as client:
            # Warm-up: imports, connection pools, first-use caches.
            client.http.post(
                "/v1/mux/outbound/send",
                headers={"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": replay_key},
                body=json.dumps(text),
            )
            results = [
                _scenario("text, no Idempotency-Key", client, counter, tg, lambda i: (text, {})),
                _scenario(
                    "text, new Idempotency-Key",
                    client,
                    counter,
                    tg,
                    lambda i: (text, {"Idempotency-Key": f"k-{i}-{uuid.uuid4()}"}),
                ),
                _scenario(
                    "text, replayed Idempotency-Key",
                    client,
                    counter,
                    tg,
                    lambda i: (text, {"Idempotency-Key": replay_key}),
                ),
                _scenario("raw sendMessage, no key", client, counter, tg, lambda i: (raw, {})),
                _scenario(
                    "typing action, no key",
                    client,
                    counter,
                    tg,
                    lambda i: ({"channel": "telegram", "sessionKey": SESSION, "op": "action", "action": "typing"}, {}),
                ),
            ]
    return results


def main() -> None:
    results = run()
    print(
        f"\nOutbound: POST /v1/mux/outbound/send, {SENDS} sends per row, AWS calls per send "
        "(moto in-process), fake Telegram on loopback, handler time via chalice.test.Client"
    )
    print(table(results, [SCENARIO, *call_columns(results), *COLUMNS]))
    print(
        "'w/o AWS' = handler time minus time inside botocore calls (moto): our code, Chalice's local gateway "
        "and the loopback Telegram call."
    )


if __name__ == "__main__":
    main()
