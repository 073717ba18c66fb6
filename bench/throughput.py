"""Local-stack throughput benchmark: 1,000 webhooks queued across many tenants' chats, then drained to OpenClaw.

The real local stack (`python -m local`, as `make run` starts it, state on disk) and one fake OpenClaw that
every tenant's inboundUrl points at, answering 202. Chats are paired through the real flow (pairing token,
`/start` webhook). The 1,000 messages go in **through the Telegram webhook** (ENQUEUE_CLIENTS concurrent
clients, each sending its chats' messages in order) while the fake OpenClaw holds its answers, so the queue
fills to 1,000 (the few batches the poller took in the meantime wait at OpenClaw). Then OpenClaw is released
and the drain is timed until the last message arrived: throughput = messages / drain time. Each chat's
messages must arrive in the order they were sent, none lost or twice (checked, printed). The webhook's answer
time is measured before that, one client sending WEBHOOK_SAMPLES updates one at a time.

Also measured: start to GET /health = 200 (a fresh state folder, and a restart on that state, as `make run`
does), the stack's RSS (both processes: after start-up, and the peaks by the end), and an outbound send
through the local stack (one client, one at a time).

    python -m bench.throughput [--runs 3] [--tenants 10] [--chats 10] [--messages 1000]

`run()` returns the figures as a dict (documented there) for `make bench`'s table.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.harness import percentile

ADMIN = "bench-throughput-admin-0123456789"
SECRET = "bench-throughput-webhook-secret"
BOT_TOKEN = "7012345678:bench-throughput-token"
GATE_SECONDS = 300.0
WEBHOOK_SAMPLES = 100
OUTBOUND_SAMPLES = 100
ENQUEUE_CLIENTS = 4


class _Gate(threading.Event):
    """The fake OpenClaw's gate (it waits at most 30 s on it); this one holds until opened or GATE_SECONDS."""

    def wait(self, timeout: float | None = None) -> bool:
        return super().wait(GATE_SECONDS)


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (the stack process and its queue worker process), from /proc."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):  # a child belongs to the thread that started it
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return found


