"""`muxctl check tenant --channel discord --simulate` against the real local stack (`python -m local`) with Discord
enabled, Discord's REST API replaced by the `muxctl dev discord` stand-in and the tenant's OpenClaw by `muxctl dev
openclaw`'s receiver, both in-process: the four minimum acceptance checks pass through both entry paths
(interactions signed with the RFC 8032 test key, gateway events signed with the relay secret), and a failing
OpenClaw or a wrong signing key fails the check on the row that names it."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from muxctl.devservers import InboundReceiver
from tests.fakes.discord_server import PRIVATE_SEED, RELAY_SECRET, FakeDiscord
from tests.localstack import ROOT, LocalStack
from tests.muxctl.support import run, run_json

ADMIN = "muxctl-dc-check-admin-token-0123456789"
PATHS = ("ix", "gw")


@pytest.fixture(scope="module")
def discord() -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake:
        fake.accept_unknown_interactions = True  # as `muxctl dev discord`: the mux answered them in its webhook
        yield fake


@pytest.fixture(scope="module")
def stack(discord: FakeDiscord, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    if not (ROOT / "local" / "__main__.py").exists():
        pytest.skip("the local stack (python -m local) is not in this tree")
    env = {"MUX_ADMIN_TOKEN": ADMIN, **discord.env(), "MUX_LOCAL_LOG_LEVEL": "WARNING"}
    with LocalStack(env, log_dir=tmp_path_factory.mktemp("stack")) as local:
        yield local


@pytest.fixture
def receiver() -> Iterator[InboundReceiver]:
    with InboundReceiver() as server:
        yield server  # type: ignore[misc]


def env(stack: LocalStack) -> dict[str, str | None]:
    return {"MUX_URL": stack.url, "MUX_ADMIN_TOKEN": ADMIN}


def new_tenant(stack: LocalStack, receiver: InboundReceiver) -> tuple[str, str]:
    tenant_id = f"dc-check-{time.time_ns() % 10**9}"
    data = run_json(["tenant", "create", tenant_id, "--inbound-url", f"{receiver.url}/v1/mux/inbound"], env(stack))
    # The mux serves Discord (and nothing else here): the rendered OpenClaw config sets up its mux account.
    assert set(data["openclawConfig"]["channels"]) == {"discord"}
    assert data["openclawConfig"]["channels"]["discord"]["accounts"]["mux"] == {"enabled": False,
                                                                              "mux": {"enabled": True}}
    receiver.key = data["tenantApiKey"]
    return tenant_id, data["tenantApiKey"]


def check(stack: LocalStack, tenant_id: str, key: str, *extra: str, expect: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = run_json(["check", "tenant", tenant_id, "--channel", "discord", "--key", key,
                                     "--simulate", "--quiet-seconds", "1", "--timeout", "10", *extra],
                                    env(stack), expect=expect)
    return data


def statuses(data: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in data["checks"]}


def test_check_tenant_passes_for_discord_through_both_entry_paths(
    stack: LocalStack, discord: FakeDiscord, receiver: InboundReceiver
) -> None:
    tenant_id, key = new_tenant(stack, receiver)
    text = f"hello from the Discord check {secrets.token_hex(3)}"
    data = check(stack, tenant_id, key, "--discord-signing-key", PRIVATE_SEED, "--relay-secret", RELAY_SECRET,
                 "--observe", receiver.url, "--discord-api", discord.base_url, "--send-text", text)
    assert statuses(data) == {"0": "pass", "1a": "pass", **{f"{n}/{p}": "pass" for n in ("1b", "2", "3", "4a", "4b")
                                                           for p in PATHS}}, data["checks"]
    assert [c["id"] for c in data["checks"]][:4] == ["0", "1a", "1b/ix", "1b/gw"]
    assert data["ok"] is True and data["channel"] == "discord"
    rows = {c["id"]: c for c in data["checks"]}
    assert "/pair token:<token>" in rows["2/ix"]["detail"] and "discord:default:dm:user:" in rows["2/ix"]["detail"]
    assert "through the relay" in rows["2/gw"]["detail"]
    assert rows["3/ix"]["detail"].startswith("dci:") and rows["3/gw"]["detail"].startswith("dc:")
    assert "Discord got" in rows["1b/ix"]["detail"] and "(interactions)" in rows["1b/ix"]["name"]
    assert [m["content"] for m in discord.sent()].count(text) == 2, "each path's send reached Discord"
    events = {r["eventId"].split(":")[0] for r in receiver.received()}
    assert events == {"dci", "dc"}, "one /ask and one relayed DM reached the tenant, nothing after unbind"
    assert run_json(["bindings", "list", "--all", "--key", key], env(stack))["items"] == [], "check cleans up"


def test_check_tenant_discord_fails_on_the_inbound_row_when_openclaw_answers_500(
    stack: LocalStack, receiver: InboundReceiver
) -> None:
    tenant_id, key = new_tenant(stack, receiver)
    receiver.status = 500
    data = check(stack, tenant_id, key, "--relay-secret", RELAY_SECRET, "--observe", receiver.url, expect=1)
    got = statuses(data)
    assert got["3/gw"] == "fail" and got["2/gw"] == "pass", data["checks"]
    assert "answered 500" in next(c["detail"] for c in data["checks"] if c["id"] == "3/gw")
    assert got["2/ix"] == "skip" and "--discord-signing-key" in next(
        c["detail"] for c in data["checks"] if c["id"] == "2/ix")
    assert data["ok"] is False


def test_check_tenant_discord_fails_on_the_pairing_row_with_a_wrong_signing_key(
    stack: LocalStack, receiver: InboundReceiver
) -> None:
    tenant_id, key = new_tenant(stack, receiver)
    result = run(["check", "tenant", tenant_id, "--channel", "discord", "--key", key, "--simulate",
                  "--discord-signing-key", secrets.token_hex(32), "--observe", receiver.url, "--timeout", "5"],
                 env(stack))
    assert result.exit_code == 1, (result.stdout, result.stderr)
    row = next(line for line in result.stdout.splitlines() if line.startswith("2/ix"))
    assert "FAIL" in row and "401" in row and "DISCORD_PUBLIC_KEY" in row, result.stdout
    assert "FAILED" in result.stdout and receiver.received() == []


def test_check_tenant_discord_simulate_needs_a_signer(stack: LocalStack) -> None:
    result = run(["check", "tenant", "any", "--channel", "discord", "--key", "k" * 40, "--simulate"], env(stack))
    assert result.exit_code == 2
    assert "--discord-signing-key" in result.stderr and "--relay-secret" in result.stderr


def test_simulate_discord_pairs_by_slash_command_and_forwards_a_relayed_message(
    stack: LocalStack, discord: FakeDiscord, receiver: InboundReceiver
) -> None:
    _, key = new_tenant(stack, receiver)
    token = run_json(["pair", "discord", "--key", key], env(stack))["token"]
    printed = run(["pair", "discord", "--key", key], env(stack)).stdout
    assert "/pair token:mpt_" in printed and "DM" in printed  # the mux's instructions for Discord
    user = "412345678901234999"
    common = ["--user", user, "--discord-api", discord.url, "--observe", receiver.url, "--wait", "10"]
    paired = run_json(["simulate", "discord", token, "--slash", "pair", "--signing-key", PRIVATE_SEED, *common],
                      env(stack))
    assert paired["answer"] == {"type": 5, "data": {"flags": 64}} and paired["eventId"].startswith("dci:")
    assert [r.get("content") for r in paired["botReplies"]] == ["Paired successfully. You can chat now."]
    assert paired["tenant"] == []  # a token is never forwarded
    sent = run_json(["simulate", "discord", "hello over the relay", "--relay-secret", RELAY_SECRET, *common],
                    env(stack))
    assert [r["envelope"]["body"] for r in sent["tenant"]] == ["hello over the relay"], sent
    assert sent["tenant"][0]["envelope"]["sessionKey"] == f"agent:main:discord:direct:{user}"
    human = run(["simulate", "discord", "x", "--user", user, "--slash", "ask", "--signing-key", secrets.token_hex(32),
                 "--wait", "0"], env(stack))
    assert human.exit_code != 0 and "401" in human.stderr
