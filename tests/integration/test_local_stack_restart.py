"""The local stack keeps what it accepted across a restart and a crash (SIGKILL): tenants, keys, bindings and
every queued message, which is then delivered to OpenClaw.

Real processes (`python -m local`), a fake Telegram and a fake OpenClaw on 127.0.0.1; each restart reuses the
state folder and the port.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import BOT_TOKEN, SECRET, private_update
from tests.localstack import LocalStack, free_port, wait_until

ADMIN = "restart-admin-token-0123456789"
TENANTS = {"acme": "acme-tenant-key-0123456789abcdefghij", "globex": "globex-tenant-key-0123456789abcdefgh"}
CHATS = {"acme": [5100000001, 5100000002], "globex": [5100000003]}


@pytest.fixture()
def fakes() -> Iterator[tuple[FakeTelegram, FakeOpenClaw]]:
    with FakeTelegram() as tg, FakeOpenClaw() as openclaw:
        yield tg, openclaw


def stack_for(tmp_path: Path, tg: FakeTelegram, port: int, name: str, aws_port: int = 0) -> LocalStack:
    env = {
        "MUX_LOCAL_AWS_PORT": str(aws_port),
        "MUX_ADMIN_TOKEN": ADMIN,
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "MUX_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "MUX_TELEGRAM_API_BASE_URL": tg.url,
    }
    logs = tmp_path / name
    logs.mkdir()
    return LocalStack(env, log_dir=logs, state_dir=tmp_path / "state", port=port)


def webhook(stack: LocalStack, update: dict[str, Any]) -> requests.Response:
    return requests.post(
        stack.url + "/v1/webhooks/telegram",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        timeout=10,
    )


def as_tenant(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TENANTS[tenant]}"}


def set_up_tenants(stack: LocalStack, openclaw: FakeOpenClaw) -> None:
    for tenant, key in TENANTS.items():
        boot = requests.post(
            stack.url + "/v1/admin/tenants/bootstrap",
            json={"tenantId": tenant, "apiKey": key, "inboundUrl": openclaw.url, "inboundTimeoutMs": 5000},
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=10,
        )
        assert boot.status_code == 200, boot.text
        for chat in CHATS[tenant]:
            token = requests.post(
                stack.url + "/v1/pairings/token", json={"channel": "telegram"}, headers=as_tenant(tenant), timeout=10
            ).json()
            assert webhook(stack, private_update(chat, token["startCommand"])).status_code == 200

    def all_bound() -> bool:
        return all(
            len(requests.get(stack.url + "/v1/pairings", headers=as_tenant(t), timeout=10).json()["items"])
            == len(CHATS[t])
            for t in TENANTS
        )

    wait_until(all_bound, 30, "every chat to be paired")


def test_sigkill_during_a_webhook_flow_loses_no_accepted_message(tmp_path, fakes):
    tg, openclaw = fakes
    # Both ports pinned: the restart must get them back at once (a crash leaves their connections in TIME_WAIT).
    port, aws_port = free_port(), free_port()
    first = stack_for(tmp_path, tg, port, "first", aws_port).start()
    try:
        set_up_tenants(first, openclaw)
        # OpenClaw is down: accepted messages pile up in the queue (and in the worker's retries).
        openclaw.status = 503
        chats = [chat for tenant in TENANTS for chat in CHATS[tenant]]
        accepted: list[str] = []
        stop = threading.Event()

        def send_until_stopped() -> None:
            n = 0
            while not stop.is_set():
                chat = chats[n % len(chats)]
                update = private_update(chat, f"message {n} to {chat}")
                n += 1
                try:
                    answer = webhook(first, update)
                except requests.RequestException:
                    continue  # the stack is gone: not accepted, nothing promised
                if answer.status_code == 200:
                    accepted.append(f"tg:{update['update_id']}")

        sender = threading.Thread(target=send_until_stopped)
        sender.start()
        wait_until(lambda: len(accepted) >= 24, 30, "24 accepted webhooks")
        first.kill()  # while the sender is still posting
        wait_until(lambda: first.process is not None and first.process.poll() is not None, 5, "the kill")
        stop.set()
        sender.join(15)
    finally:
        first.stop()
    assert first.killed

    openclaw.status = 202
    with stack_for(tmp_path, tg, port, "second", aws_port) as second:
        expected = set(accepted)
        delivered = wait_until(
            lambda: (got := {e["eventId"] for e in openclaw.received}) >= expected and got, 60,
            "every accepted message to reach OpenClaw",
        )
        assert expected <= delivered
        # Keys and bindings survived too: the tenant can list its chats and send to them.
        for tenant, chats_of in CHATS.items():
            items = requests.get(second.url + "/v1/pairings", headers=as_tenant(tenant), timeout=10).json()["items"]
            assert sorted(i["routeKey"] for i in items) == sorted(f"telegram:default:chat:{c}" for c in chats_of)
        sent = requests.post(
            second.url + "/v1/mux/outbound/send",
            json={"channel": "telegram", "sessionKey": f"agent:main:telegram:direct:{CHATS['acme'][0]}",
                  "text": "back again"},
            headers=as_tenant("acme"),
            timeout=10,
        )
        assert sent.status_code == 200, sent.text
        assert tg.bodies("sendMessage")[-1]["text"] == "back again"
        assert "restored from" in second.output()

    fresh = stack_for(tmp_path, tg, port, "fresh", aws_port)
    fresh.args = ["--fresh"]
    with fresh:  # starts empty: the key is unknown
        answer = requests.get(fresh.url + "/v1/tenant/inbound-target", headers=as_tenant("acme"), timeout=10)
        assert answer.status_code == 401


def test_the_state_folder_is_locked_for_one_stack(tmp_path):
    from local.awsstate import StateDir, StateError

    first = StateDir(tmp_path / "state")
    first.acquire()
    try:
        with pytest.raises(StateError, match="in use by another local stack"):
            StateDir(tmp_path / "state").acquire()
    finally:
        first.release()
    StateDir(tmp_path / "state").acquire()  # free again once released


def test_command_line_chooses_where_the_state_goes():
    from local.__main__ import parse_args
    from local.stack import DEFAULT_STATE_DIR

    assert parse_args([]).state_dir == DEFAULT_STATE_DIR
    assert DEFAULT_STATE_DIR.name == ".local-state"
    assert parse_args(["--fresh"]).fresh and parse_args(["--in-memory"]).in_memory
    ignored = (DEFAULT_STATE_DIR.parent / ".gitignore").read_text().split()
    assert ".local-state/" in ignored


def test_a_torn_last_write_loses_only_that_unanswered_write(tmp_path, aws_env):
    """The crash windows of the state files: a half-appended journal record and a half-written snapshot."""
    from local.awsstate import StateDir

    state = StateDir(tmp_path / "state")
    state.acquire()
    try:
        state.save_all()  # generation 1 of every service; an empty DynamoDB journal
        for n in (1, 2):
            state.journal("dynamodb", {"X-Amz-Target": f"DynamoDB_20120810.PutItem{n}"}, b'{"n": %d}' % n)
        journal = tmp_path / "state" / "dynamodb.1.journal"
        with journal.open("ab") as handle:
            handle.write(b"\x00\x00\x01\x00torn")  # the process died in the middle of the third append
        state.save("sqs")  # generation 2 (slot 0)
        state.save("sqs")  # generation 3 (slot 1) ...
        slot = tmp_path / "state" / "sqs.1.snapshot"
        slot.write_bytes(slot.read_bytes()[:-10])  # ... torn while it was written
    finally:
        state.release()

    replayed: list[tuple[dict[str, str], bytes]] = []
    again = StateDir(tmp_path / "state")
    again.acquire()
    try:
        again.restore(lambda headers, body: replayed.append((headers, body)))
        assert [body for _, body in replayed] == [b'{"n": 1}', b'{"n": 2}']
        assert again._generations["sqs"] == 2
    finally:
        again.release()


def test_snapshots_do_not_grow_with_every_message_ever_deleted(tmp_path, aws_env):
    import boto3
    from moto.sqs.models import sqs_backends

    from local.awsstate import StateDir

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = aws_env.inbound_queue_url
    state = StateDir(tmp_path / "state")
    state.acquire()
    try:
        sizes = []
        for round_ in range(2):
            for n in range(25):
                sqs.send_message(QueueUrl=url, MessageBody=f"{round_}-{n}", MessageGroupId="g",
                                 MessageDeduplicationId=f"{round_}-{n}")
                (message,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            state.save("sqs")
            sizes.append(max(p.stat().st_size for p in (tmp_path / "state").glob("sqs.*.snapshot")))
        assert sizes[1] - sizes[0] < 500, sizes  # not 25 more deleted receipt handles
        sqs.send_message(QueueUrl=url, MessageBody="kept", MessageGroupId="k", MessageDeduplicationId="kept")
        state.save_all()
        state.restore(lambda headers, body: None)
    finally:
        state.release()
    queue = sqs_backends["123456789012"]["us-east-1"].queues[url.rsplit("/", 1)[1]]
    assert queue.deleted_messages == set()
    assert [m.body for m in queue._messages] == ["kept"]
