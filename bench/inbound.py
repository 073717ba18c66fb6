"""Inbound benchmark: AWS API calls and handler time per Telegram and per WhatsApp message, webhook + queue worker.

For one bound chat, each message goes through the real webhook route (`chalice.test.Client`) and the
real queue entry point (`handle_inbound_queue` with a Lambda-shaped event), moto in-process, the tenant's
OpenClaw a fake on loopback (one write per response, TCP_NODELAY). Counted: API calls made by the
service's own clients (the event source mapping's ReceiveMessage/DeleteMessageBatch are Lambda's, listed
apart). Run twice: a table with 1 tenant / 1 binding, and one with 1,000 tenants / 5,000 bindings, to
show the per-message cost does not grow with the table. WhatsApp: the same path for one text message per signed
`messages` webhook from a chat paired through the real flow (the token sent as a message), the Graph API a fake.

    python -m bench
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from bench.harness import (
    SCENARIO,
    CallCounter,
    Sample,
    call_columns,
    chalice_client,
    fill,
    number,
    p90,
    quick,
    service,
    table,
)

MESSAGES = 50 if quick() else 200
API_KEY = "bench-inbound-key-0123456789abcdef"
SECRET = "bench-webhook-secret"
CHAT = 5123456789
COLUMNS = [
    number("median ms", "median"),
    number("p90 ms", "p90"),
    number("webhook median ms", "webhook"),
    number("worker median ms", "worker"),
    number("CPU ms moto", "standin_cpu"),
    number("CPU ms ours", "own_cpu"),
]


def _scenario(tenants: int, bindings: int) -> dict[str, Any]:
    from tests.fakes.openclaw_server import FakeOpenClaw
    from tests.fakes.telegram_server import FakeTelegram

    with FakeTelegram() as tg, FakeOpenClaw() as openclaw, service(
        {"MUX_TELEGRAM_WEBHOOK_SECRET": SECRET, "MUX_RETRY_BASE_DELAY_SEC": "0", "MUX_TELEGRAM_API_BASE_URL": tg.url},
        api_key=API_KEY, inbound_url=openclaw.url, chat=CHAT,
    ) as resources:
        import boto3

        import app as entry_points
        from local.poller import lambda_sqs_event

        fill(max(tenants - 1, 0), max(bindings - 1, 0))
        esm = boto3.client("sqs")  # plays Lambda's event source mapping: not counted
        arn = esm.get_queue_attributes(QueueUrl=resources.inbound_queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        counter = CallCounter().attach()
        webhook_ms: list[float] = []
        worker_ms: list[float] = []
        samples: list[tuple[Sample, Sample]] = []
        with chalice_client() as client:
            for n in range(MESSAGES + 5):
                if n == 5:  # the first five warm imports, pools and the key cache
                    counter.clear()
                update = {"update_id": 10_000 + n, "message": {
                    "message_id": n, "date": 1781600000, "text": f"message {n}",
                    "from": {"id": CHAT, "is_bot": False, "first_name": "A"},
                    "chat": {"id": CHAT, "type": "private", "first_name": "A"}}}
                hook, resp = counter.sample(lambda u=update: client.http.post(
                    "/v1/webhooks/telegram", body=json.dumps(u), headers={
                        "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}))
                webhook_ms.append(hook.wall_ms)
                assert resp.status_code == 200, resp.body
                got = esm.receive_message(QueueUrl=resources.inbound_queue_url, MaxNumberOfMessages=10,
                                          AttributeNames=["All"], MessageSystemAttributeNames=["All"])
                event = lambda_sqs_event(got["Messages"], arn, "us-east-1")
                work, result = counter.sample(lambda e=event: entry_points.handle_inbound_queue(e, None))
                worker_ms.append(work.wall_ms)
                samples.append((hook, work))
                assert result == {"batchItemFailures": []}, result
                esm.delete_message(QueueUrl=resources.inbound_queue_url,
                                   ReceiptHandle=got["Messages"][0]["ReceiptHandle"])
        delivered = len(openclaw.received)
    if delivered != MESSAGES + 5:
        raise RuntimeError(f"expected {MESSAGES + 5} forwards, OpenClaw got {delivered}")
    webhook_ms, worker_ms = webhook_ms[5:], worker_ms[5:]
    total = [a + b for a, b in zip(webhook_ms, worker_ms, strict=True)]
    return {
        "name": f"{tenants} tenants / {bindings} bindings",
        "calls": counter.per(MESSAGES),
        "units": counter.units_per(MESSAGES),
        **_cpu(samples[5:]),
        "median": statistics.median(total),
        "p90": p90(total),
        "webhook": statistics.median(webhook_ms),
        "worker": statistics.median(worker_ms),
    }


def _cpu(samples: list[tuple[Sample, Sample]]) -> dict[str, float]:
    """Median CPU per message (webhook + worker) inside moto and outside it."""
    return {
        "standin_cpu": statistics.median(a.standin_cpu_ms + b.standin_cpu_ms for a, b in samples),
        "own_cpu": statistics.median(a.own_cpu_ms + b.own_cpu_ms for a, b in samples),
    }


WA_APP_SECRET = "bench-wa-app-secret"
WA_ACCESS_TOKEN = "bench-wa-access-token"
WA_PHONE_NUMBER_ID = "318765432109876"
WA_USER = "447700900123"


def _whatsapp_scenario(tenants: int, bindings: int) -> dict[str, Any]:
    from muxctl.whatsapp import build_payload, encode, signature
    from tests.fakes.graph_inbound import FakeGraph
    from tests.fakes.openclaw_server import FakeOpenClaw

    with FakeGraph(WA_ACCESS_TOKEN) as graph, FakeOpenClaw() as openclaw, service(
        {"MUX_RETRY_BASE_DELAY_SEC": "0", "WHATSAPP_APP_SECRET": WA_APP_SECRET,
         "WHATSAPP_ACCESS_TOKEN": WA_ACCESS_TOKEN, "WHATSAPP_PHONE_NUMBER_ID": WA_PHONE_NUMBER_ID,
         "WHATSAPP_VERIFY_TOKEN": "bench-wa-verify", "MUX_WHATSAPP_API_BASE_URL": graph.url},
        api_key=API_KEY, inbound_url=openclaw.url, chat=CHAT,
    ) as resources:
        import boto3

        import app as entry_points
        from local.poller import lambda_sqs_event

        fill(max(tenants - 1, 0), max(bindings - 1, 0))
        esm = boto3.client("sqs")  # plays Lambda's event source mapping: not counted
        arn = esm.get_queue_attributes(QueueUrl=resources.inbound_queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        counter = CallCounter().attach()
        webhook_ms: list[float] = []
        worker_ms: list[float] = []
        samples: list[tuple[Sample, Sample]] = []
        with chalice_client() as client:

            def deliver(text: str) -> None:
                raw = encode(build_payload(text, sender=WA_USER, phone_number_id=WA_PHONE_NUMBER_ID))
                hook, resp = counter.sample(lambda: client.http.post("/v1/webhooks/whatsapp", body=raw, headers={
                    "Content-Type": "application/json", "X-Hub-Signature-256": signature(WA_APP_SECRET, raw)}))
                webhook_ms.append(hook.wall_ms)
                assert resp.status_code == 200, resp.body
                got = esm.receive_message(QueueUrl=resources.inbound_queue_url, MaxNumberOfMessages=10,
                                          AttributeNames=["All"], MessageSystemAttributeNames=["All"])
                event = lambda_sqs_event(got["Messages"], arn, "us-east-1")
                work, result = counter.sample(lambda: entry_points.handle_inbound_queue(event, None))
                worker_ms.append(work.wall_ms)
                samples.append((hook, work))
                assert result == {"batchItemFailures": []}, result
                esm.delete_message(QueueUrl=resources.inbound_queue_url,
                                   ReceiptHandle=got["Messages"][0]["ReceiptHandle"])

            token = client.http.post("/v1/pairings/token", body=json.dumps({"channel": "whatsapp"}), headers={
                "Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
            assert token.status_code == 200, token.body
            deliver(json.loads(token.body)["token"])  # pairs the chat, as a user sending the token would
            for n in range(MESSAGES + 5):
                if n == 5:  # the first five warm imports, pools and the key cache
                    counter.clear()
                deliver(f"message {n}")
        delivered = len(openclaw.received)
        notices = len(graph.sent)
    if delivered != MESSAGES + 5:
        raise RuntimeError(f"expected {MESSAGES + 5} WhatsApp forwards, OpenClaw got {delivered}")
    if notices != 1:
        raise RuntimeError(f"expected only the paired notice on the Graph API, got {notices} sends")
    webhook_ms, worker_ms = webhook_ms[6:], worker_ms[6:]
    total = [a + b for a, b in zip(webhook_ms, worker_ms, strict=True)]
    return {
        "name": f"WhatsApp, {tenants} tenants / {bindings} bindings",
        "calls": counter.per(MESSAGES),
        "units": counter.units_per(MESSAGES),
        **_cpu(samples[6:]),
        "median": statistics.median(total),
        "p90": p90(total),
        "webhook": statistics.median(webhook_ms),
        "worker": statistics.median(worker_ms),
    }


def run(tenants: int, bindings: int) -> dict[str, Any]:
    """One Telegram row: the table holding `tenants` / `bindings`."""
    return _scenario(tenants, bindings)


def run_whatsapp(tenants: int, bindings: int) -> dict[str, Any]:
    return _whatsapp_scenario(tenants, bindings)


def main() -> None:
    show([_scenario(10, 50), _scenario(1000, 5000)], [_whatsapp_scenario(10, 50), _whatsapp_scenario(1000, 5000)])


def show(results: list[dict[str, Any]], wa: list[dict[str, Any]]) -> None:
    print(
        f"\nInbound: one Telegram message → webhook → SQS → worker → OpenClaw, {MESSAGES} messages per row, "
        "AWS calls per message by the service (moto in-process), handler times via chalice.test.Client + "
        "handle_inbound_queue"
    )
    print(table(results, [SCENARIO, *call_columns(results), *COLUMNS]))
    print("median / p90 ms = webhook + worker per message; CPU = the handling thread's, per message (webhook + "
          "worker), inside moto and outside it (ours).")
    print(
        f"\nInbound: one WhatsApp text message (signed `messages` webhook) → webhook → SQS → worker → OpenClaw, "
        f"{MESSAGES} messages per row, AWS calls per message by the service (moto in-process), fake Graph API"
    )
    print(table(wa, [SCENARIO, *call_columns(wa), *COLUMNS]))
    print("Not counted (Lambda's event source mapping, per batch of up to 10): sqs.ReceiveMessage, "
          "sqs.DeleteMessageBatch.")


if __name__ == "__main__":
    main()
