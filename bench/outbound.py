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
import os
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SENDS = 200
API_KEY = "bench-tenant-key-0123456789abcdef"
CHAT = "5123456789"
SESSION = f"agent:main:telegram:direct:{CHAT}"

_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "MUX_STAGE": "local",
    "MUX_ALLOW_PRIVATE_INBOUND_URLS": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "TELEGRAM_BOT_TOKEN": "123:bench",
}
_SCRUB = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB")


@contextmanager
def _environment(extra: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    for name in _SCRUB:
        os.environ.pop(name, None)
    os.environ.update(_ENV)
    os.environ.update(extra)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class _CallCounter:
    """Counts botocore API calls by (service, operation) on the service's cached clients."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.aws_seconds = 0.0
        self._started: list[float] = []

    def attach(self) -> None:
        from chalicelib import aws

        for service in ("dynamodb", "sqs", "kms"):
            client = aws._client(service)
            client.meta.events.register("before-call.*.*", self._on_call, unique_id=f"bench-{service}")
            client.meta.events.register("after-call.*.*", self._after_call, unique_id=f"bench-{service}-after")

    def _on_call(self, model: Any, **_: Any) -> None:
        self.counts[(model.service_model.service_name, model.name)] += 1
        self._started.append(time.perf_counter())

    def _after_call(self, **_: Any) -> None:
        if self._started:
            self.aws_seconds += time.perf_counter() - self._started.pop()


def _scenario(
    name: str, client: Any, counter: _CallCounter, tg: Any, make: Callable[[int], tuple[dict[str, Any], dict[str, str]]]
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
    times.sort()
    return {
        "name": name,
        "calls": {k: v / SENDS for k, v in counter.counts.items()},
        "telegram": len(tg.calls()) / SENDS,
        "median": statistics.median(times),
        "median_own": statistics.median(own),
        "p90": times[int(len(times) * 0.9) - 1],
    }


def run() -> list[dict[str, Any]]:
    from moto import mock_aws

    from tests.fakes.telegram_server import FakeTelegram

    with FakeTelegram() as tg, _environment({"MUX_TELEGRAM_API_BASE_URL": tg.url}), mock_aws():
        from local.provision import provision

        resources = provision()
        os.environ.update(resources.env)

        from chalice.test import Client

        from app import app
        from chalicelib import aws, config
        from chalicelib.models import BootstrapRequest
        from chalicelib.services import tenants
        from tests.fakes.pairing import bind_telegram

        aws.reset_clients()
        config.reset_settings()
        config.get_settings()  # primed outside a call: Chalice overlays config.json env vars during calls
        tenants.bootstrap(
            BootstrapRequest(tenantId="bench", apiKey=API_KEY, inboundUrl="http://127.0.0.1:9/v1/mux/inbound")
        )
        bind_telegram("bench", CHAT)
        counter = _CallCounter()
        counter.attach()
        text = {"channel": "telegram", "sessionKey": SESSION, "text": "hello from the bench"}
        raw = {
            "channel": "telegram",
            "sessionKey": SESSION,
            "raw": {
                "telegram": {"method": "sendMessage", "body": {"chat_id": 1, "text": "<b>hi</b>", "parse_mode": "HTML"}}
            },
        }
        replay_key = f"replay-{uuid.uuid4()}"
        with Client(app, stage_name="local", project_dir=str(ROOT)) as client:
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
        aws.reset_clients()
        config.reset_settings()
    return results


def _table(results: list[dict[str, Any]]) -> str:
    ops = sorted({op for r in results for op in r["calls"]})
    short = {op: f"{'ddb' if op[0] == 'dynamodb' else op[0]}.{op[1]}" for op in ops}
    headers = [
        "scenario",
        *[short[o] for o in ops],
        "AWS total",
        "Telegram",
        "median ms",
        "p90 ms",
        "median ms w/o AWS",
    ]
    rows = []
    for r in results:
        per_op = [f"{r['calls'].get(o, 0):g}" for o in ops]
        rows.append(
            [
                r["name"],
                *per_op,
                f"{sum(r['calls'].values()):g}",
                f"{r['telegram']:g}",
                f"{r['median']:.2f}",
                f"{r['p90']:.2f}",
                f"{r['median_own']:.2f}",
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    line = " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "-+-".join("-" * w for w in widths)]
    out += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)


def main() -> None:
    results = run()
    print(
        f"\nOutbound: POST /v1/mux/outbound/send, {SENDS} sends per row, AWS calls per send "
        "(moto in-process), fake Telegram on loopback, handler time via chalice.test.Client"
    )
    print(_table(results))
    print(
        "'w/o AWS' = handler time minus time inside botocore calls (moto): our code, Chalice's local gateway "
        "and the loopback Telegram call."
    )


if __name__ == "__main__":
    main()
