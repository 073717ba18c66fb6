"""muxctl against the real local stack (`python -m local` in a subprocess on a free port, one per module),
with the Telegram Bot API replaced by `muxctl dev telegram`'s server and tenants' OpenClaw by
`muxctl dev openclaw`'s receiver, both in-process."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from muxctl.devservers import FakeTelegram, InboundReceiver
from tests.localstack import ROOT, LocalStack, free_port, wait_until
from tests.muxctl.support import run, run_json

ADMIN = "muxctl-test-admin-token-0123456789"
SECRET = "muxctl-test-webhook-secret"
BOT_TOKEN = "123456:muxctl-test-bot-token"


@dataclass
class Stack:
    url: str
    telegram: FakeTelegram
    aws_endpoint: str
    inbound_queue: str
    dead_letter_queue: str
    banner_text: str = ""

    def env(self, **extra: str | None) -> dict[str, str | None]:
        return {"MUX_URL": self.url, "MUX_ADMIN_TOKEN": ADMIN, "MUX_TELEGRAM_WEBHOOK_SECRET": SECRET, **extra}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not (ROOT / "local" / "__main__.py").exists():
        pytest.skip("the local stack (python -m local) is not in this tree")
    with FakeTelegram(token=BOT_TOKEN) as telegram:
        env = {
            "MUX_ADMIN_TOKEN": ADMIN,
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "MUX_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "MUX_TELEGRAM_API_BASE_URL": telegram.url,
            "MUX_TELEGRAM_BOT_USERNAME": "MuxLocalBot",
            "MUX_LOCAL_LOG_LEVEL": "WARNING",
        }
        with LocalStack(env, log_dir=tmp_path_factory.mktemp("stack")) as local:
            yield Stack(local.url, telegram, local.banner("AWS (moto)"), local.banner("inbound queue"),
                        local.banner("dead letters"), local.output())


@pytest.fixture
def receiver() -> Iterator[InboundReceiver]:
    with InboundReceiver() as server:
        yield server  # type: ignore[misc]


def new_tenant(stack: Stack, receiver: InboundReceiver, name: str) -> tuple[str, str]:
    """Create a tenant with muxctl and make the receiver check its key; returns (tenantId, key)."""
    tenant_id = f"{name}-{time.time_ns() % 10**9}"
    data = run_json(["tenant", "create", tenant_id, "--inbound-url", f"{receiver.url}/v1/mux/inbound"], stack.env())
    receiver.key = data["tenantApiKey"]
    return tenant_id, data["tenantApiKey"]


def pair_chat(stack: Stack, key: str, chat: int, *extra: str) -> dict[str, Any]:
    token = run_json(["pair", "telegram", "--key", key], stack.env())
    sent = run_json(["simulate", "telegram", "--chat", str(chat), *extra, token["startCommand"]], stack.env())
    assert sent["status"] == 200

    def bound() -> dict[str, Any] | None:
        items = run_json(["bindings", "list", "--all", "--key", key], stack.env())["items"]
        return next((b for b in items if b["routeKey"].startswith(f"telegram:default:chat:{sent['chatId']}")), None)

    return wait_until(bound, 15, f"the binding of chat {chat}")


def envelope_for(receiver: InboundReceiver, event_id: str) -> dict[str, Any]:
    return wait_until(lambda: next((e for e in receiver.envelopes() if e.get("eventId") == event_id), None), 15,
                    f"{event_id} at the tenant's OpenClaw")


# --- tenants ------------------------------------------------------------------------------------
def test_tenant_create_prints_a_valid_config_and_a_working_key(
    stack: Stack, receiver: InboundReceiver, tmp_path: Path
) -> None:
    out = tmp_path / "openclaw.json"
    result = run(["tenant", "create", "acme-cfg", "--inbound-url", f"{receiver.url}/v1/mux/inbound",
                  "--name", "Acme", "--timeout-ms", "5000", "--out", str(out)], stack.env())
    assert result.exit_code == 0, result.stderr
    key = re.search(r"Tenant key: (\S+)", result.stdout).group(1)  # type: ignore[union-attr]
    assert len(key) >= 40 and "store this tenant key" in result.stderr.lower()
    check = run(["openclaw-config", "check", str(out), "--key", key, "--url", stack.url])
    assert check.exit_code == 0, check.stdout
    written = json.loads(out.read_text())
    assert written["gateway"]["http"]["endpoints"]["mux"]["baseUrl"] == stack.url
    # Mux accounts only for what this mux serves (GET /v1/admin/health: Telegram on), unless asked for all.
    assert set(written["channels"]) == {"telegram"} and "served by the mux" in result.stderr

    target = requests.get(f"{stack.url}/v1/tenant/inbound-target", headers={"Authorization": f"Bearer {key}"},
                          timeout=5)
    assert target.status_code == 200 and target.json()["inboundUrl"] == f"{receiver.url}/v1/mux/inbound"
    shown = run(["tenant", "show", "acme-cfg"], stack.env())
    assert "Acme" in shown.stdout and "5000 ms" in shown.stdout and key not in shown.stdout

    # Printed config (no --out, public URL override) validates too.
    printed = run_json(["tenant", "create", "acme-cfg2", "--inbound-url", f"{receiver.url}/v1/mux/inbound",
                        "--public-url", "https://mux.example.com"], stack.env())
    path = tmp_path / "printed.json"
    path.write_text(json.dumps(printed["openclawConfig"]))
    assert run(["openclaw-config", "check", str(path), "--key", printed["tenantApiKey"],
                "--url", "https://mux.example.com"]).exit_code == 0
    ready = run_json(["tenant", "create", "acme-cfg3", "--inbound-url", f"{receiver.url}/v1/mux/inbound",
                      "--all-channels"], stack.env())
    assert set(ready["openclawConfig"]["channels"]) == {"telegram", "discord", "whatsapp"}
    assert "enabled" not in ready["openclawConfig"]["channels"]["whatsapp"]


def test_set_target_rotate_key_and_disable(stack: Stack, receiver: InboundReceiver) -> None:
    tenant_id, key = new_tenant(stack, receiver, "rot")
    moved = run(["tenant", "set-target", "http://127.0.0.1:9/v1/mux/inbound", "--timeout-ms", "2000", "--key", key],
                stack.env())
    assert moved.exit_code == 0 and "http://127.0.0.1:9/v1/mux/inbound" in moved.stdout
    assert run_json(["tenant", "target", "--key", key], stack.env())["inboundTimeoutMs"] == 2000

    rotated = run_json(["tenant", "rotate-key", tenant_id, "--yes"], stack.env())
    new_key = rotated["tenantApiKey"]
    assert new_key != key
    assert rotated["tenant"]["inboundUrl"] == "http://127.0.0.1:9/v1/mux/inbound"
    assert rotated["tenant"]["inboundTimeoutMs"] == 2000
    assert rotated["openclawConfig"]["gateway"]["http"]["endpoints"]["mux"]["token"] == new_key
    old = run(["tenant", "target", "--key", key], stack.env())
    assert old.exit_code == 4 and "401" in old.stderr and old.stderr.count("\n") == 1
    assert run(["tenant", "target", "--key", new_key], stack.env()).exit_code == 0

    disabled = run(["tenant", "disable", tenant_id, "--yes"], stack.env())
    assert disabled.exit_code == 0 and "DISABLED" in disabled.stdout
    assert run(["tenant", "target", "--key", new_key], stack.env()).exit_code == 4


def test_admin_errors_are_one_line(stack: Stack) -> None:
    wrong = run(["tenant", "show", "x", "--admin-token", "wrong-admin-token"], stack.env())
    assert wrong.exit_code == 4 and "401 UNAUTHORIZED" in wrong.stderr and "Traceback" not in wrong.stderr
    missing = run(["tenant", "show", "no-such-tenant"], stack.env())
    assert missing.exit_code == 1 and "404" in missing.stderr
    health = run_json(["health"], stack.env())
    assert health["ok"] is True and health["admin"]["channels"]["telegram"] is True


def test_health_is_readable_and_ttl_clamping_is_said(stack: Stack, receiver: InboundReceiver) -> None:
    human = run(["health"], stack.env())
    assert human.exit_code == 0
    assert "channels:      telegram on" in human.stdout and "inbound queue: " in human.stdout
    assert "waiting" in human.stdout
    assert "{'" not in human.stdout and "True" not in human.stdout, "no Python reprs"

    _tenant_id, key = new_tenant(stack, receiver, "ttl")
    clamped = run(["pair", "telegram", "--ttl", "99999", "--no-qr", "--key", key], stack.env())
    assert clamped.exit_code == 0
    assert "--ttl 99999 was clamped by the mux to 3600 s" in clamped.stderr
    as_json = run_json(["pair", "telegram", "--ttl", "99999", "--key", key], stack.env())
    assert as_json["requestedTtlSec"] == 99999 and as_json["grantedTtlSec"] == 3600
    kept = run(["pair", "telegram", "--ttl", "600", "--no-qr", "--key", key], stack.env())
    assert kept.exit_code == 0 and "clamped" not in kept.stderr


def test_banner_hints_match_the_quick_start(stack: Stack) -> None:
    from muxctl import outcome

    assert "python -m local" not in stack.banner_text and "18789" not in stack.banner_text
    assert f"MUX_TELEGRAM_API_BASE_URL={outcome.DEFAULT_BOT_API}" in stack.banner_text
    assert "make run" in stack.banner_text and "muxctl dev telegram" in stack.banner_text
    assert f"{outcome.DEFAULT_TENANT}/v1/mux/inbound" in stack.banner_text  # `muxctl dev openclaw`'s port


# --- pairing, simulate, inbound ------------------------------------------------------------------
def test_pair_simulate_and_inbound_envelope_arrives(stack: Stack, receiver: InboundReceiver) -> None:
    _tenant_id, key = new_tenant(stack, receiver, "pair")
    human = run(["pair", "telegram", "--key", key], stack.env())
    assert human.exit_code == 0
    assert "/start mpt_" in human.stdout and "https://t.me/MuxLocalBot?start=mpt_" in human.stdout
    assert "█" in human.stdout or "▀" in human.stdout, "a terminal QR code of the deep link"

    chat = 5_100_000_000 + time.time_ns() % 10**8
    binding = pair_chat(stack, key, chat)
    assert binding["routeKey"] == f"telegram:default:chat:{chat}"
    assert binding["sessionKeys"] == [f"agent:main:telegram:direct:{chat}"]
    wait_until(lambda: any(c["body"].get("chat_id") == chat and "Paired" in str(c["body"].get("text"))
                         for c in stack.telegram.calls("sendMessage")), 10, "the pairing notice")

    sent = run_json(["simulate", "telegram", "--chat", str(chat), "hello from muxctl"], stack.env())
    envelope = envelope_for(receiver, sent["eventId"])
    assert envelope["body"] == "hello from muxctl"
    assert envelope["sessionKey"] == f"agent:main:telegram:direct:{chat}"
    assert envelope["from"] == f"telegram:{chat}" and envelope["to"] == f"telegram:{chat}"
    assert envelope["accountId"] == "mux"
    assert all(r["authorized"] for r in receiver.received()), "the mux sent the tenant key as bearer"


def test_forum_topic_pairing_and_message(stack: Stack, receiver: InboundReceiver) -> None:
    _tenant_id, key = new_tenant(stack, receiver, "topic")
    group = 2_000_000_000 + time.time_ns() % 10**8
    binding = pair_chat(stack, key, group, "--topic", "42", "--user", "6234567890")
    assert binding["routeKey"] == f"telegram:default:chat:-100{group}:topic:42"
    assert binding["scope"] == "topic"
    sent = run_json(["simulate", "telegram", "--chat", str(group), "--topic", "42", "--user", "6234567890",
                     "in the topic"], stack.env())
    envelope = envelope_for(receiver, sent["eventId"])
    assert envelope["sessionKey"] == f"agent:main:telegram:group:-100{group}:topic:42"
    assert str(envelope["threadId"]) == "42"


def test_bindings_list_all_and_unbind(stack: Stack, receiver: InboundReceiver) -> None:
    _tenant_id, key = new_tenant(stack, receiver, "list")
    base = 5_300_000_000 + time.time_ns() % 10**8
    ids = [pair_chat(stack, key, base + n)["bindingId"] for n in range(3)]
    page = run_json(["bindings", "list", "--limit", "1", "--key", key], stack.env())
    assert len(page["items"]) == 1 and page["nextCursor"]
    every = run_json(["bindings", "list", "--limit", "1", "--all", "--key", key], stack.env())
    assert sorted(b["bindingId"] for b in every["items"]) == sorted(ids)
    table = run(["bindings", "list", "--key", key], stack.env())
    assert all(i in table.stdout for i in ids) and "ROUTE" in table.stdout

    unbound = run(["bindings", "unbind", ids[0], "--key", key], stack.env())
    assert unbound.exit_code == 0 and ids[0] in unbound.stdout
    left = run_json(["bindings", "list", "--all", "--key", key], stack.env())["items"]
    assert sorted(b["bindingId"] for b in left) == sorted(ids[1:])
    again = run(["bindings", "unbind", ids[0], "--key", key], stack.env())
    assert again.exit_code == 1 and "BINDING_NOT_FOUND" in again.stderr


def test_simulate_shows_the_bots_reply_and_what_reached_the_tenant(stack: Stack, receiver: InboundReceiver) -> None:
    _tenant_id, key = new_tenant(stack, receiver, "sim")
    chat = 5_600_000_000 + time.time_ns() % 10**8
    watch = ["--bot-api", stack.telegram.url, "--observe", receiver.url, "--wait", "15"]

    garbage = run(["simulate", "telegram", "--chat", str(chat), *watch, "/start mpt_" + "A" * 32],
                  stack.env())
    assert garbage.exit_code == 0, garbage.stderr
    assert 'bot in the chat: replied "Pairing link is invalid or expired.' in garbage.stdout
    assert "reached the tenant: nothing (the mux handled it in the chat" in garbage.stdout
    assert "mux answered" not in garbage.stdout

    token = run_json(["pair", "telegram", "--key", key], stack.env())["startCommand"]
    paired = run(["simulate", "telegram", "--chat", str(chat), *watch, token], stack.env())
    assert 'bot in the chat: replied "Paired successfully.' in paired.stdout
    reused = run(["simulate", "telegram", "--chat", str(chat), *watch, token], stack.env())
    assert "Pairing link is invalid or expired" in reused.stdout

    hello = run_json(["simulate", "telegram", "--chat", str(chat), *watch, "hello tenant"], stack.env())
    [delivery] = hello["tenant"]
    assert delivery["status"] == 202 and delivery["envelope"]["body"] == "hello tenant"
    human = run(["simulate", "telegram", "--chat", str(chat), *watch, "hello again"], stack.env())
    assert (f'reached the tenant: 202 (accepted); session agent:main:telegram:direct:{chat}, body "hello again"'
            in human.stdout)
    down = f"http://127.0.0.1:{free_port()}"
    blind = run(["simulate", "telegram", "--chat", str(chat), "--bot-api", down, "--observe", down, "--wait", "5",
                 "hello blind"], stack.env())
    assert blind.exit_code == 0 and "(bot replies not observed: cannot reach the fake Bot API" in blind.stdout
    assert "(the tenant side is not observed: cannot reach" in blind.stdout


def test_simulate_with_a_wrong_secret_is_refused(stack: Stack) -> None:
    result = run(["simulate", "telegram", "--chat", "1", "--secret", "not-the-secret", "hi"], stack.env())
    assert result.exit_code == 4 and "401" in result.stderr


# --- dead letters ---------------------------------------------------------------------------------
def test_dlq_list_and_redrive(stack: Stack, receiver: InboundReceiver) -> None:
    _tenant_id, key = new_tenant(stack, receiver, "dlq")
    chat = 5_400_000_000 + time.time_ns() % 10**8
    pair_chat(stack, key, chat)
    receiver.status = 400  # a permanent rejection: dead-lettered at once
    sent = run_json(["simulate", "telegram", "--chat", str(chat), "rejected at first"], stack.env())
    event_id = sent["eventId"]

    def dead() -> dict[str, Any] | None:
        items = run_json(["dlq", "list"], stack.env())["items"]
        return next((i for i in items if i["eventId"] == event_id), None)

    item = wait_until(dead, 30, f"{event_id} in the dead-letter queue")
    assert item["status"] == 400 and item["reason"]
    human = run(["dlq", "list"], stack.env())
    assert event_id in human.stdout and "REASON" in human.stdout

    if stack.aws_endpoint and stack.dead_letter_queue:
        aws_env = stack.env(
            AWS_ENDPOINT_URL=stack.aws_endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1", AWS_PROFILE=None, MUX_DEAD_LETTER_QUEUE_URL=stack.dead_letter_queue,
            MUX_INBOUND_QUEUE_URL=stack.inbound_queue,
        )
        via_sqs = run_json(["dlq", "list", "--via", "sqs"], aws_env)
        assert via_sqs["source"] == "sqs" and item["id"] in [i["id"] for i in via_sqs["items"]]

    receiver.status = 202
    moved = run_json(["dlq", "redrive", item["id"]], stack.env())
    assert moved["redriven"] == [item["id"]]
    envelope = envelope_for(receiver, event_id)
    assert envelope["body"] == "rejected at first"


def test_dlq_redrive_all_moves_every_dead_letter_in_one_run(stack: Stack, receiver: InboundReceiver) -> None:
    """25 dead letters, 15 of them in one chat: a FIFO queue hands out at most 10 of a chat at a time."""
    _tenant_id, key = new_tenant(stack, receiver, "dlqall")
    base = 5_500_000_000 + time.time_ns() % 10**8
    chats = {base: 15, base + 1: 10}
    for chat in chats:
        pair_chat(stack, key, chat)
    receiver.status = 400
    sent: dict[int, list[str]] = {chat: [] for chat in chats}
    for chat, count in chats.items():
        for n in range(count):
            sent[chat].append(run_json(["simulate", "telegram", "--chat", str(chat), f"dead {n}"], stack.env())[
                "eventId"])
    expected = {e for ids in sent.values() for e in ids}

    def dead_letters() -> int | None:
        depth = run_json(["health"], stack.env())["admin"]["queues"]["deadLetter"]
        total = depth["visible"] + depth["inFlight"]
        return total if total >= len(expected) else None

    wait_until(dead_letters, 60, f"{len(expected)} dead letters")
    receiver.status = 202
    # The admin route moves pages: with a limit it says whether more remain and which cutoff it used.
    page = requests.post(f"{stack.url}/v1/admin/dead-letters/redrive", json={"all": True, "limit": 5},
                         headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30).json()
    assert len(page["redriven"]) == 5 and page["more"] is True and isinstance(page["beforeMs"], int)
    result = run(["dlq", "redrive", "--all"], stack.env())
    assert result.exit_code == 0, result.stderr
    count = int(re.search(r"Redrove (\d+) message", result.stdout).group(1))  # type: ignore[union-attr]
    assert count + 5 >= len(expected)
    assert "redriving" in result.stderr and f"{count}/" in result.stderr  # the progress line

    def arrived() -> list[dict[str, Any]] | None:
        got = [e for e in receiver.envelopes() if e.get("eventId") in expected]
        return got if len({e["eventId"] for e in got}) == len(expected) else None

    got = wait_until(arrived, 60, "every redriven message at the tenant's OpenClaw")
    for chat, ids in sent.items():  # each chat's order is kept
        order = [e["eventId"] for e in got if e["eventId"] in ids]
        assert order == ids
    assert run_json(["dlq", "list"], stack.env())["items"] == []


# --- acceptance checks ----------------------------------------------------------------------------
def test_check_tenant_passes_on_a_healthy_tenant(stack: Stack, receiver: InboundReceiver) -> None:
    tenant_id, key = new_tenant(stack, receiver, "healthy")
    result = run(["check", "tenant", tenant_id, "--key", key, "--simulate", "--observe", receiver.url,
                  "--send-text", "hello from the acceptance check", "--quiet-seconds", "1", "--timeout", "20"],
                 stack.env())
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "PASSED: 7 passed, 0 failed, 0 skipped" in result.stdout
    assert "waited 1.0 s" in result.stdout
    assert any(c["body"].get("text") == "hello from the acceptance check" for c in stack.telegram.calls("sendMessage"))
    assert run_json(["bindings", "list", "--all", "--key", key], stack.env())["items"] == [], "check cleans up"


def test_check_tenant_skips_what_it_cannot_observe(stack: Stack, receiver: InboundReceiver) -> None:
    tenant_id, key = new_tenant(stack, receiver, "noobs")
    data = run_json(["check", "tenant", tenant_id, "--key", key, "--simulate"], stack.env())
    status = {c["id"]: c["status"] for c in data["checks"]}
    assert status == {"0": "pass", "1a": "pass", "1b": "skip", "2": "pass", "3": "skip", "4a": "pass", "4b": "skip"}
    assert "pass --observe" in next(c["detail"] for c in data["checks"] if c["id"] == "3")


def test_check_tenant_fails_when_openclaw_fails(stack: Stack, receiver: InboundReceiver) -> None:
    tenant_id, key = new_tenant(stack, receiver, "failing")
    receiver.status = 503
    data = run_json(["check", "tenant", tenant_id, "--key", key, "--simulate", "--observe", receiver.url,
                     "--timeout", "10", "--quiet-seconds", "0.5"], stack.env(), expect=1)
    inbound = next(c for c in data["checks"] if c["id"] == "3")
    assert inbound["status"] == "fail" and "answered 503" in inbound["detail"]
    assert data["ok"] is False


def test_check_tenant_fails_when_openclaw_is_down(stack: Stack) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    tenant_id = f"down-{time.time_ns() % 10**9}"
    key = run_json(["tenant", "create", tenant_id, "--inbound-url", f"{down}/v1/mux/inbound"],
                   stack.env())["tenantApiKey"]
    result = run(["check", "tenant", tenant_id, "--key", key, "--simulate", "--observe", down,
                  "--timeout", "5", "--quiet-seconds", "0.5"], stack.env())
    assert result.exit_code == 1
    assert "FAIL" in result.stdout and "cannot reach the observer" in result.stdout
    assert "connection refused" in result.stdout


def test_check_tenant_fails_with_a_wrong_key(stack: Stack, receiver: InboundReceiver) -> None:
    tenant_id, _key = new_tenant(stack, receiver, "wrongkey")
    data = run_json(["check", "tenant", tenant_id, "--key", "x" * 40, "--simulate"], stack.env(), expect=1)
    assert [c["status"] for c in data["checks"]] == ["fail"]
    assert "401" in data["checks"][0]["detail"]


def test_check_tenant_interactive_mode_waits_for_a_real_user(stack: Stack, receiver: InboundReceiver) -> None:
    """Without --simulate the check prints the token and waits; here the 'user' acts on what it prints."""
    from muxctl.acceptance import AcceptanceRun
    from muxctl.client import MuxClient
    from muxctl.telegram import build_update, post_update

    tenant_id, key = new_tenant(stack, receiver, "interactive")
    client = MuxClient(stack.url, admin_token=ADMIN, tenant_key=key)
    chat = 5_500_000_000 + time.time_ns() % 10**8
    printed: list[str] = []

    def user(line: str) -> None:
        printed.append(line)
        if "send to the bot: /start " in line:
            post_update(client, build_update(line.split("send to the bot: ", 1)[1], chat_id=chat), SECRET)
        elif line.startswith("Send a message in the paired chat now"):
            post_update(client, build_update("a real user's message", chat_id=chat), SECRET)
        elif line.startswith("Send another message"):
            post_update(client, build_update("after unbind", chat_id=chat), SECRET)

    run_ = AcceptanceRun(client=client, tenant_id=tenant_id, observe=receiver.url, timeout=15, quiet_seconds=1,
                         say=user)
    results = {r.id: r for r in run_.run()}
    assert run_.ok, [(r.id, r.status, r.detail) for r in results.values()]
    assert results["2"].status == "pass" and f"telegram:default:chat:{chat}" in results["2"].detail
    assert results["3"].status == "pass" and results["4b"].status == "pass"
    assert any("deep link: https://t.me/MuxLocalBot?start=mpt_" in line for line in printed)
    assert [e["body"] for e in receiver.envelopes()] == ["a real user's message"]


# --- pairing status -----------------------------------------------------------------------------
def test_pair_wait_and_token_status_follow_the_claim(stack: Stack, receiver: InboundReceiver) -> None:
    import threading

    _tenant_id, key = new_tenant(stack, receiver, "wait")
    token = run_json(["pair", "telegram", "--key", key], stack.env())
    assert token["tokenId"] and token["tokenId"] not in token["token"]
    pending = run(["tokens", "status", token["tokenId"], "--wait", "1", "--key", key], stack.env())
    assert pending.exit_code == 1 and "Still pending" in pending.stdout

    chat = 5_700_000_000 + time.time_ns() % 10**8
    update = {"update_id": int(chat % 10**9), "message": {
        "message_id": 1, "date": int(time.time()), "chat": {"id": chat, "type": "private", "first_name": "Wait"},
        "from": {"id": chat, "is_bot": False, "first_name": "Wait"}, "text": token["startCommand"]}}
    # A plain HTTP post (muxctl's CliRunner cannot run in two threads at once: it swaps sys.stdout).
    claimer = threading.Thread(target=lambda: requests.post(
        f"{stack.url}/v1/webhooks/telegram", json=update, timeout=30,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}))
    claimer.start()
    try:
        waited = run(["tokens", "status", token["tokenId"], "--wait", "20", "--key", key], stack.env())
    finally:
        claimer.join(30)
    assert waited.exit_code == 0, (waited.stdout, waited.stderr)
    assert waited.stdout.startswith("Paired: binding bind_")
    binding = next(b for b in run_json(["bindings", "list", "--all", "--key", key], stack.env())["items"]
                   if b["routeKey"] == f"telegram:default:chat:{chat}")
    assert binding["bindingId"] in waited.stdout


def test_pair_wait_ends_when_the_token_is_revoked(stack: Stack, receiver: InboundReceiver) -> None:
    _tenant_id, key = new_tenant(stack, receiver, "revoke")
    human = run(["pair", "telegram", "--no-qr", "--key", key], stack.env())
    token_id = re.search(r"Token id:\s+(\S+)", human.stdout)
    assert token_id, human.stdout
    revoked = run(["tokens", "revoke", token_id.group(1), "--key", key], stack.env())
    assert revoked.exit_code == 0 and "Revoked" in revoked.stdout
    waited = run_json(["tokens", "status", token_id.group(1), "--key", key], stack.env())
    assert waited["status"] == "revoked"
    again = run(["pair", "telegram", "--no-qr", "--wait", "1", "--key", key], stack.env())
    assert again.exit_code == 1 and "Still pending" in again.stdout and "Token id:" in again.stdout
    unknown = run(["tokens", "revoke", "ptk_unknownunknownunknow", "--key", key], stack.env())
    assert unknown.exit_code == 1 and "TOKEN_NOT_FOUND" in unknown.stderr


def test_tenant_create_sets_events_url_and_agents_and_rotation_keeps_them(
    stack: Stack, receiver: InboundReceiver
) -> None:
    tenant_id = f"events-{time.time_ns() % 10**9}"
    events = "http://127.0.0.1:9/control-plane/events"
    created = run_json(["tenant", "create", tenant_id, "--inbound-url", f"{receiver.url}/v1/mux/inbound",
                        "--events-url", events, "--agent", "main", "--agent", "research"], stack.env())
    assert created["tenant"]["eventsUrl"] == events and created["tenant"]["agents"] == ["main", "research"]
    rotated = run_json(["tenant", "rotate-key", tenant_id], stack.env())
    assert rotated["tenant"]["eventsUrl"] == events and rotated["tenant"]["agents"] == ["main", "research"]
    shown = run(["tenant", "show", tenant_id], stack.env())
    assert events in shown.stdout and "main, research" in shown.stdout
    cleared = run_json(["tenant", "create", tenant_id, "--inbound-url", f"{receiver.url}/v1/mux/inbound",
                        "--events-url", ""], stack.env())
    assert cleared["tenant"].get("eventsUrl") is None and cleared["tenant"]["agents"] == ["main", "research"]
