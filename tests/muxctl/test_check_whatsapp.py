"""`muxctl check tenant --channel whatsapp --simulate` against the real local stack (`python -m local`), with the
Graph API replaced by `muxctl dev whatsapp`'s stand-in and the tenant's OpenClaw by `muxctl dev openclaw`'s
receiver, both in-process: the four minimum acceptance checks pass for WhatsApp."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from muxctl.devservers import InboundReceiver
from muxctl.whatsapp_graph import FakeGraph
from tests.localstack import ROOT, LocalStack
from tests.muxctl.support import run, run_json

ADMIN = "muxctl-wa-check-admin-token-0123456789"
APP_SECRET = "muxctl-wa-check-app-secret"
ACCESS_TOKEN = "EAAGmuxctlwacheckaccesstoken"
PHONE_NUMBER_ID = "318765432109876"


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraph]:
    with FakeGraph(access_token=ACCESS_TOKEN) as fake:
        yield fake


@pytest.fixture(scope="module")
def stack(graph: FakeGraph, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    if not (ROOT / "local" / "__main__.py").exists():
        pytest.skip("the local stack (python -m local) is not in this tree")
    env = {
        "MUX_ADMIN_TOKEN": ADMIN,
        "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": "muxctl-wa-check-verify",
        "MUX_WHATSAPP_API_BASE_URL": graph.base_url,
        "MUX_LOCAL_LOG_LEVEL": "WARNING",
    }
    with LocalStack(env, log_dir=tmp_path_factory.mktemp("stack")) as local:
        yield local


@pytest.fixture
def receiver() -> Iterator[InboundReceiver]:
    with InboundReceiver() as server:
        yield server  # type: ignore[misc]


def env(stack: LocalStack) -> dict[str, str | None]:
    return {"MUX_URL": stack.url, "MUX_ADMIN_TOKEN": ADMIN, "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID}


def new_tenant(stack: LocalStack, receiver: InboundReceiver) -> tuple[str, str]:
    tenant_id = f"wa-check-{time.time_ns() % 10**9}"
    data = run_json(["tenant", "create", tenant_id, "--inbound-url", f"{receiver.url}/v1/mux/inbound"], env(stack))
    receiver.key = data["tenantApiKey"]
    return tenant_id, data["tenantApiKey"]


@pytest.mark.parametrize("sender", ["447700900555", "US.58203317440219800042"], ids=["phone", "bsuid"])
def test_check_tenant_passes_for_whatsapp(
    stack: LocalStack, graph: FakeGraph, receiver: InboundReceiver, sender: str
) -> None:
    tenant_id, key = new_tenant(stack, receiver)
    text = f"hello from the WhatsApp check {sender}"
    data = run_json(["check", "tenant", tenant_id, "--channel", "whatsapp", "--key", key, "--simulate",
                     "--from", sender, "--observe", receiver.url, "--send-text", text,
                     "--quiet-seconds", "1", "--timeout", "20"], env(stack))
    status = {c["id"]: c["status"] for c in data["checks"]}
    assert status == {"0": "pass", "1a": "pass", "1b": "pass", "2": "pass", "3": "pass", "4a": "pass",
                      "4b": "pass"}, data["checks"]
    assert data["ok"] is True and data["channel"] == "whatsapp" and data["chatId"] == sender
    pairing = next(c for c in data["checks"] if c["id"] == "2")
    assert f"whatsapp:{PHONE_NUMBER_ID}:chat:{sender}" in pairing["detail"]
    target = "recipient" if sender.startswith("US.") else "to"
    bodies = [b["text"]["body"] for b in graph.sent()
              if b.get("type") == "text" and str(b.get(target, "")).lstrip("+") == sender]
    assert text in bodies, f"the outbound check's text did not reach the Graph API: {bodies}"
    assert run_json(["bindings", "list", "--all", "--key", key], env(stack))["items"] == [], "check cleans up"


def test_check_tenant_whatsapp_simulate_needs_the_app_secret(stack: LocalStack) -> None:
    result = run(["check", "tenant", "any", "--channel", "whatsapp", "--key", "k" * 40, "--simulate"],
                 {"MUX_URL": stack.url, "MUX_ADMIN_TOKEN": ADMIN})
    assert result.exit_code != 0
    assert "WHATSAPP_APP_SECRET" in result.stderr
