"""Outbound benchmark: AWS API calls and handler time per `POST /v1/mux/outbound/send`, Telegram and WhatsApp.

Runs the real handler through `chalice.test.Client` (the same LocalGateway path the tests use) with
moto in-process (`moto.mock_aws`, ≈ 1 ms per DynamoDB call, so times are an upper bound for the
handler's own work plus moto) and the fake Telegram Bot API on loopback (one write per response,
TCP_NODELAY), or for WhatsApp the Graph API stand-in (`muxctl dev whatsapp`'s, applying Meta's rules).
AWS calls are counted with a botocore `before-call` hook on every client the service creates: one count per
API operation, retries excluded.

    python -m bench            # every suite
    python -c "import bench.outbound as b; b.main()"
"""

from __future__ import annotations

import json
import statistics
import uuid
from collections.abc import Callable
from typing import Any

from bench.harness import (
    SCENARIO,
    CallCounter,
    Column,
    call_columns,
    chalice_client,
    fill,
    number,
    p90,
    quick,
    service,
    table,
)

SENDS = 50 if quick() else 200
API_KEY = "bench-tenant-key-0123456789abcdef"
CHAT = "5123456789"
SESSION = f"agent:main:telegram:direct:{CHAT}"
COLUMNS = [
    Column("platform API", lambda row: f"{row['telegram']:g}"),
    number("median ms", "median"),
    number("p90 ms", "p90"),
    number("median ms w/o AWS", "median_own"),
    number("CPU ms moto", "standin_cpu"),
    number("CPU ms ours", "own_cpu"),
]


def _scenario(
    name: str, client: Any, counter: CallCounter, tg: Any, make: Callable[[int], tuple[dict[str, Any], dict[str, str]]]
) -> dict[str, Any]:
    counter.clear()
    tg.reset()
    samples = []
    for i in range(SENDS):
        body, headers = make(i)
        sample, resp = counter.sample(lambda b=body, h=headers: client.http.post(
            "/v1/mux/outbound/send",
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json", **h},
            body=json.dumps(b),
        ))
        samples.append(sample)
        if resp.status_code != 200:
            raise RuntimeError(f"{name}: unexpected {resp.status_code} {resp.body!r}")
    times = [x.wall_ms for x in samples]
    return {
        "name": name,
        "calls": counter.per(SENDS),
        "units": counter.units_per(SENDS),
        "telegram": len(tg.calls()) / SENDS,
        "median": statistics.median(times),
        "median_own": statistics.median(x.wall_own_ms for x in samples),
        "standin_cpu": statistics.median(x.standin_cpu_ms for x in samples),
        "own_cpu": statistics.median(x.own_cpu_ms for x in samples),
        "p90": p90(times),
    }


def run(tenants: int = 10, bindings: int = 50, *, detail: bool = True) -> list[dict[str, Any]]:
    """The Telegram scenarios with the table holding `tenants` / `bindings` (the bench tenant's one included);
    without `detail`, only the plain and the new-Idempotency-Key text sends."""
    from tests.fakes.telegram_server import FakeTelegram

    with FakeTelegram() as tg, service(
        {"MUX_TELEGRAM_API_BASE_URL": tg.url}, api_key=API_KEY, inbound_url="http://127.0.0.1:9/v1/mux/inbound",
        chat=CHAT,
    ):
        fill(max(tenants - 1, 0), max(bindings - 1, 0))
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
            warm = client.http.post(
                "/v1/mux/outbound/send",
                headers={"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": replay_key},
                body=json.dumps(text),
            )
            sent_id = int(json.loads(warm.body)["messageId"])
            edit = {"channel": "telegram", "sessionKey": SESSION, "raw": {"telegram": {
                "method": "editMessageText", "body": {"message_id": sent_id, "text": "edited"}}}}
            results = [
                _scenario("text, no Idempotency-Key", client, counter, tg, lambda i: (text, {})),
                _scenario(
                    "text, new Idempotency-Key",
                    client,
                    counter,
                    tg,
                    lambda i: (text, {"Idempotency-Key": f"k-{i}-{uuid.uuid4()}"}),
                ),
            ]
            if not detail:
                return results
            results += [
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
                _scenario("raw editMessageText of a sent message", client, counter, tg, lambda i: (edit, {})),
            ]
    return results


