"""The control-plane events SQS queue (standard) and its dead-letter queue: send, backoff, dead-letter, delete."""

from __future__ import annotations

import time
from typing import Any

from chalicelib import aws
from chalicelib.config import get_settings


def send(body: str) -> None:
    """Queue one event (a standard queue: no group, no deduplication id; the event id lets receivers dedupe)."""
    aws.sqs().send_message(QueueUrl=get_settings().require("events_queue_url"), MessageBody=body)


def change_visibility(receipt_handle: str, seconds: int) -> None:
    aws.sqs().change_message_visibility(
        QueueUrl=get_settings().require("events_queue_url"),
        ReceiptHandle=receipt_handle,
        VisibilityTimeout=max(0, min(seconds, 43_200)),
    )


def dead_letter(record: dict[str, Any], *, reason: str, status: int | None, attempts: int) -> None:
    """Copy a record to the events dead-letter queue with why it failed (the caller then lets it be deleted)."""
    attributes: dict[str, Any] = {
        "muxReason": {"DataType": "String", "StringValue": reason[:1000] or "unknown"},
        "muxAttempts": {"DataType": "Number", "StringValue": str(attempts)},
        "muxDeadLetteredAtMs": {"DataType": "Number", "StringValue": str(int(time.time() * 1000))},
    }
    if status is not None:
        attributes["muxStatus"] = {"DataType": "Number", "StringValue": str(status)}
    aws.sqs().send_message(
        QueueUrl=get_settings().require("events_dead_letter_queue_url"),
        MessageBody=record["body"],
        MessageAttributes=attributes,
    )


def delete_batch(receipt_handles: list[str]) -> int:
    """DeleteMessageBatch on the events queue, ten per call; returns how many SQS did not delete."""
    url = get_settings().require("events_queue_url")
    undeleted = 0
    for start in range(0, len(receipt_handles), 10):
        chunk = receipt_handles[start : start + 10]
        resp = aws.sqs().delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": handle} for n, handle in enumerate(chunk)]
        )
        undeleted += len(resp.get("Failed", []))
    return undeleted
