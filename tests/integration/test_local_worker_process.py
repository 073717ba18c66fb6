"""The local stack's queue worker runs in a child process (local/worker.py): it dies with the stack, is started
again if it dies alone, and the embedded AWS only runs moto's receive for it when a message could be handed out.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import boto3
import pytest
import requests

from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import SECRET, private_update
from tests.integration.test_local_stack_restart import CHATS, set_up_tenants, stack_for
from tests.localstack import free_port, wait_until


def _children(pid: int) -> list[int]:
    """Child processes of any of `pid`'s threads (a restarted worker is started from the supervisor thread)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture()
def fakes():
    with FakeTelegram() as tg, FakeOpenClaw() as openclaw:
        yield tg, openclaw


def test_the_worker_process_dies_with_a_killed_stack(tmp_path, fakes):
    tg, _ = fakes
    stack = stack_for(tmp_path, tg, free_port(), "killed").start()
    try:
        assert stack.process is not None
        (worker,) = wait_until(lambda: _children(stack.process.pid), 10, "the worker process")
        assert _running(worker)
        stack.kill()
        wait_until(lambda: not _running(worker), 10, "the worker to die with the stack")
    finally:
        stack.stop()


def test_a_worker_that_dies_alone_is_started_again_and_messages_still_flow(tmp_path, fakes):
    tg, openclaw = fakes
    with stack_for(tmp_path, tg, free_port(), "restarted") as stack:
        assert stack.process is not None
        set_up_tenants(stack, openclaw)
        (first,) = _children(stack.process.pid)
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: requests.get(stack.url + "/health", timeout=5).status_code == 503, 10,
                   "/health to say the worker is down")
        again = wait_until(lambda: [c for c in _children(stack.process.pid) if c != first and _running(c)], 60,
                           "a new worker process")
        assert len(again) == 1
        wait_until(lambda: requests.get(stack.url + "/health", timeout=5).status_code == 200, 60, "/health 200")
        chat = CHATS["acme"][0]
        update = private_update(chat, "after the worker restart")
        answer = requests.post(stack.url + "/v1/webhooks/telegram", json=update,
                               headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=10)
        assert answer.status_code == 200
        wait_until(lambda: f"tg:{update['update_id']}" in {e["eventId"] for e in openclaw.received}, 30,
                   "the message to reach OpenClaw")
        assert "the queue worker process exited" in stack.output()


# --- the receive pre-check --------------------------------------------------------------------------------
def _check(queue_url: str) -> bool:
    from local.awsstate import DurableApp

    return DurableApp(lambda *_: [], None)._receivable(queue_url, "us-east-1")


def _nothing_receivable(sqs, url: str) -> bool:
    """A real short receive hands out nothing (it then changes nothing either)."""
    return not sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages")


def test_the_receive_precheck_says_no_only_when_moto_would_hand_out_nothing(aws_env):
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = aws_env.inbound_queue_url  # FIFO
    assert _check(url) is False and _nothing_receivable(sqs, url)

    def send(group: str, n: int) -> None:
        sqs.send_message(QueueUrl=url, MessageBody=f"{group}{n}", MessageGroupId=group,
                         MessageDeduplicationId=f"{group}{n}")

    send("g", 1)
    assert _check(url) is True
    (held,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=30)["Messages"]
    assert _check(url) is False and _nothing_receivable(sqs, url)
    send("g", 2)  # its group is in flight: FIFO keeps it back
    assert _check(url) is False and _nothing_receivable(sqs, url)
    send("h", 1)  # another group is free
    assert _check(url) is True
    (other,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)["Messages"]
    assert other["Body"] == "h1"
    assert _check(url) is False and _nothing_receivable(sqs, url)
    # The held message's visibility ends (a retry's backoff): receivable again, and its group with it.
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=held["ReceiptHandle"], VisibilityTimeout=0)
    assert _check(url) is True
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)["Messages"]
    assert [m["Body"] for m in again] == ["g1", "g2"]  # the group is free again, in order
    assert _check(url) is False and _nothing_receivable(sqs, url)
    for message in [*again, other]:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert _check(url) is False and _nothing_receivable(sqs, url)


def test_the_receive_precheck_waits_out_a_delay_and_knows_no_unknown_queue(aws_env):
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="precheck-delayed", Attributes={"DelaySeconds": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later")
    assert _check(url) is False and _nothing_receivable(sqs, url)
    plain = sqs.create_queue(QueueName="precheck-plain")["QueueUrl"]
    sqs.send_message(QueueUrl=plain, MessageBody="now")
    assert _check(plain) is True
    # Unsure means "ask moto": an unknown queue, a missing URL.
    assert _check(url.rsplit("/", 1)[0] + "/no-such-queue") is True
    from local.awsstate import DurableApp

    assert DurableApp(lambda *_: [], None)._receivable(None, "us-east-1") is True


def test_the_worker_creates_its_sdk_clients_before_a_batch_needs_them(aws_env):
    """The first client of a kind costs ≈ 1 s (botocore's endpoint data); made inside a batch at a tenant's
    outage, every poller waited on it and a healthy tenant's messages with them."""
    from chalicelib import aws
    from local.worker import warm_clients

    aws.reset_clients()
    assert aws._client.cache_info().currsize == 0
    warm_clients()
    assert aws._client.cache_info().currsize == 3
    made = aws.sqs()
    assert aws.sqs() is made  # the warmed one is the one used
