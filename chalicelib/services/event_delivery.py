"""The control-plane events consumer: sign each queued event with its tenant's key, POST it to the tenant's
events URL, back off and retry failures, dead-letter what used the budget.

* Target, read at every attempt (one GetItem, off the chat path): the tenant's current `eventsUrl` and key, so
  a key rotation or a changed URL applies to events already queued; a tenant whose URL was removed gets none
  of them (dropped, `EventsDropped{reason}`). Each message also carries the target as it was at the emit (URL
  and the KMS-encrypted key, never the key itself): used only when the tenant record is gone, so a deleted
  tenant's control plane still gets the events of its last moments, `binding.removed` by the delete included.
* Request: `POST <eventsUrl>`, the event as compact JSON, `X-Mux-Timestamp` (Unix seconds, fresh per attempt),
  `X-Mux-Signature: hex(HMAC-SHA256(tenant key, ts + "." + raw body))`, `X-Mux-Event-Id`, `X-Mux-Event-Type`.
  The key itself is never sent. SSRF guard on the address connected to (chalicelib.egress), redirects not
  followed, 10 s for the whole exchange, 4 KiB of the answer read.
* Any 2xx = delivered (`EventsDelivered{type}`). Anything else, a timeout or a refused address is retried
  (`EventDeliveryFailures{status}`): the record is hidden for MUX_EVENTS_RETRY_BASE_DELAY_SEC · 2^(n-1)
  (capped at MUX_EVENTS_RETRY_MAX_DELAY_SEC) and reported as a batch item failure; the attempt number is
  SQS's receive count (a standard queue holds nothing back, so every receive is an attempt). The
  MUX_EVENTS_MAX_ATTEMPTS-th failure copies it to the events dead-letter queue with the reason and status
  (`EventsDeadLettered{reason}`). Order is not kept (a standard queue); receivers order by `createdAtMs`
  and drop duplicates by `eventId` (delivery is at least once).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from chalicelib import events_queue, observability, queue, secrets
from chalicelib.config import get_settings
from chalicelib.delivery import status_dimension
from chalicelib.services.notify_events import TYPES

TIMEOUT_SEC = 10.0
MAX_ANSWER_BYTES = 4096


def signature(key: str, timestamp: str, body: bytes) -> str:
    """hex(HMAC-SHA256(key, timestamp + "." + body)): what `X-Mux-Signature` carries."""
    return hmac.new(key.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status: int | None
    reason: str  # safe to log


def post_event(url: str, key: str, event: dict[str, Any]) -> Outcome:
    from chalicelib import egress

    body = body_of(event)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Mux-Timestamp": timestamp,
        "X-Mux-Signature": signature(key, timestamp, body),
        "X-Mux-Event-Id": str(event.get("eventId", "")),
        "X-Mux-Event-Type": str(event.get("type", "")),
    }
    try:
        answer = egress.request("POST", url, headers=headers, body=body, timeout_s=TIMEOUT_SEC,
                                max_bytes=MAX_ANSWER_BYTES, guard=True)
    except egress.EgressTimeoutError:
        return Outcome(False, None, f"timed out after {TIMEOUT_SEC:g} s")
    except egress.EgressRefusedError:
        return Outcome(False, None, "eventsUrl resolves to an address that is not allowed")
    except egress.EgressError as exc:
        return Outcome(False, None, str(exc))
    if 200 <= answer.status_code < 300:
        return Outcome(True, answer.status_code, "delivered")
    return Outcome(False, answer.status_code, f"the events URL answered HTTP {answer.status_code}")


def handle_batch(event: dict[str, Any]) -> dict[str, Any]:
    """Deliver a batch (in parallel: one slow receiver must not hold up the other tenants' events)."""
    records: list[dict[str, Any]] = event.get("Records", [])
    try:
        if len(records) <= 1:
            finished = [handle_record(r) for r in records]
        else:
            with ThreadPoolExecutor(max_workers=min(len(records), 10)) as pool:
                finished = list(pool.map(handle_record, records))
    finally:
        observability.flush()
    failed = [r["messageId"] for r, done in zip(records, finished, strict=True) if not done]
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


def handle_record(record: dict[str, Any]) -> bool:
    """Deliver one queued event; True when the record is finished (delivered, dropped or dead-lettered)."""
    attempt = queue.receive_count(record)
    try:
        message = json.loads(record["body"])
        event = message["event"]
        tenant_id = str(event["tenantId"])
        kind = str(event["type"])
    except (ValueError, KeyError, TypeError):
        return _dead_letter(record, "the queued message is not a valid event", None, attempt, "invalid")
    try:
        target = _target(tenant_id, message.get("target"))
        if isinstance(target, str):
            observability.count("EventsDropped", reason=target)
            return True
        url, key = target
        outcome = post_event(url, key, event)
    except Exception as exc:  # noqa: BLE001 - an AWS hiccup (table, KMS) is retried like a failed POST
        observability.logger().warning("event delivery failed", exc_info=True)
        outcome = Outcome(False, None, f"internal error ({type(exc).__name__})")
    if outcome.delivered:
        observability.count("EventsDelivered", type=kind if kind in TYPES else "other")
        return True
    observability.count("EventDeliveryFailures", status=status_dimension(outcome.status))
    settings = get_settings()
    if attempt >= settings.events_max_attempts:
        return _dead_letter(
            record, f"retry budget exhausted after {attempt} attempts; last error: {outcome.reason}",
            outcome.status, attempt, "budget",
        )
    delay = settings.events_retry_delay_sec(attempt)
    observability.logger().info(
        "event will be retried", extra={"tenant_id": tenant_id, "status": outcome.status, "delaySec": delay}
    )
    try:
        events_queue.change_visibility(record["receiptHandle"], delay)
    except Exception:  # noqa: BLE001 - the queue's own visibility timeout then applies
        observability.logger().warning("could not set the event's retry delay", exc_info=True)
    return False


def _target(tenant_id: str, snapshot: Any) -> tuple[str, str] | str:
    """(events URL, tenant key) to deliver to, or why the event is dropped."""
    from chalicelib.storage import tenants as tenant_store

    tenant = tenant_store.get(tenant_id)
    if tenant is not None:
        if not tenant.events_url or tenant.mode != "shared-key":
            return "no_events_url"
        return tenant.events_url, secrets.decrypt_key(tenant.tenant_id, tenant.key_ciphertext)
    if isinstance(snapshot, dict) and snapshot.get("url") and snapshot.get("keyCiphertext"):
        return str(snapshot["url"]), secrets.decrypt_key(tenant_id, str(snapshot["keyCiphertext"]))
    return "tenant_deleted"


def _dead_letter(record: dict[str, Any], reason: str, status: int | None, attempts: int, why: str) -> bool:
    # If this send fails the exception propagates: the batch fails and the record is retried, not lost.
    events_queue.dead_letter(record, reason=reason, status=status, attempts=attempts)
    observability.count("EventsDeadLettered", reason=why)
    observability.logger().error("event dead-lettered", extra={"reason": reason, "status": status})
    return True
