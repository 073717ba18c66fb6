"""The inbound SQS FIFO queue and its dead-letter queue: enqueue, dead-letter with a reason, list, redrive."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from chalicelib import aws
from chalicelib.config import get_settings
from chalicelib.models import QueuedEvent

_SQS_ID = re.compile(r"^[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}$")


def fifo_id(value: str) -> str:
    """A MessageGroupId/MessageDeduplicationId (≤ 128 printable ASCII): the value itself, else its hash."""
    return value if _SQS_ID.match(value) else hashlib.sha256(value.encode("utf-8")).hexdigest()


def enqueue(event: QueuedEvent) -> str:
    """Queue one verified platform event; the group is its route so each chat keeps its order."""
    resp = aws.sqs().send_message(
        QueueUrl=get_settings().require("inbound_queue_url"),
        MessageBody=event.model_dump_json(),
        MessageGroupId=fifo_id(event.routeKey),
        MessageDeduplicationId=fifo_id(event.eventId),
    )
    return str(resp["MessageId"])


def dead_letter_attributes(*, reason: str, status: int | None, attempts: int) -> dict[str, Any]:
    """The message attributes saying why a record was dead-lettered (shared by the inbound and events queues)."""
    attributes: dict[str, Any] = {
        "muxReason": {"DataType": "String", "StringValue": reason[:1000] or "unknown"},
        "muxAttempts": {"DataType": "Number", "StringValue": str(attempts)},
        "muxDeadLetteredAtMs": {"DataType": "Number", "StringValue": str(int(time.time() * 1000))},
    }
    if status is not None:
        attributes["muxStatus"] = {"DataType": "Number", "StringValue": str(status)}
    return attributes


def dead_letter(record: dict[str, Any], *, reason: str, status: int | None, attempts: int) -> None:
    """Move a record to the dead-letter queue with why it failed (the original is then deleted)."""
    attrs = record.get("attributes", {})
    group = attrs.get("MessageGroupId") or "dead-letter"
    attributes = dead_letter_attributes(reason=reason, status=status, attempts=attempts)
    attributes["muxSourceMessageId"] = {"DataType": "String", "StringValue": str(record.get("messageId", ""))}
    aws.sqs().send_message(
        QueueUrl=get_settings().require("dead_letter_queue_url"),
        MessageBody=record["body"],
        MessageGroupId=group,
        MessageDeduplicationId=fifo_id(f"dead:{record.get('messageId', '')}"),
        MessageAttributes=attributes,
    )


def receive_count(record: dict[str, Any]) -> int:
    """SQS's ApproximateReceiveCount of a Lambda record (1 when absent or unreadable)."""
    try:
        return max(1, int(record.get("attributes", {}).get("ApproximateReceiveCount", "1")))
    except ValueError:
        return 1


def change_visibility(receipt_handle: str, seconds: int) -> None:
    change_visibility_on(get_settings().require("inbound_queue_url"), receipt_handle, seconds)


def change_visibility_on(url: str, receipt_handle: str, seconds: int) -> None:
    """ChangeMessageVisibility on queue `url`, clamped to what SQS accepts (0 s to 12 h)."""
    aws.sqs().change_message_visibility(
        QueueUrl=url, ReceiptHandle=receipt_handle, VisibilityTimeout=max(0, min(seconds, 43_200))
    )


def set_visibility_batch(records: list[tuple[str, int]]) -> int:
    """ChangeMessageVisibilityBatch for (receipt handle, seconds) pairs, ten per call; returns how many
    entries SQS refused (a stale receipt handle: that message already came back on its own)."""
    url = get_settings().require("inbound_queue_url")
    refused = 0
    for start in range(0, len(records), 10):
        chunk = records[start : start + 10]
        resp = aws.sqs().change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": max(0, min(seconds, 43_200))}
                for n, (handle, seconds) in enumerate(chunk)
            ],
        )
        refused += len(resp.get("Failed", []))
    return refused


@dataclass
class DeadLetter:
    message_id: str
    receipt_handle: str
    group_id: str
    body: str
    event_id: str | None
    route_key: str | None
    reason: str
    status: int | None
    attempts: int | None
    dead_lettered_at_ms: int | None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.message_id,
            "eventId": self.event_id,
            "routeKey": self.route_key,
            "reason": self.reason,
            "status": self.status,
            "attempts": self.attempts,
            "deadLetteredAtMs": self.dead_lettered_at_ms,
        }


