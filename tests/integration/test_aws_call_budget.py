"""The AWS call budget per outbound send and per inbound message (issue #15): counts are deterministic, so CI
fails the moment a change adds a round trip to the hot path. Times are never asserted here (`make bench`).

Steady state = a warm container that has already served this key and session once (the send's one
BatchGetItem uses what the previous send learnt to name every item it needs; see services/outbound.py).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.pairing import bind_telegram, telegram_session_key
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import drain, post_update, private_update

KEY = "budget-tenant-key-0123456789abcdef"
DM = "5123456789"
SESSION = telegram_session_key(DM)
SEND = "/v1/mux/outbound/send"

# (service, operation) → calls. An operation missing here is a budget of 0.
OUTBOUND_BUDGET: dict[str, dict[tuple[str, str], int]] = {
    "text": {("dynamodb", "BatchGetItem"): 1, ("dynamodb", "BatchWriteItem"): 1},
    "text, new Idempotency-Key": {
        ("dynamodb", "BatchGetItem"): 1,
        ("dynamodb", "PutItem"): 1,  # the idempotency claim
        # the message record and the finished idempotency record, written whole (no UpdateItem: see
        # storage/idempotency.py `finished_item`)
        ("dynamodb", "BatchWriteItem"): 1,
    },
    "text, replayed Idempotency-Key": {("dynamodb", "BatchGetItem"): 1, ("dynamodb", "PutItem"): 1},
    "reply to a forwarded message": {("dynamodb", "BatchGetItem"): 1, ("dynamodb", "BatchWriteItem"): 1},
    "edit of a sent message": {("dynamodb", "BatchGetItem"): 1},
    "typing": {("dynamodb", "BatchGetItem"): 1},
}
# Webhook + queue worker for one Telegram text message of a bound chat (the event source mapping's own
# ReceiveMessage/DeleteMessageBatch are Lambda's, not ours, and are not counted).
INBOUND_BUDGET = {
    ("sqs", "SendMessage"): 1,
    # dedupe record + candidate routes + the tenant the route named last time (inbound URL, key ciphertext)
    ("dynamodb", "BatchGetItem"): 1,
    ("dynamodb", "BatchWriteItem"): 1,  # dedupe record + message records
}


class Calls:
    """botocore calls made by the service's cached clients, by (service, operation)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def _on_call(self, model: Any, **_: Any) -> None:
        self.counts[(model.service_model.service_name, model.name)] += 1

    def attach(self) -> None:
        from chalicelib import aws

        for name in ("dynamodb", "sqs", "kms"):
            aws._client(name).meta.events.register("before-call.*.*", self._on_call, unique_id=f"budget-{name}")

    def take(self) -> dict[tuple[str, str], int]:
        out = dict(self.counts)
        self.counts.clear()
        return out


def over_budget(used: dict[tuple[str, str], int], budget: dict[tuple[str, str], int]) -> dict[str, str]:
    return {f"{s}.{op}": f"{n} > {budget.get((s, op), 0)}" for (s, op), n in used.items() if n > budget.get((s, op), 0)}


@pytest.fixture
def calls(aws_env: Any) -> Iterator[Calls]:
    counter = Calls()
    counter.attach()
    yield counter


def _post(client: Any, body: dict[str, Any], idem: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
    if idem:
        headers["Idempotency-Key"] = idem
    resp = client.http.post(SEND, headers=headers, body=json.dumps(body))
    assert resp.status_code == 200, resp.body
    answer: dict[str, Any] = json.loads(resp.body)
    return answer


def test_outbound_sends_stay_within_the_call_budget(
    client: Any, make_tenant: Any, tg: FakeTelegram, openclaw: Any, sqs_event: Any, calls: Calls
) -> None:
    make_tenant("t1", openclaw.url, KEY)
    bind_telegram("t1", DM)
    text = {"channel": "telegram", "sessionKey": SESSION, "text": "hello"}
    sent = _post(client, text)  # warms the container: the key and session are known from here on
    update = private_update(int(DM), "a message to reply to")
    post_update(client, update)
    drain(sqs_event)  # forwarded: the tenant may now reply to it
    assert len(openclaw.received) == 1
    forwarded = str(update["message"]["message_id"])
    calls.take()

    used: dict[str, dict[tuple[str, str], int]] = {}
    _post(client, text)
    used["text"] = calls.take()
    _post(client, text, idem="budget-key-1")
    used["text, new Idempotency-Key"] = calls.take()
    _post(client, text, idem="budget-key-1")
    used["text, replayed Idempotency-Key"] = calls.take()
    _post(client, {**text, "replyToId": forwarded})
    used["reply to a forwarded message"] = calls.take()
    edit = {"method": "editMessageText", "body": {"message_id": int(sent["messageId"]), "text": "edited"}}
    _post(client, {"channel": "telegram", "sessionKey": SESSION, "raw": {"telegram": edit}})
    used["edit of a sent message"] = calls.take()
    _post(client, {"channel": "telegram", "sessionKey": SESSION, "op": "action", "action": "typing"})
    used["typing"] = calls.take()

    reply = tg.calls("sendMessage")[-1].body
    assert reply["reply_parameters"]["message_id"] == int(forwarded)  # the reply was recognised as the tenant's
    assert {name: over_budget(used[name], budget) for name, budget in OUTBOUND_BUDGET.items()} == {
        name: {} for name in OUTBOUND_BUDGET
    }, used


def test_an_inbound_message_stays_within_the_call_budget(
    client: Any, make_tenant: Any, tg: FakeTelegram, openclaw: Any, sqs_event: Any, calls: Calls
) -> None:
    make_tenant("t1", openclaw.url, KEY)
    bind_telegram("t1", DM)
    post_update(client, private_update(int(DM), "warm-up"))
    drain(sqs_event)
    calls.take()
    for n in range(3):
        post_update(client, private_update(int(DM), f"message {n}"))
        drain(sqs_event)
    assert len(openclaw.received) == 4
    used = {op: n / 3 for op, n in calls.take().items()}
    assert over_budget(used, INBOUND_BUDGET) == {}, used  # type: ignore[arg-type]
