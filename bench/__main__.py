"""Run every benchmark and print the issue #15 table: `python -m bench` (what `make bench` runs).

Each figure at 10 tenants / 50 bindings and at 1,000 tenants / 5,000 bindings, with the ratio of the two; then the
suites' own detail tables. `BENCH_QUICK=1 make bench` runs fewer requests and a queue of 200 (development);
`BENCH_QUEUED=n` sets the queue depth of the throughput figure (default 1,000, sent through the webhook; see
bench/throughput.py, which also gives the local webhook, start-up and RSS figures).

Costs are computed from the measured calls with AWS list prices below (region us-east-1, on-demand, x86_64 Lambda
at the 512 MB of .chalice/config.json; re-check the prices before quoting them). Lambda duration is not measured
here (moto answers in about a millisecond, AWS in several): it is estimated as our CPU plus ASSUMED_AWS_MS per AWS
call, excluding the time spent waiting for the platform (sends) or OpenClaw (forwards).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import inbound, outbound, recovery, throughput
from bench.harness import ROOT, quick

SCALES = ((10, 50), (1000, 5000))

# USD, us-east-1 list prices (aws.amazon.com/<service>/pricing), per unit.
PRICES = {
    "api_gateway_rest_request": 3.50 / 1e6,  # REST API (Chalice builds REST APIs), first 333 M a month
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000166667,  # x86_64
    "sqs_fifo_request": 0.50 / 1e6,  # per 64 KB chunk
    "dynamodb_read_unit": 0.125 / 1e6,  # on-demand read request unit (strongly consistent ≤ 4 KB)
    "dynamodb_write_unit": 0.625 / 1e6,  # on-demand write request unit (≤ 1 KB)
    "kms_request": 0.03 / 1e4,
}
LAMBDA_GB = 0.5
ASSUMED_AWS_MS = 5.0  # one DynamoDB or SQS round trip from Lambda in-region


def _cost(row: dict[str, Any], *, inbound_message: bool) -> float:
    """USD per million, from one row's calls and capacity units per request."""
    calls = row["calls"]
    units = row.get("units", {})
    aws_calls = sum(calls.values())
    usd = PRICES["api_gateway_rest_request"] + PRICES["lambda_request"]
    if inbound_message:
        # The worker's invocation, and the event source mapping's ReceiveMessage + DeleteMessageBatch, at the
        # worst case of one message per batch.
        usd += PRICES["lambda_request"] + 2 * PRICES["sqs_fifo_request"]
    usd += sum(n for (service, _), n in calls.items() if service == "sqs") * PRICES["sqs_fifo_request"]
    usd += sum(n for (service, _), n in calls.items() if service == "kms") * PRICES["kms_request"]
    usd += units.get("read", 0) * PRICES["dynamodb_read_unit"] + units.get("write", 0) * PRICES["dynamodb_write_unit"]
    duration_sec = (row["own_cpu"] + ASSUMED_AWS_MS * aws_calls) / 1000
    usd += duration_sec * LAMBDA_GB * PRICES["lambda_gb_second"]
    return usd * 1e6


def _calls(row: dict[str, Any]) -> str:
    parts = [f"{op} {n:g}" for (_, op), n in sorted(row["calls"].items(), key=lambda kv: kv[0][1])]
    return ", ".join(parts) + f" (= {sum(row['calls'].values()):g})"


