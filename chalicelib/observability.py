"""The one Logger and Metrics of the service (Powertools, created on first use) and in-process counters.

Metric dimensions stay low-cardinality (channel, outcome); tenant ids, route keys and event ids go to
structured log keys, never to dimensions. Message text and secrets are never logged.
"""

from __future__ import annotations

import threading
from collections import Counter
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics

SERVICE = "openclaw-mux"
NAMESPACE = "OpenClawMux"

_counts: Counter[str] = Counter()
_counts_lock = threading.Lock()


@lru_cache(maxsize=1)
def logger() -> Logger:
    from aws_lambda_powertools import Logger

    return Logger(service=SERVICE)


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
