"""The local poller runs several batches at once, as Lambda does, on the embedded AWS (moto behind the local
stack's wrapper): every message is handled once, each FIFO group in order, and no two batches in flight
ever hold messages of the same group."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local import motofixes
from local.awsstate import EmbeddedAws
from local.poller import QueuePoller
from tests.localstack import wait_until

REGION = "us-east-1"
GROUPS = 6
PER_GROUP = 8


@pytest.fixture()
def queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with motofixes.fixes(True):
        aws = EmbeddedAws("127.0.0.1", 0, None)
        aws.start()
        try:
            sqs = boto3.client("sqs", region_name=REGION, endpoint_url=aws.endpoint)
            url = sqs.create_queue(QueueName="concurrent.fifo",
                                   Attributes={"FifoQueue": "true", "VisibilityTimeout": "30"})["QueueUrl"]
            yield sqs, url
        finally:
            aws.stop()


def test_concurrent_batches_keep_each_group_in_order_and_never_share_a_group(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    sent: dict[str, list[str]] = {f"chat-{g}": [] for g in range(GROUPS)}
    for n in range(PER_GROUP):
        for group, bodies in sent.items():
            bodies.append(f"{group}/{n}")
            sqs.send_message(QueueUrl=url, MessageBody=bodies[-1], MessageGroupId=group,
                             MessageDeduplicationId=bodies[-1])
    lock = threading.Lock()
    got: dict[str, list[str]] = {group: [] for group in sent}
    in_flight: set[str] = set()
    shared: list[str] = []
    active = [0, 0]  # now, most at once
    overlapped = threading.Event()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        groups = {r["attributes"]["MessageGroupId"] for r in event["Records"]}
        with lock:
            shared.extend(sorted(groups & in_flight))
            in_flight.update(groups)
            active[0] += 1
            active[1] = max(active[1], active[0])
            if active[0] >= 2:
                overlapped.set()
        # The first batches wait (bounded) for another one to start, so the run shows batches overlapping.
        overlapped.wait(5)
        with lock:
            for record in event["Records"]:
                got[record["attributes"]["MessageGroupId"]].append(record["body"])
            in_flight.difference_update(groups)
            active[0] -= 1
        return {"batchItemFailures": []}

    poller = QueuePoller(sqs, url, handler, region=REGION, context_factory=lambda: None, batch_size=2,
                         wait_seconds=1, concurrency=3)
    poller.start()
    try:
        wait_until(lambda: poller.deleted == GROUPS * PER_GROUP, 60, what="every message handled and deleted")
    finally:
        poller.stop(timeout=10)
    assert not poller.is_alive()
    assert got == sent
    assert shared == []
    assert active[1] >= 2
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
