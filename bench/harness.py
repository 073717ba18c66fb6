"""What every benchmark suite shares: the scrubbed environment, the service on moto with one tenant bound to
one Telegram chat, the botocore call counter, and the table printer.

Only the standard library at import time: moto, the service and the fakes are imported inside the functions,
after `environment()` has set the variables they read.
"""

from __future__ import annotations

import os
import threading
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


# Thread CPU seconds spent inside moto (the AWS stand-in), accumulated by the wrapper `CallCounter.attach` puts
# around moto's botocore stub once per process: [by the measuring thread, by any other thread].
_STANDIN_CPU = [0.0, 0.0]
_MEASURING: list[int | None] = [None]  # the thread id `CallCounter.sample` measures


def _time_the_standin() -> None:
    from moto.core import botocore_stubber

    stub = botocore_stubber.BotocoreStubber
    if getattr(stub.__call__, "bench_timed", False):
        return
    original = stub.__call__

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            _STANDIN_CPU[0 if threading.get_ident() == _MEASURING[0] else 1] += time.thread_time() - started

    timed.bench_timed = True  # type: ignore[attr-defined]
    stub.__call__ = timed  # type: ignore[method-assign]


class CallCounter:
    """Counts botocore API calls by (service, operation) on the service's cached clients, the DynamoDB
    capacity units they consume (`units`: ("read"|"write", units), from the request parameters), the wall time
    spent inside them (`aws_seconds`) and, per request measured with `sample`, the calling thread's CPU split
    into moto (the AWS stand-in) and the rest (ours: our code, Chalice, the botocore client, the HTTP client)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.units: Counter[str] = Counter()
        self.aws_seconds = 0.0
        self.other_call_cpu = 0.0  # thread CPU of AWS calls made by threads other than the measured one
        self._local = threading.local()

    def attach(self) -> CallCounter:
        from chalicelib import aws

        _time_the_standin()
        for name in ("dynamodb", "sqs", "kms"):
            client = aws._client(name)
            client.meta.events.register("before-call.*.*", self._on_call, unique_id=f"bench-{name}")
            client.meta.events.register("after-call.*.*", self._after_call, unique_id=f"bench-{name}-after")
            client.meta.events.register("before-parameter-build.*.*", self._on_params, unique_id=f"bench-{name}-p")
        return self

    def clear(self) -> None:
        self.counts.clear()
        self.units.clear()

    def per(self, n: int) -> dict[tuple[str, str], float]:
        """The counts divided by `n` (calls per send, per message)."""
        return {op: count / n for op, count in self.counts.items()}

    def units_per(self, n: int) -> dict[str, float]:
        return {kind: count / n for kind, count in self.units.items()}

    def sample(self, fn: Callable[[], Any]) -> tuple[Sample, Any]:
        """Run `fn` once (in this thread) and measure it; its result comes back beside the sample."""
        self.aws_seconds = 0.0
        self.other_call_cpu = 0.0
        _MEASURING[0] = threading.get_ident()
        standin_self, standin_other = _STANDIN_CPU
        cpu = time.thread_time()
        wall = time.perf_counter()
        try:
            result = fn()
        finally:
            _MEASURING[0] = None
        wall_ms = (time.perf_counter() - wall) * 1000
        cpu_ms = (time.thread_time() - cpu) * 1000
        in_self = (_STANDIN_CPU[0] - standin_self) * 1000
        in_other = (_STANDIN_CPU[1] - standin_other) * 1000
        # A request's AWS calls made from a helper thread (writes issued side by side) count too: their moto
        # part as the stand-in's, the rest (the botocore client) as ours.
        own = cpu_ms - in_self + self.other_call_cpu * 1000 - in_other
        return Sample(wall_ms, wall_ms - self.aws_seconds * 1000, in_self + in_other, own), result

    def _on_params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        # DynamoDB on-demand billing: a strongly consistent read of an item ≤ 4 KB is 1 read unit, a write of an
        # item ≤ 1 KB 1 write unit, transactional ones twice that (every item here is that small).
        if model.service_model.service_name != "dynamodb":
            return
        op = model.name
        if op == "BatchGetItem":
            self.units["read"] += sum(len(t.get("Keys", [])) for t in params.get("RequestItems", {}).values())
        elif op == "BatchWriteItem":
            self.units["write"] += sum(len(t) for t in params.get("RequestItems", {}).values())
        elif op == "TransactWriteItems":
            self.units["write"] += 2 * len(params.get("TransactItems", []))
        elif op == "TransactGetItems":
            self.units["read"] += 2 * len(params.get("TransactItems", []))
        elif op in ("GetItem", "Query"):
            self.units["read"] += 1
        elif op in ("PutItem", "UpdateItem", "DeleteItem"):
            self.units["write"] += 1

    def _on_call(self, model: Any, **_: Any) -> None:
        self.counts[(model.service_model.service_name, model.name)] += 1
        self._local.__dict__.setdefault("started", []).append((time.perf_counter(), time.thread_time()))

    def _after_call(self, **_: Any) -> None:
        started = self._local.__dict__.get("started")
        if not started:
            return
        wall, cpu = started.pop()
        if threading.get_ident() == _MEASURING[0]:
            self.aws_seconds += time.perf_counter() - wall
        else:
            self.other_call_cpu += time.thread_time() - cpu


@dataclass(frozen=True)
class Sample:
    """One request: wall ms, wall ms outside botocore calls, and the calling thread's CPU ms inside moto (the
    AWS stand-in) and outside it (ours)."""

    wall_ms: float
    wall_own_ms: float
    standin_cpu_ms: float
    own_cpu_ms: float


def quick() -> bool:
    """`BENCH_QUICK=1 make bench`: fewer requests and a smaller queue, for development (figures noisier)."""
    return os.environ.get("BENCH_QUICK", "") not in ("", "0")


def fill(tenants: int, bindings: int, client: Any = None, table_name: str | None = None) -> None:
    """Other tenants (with key-hash items) and Telegram group bindings (route locks and session routes), written
    straight to the table in BatchWriteItem calls; their contents are never read by the measured requests."""
    from chalicelib.models import Binding
    from chalicelib.storage import bindings as store
    from chalicelib.storage import table

    now = int(time.time() * 1000)
    items: list[dict[str, Any]] = []
    for t in range(tenants):
        items.append({**table.tenant_key(f"filler-{t}"), "type": "tenant", "tenantId": f"filler-{t}",
                      "name": f"filler-{t}", "inboundUrl": "http://127.0.0.1:9/x", "inboundTimeoutMs": 1000,
                      "keyHash": f"h{t}", "keyCiphertext": "x", "disabled": False, "createdAtMs": now,
                      "updatedAtMs": now})  # not in the tenant listing index: moto sorts a GSI partition per put
        items.append({**table.key_hash_key(f"h{t}"), "type": "keyhash", "tenantId": f"filler-{t}"})
    for b in range(bindings):
        binding = Binding(binding_id=f"bind_filler_{b}", tenant_id=f"filler-{b % max(tenants, 1)}",
                          channel="telegram", scope="chat", route_key=f"telegram:default:chat:{-1000 - b}",
                          session_key=f"agent:main:telegram:group:{-1000 - b}", chat_id=str(-1000 - b),
                          created_at_ms=now)
        items.append(store.route_item(binding))
        items.append({**table.session_key(binding.tenant_id, "telegram", binding.session_key), "type": "session",
                      "tenantId": binding.tenant_id, "channel": "telegram", "sessionKey": binding.session_key,
                      "routeKey": binding.route_key, "bindingId": binding.binding_id, "chatId": binding.chat_id,
                      "gsi1pk": table.tenant_sessions_gsi(binding.tenant_id),
                      "gsi1sk": f"telegram#{binding.session_key}"})
    name = table_name or table.table_name()
    if client is None:
        # In-process moto: straight into its backend (about 6× faster than through botocore; the fill is setup,
        # not measured).
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][os.environ["AWS_DEFAULT_REGION"]]
        for item in items:
            backend.put_item(name, table.to_ddb(item))
        return
    ddb = client
    for start in range(0, len(items), 25):
        chunk = [{"PutRequest": {"Item": table.to_ddb(i)}} for i in items[start : start + 25]]
        request: dict[str, Any] = {name: chunk}
        while request:
            request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank `q` quantile (0 < q ≤ 1); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


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


def setup_answer(call: Any, attempts: int = 3) -> Any:
    """The JSON of a setup call answered 200; a 5xx (an overloaded local stack) is tried again."""
    for attempt in range(attempts):
        resp = call()
        if resp.status_code == 200:
            return resp.json()
        if resp.status_code < 500 or attempt == attempts - 1:
            raise RuntimeError(f"setup call answered {resp.status_code}: {resp.text[:300]}")
        time.sleep(1)
    raise AssertionError("unreachable")
