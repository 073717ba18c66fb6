"""What every benchmark suite shares: the scrubbed environment, the service on moto with one tenant bound to
one Telegram chat, the botocore call counter, and the table printer.

Only the standard library at import time: moto, the service and the fakes are imported inside the functions,
after `environment()` has set the variables they read.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TENANT = "bench"

ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "MUX_STAGE": "local",
    "MUX_ALLOW_PRIVATE_INBOUND_URLS": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "TELEGRAM_BOT_TOKEN": "123:bench",
}
SCRUB = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB")


@contextmanager
def environment(extra: Mapping[str, str]) -> Iterator[None]:
    """`ENV` plus `extra` in os.environ (the developer's AWS profile and endpoints removed); restored on exit."""
    saved = dict(os.environ)
    for name in SCRUB:
        os.environ.pop(name, None)
    os.environ.update(ENV)
    os.environ.update(extra)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def service(extra_env: Mapping[str, str], *, api_key: str, inbound_url: str, chat: str | int) -> Iterator[Any]:
    """moto in-process with the local resources provisioned, tenant `TENANT` (key `api_key`) bound to the
    Telegram chat `chat`; yields the provisioned resources. The service's clients and settings are reset
    on the way in and out."""
    from moto import mock_aws

    with environment(extra_env), mock_aws():
        from chalicelib import aws, config
        from chalicelib.models import BootstrapRequest
        from chalicelib.services import tenants
        from local.provision import provision
        from tests.fakes.pairing import bind_telegram

        resources = provision()
        os.environ.update(resources.env)
        aws.reset_clients()
        config.reset_settings()
        config.get_settings()  # primed outside a call: Chalice overlays config.json env vars during calls
        try:
            tenants.bootstrap(BootstrapRequest(tenantId=TENANT, apiKey=api_key, inboundUrl=inbound_url))
            bind_telegram(TENANT, chat)
            yield resources
        finally:
            aws.reset_clients()
            config.reset_settings()


def chalice_client() -> Any:
    """`chalice.test.Client` on the app (the LocalGateway path the tests use), stage local."""
    from chalice.test import Client

    from app import app

    return Client(app, stage_name="local", project_dir=str(ROOT))


class CallCounter:
    """Counts botocore API calls by (service, operation) on the service's cached clients, and the time
    spent inside them (`aws_seconds`, reset by the caller)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.aws_seconds = 0.0
        self._started: list[float] = []

    def attach(self) -> CallCounter:
        from chalicelib import aws

        for name in ("dynamodb", "sqs", "kms"):
            client = aws._client(name)
            client.meta.events.register("before-call.*.*", self._on_call, unique_id=f"bench-{name}")
            client.meta.events.register("after-call.*.*", self._after_call, unique_id=f"bench-{name}-after")
        return self

    def per(self, n: int) -> dict[tuple[str, str], float]:
        """The counts divided by `n` (calls per send, per message)."""
        return {op: count / n for op, count in self.counts.items()}

    def _on_call(self, model: Any, **_: Any) -> None:
        self.counts[(model.service_model.service_name, model.name)] += 1
        self._started.append(time.perf_counter())

    def _after_call(self, **_: Any) -> None:
        if self._started:
            self.aws_seconds += time.perf_counter() - self._started.pop()


def p90(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[int(len(ordered) * 0.9) - 1]


@dataclass(frozen=True)
class Column:
    """One table column: its header and how a row (a result dict) shows in it."""

    header: str
    cell: Callable[[Mapping[str, Any]], str]


SCENARIO = Column("scenario", lambda row: str(row["name"]))


def number(header: str, key: str, fmt: str = ".2f") -> Column:
    return Column(header, lambda row: format(row[key], fmt))


def call_columns(rows: Sequence[Mapping[str, Any]]) -> list[Column]:
    """One column per AWS operation any row made (`row["calls"]`: {(service, operation): calls}), then the total."""
    ops = sorted({op for row in rows for op in row["calls"]})

    def per_op(op: tuple[str, str]) -> Column:
        short = f"{'ddb' if op[0] == 'dynamodb' else op[0]}.{op[1]}"
        return Column(short, lambda row: f"{row['calls'].get(op, 0):g}")

    return [*map(per_op, ops), Column("AWS total", lambda row: f"{sum(row['calls'].values()):g}")]


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """A plain-text table: a header line, a rule, one line per row; columns padded to their widest cell."""
    headers = [c.header for c in columns]
    cells = [[c.cell(row) for c in columns] for row in rows]
    widths = [max(len(x) for x in col) for col in zip(headers, *cells, strict=True)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(line.rstrip() for line in lines)