def _rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of `pid` and its child processes together, in MiB, from /proc."""
    fields: dict[str, float] = {"VmRSS": 0.0, "VmHWM": 0.0}
    for member in _tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in fields:
                fields[name] += int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def _cpu_seconds(pid: int, *, own_only: bool = False) -> float:
    """User + system CPU time `pid` (its threads) and, unless `own_only`, its child processes have used
    so far, from /proc."""
    total = 0.0
    for member in [pid] if own_only else _tree(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _started(stack: Any) -> float:
    """Start `stack`; the seconds from launching the process until GET /health answered 200 (probed every 0.1 s)."""
    began = time.monotonic()
    stack.start()
    return time.monotonic() - began


def run(
    *, tenants: int = 10, chats_per_tenant: int = 10, messages: int = 1000, filler_tenants: int = 0,
    filler_bindings: int = 0,
) -> dict[str, Any]:
    """One measurement; `filler_tenants` / `filler_bindings` more tenants and bindings are written straight to
    the embedded DynamoDB first (bench.harness.fill: never read by the measured messages, they only make the
    table big, for `make bench`'s 1,000 tenants / 5,000 bindings row). Returns:

    * `messages` (also `queued`), `tenants`, `chats`: the workload; `delivered`, `complete` (all of them);
    * `msgs_per_sec`: messages / `drain_sec` (OpenClaw released → last message delivered);
    * `drain_cpu_ms_per_msg`: the stack's CPU time (both processes, all threads: moto, API, worker, poller)
      during the drain, per message — the figure other load on the machine does not inflate much;
      `drain_aws_api_cpu_ms_per_msg`: the part of it spent in the stack process (embedded AWS and HTTP API),
      the rest being the queue worker process's;
    * `outbound_median_ms`, `outbound_p90_ms`: POST /v1/mux/outbound/send (text, a new Idempotency-Key each)
      through the local stack, one client, OUTBOUND_SAMPLES one at a time, the stack otherwise idle;
    * `message_cpu_ms`: the same per message, webhook to delivery, one at a time on an idle stack;
    * `enqueue_per_sec`: how fast ENQUEUE_CLIENTS concurrent webhook clients got the 1,000 accepted;
    * `webhook_median_ms`, `webhook_p90_ms`: one client's webhook answer times (WEBHOOK_SAMPLES, stack idle);
    * `order_kept`: every chat's messages reached OpenClaw in the order sent, none lost or duplicated;
    * `start_fresh_s`, `start_restart_s`: launch → GET /health 200, new state folder / restart on it;
    * `rss_start_mib`: the stack's RSS (both processes) after the restart; `rss_peak_mib`: the sum of their
      peaks by the end.
    """
    import tempfile

    import requests

    from tests.fakes.openclaw_server import FakeOpenClaw
    from tests.fakes.telegram_server import FakeTelegram
    from tests.inbound_support import private_update
    from tests.localstack import LocalStack, free_port, wait_until

    env = {"MUX_ADMIN_TOKEN": ADMIN, "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "MUX_TELEGRAM_WEBHOOK_SECRET": SECRET,
           "MUX_TELEGRAM_BOT_USERNAME": "MuxBenchBot", "MUX_LOCAL_LOG_LEVEL": "WARNING"}
    state = Path(tempfile.mkdtemp(prefix="mux-bench-state-"))
    port = free_port()
    with FakeTelegram() as tg, FakeOpenClaw() as openclaw:
        env["MUX_TELEGRAM_API_BASE_URL"] = tg.url
        first = LocalStack(env, state_dir=state, port=port)
        start_fresh = _started(first)
        first.stop()
        stack = LocalStack(env, state_dir=state, port=port)
        start_restart = _started(stack)
        assert stack.process is not None
        pid = stack.process.pid
        rss_start, _ = _rss_mib(pid)
        try:
            session = requests.Session()

            def webhook(update: dict[str, Any]) -> float:
                began = time.perf_counter()
                resp = session.post(stack.url + "/v1/webhooks/telegram", json=update,
                                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=30)
                took = time.perf_counter() - began
                resp.raise_for_status()
                return took * 1000

            if filler_tenants or filler_bindings:
                import boto3

                from bench.harness import fill

                ddb = boto3.client("dynamodb", endpoint_url=stack.banner("AWS (moto)"), region_name="us-east-1",
                                   aws_access_key_id="bench", aws_secret_access_key="bench")
                fill(filler_tenants, filler_bindings, client=ddb, table_name=stack.banner("table"))
            chats: list[int] = []
            for t in range(tenants):
                key = f"bench-tp-{t}-key-0123456789abcdefghij"
                session.post(stack.url + "/v1/admin/tenants/bootstrap", headers={"Authorization": f"Bearer {ADMIN}"},
                             json={"tenantId": f"tp{t}", "apiKey": key, "inboundUrl": openclaw.url,
                                   "inboundTimeoutMs": 60000}, timeout=30).raise_for_status()
                auth = {"Authorization": f"Bearer {key}"}
                for c in range(chats_per_tenant):
                    chat = 9_100_000 + t * 1000 + c
                    chats.append(chat)
                    token = session.post(stack.url + "/v1/pairings/token", json={"channel": "telegram"},
                                         headers=auth, timeout=30).json()
                    webhook(private_update(chat, token["startCommand"]))
            wait_until(lambda: all(
                len(session.get(stack.url + "/v1/pairings", headers={
                    "Authorization": f"Bearer bench-tp-{t}-key-0123456789abcdefghij"}, timeout=30).json()["items"])
                == chats_per_tenant for t in range(tenants)), timeout=120, interval=0.5, what="every pairing")

            # The webhook's answer time as one Telegram connection sees it, the stack otherwise idle.
            cpu = _cpu_seconds(pid)
            webhook_ms = [webhook(private_update(chats[n % len(chats)], f"warm/{n}")) for n in range(WEBHOOK_SAMPLES)]
            if not openclaw.wait_for(lambda got: len(got) >= WEBHOOK_SAMPLES, timeout=120):
                raise RuntimeError(f"OpenClaw got {len(openclaw.received)} of {WEBHOOK_SAMPLES} warm-up messages")
            warm_cpu_ms = (_cpu_seconds(pid) - cpu) * 1000 / WEBHOOK_SAMPLES
            with openclaw._lock:
                openclaw.received.clear()

            # One OpenClaw sending replies through the local stack, one at a time (each with its own
            # Idempotency-Key, as OpenClaw's mux client sends them).
            reply_key = "bench-tp-0-key-0123456789abcdefghij"
            send_ms = []
            for n in range(OUTBOUND_SAMPLES):
                began = time.perf_counter()
                resp = session.post(stack.url + "/v1/mux/outbound/send", json={
                    "channel": "telegram", "sessionKey": f"agent:main:telegram:direct:{chats[n % chats_per_tenant]}",
                    "text": f"reply {n}"}, headers={"Authorization": f"Bearer {reply_key}",
                                                    "Idempotency-Key": f"bench-{n}-{time.time_ns()}"}, timeout=30)
                send_ms.append((time.perf_counter() - began) * 1000)
                if resp.status_code != 200:
                    raise RuntimeError(f"outbound send {n}: {resp.status_code} {resp.text}")

            openclaw.gate = _Gate()
            sent: dict[int, list[str]] = {chat: [] for chat in chats}
            for n in range(messages):
                chat = chats[n % len(chats)]
                sent[chat].append(f"{chat}/{n // len(chats)}")

            def enqueue(share: list[int]) -> None:
                with requests.Session() as own:
                    for chat in share:
                        for body in sent[chat]:
                            own.post(stack.url + "/v1/webhooks/telegram", json=private_update(chat, body),
                                     headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                                     timeout=30).raise_for_status()

            began = time.monotonic()
            # Each client sends its chats' messages in order, the clients interleaved: the queue holds every
            # chat's messages mixed, as many Telegram connections would leave it.
            clients = [threading.Thread(target=enqueue, args=(chats[k::ENQUEUE_CLIENTS],))
                       for k in range(ENQUEUE_CLIENTS)]
            for client in clients:
                client.start()
            for client in clients:
                client.join()
            enqueue_s = time.monotonic() - began
            released, cpu, api_cpu = time.monotonic(), _cpu_seconds(pid), _cpu_seconds(pid, own_only=True)
            spies = []
            if os.environ.get("BENCH_PYSPY"):  # development only: profile both processes during the drain
                import subprocess

                for n, member in enumerate(_tree(pid)):
                    spies.append(subprocess.Popen([os.environ["BENCH_PYSPY"], "record", "-p", str(member), "-o",
                                                   f"/tmp/drain-{n}.txt", "-f", "raw", "-r", "100", "--gil",
                                                   "--nonblocking"]))
                time.sleep(1)
            openclaw.gate.set()
            if not openclaw.wait_for(lambda got: len(got) >= messages, timeout=600):
                raise RuntimeError(f"OpenClaw got {len(openclaw.received)} of {messages}")
            drain = time.monotonic() - released
            drain_cpu_ms = (_cpu_seconds(pid) - cpu) * 1000 / messages
            drain_api_cpu_ms = (_cpu_seconds(pid, own_only=True) - api_cpu) * 1000 / messages
            for spy in spies:
                spy.send_signal(2)
                spy.wait()
            _, rss_peak = _rss_mib(pid)
            got = openclaw.bodies()
            order_kept = len(got) == messages and all(
                [b for b in got if b.startswith(f"{chat}/")] == sent[chat] for chat in chats)
            if not order_kept:
                wrong = next(c for c in chats if [b for b in got if b.startswith(f"{c}/")] != sent[c])
                print(f"  chat {wrong}: sent {sent[wrong]}, OpenClaw got "
                      f"{[b for b in got if b.startswith(f'{wrong}/')]} ({len(got)} in all)", file=sys.stderr)
        finally:
            stack.stop()
    return {
        "queued": messages,
        "delivered": len(got),
        "complete": len(got) >= messages,
        "msgs_per_sec": messages / drain,
        "drain_sec": drain,
        "enqueue_per_sec": messages / enqueue_s,
        "messages": messages,
        "tenants": tenants,
        "chats": len(chats),
        "drain_cpu_ms_per_msg": drain_cpu_ms,
        "drain_aws_api_cpu_ms_per_msg": drain_api_cpu_ms,
        "outbound_median_ms": statistics.median(send_ms),
        "outbound_p90_ms": percentile(send_ms, 0.9),
        "message_cpu_ms": warm_cpu_ms,
        "webhook_median_ms": statistics.median(webhook_ms),
        "webhook_p90_ms": percentile(webhook_ms, 0.9),
        "order_kept": order_kept,
        "start_fresh_s": start_fresh,
        "start_restart_s": start_restart,
        "rss_start_mib": rss_start,
        "rss_peak_mib": rss_peak,
    }


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.throughput [--runs N] [--tenants T] [--chats C] [--messages M]`."""
    args = sys.argv[1:] if argv is None else argv

    def option(name: str, default: int) -> int:
        return int(args[args.index(name) + 1]) if name in args else default

    runs = option("--runs", 1)
    results = [run(tenants=option("--tenants", 10), chats_per_tenant=option("--chats", 10),
                   messages=option("--messages", 1000)) for _ in range(runs)]

    def show(key: str, fmt: str) -> str:
        values = [r[key] for r in results]
        if len(values) == 1:
            return format(values[0], fmt)
        return f"{format(statistics.median(values), fmt)} (range {format(min(values), fmt)}–{format(max(values), fmt)})"

    r = results[0]
    print(f"\nLocal stack throughput: {r['messages']} Telegram webhooks across {r['tenants']} tenants × "
          f"{r['chats'] // r['tenants']} chats queued (OpenClaw holding), then drained; real local stack"
          + (f"; median over {runs} runs" if runs > 1 else ""))
    print(f"  inbound throughput with {r['messages']} queued: {show('msgs_per_sec', '.0f')} msgs/s "
          f"(drain {show('drain_sec', '.1f')} s, stack CPU {show('drain_cpu_ms_per_msg', '.1f')} ms per message, "
          f"{show('drain_aws_api_cpu_ms_per_msg', '.1f')} of it in the AWS + API process); "
          "per-chat order kept: "
          f"{'yes' if all(x['order_kept'] for x in results) else 'NO'}")
    print(f"  webhook answered (1 client, {WEBHOOK_SAMPLES} requests): median "
          f"{show('webhook_median_ms', '.1f')} ms, p90 {show('webhook_p90_ms', '.1f')} ms; "
          f"stack CPU per message (webhook → OpenClaw) {show('message_cpu_ms', '.1f')} ms; "
          f"{ENQUEUE_CLIENTS} clients enqueued at {show('enqueue_per_sec', '.0f')} msgs/s")
    print(f"  outbound send through the local stack (1 client, {OUTBOUND_SAMPLES} requests, new Idempotency-Key "
          f"each): median {show('outbound_median_ms', '.1f')} ms, p90 {show('outbound_p90_ms', '.1f')} ms")
    print(f"  start to /health: fresh state {show('start_fresh_s', '.2f')} s, restart on saved state "
          f"{show('start_restart_s', '.2f')} s")
    print(f"  RSS of the stack (both processes): {show('rss_start_mib', '.0f')} MiB after start-up, peak "
          f"{show('rss_peak_mib', '.0f')} MiB")


if __name__ == "__main__":
    main()
