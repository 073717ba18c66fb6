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
