"""The deliverer's handling of a spool that cannot record an outcome (disk full, I/O error)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from relay.deliver import Deliverer
from relay.spool import Spool


def test_a_spool_that_cannot_record_an_accepted_event_backs_off_and_keeps_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = Spool(tmp_path / "spool", 10)
    record = spool.append('{"op":0}', "c1", "m1")
    deliverer = Deliverer(spool, url="http://127.0.0.1:9/x", secret="s", base_delay=5.0, max_delay=5.0,
                          timeout=1.0, concurrency=1)

    async def accepted(_session: Any, _record: Any) -> tuple[int, str]:
        return 200, ""

    def disk_full(_record_id: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(deliverer, "_post", accepted)
    monkeypatch.setattr(spool, "mark_done", disk_full)
    asyncio.run(deliverer._deliver(None, record))  # type: ignore[arg-type]

    # Not settled: the event stays spooled (sent again later; the mux drops the duplicate), after a backoff
    # rather than at once in a loop, and the failure is reported.
    assert list(spool.pending) == [record.id]
    assert deliverer._not_before > time.monotonic() + 1.0
    assert deliverer.counters.attempts_failed == 1
    assert deliverer.counters.last_error is not None and "No space left" in deliverer.counters.last_error
    spool.close()
