"""`muxctl tenant list|enable|delete` against the real local stack (its own, so listings hold only this
module's tenants)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from muxctl.devservers import InboundReceiver
from tests.localstack import ROOT, LocalStack, wait_until
from tests.muxctl.support import run, run_json
from tests.muxctl.test_muxctl_stack import ADMIN, BOT_TOKEN, SECRET, Stack, pair_chat


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from muxctl.devservers import FakeTelegram

    if not (ROOT / "local" / "__main__.py").exists():
        pytest.skip("the local stack (python -m local) is not in this tree")
    with FakeTelegram(token=BOT_TOKEN) as telegram:
        env = {
            "MUX_ADMIN_TOKEN": ADMIN, "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "MUX_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "MUX_TELEGRAM_API_BASE_URL": telegram.url, "MUX_LOCAL_LOG_LEVEL": "WARNING",
        }
        with LocalStack(env, log_dir=tmp_path_factory.mktemp("lifecycle")) as local:
            yield Stack(local.url, telegram, "", "", "")


@pytest.fixture
def receiver() -> Iterator[InboundReceiver]:
    with InboundReceiver() as server:
        yield server  # type: ignore[misc]


def create(stack: Stack, receiver: InboundReceiver, tenant_id: str) -> str:
    data = run_json(["tenant", "create", tenant_id, "--inbound-url", f"{receiver.url}/v1/mux/inbound"], stack.env())
    return str(data["tenantApiKey"])


def test_tenant_list_and_enable(stack: Stack, receiver: InboundReceiver) -> None:
    keys = {name: create(stack, receiver, name) for name in ("lst-a", "lst-b", "lst-c")}
    assert run(["tenant", "disable", "lst-b", "--yes"], stack.env()).exit_code == 0

    human = run(["tenant", "list"], stack.env())
    assert human.exit_code == 0, human.stderr
    lines = human.stdout.splitlines()
    assert lines[0].split() == ["TENANT", "NAME", "STATUS", "INBOUND", "URL", "CREATED"]
    order = [line.split()[0] for line in lines[2:]]
    assert order == ["lst-a", "lst-c", "lst-b"] and "DISABLED" in lines[-1]
    assert not any(key in human.stdout for key in keys.values())

    paged = run_json(["tenant", "list", "--limit", "1", "--all"], stack.env())
    assert [t["tenantId"] for t in paged["items"]] == ["lst-a", "lst-c", "lst-b"] and paged["nextCursor"] is None
    first = run_json(["tenant", "list", "--limit", "1"], stack.env())
    assert len(first["items"]) == 1 and first["nextCursor"]
    assert "--cursor" in run(["tenant", "list", "--limit", "1"], stack.env()).stdout
    disabled = run_json(["tenant", "list", "--status", "disabled"], stack.env())
    assert [t["tenantId"] for t in disabled["items"]] == ["lst-b"]

    assert run(["tenant", "target", "--key", keys["lst-b"]], stack.env()).exit_code == 4
    enabled = run(["tenant", "enable", "lst-b"], stack.env())
    assert enabled.exit_code == 0 and "Tenant lst-b enabled." in enabled.stdout
    assert "status:          enabled" in enabled.stdout
    assert run(["tenant", "target", "--key", keys["lst-b"]], stack.env()).exit_code == 0
    assert run_json(["tenant", "list", "--status", "disabled"], stack.env())["items"] == []
    assert "No disabled tenants." in run(["tenant", "list", "--status", "disabled"], stack.env()).stdout

    missing = run(["tenant", "enable", "no-such-tenant"], stack.env())
    assert missing.exit_code == 1 and "404" in missing.stderr and "TENANT_NOT_FOUND" in missing.stderr


def test_tenant_delete_removes_it_and_dead_letters_its_queued_message(
    stack: Stack, receiver: InboundReceiver
) -> None:
    key = create(stack, receiver, "del-me")
    receiver.key = key
    chat = 5_600_000_000 + time.time_ns() % 10**8
    pair_chat(stack, key, chat)

    aborted = run(["tenant", "delete", "del-me"], stack.env(), input="n\n")
    assert aborted.exit_code == 1 and run(["tenant", "show", "del-me"], stack.env()).exit_code == 0

    receiver.status = 503  # the tenant's OpenClaw is down: the message waits in the queue for a retry
    sent = run_json(["simulate", "telegram", "--chat", str(chat), "waiting in the queue"], stack.env())
    wait_until(lambda: any(r.get("eventId") == sent["eventId"] for r in receiver.received()), 15, "a first attempt")

    deleted = run(["tenant", "delete", "del-me", "--yes"], stack.env())
    assert deleted.exit_code == 0, deleted.stderr
    assert "Tenant del-me deleted: 1 binding(s), 1 session route(s), 1 pairing token(s)" in deleted.stdout
    receiver.status = 202

    def dead() -> dict[str, Any] | None:
        items = run_json(["dlq", "list"], stack.env())["items"]
        return next((i for i in items if i["eventId"] == sent["eventId"]), None)

    assert wait_until(dead, 30, "the queued message in the dead-letter queue")["reason"] == "tenant deleted"
    assert not any(r.get("eventId") == sent["eventId"] and r["status"] == 202 for r in receiver.received())

    assert run(["tenant", "show", "del-me"], stack.env()).exit_code == 1
    assert run(["tenant", "target", "--key", key], stack.env()).exit_code == 4
    again = run(["tenant", "delete", "del-me", "--yes"], stack.env())
    assert again.exit_code == 1 and "TENANT_NOT_FOUND" in again.stderr