WA_ACCESS_TOKEN = "bench-wa-access-token"
WA_PHONE_NUMBER_ID = "318765432109876"
WA_USER = "447700900123"
WA_SESSION = f"agent:main:whatsapp:direct:+{WA_USER}"


def _bind_whatsapp() -> None:
    """Claim the WhatsApp chat for the bench tenant as a token message would (the real claim transaction)."""
    import time as clock

    from bench.harness import TENANT
    from chalicelib.models import Binding
    from chalicelib.storage import bindings

    now = int(clock.time() * 1000)
    token_hash = uuid.uuid4().hex
    bindings.put_token(token_hash, {"tenantId": TENANT, "channel": "whatsapp"}, now + 60_000)
    route = f"whatsapp:{WA_PHONE_NUMBER_ID}:chat:{WA_USER}"
    binding = Binding(binding_id=f"bind_{uuid.uuid4()}", tenant_id=TENANT, channel="whatsapp", scope="chat",
                      route_key=route, session_key=WA_SESSION, chat_id=WA_USER, created_at_ms=now)
    bindings.claim(token_hash=token_hash, channel="whatsapp", binding=binding, existing=bindings.get_route(route),
                   now_ms=now)


def run_whatsapp() -> list[dict[str, Any]]:
    from muxctl.whatsapp_graph import FakeGraph

    with FakeGraph(access_token=WA_ACCESS_TOKEN) as graph, service(
        {"WHATSAPP_ACCESS_TOKEN": WA_ACCESS_TOKEN, "WHATSAPP_PHONE_NUMBER_ID": WA_PHONE_NUMBER_ID,
         "WHATSAPP_APP_SECRET": "bench-wa-app-secret", "WHATSAPP_VERIFY_TOKEN": "bench-wa-verify",
         "MUX_WHATSAPP_API_BASE_URL": graph.base_url},
        api_key=API_KEY, inbound_url="http://127.0.0.1:9/v1/mux/inbound", chat=CHAT,
    ):
        _bind_whatsapp()
        counter = CallCounter().attach()
        text = {"channel": "whatsapp", "sessionKey": WA_SESSION, "text": "hello from the bench"}
        with chalice_client() as client:
            warm = client.http.post("/v1/mux/outbound/send", headers={"Authorization": f"Bearer {API_KEY}"},
                                    body=json.dumps(text))
            if warm.status_code != 200:
                raise RuntimeError(f"WhatsApp warm-up send: {warm.status_code} {warm.body!r}")
            results = [
                _scenario("WhatsApp text, no Idempotency-Key", client, counter, graph, lambda i: (text, {})),
                _scenario("WhatsApp text, new Idempotency-Key", client, counter, graph,
                          lambda i: (text, {"Idempotency-Key": f"wa-{i}-{uuid.uuid4()}"})),
            ]
        if any(not call.ok for call in graph.calls()):
            raise RuntimeError("the Graph API stand-in refused a send")
    return results


def main() -> None:
    show(run() + run_whatsapp())


def show(results: list[dict[str, Any]]) -> None:
    print(
        f"\nOutbound: POST /v1/mux/outbound/send, {SENDS} sends per row, AWS calls per send "
        "(moto in-process), fake Telegram or Graph API on loopback, handler time via chalice.test.Client"
    )
    print(table(results, [SCENARIO, *call_columns(results), *COLUMNS]))
    print(
        "'w/o AWS' = handler time minus time inside botocore calls (moto): our code, Chalice's local gateway "
        "and the loopback platform call. CPU = the handling thread's CPU time: inside moto (the AWS stand-in) and "
        "the rest (ours: our code, Chalice and its local gateway, the botocore client, the HTTP client)."
    )


if __name__ == "__main__":
    main()
