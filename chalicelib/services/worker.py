"""The inbound queue consumer: FIFO partial batch responses, backoff, dead-lettering with a reason.

Message groups (chats) of a batch run in parallel threads; within a group, per record, in queue order:
* success (forwarded, ignored, duplicate, notice sent) → not reported, so Lambda deletes it;
* `RetryLaterError` or an unexpected exception → its visibility is set to the backoff of its attempt
  (growing: MUX_RETRY_BASE_DELAY_SEC · 2^(n-1), capped) and it is reported as a failure; every later
  record of the *same message group* in the batch is reported too, unprocessed, and released at once
  (visibility 0): SQS FIFO keeps the group closed while its head is in flight, so they come back right
  behind it, in order — not after the queue's default visibility timeout. Other groups (other chats,
  other tenants) go on;
* `DeferredError` (too little time left in this invocation for the tenant's timeout) → released at once
  and reported, with the rest of its group, for the next invocation; not an attempt;
* `RejectedError` (OpenClaw answered a permanent 4xx), or a retryable failure that has used the budget
  (MUX_RETRY_MAX_ATTEMPTS attempts, or older than the retry window) → copied to the dead-letter queue
  with the reason and status, then deleted. The queue's own redrive policy stays as a safety net for
  crashes and timeouts.

A small processor is written here rather than Powertools' SqsFifoPartialProcessor: that one raises when a
whole batch fails (a one-message batch during a tenant outage) and costs ~120 ms of import at cold start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib import observability
from chalicelib.config import get_settings
from chalicelib.models import QueuedEvent
from chalicelib.queue import change_visibility, dead_letter, set_visibility_batch
from chalicelib.services.inbound import DeferredError, RejectedError, RetryLaterError, process


def _attempt(record: dict[str, Any]) -> int:
    try:
        return max(1, int(record.get("attributes", {}).get("ApproximateReceiveCount", "1")))
    except ValueError:
        return 1


def _age_sec(record: dict[str, Any]) -> float:
    try:
        sent_ms = int(record.get("attributes", {}).get("SentTimestamp", "0"))
    except ValueError:
        return 0.0
    return max(0.0, time.time() - sent_ms / 1000.0) if sent_ms else 0.0


MAX_PARALLEL_GROUPS = 10  # a Lambda SQS batch holds at most 10 records


def handle_batch(event: dict[str, Any], time_left_ms: Callable[[], int] | None = None) -> dict[str, Any]:
    """Process a batch: message groups in parallel (one chat's slow OpenClaw never holds up another
    chat's message in the same batch), each group's records in order."""
    records: list[dict[str, Any]] = event.get("Records", [])
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(record.get("attributes", {}).get("MessageGroupId", ""), []).append(record)
    try:
        if len(groups) <= 1:
            results = [_run_group(recs, time_left_ms) for recs in groups.values()]
        else:
            with ThreadPoolExecutor(max_workers=min(len(groups), MAX_PARALLEL_GROUPS)) as pool:
                results = list(pool.map(lambda recs: _run_group(recs, time_left_ms), groups.values()))
        failed = {record_id for result in results for record_id in result.failed}
        held_back = [(handle, 0) for result in results for handle in result.held_back]
        if held_back:
            _release(held_back)
    finally:
        observability.flush()
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records if r["messageId"] in failed]}


def _release(records: list[tuple[str, int]]) -> None:
    try:
        set_visibility_batch(records)
    except Exception:  # noqa: BLE001 - the queue's own visibility timeout then applies
        observability.logger().warning("could not release held-back records", exc_info=True)


class _GroupResult:
    def __init__(self) -> None:
        self.failed: list[str] = []
        self.held_back: list[str] = []  # receipt handles to release at once (not attempted)


def _run_group(records: list[dict[str, Any]], time_left_ms: Callable[[], int] | None) -> _GroupResult:
    result = _GroupResult()
    blocked = False
    for record in records:
        if blocked:
            result.failed.append(record["messageId"])
            result.held_back.append(record["receiptHandle"])
            continue
        outcome = handle_record(record, time_left_ms)
        if outcome == DEFERRED:
            result.failed.append(record["messageId"])
            result.held_back.append(record["receiptHandle"])
            blocked = True
        elif outcome is not None:
            result.failed.append(record["messageId"])
            blocked = True
    return result


DEFERRED = -1


def handle_record(record: dict[str, Any], time_left_ms: Callable[[], int] | None = None) -> int | None:
    """Process one record: None when it is finished (delete it), DEFERRED when it was not attempted
    (the invocation is about to run out of time), else the delay before its retry."""
    attempt = _attempt(record)
    observability.clear_log_keys()
    try:
        event = QueuedEvent.model_validate_json(record["body"])
    except ValueError:
        _dead_letter(record, "the queued message is not a valid event", None, attempt)
        return None
    observability.log_keys(event_id=event.eventId, route_key=event.routeKey, attempt=attempt)
    try:
        outcome = process(event, attempt, time_left_ms)
    except DeferredError:
        observability.count("Deferred", channel=event.channel)
        return DEFERRED
    except RejectedError as exc:
        observability.logger().warning("permanently rejected", extra={"status": exc.status})
        _dead_letter(record, exc.reason, exc.status, attempt, exc.detail)
        return None
    except RetryLaterError as exc:
        return _retry(record, exc.reason, exc.status, attempt, exc.detail)
    except Exception as exc:  # noqa: BLE001 - anything unexpected is retried, never lost
        observability.logger().exception("inbound processing failed")
        return _retry(record, f"internal error ({type(exc).__name__})", None, attempt)
    observability.logger().info("inbound handled", extra={"outcome": outcome})
    return None


def _retry(record: dict[str, Any], reason: str, status: int | None, attempt: int, detail: str = "") -> int | None:
    settings = get_settings()
    if attempt >= settings.retry_max_attempts or (
        attempt > 1 and _age_sec(record) > settings.retry_window_sec + settings.retry_max_delay_sec
    ):
        _dead_letter(record, f"retry budget exhausted after {attempt} attempts; last error: {reason}", status,
                     attempt, detail)
        return None
    delay = settings.retry_delay_sec(attempt)
    observability.count("Retries", channel="telegram")
    observability.logger().warning("will retry", extra={"reason": reason, "status": status, "delaySec": delay})
    try:
        change_visibility(record["receiptHandle"], delay)
    except Exception:  # noqa: BLE001 - the queue's own visibility timeout then applies
        observability.logger().warning("could not set retry delay", exc_info=True)
    return delay


def _dead_letter(record: dict[str, Any], reason: str, status: int | None, attempts: int, detail: str = "") -> None:
    # If this send fails the exception propagates: the batch fails and the record is retried, not lost.
    recorded = f"{reason}: {detail}" if detail else reason
    dead_letter(record, reason=recorded, status=status, attempts=attempts)
    observability.count("DeadLettered", channel="telegram")
    observability.logger().error("dead-lettered", extra={"reason": reason, "status": status})
