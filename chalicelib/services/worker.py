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
  (MUX_RETRY_MAX_ATTEMPTS attempts) → copied to the dead-letter queue with the reason and status, then
  deleted.

Attempts are counted per message, not per receive: a record held back behind its chat's failing head, or
deferred, is received again without having been tried, so SQS's ApproximateReceiveCount overstates its
attempts (a chat's third message was charged for every failure of the first two). The count lives in a
small DynamoDB item keyed by the SQS message id (`storage.events.count_attempt`), written only for
messages that need it: a message on its first receive costs nothing extra, and is counted only when it
fails; a message received again is counted *before* it is tried, so an attempt that never finishes
(the worker crashed or timed out) is charged too, and a message that keeps crashing the worker is
dead-lettered by the budget instead of blocking its chat until the queue's redrive. There is no age
rule: time spent held back behind a failing head is not an attempt, and SQS retention (14 days) bounds a
message's life. The queue's redrive (`maxReceiveCount`, far above any budget) is the last safety net,
for when the counter itself cannot be written.

While a tenant's OpenClaw is down, `services.recovery` decides per forward: one message per probe
interval probes it (a real attempt, charged only when its own backoff step has come), the heads of its
other chats are parked (`PARKED`: hidden, not attempted, not charged) and the first answer releases them
all at once; a healthy tenant's forward costs no extra call.

A small processor is written here rather than Powertools' SqsFifoPartialProcessor: that one raises when a
whole batch fails (a one-message batch during a tenant outage) and costs ~120 ms of import at cold start.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib import observability
from chalicelib.clock import now_ms
from chalicelib.config import get_settings
from chalicelib.models import QueuedEvent
from chalicelib.queue import change_visibility, dead_letter, receive_count, set_visibility_batch
from chalicelib.services import notify_events
from chalicelib.services.inbound import DeferredError, RejectedError, RetryLaterError, process
from chalicelib.services.recovery import ForwardGate, ParkedError
from chalicelib.storage import events

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
            # Not attempts: these records were not tried (behind a failing or deferred head of their chat).
            observability.count("HeldBack", len(held_back))
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
        elif outcome == PARKED:  # already hidden by the park; the rest of its chat waits behind it
            result.failed.append(record["messageId"])
            blocked = True
        elif outcome is not None:
            result.failed.append(record["messageId"])
            blocked = True
    return result


DEFERRED = -1
PARKED = -2  # behind its tenant's outage (services.recovery): hidden, not attempted or a probe to come
NOT_COUNTED = 0  # the attempt counter could not be read or written


def handle_record(record: dict[str, Any], time_left_ms: Callable[[], int] | None = None) -> int | None:
    """Process one record: None when it is finished (delete it), DEFERRED when it was not attempted
    (the invocation is about to run out of time), PARKED when its tenant is down (its visibility is set),
    else the delay before its retry."""
    observability.clear_log_keys()
    try:
        event = QueuedEvent.model_validate_json(record["body"])
    except ValueError:
        _dead_letter(record, "the queued message is not a valid event", None, 0, "invalid", "unknown")
        return None
    channel = event.channel
    settings = get_settings()
    # "precounted": this attempt is counted before it is tried; False → counted only if it fails (first
    # receive: nothing to read or write on the success path); None → the counter is unavailable.
    precounted: bool | None = receive_count(record) > 1
    attempt = 1
    if precounted:
        # Received before: count this attempt now, so one that never finishes is charged too.
        try:
            attempt = events.count_attempt(record["messageId"], now_ms())
        except Exception:  # noqa: BLE001 - tried anyway, uncharged; the queue's redrive is the net
            observability.logger().warning("attempt counter unavailable", exc_info=True)
            observability.count("AttemptCounterFailures")
            precounted, attempt = None, receive_count(record)  # > 1: a callback is not answered again
        if attempt > settings.retry_max_attempts and precounted:
            _dead_letter(
                record,
                f"retry budget exhausted after {settings.retry_max_attempts} attempts; the last one did not "
                "finish (worker crash or timeout)",
                None, settings.retry_max_attempts, "unfinished", channel,
            )
            return None
    observability.log_keys(event_id=event.eventId, route_key=event.routeKey, attempt=attempt)
    gate = ForwardGate(record["messageId"], record["receiptHandle"], retried=receive_count(record) > 1)
    try:
        return _handled(record, event, attempt, precounted, channel, gate, time_left_ms)
    finally:
        gate.close()


def _handled(record: dict[str, Any], event: QueuedEvent, attempt: int, precounted: bool | None, channel: str,
             gate: ForwardGate, time_left_ms: Callable[[], int] | None) -> int | None:
    settings = get_settings()
    try:
        outcome = process(event, attempt, time_left_ms, gate)
    except ParkedError:
        if precounted:
            _uncount(record)
        return PARKED
    except DeferredError:
        observability.count("Deferred", channel=channel)
        if precounted:
            _uncount(record)
        return DEFERRED
    except RejectedError as exc:
        observability.logger().warning("permanently rejected", extra={"status": exc.status})
        _dead_letter(record, exc.reason, exc.status, attempt, "rejected", channel, exc.detail)
        _dead_letter_event(gate, event, record, exc.reason, exc.status, attempt, "rejected")
        return None
    except RetryLaterError as exc:
        charged = _charged(record, precounted, attempt)
        if gate.early_probe and precounted and charged > 1:
            # A probe ahead of this message's own backoff step: the tenant's cadence, not its budget.
            _uncount(record)
            charged -= 1
        if gate.forward_failed and NOT_COUNTED < charged < settings.retry_max_attempts:
            if gate.on_failure(charged):
                observability.count("Retries", channel=channel)
                observability.logger().warning("will retry", extra={
                    "reason": exc.reason, "status": exc.status, "tenantDown": True, "probe": gate.mode})
                return PARKED
        delay = _retry(record, exc.reason, exc.status, charged, channel, exc.detail)
        if delay is None and gate.forward_failed:
            gate.on_dead_lettered()
        if delay is None:
            _dead_letter_event(gate, event, record, _budget_reason(charged, exc.reason), exc.status, charged, "budget")
        return delay
    except Exception as exc:  # noqa: BLE001 - anything unexpected is retried, never lost
        observability.logger().exception("inbound processing failed")
        reason, charged = f"internal error ({type(exc).__name__})", _charged(record, precounted, attempt)
        delay = _retry(record, reason, None, charged, channel)
        if delay is None:
            _dead_letter_event(gate, event, record, _budget_reason(charged, reason), None, charged, "budget")
        return delay
    observability.logger().info("inbound handled", extra={"outcome": outcome})
    if attempt > 1:
        observability.count("DeliveredAfterRetry", channel=channel)
    return None


def _charged(record: dict[str, Any], precounted: bool | None, attempt: int) -> int:
    """The attempt number a failure is charged as (NOT_COUNTED when the counter is unavailable)."""
    if precounted is None:
        return NOT_COUNTED
    return attempt if precounted else _count_failure(record)


def _count_failure(record: dict[str, Any]) -> int:
    """The first attempt of a message failed: start its counter (1), or NOT_COUNTED if that fails."""
    try:
        return events.count_attempt(record["messageId"], now_ms())
    except Exception:  # noqa: BLE001 - the retry still happens, uncharged
        observability.logger().warning("attempt counter unavailable", exc_info=True)
        observability.count("AttemptCounterFailures")
        return NOT_COUNTED


def _uncount(record: dict[str, Any]) -> None:
    """A deferred record was counted before it was tried: take the attempt back."""
    try:
        events.count_attempt(record["messageId"], now_ms(), delta=-1)
    except Exception:  # noqa: BLE001 - at worst one attempt of its budget is lost
        observability.logger().warning("could not take back a deferred attempt", exc_info=True)


def _budget_reason(attempt: int, reason: str) -> str:
    return f"retry budget exhausted after {attempt} attempts; last error: {reason}"


def _dead_letter_event(gate: ForwardGate, event: QueuedEvent, record: dict[str, Any], reason: str,
                       status: int | None, attempts: int, why: str) -> None:
    """message.dead_lettered for the tenant the pipeline read (none when it never got that far)."""
    notify_events.message_dead_lettered(
        gate.tenant, gate.binding, event_id=event.eventId, route_key=event.routeKey, status=status,
        reason=reason, attempts=attempts, why=why, source_id=str(record.get("messageId", "")),
    )


def _retry(record: dict[str, Any], reason: str, status: int | None, attempt: int, channel: str,
           detail: str = "") -> int | None:
    settings = get_settings()
    if attempt >= settings.retry_max_attempts:
        _dead_letter(record, _budget_reason(attempt, reason), status, attempt, "budget", channel, detail)
        return None
    return _schedule(record, reason, status, attempt, channel)


def _schedule(record: dict[str, Any], reason: str, status: int | None, attempt: int, channel: str) -> int:
    settings = get_settings()
    # Uncounted (the counter failed): back off by receives, the best estimate left.
    delay = settings.retry_delay_sec(attempt or min(receive_count(record), settings.retry_max_attempts))
    observability.count("Retries", channel=channel)
    observability.logger().warning("will retry", extra={"reason": reason, "status": status, "delaySec": delay})
    try:
        change_visibility(record["receiptHandle"], delay)
    except Exception:  # noqa: BLE001 - the queue's own visibility timeout then applies
        observability.logger().warning("could not set retry delay", exc_info=True)
    return delay


def _dead_letter(record: dict[str, Any], reason: str, status: int | None, attempts: int, why: str, channel: str,
                 detail: str = "") -> None:
    # If this send fails the exception propagates: the batch fails and the record is retried, not lost.
    recorded = f"{reason}: {detail}" if detail else reason
    dead_letter(record, reason=recorded, status=status, attempts=attempts)
    observability.count("DeadLettered", channel=channel, reason=why)
    observability.logger().error("dead-lettered", extra={"reason": reason, "status": status})
