"""Narrow fixes to moto for the local stack: SQS's cost per call (same answers), and no instance tracking.

Measured with 1,000 messages on a FIFO queue (moto 5.2.5): a ReceiveMessage took ≈ 300 ms and a SendMessage
≈ 100 ms of CPU, 98 % of it in `moto.core.utils.unix_time`, which builds three `datetime` objects per call:
`Queue.messages` asks every message `visible` and `delayed` (one clock read each), the approximate counts in
`Queue.attributes` scan the queue three times more, and every message a receive hands out re-reads
`MessageRetentionPeriod` through `get_queue_attributes`, which builds `Queue.attributes` three times (nine
scans of the whole queue per received message). The replacements, loaded only by the local stack
(`install()`, from `local.awsstate.EmbeddedAws`):

* `unix_time` / `unix_time_millis` as moto.sqs.models sees them: the same number (seconds since the epoch,
  to the microsecond, computed the same way) from `time.time_ns()` instead of three datetimes;
* `Queue.messages` (visible and not delayed) and the three approximate counts: the same filters, with one
  clock read per scan instead of one per message and check (so the whole queue is judged at one instant);
* `SQSBackend.is_message_valid_based_on_retention_period`: reads the queue's `message_retention_period`
  (the value `get_queue_attributes` returns for it) instead of computing every attribute three times.

And memory: every moto model object ever created — each deep copy a DynamoDB read or write makes of an
item included — is appended to a class-level `instances_tracked` list, kept for moto's dashboard data
(`/moto-api/data.json`) and S3's reset, neither of which the local stack uses: the stack's RSS grew by
hundreds of MiB over a thousand messages. `BaseModel.__new__` stops tracking (it only creates the object).

Everything else — FIFO groups and their in-flight blocking, visibility, deduplication, redrive to the DLQ,
receipt handles — is moto's own code, unchanged; tests/integration/test_local_moto_fixes.py runs the same
scenarios with and without the fixes and compares the results.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_ORIGINALS: dict[str, Any] = {}


def unix_time(dt: Any = None) -> float:
    """moto's `unix_time`: with no argument, now (what moto computes from `utcnow()`, to the microsecond)."""
    if dt is not None:
        return float(_ORIGINALS["unix_time"](dt))
    micros = time.time_ns() // 1000
    seconds, micro = divmod(micros, 1_000_000)
    days, rest = divmod(seconds, 86400)
    # moto's own arithmetic on (days, seconds, microseconds) of a timedelta, so the floats are the same.
    return float(days * 86400 + (rest + micro / 1e6))


def unix_time_millis(dt: Any = None) -> float:
    return unix_time(dt) * 1000.0


def _retention_valid(self: Any, queue_name: str, message: Any) -> bool:
    queue = self.get_queue(queue_name)
    retention_period = queue.message_retention_period
    if retention_period is None:  # moto's lookup would omit it (KeyError): let the original decide
        return bool(_ORIGINALS["retention"](self, queue_name, message))
    retain_until = retention_period + message.sent_timestamp / 1000
    return not retain_until <= unix_time()


# One clock read per scan instead of one per message and check (the same instant for the whole queue).
def _messages(self: Any) -> list[Any]:
    now = unix_time_millis()
    return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]


def _delayed_count(self: Any) -> int:
    now = unix_time_millis()
    return sum(1 for m in self._messages if now < m.delayed_until)


def _not_visible_count(self: Any) -> int:
    now = unix_time_millis()
    return sum(1 for m in self._messages if not now > m.visible_at)


def _visible_count(self: Any) -> int:
    return len(_messages(self))


_PROPERTIES = {
    "messages": _messages,
    "approximate_number_of_messages_delayed": _delayed_count,
    "approximate_number_of_messages_not_visible": _not_visible_count,
    "approximate_number_of_messages": _visible_count,
}


def _untracked_new(cls: Any, *args: Any, **kwargs: Any) -> Any:
    return object.__new__(cls)


def installed() -> bool:
    return bool(_ORIGINALS)


def install() -> None:
    """Apply the fixes to moto's SQS in this process (idempotent)."""
    if _ORIGINALS:
        return
    from moto.sqs import models

    for name, fixed in (("unix_time", unix_time), ("unix_time_millis", unix_time_millis)):
        _ORIGINALS[name] = getattr(models, name)
        setattr(models, name, fixed)
    _ORIGINALS["retention"] = models.SQSBackend.is_message_valid_based_on_retention_period
    setattr(models.SQSBackend, "is_message_valid_based_on_retention_period", _retention_valid)  # noqa: B010
    for name, getter in _PROPERTIES.items():
        _ORIGINALS[f"Queue.{name}"] = getattr(models.Queue, name)
        setattr(models.Queue, name, property(getter))
    from moto.core.common_models import BaseModel

    _ORIGINALS["BaseModel.__new__"] = BaseModel.__dict__["__new__"]
    BaseModel.__new__ = staticmethod(_untracked_new)  # type: ignore[method-assign]


def uninstall() -> None:
    """Put moto's own functions back (for the equivalence tests)."""
    if not _ORIGINALS:
        return
    from moto.sqs import models

    for name in ("unix_time", "unix_time_millis"):
        setattr(models, name, _ORIGINALS.pop(name))
    setattr(models.SQSBackend, "is_message_valid_based_on_retention_period", _ORIGINALS.pop("retention"))  # noqa: B010
    for name in _PROPERTIES:
        setattr(models.Queue, name, _ORIGINALS.pop(f"Queue.{name}"))
    from moto.core.common_models import BaseModel

    BaseModel.__new__ = _ORIGINALS.pop("BaseModel.__new__")  # type: ignore[method-assign]


@contextmanager
def fixes(enabled: bool = True) -> Iterator[None]:
    """The fixes installed (or not) for the duration of the block; the previous state restored after."""
    was = installed()
    if enabled:
        install()
    else:
        uninstall()
    try:
        yield
    finally:
        if was:
            install()
        else:
            uninstall()
