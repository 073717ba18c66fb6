"""The relay's spool on its own: durable across reopen, torn tails, the cap, dead letters, compaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay.spool import DONE, EVENTS, REJECTED, Spool, SpoolBusy, SpoolFull


def bodies(spool: Spool) -> list[str]:
    return [r.body for r in spool.pending.values()]


def test_what_is_appended_survives_a_reopen_and_done_records_do_not(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10)
    first = spool.append('{"op":0,"d":{"content":"é\\n"}}', "c1", "m1")
    spool.append("raw\nwith newline", "c1", "m2")
    spool.append("three", "c2", "m3")
    spool.mark_done(first.id)
    spool.close()  # a crash loses nothing either: each append and mark_done is fsync'd before it returns
    again = Spool(tmp_path, 10)
    assert bodies(again) == ["raw\nwith newline", "three"]
    assert (tmp_path / DONE).read_bytes() == b""  # compacted at open
    new = again.append("four", "c1", "m4")
    assert new.id > max(r.id for r in again.pending.values() if r is not new)


def test_a_torn_last_line_is_ignored_and_cut_off(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10)
    spool.append("kept", "c", "m1")
    spool.close()
    with (tmp_path / EVENTS).open("ab") as handle:
        handle.write(b'{"id":2,"channel":"c","message":"m2","body":"torn')
    with (tmp_path / DONE).open("ab") as handle:
        handle.write(b"1")  # no newline: the fsync never finished, so record 1 was not acknowledged
    again = Spool(tmp_path, 10)
    assert bodies(again) == ["kept"]
    assert (tmp_path / EVENTS).read_bytes().endswith(b"}\n")


def test_a_full_spool_refuses_new_events_and_keeps_the_old(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2)
    spool.append("a", "c", "1")
    spool.append("b", "c", "2")
    with pytest.raises(SpoolFull):
        spool.append("c", "c", "3")
    assert bodies(spool) == ["a", "b"] and spool.full
    spool.mark_done(next(iter(spool.pending)))
    spool.append("c", "c", "3")
    assert bodies(spool) == ["b", "c"]


def test_rejected_records_are_dead_lettered_with_the_answer(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 5)
    record = spool.append("body", "c", "m")
    spool.reject(record, 400, '{"code":"BAD"}')
    assert spool.depth == 0
    letter = json.loads((tmp_path / REJECTED).read_text())
    assert (letter["status"], letter["body"], letter["message"]) == (400, "body", "m")
    spool.close()
    assert bodies(Spool(tmp_path, 5)) == []


def test_compaction_keeps_pending_records_and_ids_never_repeat(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 100, compact_after=3)
    records = [spool.append(f"e{i}", "c", str(i)) for i in range(6)]
    for record in (records[1], records[3], records[5]):  # the third mark_done compacts
        spool.mark_done(record.id)
    assert (tmp_path / DONE).read_bytes() == b""
    assert [json.loads(line)["body"] for line in (tmp_path / EVENTS).read_text().splitlines()] == ["e0", "e2", "e4"]
    spool.close()
    again = Spool(tmp_path, 100)
    assert bodies(again) == ["e0", "e2", "e4"]
    assert again.append("e6", "c", "6").id > records[4].id


def test_one_relay_per_spool_directory(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 5)
    with pytest.raises(SpoolBusy, match="in use by another relay"):
        Spool(tmp_path, 5)
    spool.close()
    Spool(tmp_path, 5).close()