def _import_seconds(code: str, runs: int) -> float:
    """Median wall time of a fresh `python -c code` (bytecode cached after the first run)."""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _timed(label: str, fn: Callable[[], Any]) -> Any:
    print(f"bench: {label}…", file=sys.stderr, flush=True)
    started = time.monotonic()
    result = fn()
    print(f"bench: {label} done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return result


def main() -> int:
    fast = quick()
    queued = int(os.environ.get("BENCH_QUEUED", "") or (200 if fast else 1000))
    out: dict[tuple[int, int], dict[str, Any]] = {}
    detail_out: list[dict[str, Any]] = []
    detail_in: list[dict[str, Any]] = []
    detail_wa: list[dict[str, Any]] = []
    for tenants, bindings in SCALES:
        scale = f"{tenants} tenants / {bindings} bindings"
        first = (tenants, bindings) == SCALES[0]
        sends = _timed(f"outbound, {scale}", lambda t=tenants, b=bindings, d=first: outbound.run(t, b, detail=d))
        if first:
            detail_out = sends + _timed("outbound WhatsApp", outbound.run_whatsapp)
        messages = _timed(f"inbound, {scale}", lambda t=tenants, b=bindings: inbound.run(t, b))
        detail_in.append(messages)
        detail_wa.append(_timed(f"inbound WhatsApp, {scale}", lambda t=tenants, b=bindings: inbound.run_whatsapp(t, b)))
        # 10 tenants × 5 chats paired through the real flow; the larger table adds filler tenants and bindings.
        flow = _timed(f"throughput, {queued} queued, {scale}", lambda t=tenants, b=bindings: throughput.run(
            tenants=10, chats_per_tenant=5, messages=queued, filler_tenants=t - 10, filler_bindings=b - 50))
        outage = _timed(f"recovery, {scale}", lambda t=tenants, b=bindings: recovery.run_once(t, b))
        out[(tenants, bindings)] = {"send": sends[0], "send_key": sends[1], "message": messages, "flow": flow,
                                    "outage": outage}
    floor = _timed("import times", lambda: (_import_seconds("pass", 5), _import_seconds("import boto3", 5),
                                            _import_seconds("import app", 5)))

    small, large = (out[s] for s in SCALES)
    rows: list[tuple[str, Callable[[dict[str, Any]], float], str]] = [
        ("outbound send (text, no Idempotency-Key), median ms", lambda r: r["send"]["median"], ".2f"),
        ("  CPU per send: AWS stand-in (moto) ms", lambda r: r["send"]["standin_cpu"], ".2f"),
        ("  CPU per send: ours ms", lambda r: r["send"]["own_cpu"], ".2f"),
        ("outbound send, new Idempotency-Key, median ms", lambda r: r["send_key"]["median"], ".2f"),
        ("  CPU per send: ours ms", lambda r: r["send_key"]["own_cpu"], ".2f"),
        ("inbound message (webhook + worker), median ms", lambda r: r["message"]["median"], ".2f"),
        ("  CPU per message: AWS stand-in (moto) ms", lambda r: r["message"]["standin_cpu"], ".2f"),
        ("  CPU per message: ours ms", lambda r: r["message"]["own_cpu"], ".2f"),
        (f"inbound throughput, {queued} queued (local stack), msgs/s", lambda r: r["flow"]["msgs_per_sec"], ".1f"),
        ("  local stack CPU per message during the drain ms", lambda r: r["flow"]["drain_cpu_ms_per_msg"], ".1f"),
        ("    of it in the AWS + API process ms", lambda r: r["flow"]["drain_aws_api_cpu_ms_per_msg"], ".1f"),
        ("local webhook answered (1 client, idle stack), median ms", lambda r: r["flow"]["webhook_median_ms"], ".1f"),
        ("local outbound send (1 client, new Idempotency-Key), median ms",
         lambda r: r["flow"]["outbound_median_ms"], ".1f"),
        ("local stack start to /health (restart on its state), s", lambda r: r["flow"]["start_restart_s"], ".2f"),
        ("local stack RSS (both processes) after start / peak MiB", lambda r: r["flow"]["rss_start_mib"], ".0f"),
        ("  peak MiB", lambda r: r["flow"]["rss_peak_mib"], ".0f"),
        ("recovery lag after a 10 s outage, median s", lambda r: r["outage"]["lag_median"], ".2f"),
        ("recovery lag after a 10 s outage, p95 s", lambda r: r["outage"]["lag_p95"], ".2f"),
        ("attempts per down tenant per s (8 chats down)", lambda r: r["outage"]["attempts_per_sec"], ".2f"),
        ("  of them after the outage's first 2 s, per s", lambda r: r["outage"]["steady_attempts_per_sec"], ".2f"),
        ("healthy tenant during the outage: delivered of 100", lambda r: r["outage"]["healthy_delivered"], "g"),
        ("healthy tenant during the outage: median latency ms", lambda r: r["outage"]["healthy_median_ms"], ".0f"),
        ("healthy tenant during the outage: max latency ms", lambda r: r["outage"]["healthy_max_ms"], ".0f"),
        ("cost per million sends (no key), USD", lambda r: _cost(r["send"], inbound_message=False), ".2f"),
        ("cost per million sends (new key), USD", lambda r: _cost(r["send_key"], inbound_message=False), ".2f"),
        ("cost per million inbound messages, USD", lambda r: _cost(r["message"], inbound_message=True), ".2f"),
    ]
    lines = [("figure", "10 tenants / 50 bindings", "1,000 / 5,000", "ratio")]
    for label, get, fmt in rows:
        a, b = get(small), get(large)
        lines.append((label, format(a, fmt), format(b, fmt), f"{b / a:.2f}" if a else "–"))
    for label, key in (("AWS calls per send (no key)", "send"), ("AWS calls per send (new key)", "send_key"),
                       ("AWS calls per inbound message", "message")):
        a, b = small[key], large[key]
        total_a, total_b = sum(a["calls"].values()), sum(b["calls"].values())
        lines.append((label, _calls(a), _calls(b), f"{total_b / total_a:.2f}" if total_a else "–"))
    bare, boto, app = floor
    lines.append(("import app, s (python -c pass / import boto3)", f"{app:.3f} ({bare:.3f} / {boto:.3f})", "–", "–"))
    lines.append(("import app ÷ python -c pass; ÷ import boto3", f"{app / bare:.1f}; {app / boto:.2f}", "–", "–"))
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    mode = "quick mode (BENCH_QUICK)" if fast else "full run"
    print(f"\nIssue #15 figures, {mode}: in-process moto for sends and messages, the real local stack for "
          "throughput and recovery")
    print(" | ".join(h.ljust(w) for h, w in zip(lines[0], widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for line in lines[1:]:
        print(" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    for scale, r in out.items():
        f = r["flow"]
        if not f["complete"]:
            print(f"  throughput at {scale[0]} tenants: window cut after {f['drain_sec']:.0f} s "
                  f"({f['delivered']} of {f['queued']} delivered)")
    print(f"CPU = the handling thread's CPU time; ours = our code, Chalice and its local gateway, the botocore client "
          f"and the HTTP client. Cost: us-east-1 list prices in bench/__main__.py; Lambda duration estimated as "
          f"our CPU + {ASSUMED_AWS_MS:g} ms per AWS call at {LAMBDA_GB * 1024:.0f} MB (platform/OpenClaw waits "
          "excluded); inbound at one message per queue batch (worst case).")

    outbound.show(detail_out)
    inbound.show(detail_in, detail_wa)
    return 0


if __name__ == "__main__":
    sys.exit(main())
