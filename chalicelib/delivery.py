"""HTTP delivery of one envelope to a tenant's OpenClaw (`POST <inboundUrl>`), with result classification.

2xx = delivered. Only 400, 413, 415 and 422 are permanent rejections (the envelope itself is unacceptable;
CONTRACT §8). Everything else is retried within the budget: 401/403/404 are what a tenant answers in the
middle of a key rotation or a configuration fix, and network errors, timeouts, 3xx, 408, 409, 429 and 5xx
are passing by nature. Redirects are not followed: the SSRF guard checked the configured URL, not wherever
a redirect would lead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PERMANENT_STATUSES = frozenset({400, 413, 415, 422})
# Metric dimension values for OpenClaw's answers: these codes by name, any other by class (a tenant
# answering odd codes must not create unbounded metric series).
_NAMED_STATUSES = frozenset({400, 401, 403, 404, 408, 409, 413, 415, 422, 429, 500, 502, 503, 504})


def is_permanent(status: int) -> bool:
    """A non-2xx answer that retrying cannot fix (dead letter at once)."""
    return status in PERMANENT_STATUSES


def status_dimension(status: int | None) -> str:
    """`401`, `503`, … `3xx`/`4xx`/`5xx` for other codes, `none` when no answer came (timeout, connection)."""
    if status is None:
        return "none"
    return str(status) if status in _NAMED_STATUSES else f"{status // 100}xx"


# Only the start of an answer is kept (a 200-character detail); a huge answer must not cost memory or time.
MAX_ANSWER_BYTES = 65536


@dataclass(frozen=True)
class DeliveryResult:
    delivered: bool
    retryable: bool
    status: int | None
    reason: str  # safe to log: never holds anything OpenClaw sent back
    detail: str = ""  # the start of OpenClaw's answer: recorded with a dead letter, never logged


def post_envelope(
    url: str, key: str, envelope: dict[str, Any], timeout_ms: int, extra_headers: dict[str, str] | None = None
) -> DeliveryResult:
    """POST the envelope within `timeout_ms` (a deadline for the whole exchange, chalicelib.egress), with the
    SSRF guard on the address actually connected to."""
    from chalicelib import egress

    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json; charset=utf-8",
        "X-Mux-Event-Id": str(envelope.get("eventId", "")),
        **(extra_headers or {}),
    }
    timeout = max(timeout_ms, 100) / 1000.0
    try:
        resp = egress.request("POST", url, headers=headers, body=body, timeout_s=timeout,
                              max_bytes=MAX_ANSWER_BYTES, guard=True)
    except egress.EgressTimeoutError:
        return DeliveryResult(False, True, None, f"timed out after {timeout_ms} ms")
    except egress.EgressRefusedError:
        # The name now resolves to a private address (DNS rebinding, or a changed record): nothing was sent.
        return DeliveryResult(False, True, None, "inboundUrl resolves to an address that is not allowed")
    except egress.EgressError as exc:
        return DeliveryResult(False, True, None, str(exc))
    status = resp.status_code
    if 200 <= status < 300:
        return DeliveryResult(True, False, status, "delivered")
    # OpenClaw's error text may echo the message it refused: it goes to the dead letter, not to logs.
    detail = resp.text[:200].replace("\n", " ") if resp.text else ""
    reason = f"OpenClaw answered HTTP {status}"
    if is_permanent(status):
        return DeliveryResult(False, False, status, reason, detail)
    return DeliveryResult(False, True, status, reason, detail)