def _parse_dead(msg: dict[str, Any]) -> DeadLetter:
    attrs = msg.get("MessageAttributes") or {}

    def num(name: str) -> int | None:
        value = attrs.get(name, {}).get("StringValue")
        return int(value) if value is not None else None

    try:
        body = json.loads(msg["Body"])
    except ValueError:
        body = {}
    reason = attrs.get("muxReason", {}).get("StringValue")
    if reason is None:
        count = msg.get("Attributes", {}).get("ApproximateReceiveCount", "?")
        reason = f"moved by the queue's redrive policy after {count} receives (worker crash or timeout)"
    return DeadLetter(
        message_id=msg["MessageId"],
        receipt_handle=msg["ReceiptHandle"],
        group_id=msg.get("Attributes", {}).get("MessageGroupId", "dead-letter"),
        body=msg["Body"],
        event_id=body.get("eventId") if isinstance(body, dict) else None,
        route_key=body.get("routeKey") if isinstance(body, dict) else None,
        reason=reason,
        status=num("muxStatus"),
        attempts=num("muxAttempts"),
        dead_lettered_at_ms=num("muxDeadLetteredAtMs"),
    )


def _receive_dead(limit: int, hold_sec: int) -> list[DeadLetter]:
    url = get_settings().require("dead_letter_queue_url")
    out: list[DeadLetter] = []
    while len(out) < limit:
        resp = aws.sqs().receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, limit - len(out)),
            VisibilityTimeout=hold_sec,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        batch = resp.get("Messages", [])
        if not batch:
            break
        out.extend(_parse_dead(m) for m in batch)
    return out


def list_dead(limit: int = 100) -> list[DeadLetter]:
    """Peek at dead letters (they are received, then made visible again at once)."""
    url = get_settings().require("dead_letter_queue_url")
    found = _receive_dead(limit, hold_sec=30)
    for dead in found:
        aws.sqs().change_message_visibility(QueueUrl=url, ReceiptHandle=dead.receipt_handle, VisibilityTimeout=0)
    return found


@dataclass(frozen=True)
class RedriveResult:
    moved: list[str]
    more: bool  # stopped at the limit or the time budget with dead letters left: call again
    before_ms: int  # the cutoff used: dead letters made after it (e.g. redriven and refused again) stay


def redrive(
    ids: set[str] | None, limit: int = 1000, before_ms: int | None = None, budget_sec: float = 20.0
) -> RedriveResult:
    """Send dead letters (all, or those with the given message ids) back to the inbound queue, in order.

    FIFO receives hand out nothing more of a chat while its received messages are in flight, so "all" moves
    each batch before receiving the next one (that releases the chat's next messages) until the queue has no
    dead letter older than `before_ms` (default: now), `limit` are moved, or the time budget (API Gateway
    answers within 29 s) is spent. Newer dead letters are held, not moved: a message refused again during the
    run is not redriven in a loop."""
    dlq = get_settings().require("dead_letter_queue_url")
    inbound = get_settings().require("inbound_queue_url")
    cutoff = int(time.time() * 1000) if before_ms is None else before_ms
    deadline = time.monotonic() + budget_sec
    moved: list[str] = []
    held: list[DeadLetter] = []
    stamp = str(int(time.time() * 1000))
    more = False
    while True:
        if len(moved) >= limit or time.monotonic() > deadline:
            more = True
            break
        batch = _receive_dead(min(10, limit - len(moved)), hold_sec=60)[: limit - len(moved)]
        if not batch:
            break
        for dead in batch:
            newer = dead.dead_lettered_at_ms is not None and dead.dead_lettered_at_ms > cutoff
            if newer or (ids is not None and dead.message_id not in ids):
                held.append(dead)
                continue
            aws.sqs().send_message(
                QueueUrl=inbound,
                MessageBody=dead.body,
                MessageGroupId=dead.group_id,
                # A fresh id: SQS would otherwise drop it as a duplicate of the original send for 5 minutes.
                MessageDeduplicationId=fifo_id(f"redrive:{dead.message_id}:{stamp}"),
            )
            aws.sqs().delete_message(QueueUrl=dlq, ReceiptHandle=dead.receipt_handle)
            moved.append(dead.message_id)
        if ids is not None and not (ids - set(moved)):
            break
    for dead in held:
        aws.sqs().change_message_visibility(QueueUrl=dlq, ReceiptHandle=dead.receipt_handle, VisibilityTimeout=0)
    return RedriveResult(moved=moved, more=more, before_ms=cutoff)


def delete_batch(receipt_handles: list[str]) -> int:
    """DeleteMessageBatch on the inbound queue, ten per call; returns how many SQS did not delete."""
    return delete_batch_from(get_settings().require("inbound_queue_url"), receipt_handles)


def delete_batch_from(url: str, receipt_handles: list[str]) -> int:
    """DeleteMessageBatch on queue `url`, ten per call; returns how many SQS did not delete."""
    undeleted = 0
    for start in range(0, len(receipt_handles), 10):
        chunk = receipt_handles[start : start + 10]
        resp = aws.sqs().delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": handle} for n, handle in enumerate(chunk)]
        )
        undeleted += len(resp.get("Failed", []))
    return undeleted
