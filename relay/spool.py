"""The relay's durable spool: every MESSAGE_CREATE is fsync'd to disk before it is posted, dropped once the mux has it.

Layout (one directory, owned by one relay process):

* ``events.log`` — append-only JSON lines ``{"id", "channel", "message", "body"}``; ``body`` is the gateway's raw
  dispatch text (a JSON string round-trips it exactly).
* ``done.log`` — append-only lines, one record id each: accepted by the mux (or dead-lettered, below).
* ``rejected.log`` — append-only dead letters: records the mux refused for good (an HTTP 4xx that no retry can fix),
  with the status and the start of the answer, for an operator to look at or replay.

Pending = events minus done, in id order (the order the gateway delivered them). A crash can tear only the last line
of a file; such a tail is ignored and cut off when the spool is opened. Ids only grow (the next id is one above any id
either log names), so a done id can never name a later record. The logs are compacted when nothing is pending and
``events.log`` has passed 1 MiB, when ``done.log`` has grown past ``compact_after`` lines, and at open (pending
records rewritten to a new file, fsync'd, renamed over the old one, then ``done.log`` truncated: a crash between the
two steps leaves done ids that name no record, which is harmless).

When ``max_events`` records are pending the spool is full and ``append`` raises SpoolFull: what is already spooled is
never thrown away to make room (those events were received first and are promised to the mux); the new event is
refused, and the caller logs it and counts it (the gateway cannot be told to resend it).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EVENTS = "events.log"
DONE = "done.log"
REJECTED = "rejected.log"
COMPACT_EMPTY_BYTES = 1 << 20  # an emptied spool is truncated once its log has grown this big (not after every event)


class SpoolFull(Exception):
    """The spool holds its maximum number of undelivered events."""


class SpoolBusy(Exception):
    """Another relay holds the spool directory."""


@dataclass(frozen=True)
class Record:
    id: int
    channel: str
    message: str
    body: str


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_lines(path: Path) -> tuple[list[Any], int]:
    """Parsed JSON lines up to the first torn or unreadable one, and the byte length of that good prefix."""
    items: list[Any] = []
    good = 0
    if not path.exists():
        return items, good
    with path.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            try:
                items.append(json.loads(line))
            except ValueError:
                break
            good += len(line)
    return items, good


class Spool:
    def __init__(self, directory: Path, max_events: int, *, compact_after: int = 1000) -> None:
        self.directory = directory
        self.max_events = max_events
        self.compact_after = compact_after
        self.pending: OrderedDict[int, Record] = OrderedDict()
        self._done_lines = 0
        self._next_id = 1
        directory.mkdir(parents=True, exist_ok=True)
        # Two processes appending to one spool would interleave and each deliver the other's events: one owner only.
        self._lock = (directory / "lock").open("ab")
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise SpoolBusy(f"spool directory {directory} is in use by another relay (MUX_RELAY_SPOOL_DIR)") from None
        self._load()
        self._events = (directory / EVENTS).open("ab")
        self._done = (directory / DONE).open("ab")

    def _load(self) -> None:
        events_path, done_path = self.directory / EVENTS, self.directory / DONE
        events, events_good = _read_lines(events_path)
        done, done_good = _read_lines(done_path)
        for path, good in ((events_path, events_good), (done_path, done_good)):
            if path.exists() and path.stat().st_size != good:
                with path.open("r+b") as handle:
                    handle.truncate(good)
                    os.fsync(handle.fileno())
        done_ids = {int(item) for item in done if isinstance(item, int)}
        highest = 0
        for item in events:
            record = Record(int(item["id"]), str(item["channel"]), str(item["message"]), str(item["body"]))
            highest = max(highest, record.id)
            if record.id not in done_ids:
                self.pending[record.id] = record
        self._next_id = max([highest, *done_ids]) + 1
        if done_ids:
            self._rewrite()

    def _rewrite(self) -> None:
        """Replace events.log by the pending records alone, then empty done.log (the order makes a crash harmless)."""
        tmp = self.directory / (EVENTS + ".tmp")
        with tmp.open("wb") as handle:
            for record in self.pending.values():
                handle.write(self._line(record))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.directory / EVENTS)
        _fsync_dir(self.directory)
        with (self.directory / DONE).open("wb") as handle:
            os.fsync(handle.fileno())
        self._done_lines = 0

    @staticmethod
    def _line(record: Record) -> bytes:
        fields = {"id": record.id, "channel": record.channel, "message": record.message, "body": record.body}
        return (json.dumps(fields, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")

    @property
    def depth(self) -> int:
        return len(self.pending)

    @property
    def full(self) -> bool:
        return len(self.pending) >= self.max_events

    def append(self, body: str, channel: str, message: str) -> Record:
        """Durably add one event (written and fsync'd before this returns); SpoolFull when at the cap."""
        if self.full:
            raise SpoolFull(f"spool full ({self.max_events} undelivered events)")
        record = Record(self._next_id, channel, message, body)
        self._events.write(self._line(record))
        self._events.flush()
        os.fsync(self._events.fileno())
        self._next_id += 1
        self.pending[record.id] = record
        return record

    def mark_done(self, record_id: int) -> None:
        """The mux accepted the record (or it was dead-lettered): it leaves the spool for good."""
        self._done.write(f"{record_id}\n".encode())
        self._done.flush()
        os.fsync(self._done.fileno())
        self.pending.pop(record_id, None)
        self._done_lines += 1
        if (not self.pending and self._events.tell() >= COMPACT_EMPTY_BYTES) or self._done_lines >= self.compact_after:
            self._compact()

    def reject(self, record: Record, status: int, answer: str) -> None:
        """Dead-letter a record the mux refused for good, then drop it from the pending set."""
        entry = {"id": record.id, "channel": record.channel, "message": record.message, "status": status,
                 "answer": answer[:500], "body": record.body}
        with (self.directory / REJECTED).open("ab") as handle:
            handle.write((json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        self.mark_done(record.id)

    def _compact(self) -> None:
        self._events.close()
        self._done.close()
        self._rewrite()
        self._events = (self.directory / EVENTS).open("ab")
        self._done = (self.directory / DONE).open("ab")

    def close(self) -> None:
        self._events.close()
        self._done.close()
        self._lock.close()
