"""Group commit of the embedded AWS's state: requests running at once share one fdatasync of the DynamoDB
journal, and a deferred SQS snapshot is synced before the next one overwrites the other slot."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from local import awsstate
from local.awsstate import StateDir


@pytest.fixture()
def syncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fdatasync

    def counted(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(awsstate.os, "fdatasync", counted)
    return calls


def test_one_journal_sync_covers_every_append_before_it(tmp_path: Path, aws_env: Any, syncs: list[int]) -> None:
    state = StateDir(tmp_path / "state")
    state.acquire()
    try:
        state.save_all()
        syncs.clear()
        # Two requests appended (under the app's lock) before either synced.
        state.journal("dynamodb", {"X-Amz-Target": "DynamoDB_20120810.PutItem"}, b'{"n": 1}')
        first = state.unsynced("dynamodb")
        state.journal("dynamodb", {"X-Amz-Target": "DynamoDB_20120810.PutItem"}, b'{"n": 2}')
        second = state.unsynced("dynamodb")
        assert first is not None and second is not None
        state.sync("dynamodb", second)
        state.sync("dynamodb", first)  # already on disk: no second fdatasync
        assert len(syncs) == 1 and state.syncs == 1
        assert state.unsynced("dynamodb") is None  # a read now has nothing to wait for
    finally:
        state.release()
    replayed: list[bytes] = []
    again = StateDir(tmp_path / "state")
    again.acquire()
    try:
        again.restore(lambda headers, body: replayed.append(body))
    finally:
        again.release()
    assert replayed == [b'{"n": 1}', b'{"n": 2}']


def test_a_snapshot_slot_is_overwritten_only_once_the_other_is_synced(
    tmp_path: Path, aws_env: Any, syncs: list[int]
) -> None:
    state = StateDir(tmp_path / "state")
    state.acquire()
    try:
        state.save_all()  # generation 1 in slot 1
        state.save("sqs")  # generation 2 in slot 0: both slots exist, both synced
        syncs.clear()
        three = state.save("sqs", defer=True)  # slot 1, not synced yet
        assert syncs == []
        four = state.save("sqs", defer=True)  # overwrites generation 2: 3 must be on disk first
        assert len(syncs) == 1
        state.sync_snapshot("sqs", three)  # done by the writer of 4 already
        assert len(syncs) == 1
        state.sync_snapshot("sqs", four)
        assert len(syncs) == 2
        state.sync_snapshot("sqs", four)
        assert len(syncs) == 2
    finally:
        state.release()


def test_sqs_changes_made_while_a_snapshot_is_written_are_all_held_by_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit of snapshots: a send is answered only once a synced snapshot holds it, and the sends made
    while one snapshot is being written share the next one instead of one pickle of the whole queue each."""
    import pickle
    import threading

    import boto3

    from local import motofixes
    from local.awsstate import EmbeddedAws
    from tests.localstack import wait_until

    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    state = StateDir(tmp_path / "state")
    state.acquire()
    with motofixes.fixes(True):
        aws = EmbeddedAws("127.0.0.1", 0, state)
        aws.start()
        try:
            sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=aws.endpoint)
            url = sqs.create_queue(QueueName="group.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
            assert aws.app is not None
            real_store = state.store
            stored: list[int] = []
            held, writing = threading.Event(), threading.Event()

            def store(service: str, sequence: int, payload: bytes, **kwargs: Any) -> int:
                if service == "sqs" and not writing.is_set():
                    writing.set()
                    assert held.wait(10)  # the first send's snapshot is being written…
                if service == "sqs":
                    stored.append(sequence)
                return real_store(service, sequence, payload, **kwargs)

            monkeypatch.setattr(state, "store", store)
            answered: list[str] = []

            def send(body: str) -> None:
                sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=body, MessageDeduplicationId=body)
                answered.append(body)

            base = aws.app._changes["sqs"]
            first = threading.Thread(target=send, args=("first",))
            first.start()
            assert writing.wait(10)
            others = [threading.Thread(target=send, args=(f"m{n}",)) for n in range(5)]
            for thread in others:
                thread.start()
            # …while five more sends are made (in moto, under the lock): none of them is answered yet.
            wait_until(lambda: aws.app._changes["sqs"] == base + 6, timeout=10, what="the five sends")
            assert answered == []
            held.set()
            for thread in [first, *others]:
                thread.join(10)
            assert sorted(answered) == ["first", "m0", "m1", "m2", "m3", "m4"]
            assert len(stored) == 2  # the first send's snapshot, then one for the other five
            _, payload = state._newest_snapshot("sqs")
            queue = pickle.loads(payload)["123456789012"]["us-east-1"].queues["group.fifo"]  # noqa: S301
            assert sorted(m.body for m in queue._messages) == sorted(answered)
        finally:
            aws.stop()
            state.release()
