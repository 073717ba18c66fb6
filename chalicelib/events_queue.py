"""The control-plane events SQS queue (standard) and its dead-letter queue: send, backoff, dead-letter, delete."""

from __future__ import annotations

from typing import Any

from chalicelib import aws, queue
from chalicelib.config import get_settings


def send(body: str) -> None:
    """Queue one event (a standard queue: no group, no deduplication id; the event id lets receivers dedupe)."""
    aws.sqs().send_message(QueueUrl=get_settings().require("events_queue_url"), MessageBody=body)


def change_visibility(receipt_handle: str, seconds: int) -> None:
    queue.change_visibility_on(get_settings().require("events_queue_url"), receipt_handle, seconds)


def dead_letter(record: dict[str, Any], *, reason: str, status: int | None, attempts: int) -> None:
    """Copy a record to the events dead-letter queue with why it failed (the caller then lets it be deleted)."""
    aws.sqs().send_message(
        QueueUrl=get_settings().require("events_dead_letter_queue_url"),
        MessageBody=record["body"],
        MessageAttributes=queue.dead_letter_attributes(reason=reason, status=status, attempts=attempts),
    )


def delete_batch(receipt_handles: list[str]) -> int:
    """DeleteMessageBatch on the events queue, ten per call; returns how many SQS did not delete."""
    return queue.delete_batch_from(get_settings().require("events_queue_url"), receipt_handles)
