"""Local stand-in for Lambda's SQS event source mapping: receive, invoke the handler, delete what succeeded.

Semantics copied from Lambda with `FunctionResponseTypes: [ReportBatchItemFailures]` (what
infra/resources.json configures): records listed in `batchItemFailures` stay on the queue (they come
back after their visibility timeout; the worker may have changed it for backoff), every other record
is deleted; if the handler raises, or answers with a malformed failure list, the whole batch stays.
SQS redrive moves a message to the dead-letter queue after `maxReceiveCount` receives, as in AWS.

Like Lambda's event source mapping, several batches run at once (`concurrency` receive → invoke →
delete loops on one queue). On a FIFO queue SQS itself keeps each message group in order: while a group
has messages in flight, no receive hands out more of it (moto implements this), so concurrent batches
never hold two messages of one chat.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("local.poller")

Handler = Callable[[dict[str, Any], Any], Any]


def _message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """SQS API message attributes → the lowerCamelCase shape Lambda puts in `messageAttributes`."""
    out: dict[str, Any] = {}
    for name, value in attributes.items():
        binary = value.get("BinaryValue")
        out[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode("ascii") if binary is not None else None,
            "stringListValues": list(value.get("StringListValues", [])),
            "binaryListValues": [
                base64.b64encode(b).decode("ascii") for b in value.get("BinaryListValues", [])
            ],
            "dataType": value.get("DataType", "String"),
        }
    return out


def lambda_sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """A Lambda SQS event for messages returned by `ReceiveMessage` (with `All` system attributes)."""
    records = []
    for message in messages:
        attributes = {
            key: str(value) for key, value in message.get("Attributes", {}).items() if value is not None
        }
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message.get("Body", ""),
                "attributes": attributes,
                "messageAttributes": _message_attributes(message.get("MessageAttributes", {})),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def failed_message_ids(result: Any, message_ids: list[str]) -> set[str]:
    """The ids Lambda would keep on the queue for this handler result (all of them if it is malformed)."""
    if result is None:
        return set()
    if not isinstance(result, dict):
        return set(message_ids)
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return set(message_ids)
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in message_ids:
            # Lambda treats an empty/unknown itemIdentifier as a failure of the whole batch.
            return set(message_ids)
        failed.add(identifier)
    return failed


class QueuePoller(threading.Thread):
    """Long-polls one queue with `concurrency` loops and feeds batches to a Lambda-style `(event, context)`
    handler. The thread itself supervises the loops: it is alive while they run."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Handler,
        *,
        region: str,
        context_factory: Callable[[], Any],
        batch_size: int = 10,
        wait_seconds: int = 1,
        concurrency: int = 1,
    ) -> None:
        super().__init__(name="sqs-poller", daemon=True)
        self._sqs = sqs
        self._queue_url = queue_url
        self._handler = handler
        self._region = region
        self._context_factory = context_factory
        self._batch_size = batch_size
        self._wait_seconds = wait_seconds
        self.concurrency = max(1, concurrency)
        self._stop_event = threading.Event()
        self._queue_arn: str | None = None
        self._counts_lock = threading.Lock()
        self._loops: list[threading.Thread] = []
        self.batches = 0
        self.deleted = 0
        self.kept = 0

    def stop(self, timeout: float | None = None) -> None:
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    def queue_arn(self) -> str:
        if self._queue_arn is None:
            attributes = self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])
            self._queue_arn = str(attributes["Attributes"]["QueueArn"])
        return self._queue_arn

    def run(self) -> None:
        self._loops = [
            threading.Thread(target=self._loop, name=f"sqs-poller-{n}", daemon=True)
            for n in range(1, self.concurrency)
        ]
        for loop in self._loops:
            loop.start()
        self._loop()
        for loop in self._loops:
            loop.join()

    def _loop(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # noqa: BLE001 - keep polling; the queue or moto may hiccup
                if self._stop_event.is_set():
                    break
                log.warning("queue poll failed: %s", type(exc).__name__)
                self._stop_event.wait(1.0)

    def poll_once(self) -> int:
        """Receive one batch, invoke the handler, delete the successes. Returns the batch size."""
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=self._wait_seconds,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        if not messages:
            return 0
        event = lambda_sqs_event(messages, self.queue_arn(), self._region)
        ids = [m["MessageId"] for m in messages]
        started = time.monotonic()
        try:
            result = self._handler(event, self._context_factory())
        except Exception:  # noqa: BLE001 - Lambda semantics: a raising handler fails the whole batch
            log.exception("handle_inbound_queue raised; all %d messages stay on the queue", len(ids))
            failed = set(ids)
        else:
            failed = failed_message_ids(result, ids)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)]
            outcome = self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
            for failure in outcome.get("Failed", []):
                log.warning("delete failed for one message: %s", failure.get("Code"))
        with self._counts_lock:
            self.batches += 1
            self.deleted += len(done)
            self.kept += len(failed)
        log.debug(
            "batch of %d: %d deleted, %d kept (%.0f ms)",
            len(ids),
            len(done),
            len(failed),
            (time.monotonic() - started) * 1000,
        )
        return len(ids)
