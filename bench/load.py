"""`make load` (`python -m bench.load`): concurrent clients mixing Telegram webhooks and outbound sends on the
local stack for a fixed time, then lost / duplicated / reordered counts per chat, which must all be 0.

The stack is `python -m local` as `make run` starts it (state kept on disk, in a temp folder here;
`LOAD_IN_MEMORY=1` for `--in-memory`), with a fake Telegram and a fake OpenClaw on 127.0.0.1.
`LOAD_TENANTS` tenants with `LOAD_CHATS` paired private chats each; `LOAD_CLIENTS` clients (default: one
per chat) each own chats and, for `LOAD_SECONDS`, send either a webhook from one of them (→ the tenant's
OpenClaw) or an outbound send to it (→ Telegram), one request at a time, so each chat's order is defined
by its client. Afterwards the fake OpenClaw's and the fake Telegram's records are compared with what was
accepted. Exit status 1 if anything was lost, duplicated, reordered or refused.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import requests

from bench.harness import SCENARIO, Column, percentile, table

ADMIN = "load-admin-token-0123456789abcdef"


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


@dataclass
class Chat:
    tenant: str
    key: str
    chat_id: int
    accepted_in: list[int] = field(default_factory=list)  # message numbers, in the order they were accepted
    accepted_out: list[int] = field(default_factory=list)


@dataclass
class Tally:
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    refused: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def order_faults(accepted: list[int], seen: list[int]) -> tuple[int, int, int]:
    """(lost, duplicated, reordered) of `seen` against `accepted`; reordered counts first arrivals that came
    after a later-accepted message."""
    counts = Counter(seen)
    lost = sum(1 for n in accepted if counts[n] == 0)
    duplicated = sum(c - 1 for c in counts.values() if c > 1)
    position = {n: i for i, n in enumerate(accepted)}
    first: list[int] = []
    for n in seen:
        if n in position and n not in first:
            first.append(n)
    reordered = 0
    highest = -1
    for n in first:
        if position[n] < highest:
            reordered += 1
        highest = max(highest, position[n])
    return lost, duplicated, reordered


def setup_chats(stack: Any, openclaw: Any, tenants: int, chats_per_tenant: int) -> list[Chat]:
    from tests.inbound_support import SECRET, private_update
    from tests.localstack import wait_until

    chats: list[Chat] = []
    for t in range(tenants):
        tenant, key = f"load{t}", f"load-tenant-key-{t}-0123456789abcdefghij"
        boot = requests.post(
            f"{stack.url}/v1/admin/tenants/bootstrap",
            json={"tenantId": tenant, "apiKey": key, "inboundUrl": openclaw.url},
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=30,
        )
        boot.raise_for_status()
        for c in range(chats_per_tenant):
            chat = Chat(tenant, key, 5400000000 + t * 100 + c)
            token = requests.post(
                f"{stack.url}/v1/pairings/token",
                json={"channel": "telegram"},
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            ).json()
            requests.post(
                f"{stack.url}/v1/webhooks/telegram",
                json=private_update(chat.chat_id, token["startCommand"]),
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                timeout=30,
            ).raise_for_status()
            chats.append(chat)
    for t in range(tenants):
        key = chats[t * chats_per_tenant].key

        def paired(key: str = key) -> bool:
            items = requests.get(
                f"{stack.url}/v1/pairings", headers={"Authorization": f"Bearer {key}"}, timeout=30
            ).json()["items"]
            return len(items) == chats_per_tenant

        wait_until(paired, 60, "every load chat to be paired")
    return chats


def client(stack: Any, owned: list[Chat], until: float, tally: Tally, numbers: Any, seed: int) -> None:
    from tests.inbound_support import SECRET, private_update

    rng = random.Random(seed)
    session = requests.Session()
    while time.monotonic() < until:
        chat = rng.choice(owned)
        n = next(numbers)
        kind = "webhook" if rng.random() < 0.5 else "send"
        started = time.perf_counter()
        try:
            if kind == "webhook":
                answer = session.post(
                    f"{stack.url}/v1/webhooks/telegram",
                    json=private_update(chat.chat_id, f"load {n}"),
                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                    timeout=30,
                )
            else:
                answer = session.post(
                    f"{stack.url}/v1/mux/outbound/send",
                    json={"channel": "telegram", "sessionKey": f"agent:main:telegram:direct:{chat.chat_id}",
                          "text": f"out {n}"},
                    headers={"Authorization": f"Bearer {chat.key}"},
                    timeout=30,
                )
            status = answer.status_code
        except requests.RequestException as exc:
            status, answer = 0, None
            with tally.lock:
                tally.refused[f"{kind}: {type(exc).__name__}"] += 1
            continue
        elapsed = time.perf_counter() - started
        with tally.lock:
            if status == 200:
                tally.latency[kind].append(elapsed)
                (chat.accepted_in if kind == "webhook" else chat.accepted_out).append(n)
            else:
                tally.refused[f"{kind}: {status} {answer.text[:80] if answer is not None else ''}"] += 1


def main() -> int:
    from tests.fakes.openclaw_server import FakeOpenClaw
    from tests.fakes.telegram_server import FakeTelegram
    from tests.inbound_support import BOT_TOKEN, SECRET
    from tests.localstack import LocalStack

    tenants = _int_env("LOAD_TENANTS", 4)
    chats_per_tenant = _int_env("LOAD_CHATS", 2)
    clients = _int_env("LOAD_CLIENTS", tenants * chats_per_tenant)
    seconds = _int_env("LOAD_SECONDS", 20)
    drain_seconds = _int_env("LOAD_DRAIN_SECONDS", 120)
    with FakeTelegram() as tg, FakeOpenClaw() as openclaw:
        env = {
            "MUX_ADMIN_TOKEN": ADMIN,
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "MUX_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "MUX_TELEGRAM_API_BASE_URL": tg.url,
            "MUX_LOCAL_LOG_LEVEL": "WARNING",
        }
        in_memory = os.environ.get("LOAD_IN_MEMORY", "") not in ("", "0")
        with LocalStack(env, args=["--in-memory"] if in_memory else []) as stack:
            chats = setup_chats(stack, openclaw, tenants, chats_per_tenant)
            tally = Tally()
            numbers = itertools.count(1)
            owners: list[list[Chat]] = [[] for _ in range(clients)]
            for i, chat in enumerate(chats):
                owners[i % clients].append(chat)
            until = time.monotonic() + seconds
            threads = [
                threading.Thread(target=client, args=(stack, owned, until, tally, numbers, i))
                for i, owned in enumerate(owners)
                if owned
            ]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(seconds + 60)
            ran = time.monotonic() - started
            expected_in = {f"load {n}" for chat in chats for n in chat.accepted_in}
            drain_started = time.monotonic()
            openclaw.wait_for(lambda got: expected_in <= {e.get("body") for e in got}, drain_seconds)
            drained = time.monotonic() - drain_started
        stopped_output = stack.output()

    rows: list[dict[str, Any]] = []
    faults = Counter[str]()
    received_by_chat: dict[str, list[int]] = defaultdict(list)
    for envelope in openclaw.received:
        found = re.fullmatch(r"load (\d+)", str(envelope.get("body")))
        if found:
            received_by_chat[str(envelope.get("from"))].append(int(found.group(1)))
    sent_by_chat: dict[str, list[int]] = defaultdict(list)
    for body in tg.bodies("sendMessage"):
        found = re.fullmatch(r"out (\d+)", str(body.get("text")))
        if found:
            sent_by_chat[str(body.get("chat_id"))].append(int(found.group(1)))
    for chat in chats:
        for kind, accepted, seen in (
            ("webhook", chat.accepted_in, received_by_chat[f"telegram:{chat.chat_id}"]),
            ("send", chat.accepted_out, sent_by_chat[str(chat.chat_id)]),
        ):
            lost, duplicated, reordered = order_faults(accepted, seen)
            faults[f"{kind} lost"] += lost
            faults[f"{kind} duplicated"] += duplicated
            faults[f"{kind} reordered"] += reordered
    for kind in ("webhook", "send"):
        values = tally.latency[kind]
        rows.append({
            "name": "webhook → OpenClaw" if kind == "webhook" else "outbound send → Telegram",
            "accepted": len(values),
            "rate": len(values) / ran if ran else 0.0,
            "p50": percentile(values, 0.50) * 1000,
            "p99": percentile(values, 0.99) * 1000,
            "mean": statistics.fmean(values) * 1000 if values else float("nan"),
            "lost": faults[f"{kind} lost"],
            "dup": faults[f"{kind} duplicated"],
            "reordered": faults[f"{kind} reordered"],
        })
    columns = [
        SCENARIO,
        Column("accepted", lambda r: str(r["accepted"])),
        Column("req/s", lambda r: f"{r['rate']:.1f}"),
        Column("p50 ms", lambda r: f"{r['p50']:.1f}"),
        Column("p99 ms", lambda r: f"{r['p99']:.1f}"),
        Column("lost", lambda r: str(r["lost"])),
        Column("duplicated", lambda r: str(r["dup"])),
        Column("reordered", lambda r: str(r["reordered"])),
    ]
    print(f"load: {len(threads)} clients × {seconds} s, {tenants} tenants × {chats_per_tenant} chats "
          f"({'in-memory' if in_memory else 'persistent'} local state); "
          f"inbound drained {drained:.1f} s after the clients stopped")
    print(table(rows, columns))
    saves = re.search(r"state: (\d+) durable writes .*?, ([\d.]+) ms each", stopped_output)
    if saves:
        print(f"embedded AWS state: {saves.group(1)} durable writes, {saves.group(2)} ms each on average "
              "(inside the AWS calls above)")
    refused = sum(tally.refused.values())
    for reason, count in tally.refused.most_common(5):
        print(f"  refused: {count} × {reason}")
    bad = sum(faults.values()) + refused
    print("load: OK" if bad == 0 else f"load: FAILED ({bad} lost/duplicated/reordered/refused)")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
