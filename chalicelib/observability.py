"""The one Logger and Metrics of the service (Powertools, created on first use) and in-process counters.

Metric dimensions stay low-cardinality (channel, outcome); tenant ids, route keys and event ids go to
structured log keys, never to dimensions. Message text and secrets are never logged, at any level: the
libraries that log wire data at DEBUG are pinned to WARNING, and logged exceptions keep their types and
locations but not their messages (which can echo payload values).
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections import Counter
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics

SERVICE = "openclaw-mux"
NAMESPACE = "OpenClawMux"

_counts: Counter[str] = Counter()
_counts_lock = threading.Lock()

# At DEBUG, urllib3 logs every request line (Bot API URLs carry the bot token) and botocore logs request and
# response bodies (KMS Encrypt/Decrypt carry plaintext tenant keys). Pinned whatever the service's log level.
QUIET_LIBRARIES = ("urllib3", "botocore", "boto3", "s3transfer", "requests", "charset_normalizer", "aws_xray_sdk")


def pin_library_loggers() -> None:
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


pin_library_loggers()  # at import: before the first AWS or HTTP call, whoever configures logging later
# A handler that fails (a closed stream) would otherwise print the exception being handled, message and all,
# to stderr, past every filter (Python's documented production setting).
logging.raiseExceptions = False


def exception_summary(exc: BaseException) -> str:
    """A traceback with exception types and code locations only: messages are left out (a pydantic
    ValidationError quotes the offending input, an HTTP error its URL)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    lines: list[str] = []
    for item in reversed(chain):
        lines.append("Traceback (most recent call last):")
        for frame in traceback.extract_tb(item.__traceback__):
            lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}')
        lines.append(f"{type(item).__module__}.{type(item).__qualname__} (message withheld)")
    return "\n".join(lines)


class _WithholdExceptionMessages(logging.Filter):
    """Replaces a record's exception by `exception_summary`, before any handler (ours, or a parent's through
    propagation) formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            summary = exception_summary(exc)
            record.exc_info = None
            record.exc_text = summary  # what logging.Formatter prints
            record.exception = summary  # what the Powertools formatter prints
            record.exception_name = type(exc).__name__
        return True


@lru_cache(maxsize=1)
def logger() -> Logger:
    from aws_lambda_powertools import Logger

    service_logger = Logger(service=SERVICE)
    # The Powertools logger is the stdlib logger named SERVICE, which is also Chalice's app.log.
    stdlib_logger = logging.getLogger(SERVICE)
    if not any(isinstance(f, _WithholdExceptionMessages) for f in stdlib_logger.filters):
        stdlib_logger.addFilter(_WithholdExceptionMessages())
    return service_logger


@lru_cache(maxsize=1)
def metrics() -> Metrics:
    from aws_lambda_powertools import Metrics

    return Metrics(namespace=NAMESPACE, service=SERVICE)


def count(name: str, value: int = 1, **dimensions: str) -> None:
    """Add to a metric: EMF for CloudWatch, plus a process-local counter for /v1/admin/health."""
    key = name if not dimensions else name + "{" + ",".join(f"{k}={v}" for k, v in sorted(dimensions.items())) + "}"
    with _counts_lock:
        _counts[key] += value
    from chalicelib.config import get_settings

    if get_settings().metrics_disabled:
        return
    with _counts_lock:  # the worker runs message groups in threads; the metric set is shared
        _emit(name, value, dimensions)


def _emit(name: str, value: int, dimensions: dict[str, str]) -> None:
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    if dimensions:
        # A dimensioned datum goes out as its own EMF blob so dimensions never leak onto other metrics.
        with single_metric(
            name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE, default_dimensions=dimensions
        ):
            pass
    else:
        metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)


def counters() -> dict[str, int]:
    with _counts_lock:
        return dict(_counts)


def flush() -> None:
    """Emit buffered metrics (end of a request or a batch); never fails the caller."""
    with _counts_lock:
        _flush()


def _flush() -> None:
    try:
        m = metrics()
        if m.metric_set:
            m.flush_metrics()
    except Exception:  # noqa: BLE001 - metrics must never break the request path
        logger().warning("metrics flush failed", exc_info=True)


def log_keys(**keys: Any) -> None:
    # Thread-local keys: Lambda runs one invocation per process, but the local stack serves HTTP and
    # polls the queue in threads of one process, and one request's ids must not leak into another's logs.
    logger().thread_safe_append_keys(**keys)


def clear_log_keys() -> None:
    logger().thread_safe_clear_keys()
