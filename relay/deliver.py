"""Posts spooled gateway events to the mux, signed, with exponential backoff and jitter, keeping per-channel order.

Outcomes by the mux's answer (CONTRACT §3.4):

* 2xx — accepted: the record leaves the spool.
* 401 / 403 / 404 — the relay or the mux is misconfigured (secret, clock, URL, Discord not enabled): logged as an
  error, the record stays spooled and is retried with backoff, so fixing the configuration delivers everything.
* 408 / 425 / 429 / 5xx / no answer (connection refused, timeout) — the mux is unavailable: retried with backoff.
* any other 4xx (400, 413, 422, …) — the mux refuses this event for good; retrying cannot help and would hold up the
  channel, so it is dead-lettered (spool ``rejected.log``), logged and counted.

The backoff is global (one mux behind every channel): after a failure no new attempt starts before the delay; the
delay doubles per consecutive failure from the base up to the cap, times a random factor in [0.5, 1]. Up to
``concurrency`` records are in flight at once, never two of the same channel, and a channel's oldest pending record is
always the next one sent for it, so each channel's messages reach the mux in the order the gateway delivered them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import time
from dataclasses import dataclass

import aiohttp

from relay.spool import Record, Spool

log = logging.getLogger("relay.deliver")

CONFIG_STATUSES = frozenset({401, 403, 404})
RETRY_STATUSES = frozenset({408, 425, 429})


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """hex HMAC-SHA256(secret, timestamp + "." + body), the X-Mux-Signature header."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@dataclass
class Counters:
    delivered: int = 0
    rejected: int = 0
    attempts_failed: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    last_delivery_at: float | None = None


class Deliverer:
    def __init__(self, spool: Spool, *, url: str, secret: str, base_delay: float, max_delay: float,
                 timeout: float, concurrency: int) -> None:
        self.spool = spool
        self.url = url
        self._secret = secret
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self.concurrency = concurrency
        self.counters = Counters()
        self._failures = 0
        self._not_before = 0.0
        self._in_flight: set[int] = set()
        self._busy_channels: set[str] = set()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        self._wake.set()

    def note_error(self, text: str) -> None:
        self.counters.last_error = text
        self.counters.last_error_at = time.time()

    def _pick(self) -> Record | None:
        for record in self.spool.pending.values():
            if record.id in self._in_flight:
                continue
            if record.channel in self._busy_channels:
                continue
            return record
        return None

    def _back_off(self) -> float:
        """Count a failed attempt and hold every new attempt back by the next delay; returns that delay."""
        self._failures += 1
        self.counters.attempts_failed += 1
        raw = min(self.max_delay, self.base_delay * (2 ** min(self._failures - 1, 30)))
        delay = float(raw * random.uniform(0.5, 1.0))
        self._not_before = max(self._not_before, time.monotonic() + delay)
        return delay

    async def run(self, session: aiohttp.ClientSession) -> None:
        try:
            while True:
                wait = self._not_before - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                record = self._pick() if len(self._in_flight) < self.concurrency else None
                if record is None:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                self._in_flight.add(record.id)
                self._busy_channels.add(record.channel)
                task = asyncio.create_task(self._deliver(session, record))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            for task in list(self._tasks):
                task.cancel()

    async def _deliver(self, session: aiohttp.ClientSession, record: Record) -> None:
        try:
            status, answer = await self._post(session, record)
            try:
                self._settle(record, status, answer)
            except OSError as exc:
                # The outcome is not on disk, so the record stays pending; backing off keeps a failing disk from
                # turning into a loop of re-posts (the mux drops the duplicate once the spool can record it).
                delay = self._back_off()
                text = (f"cannot record the outcome of message {record.message} in the spool ({exc}); "
                        f"kept in the spool, retrying in {delay:.2f} s")
                log.error("%s", text)
                self.note_error(text)
        finally:
            self._in_flight.discard(record.id)
            self._busy_channels.discard(record.channel)
            self._wake.set()

    async def _post(self, session: aiohttp.ClientSession, record: Record) -> tuple[int | None, str]:
        body = record.body.encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Mux-Timestamp": timestamp,
            "X-Mux-Signature": sign(self._secret, timestamp, body),
        }
        try:
            async with session.post(self.url, data=body, headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=self.timeout)) as response:
                return response.status, (await response.text(errors="replace"))[:500]
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    def _settle(self, record: Record, status: int | None, answer: str) -> None:
        where = f"message {record.message} (channel {record.channel})"
        if status is not None and 200 <= status < 300:
            self.spool.mark_done(record.id)
            self._failures = 0
            self.counters.delivered += 1
            self.counters.last_delivery_at = time.time()
            return
        if status is not None and 400 <= status < 500 and status not in CONFIG_STATUSES | RETRY_STATUSES:
            self.spool.reject(record, status, answer)
            self.counters.rejected += 1
            self.note_error(f"mux refused {where} with HTTP {status}; dead-lettered in rejected.log")
            log.error("mux refused %s with HTTP %s for good; dead-lettered in rejected.log: %s", where, status, answer)
            return
        delay = self._back_off()
        if status in CONFIG_STATUSES:
            text = (f"mux answered HTTP {status} for {where}: check MUX_DISCORD_RELAY_SECRET, the clock and "
                    f"MUX_PUBLIC_URL ({self.url}); kept in the spool, retrying in {delay:.2f} s")
            log.error("%s: %s", text, answer)
        else:
            reason = f"HTTP {status}" if status is not None else answer
            text = f"mux unavailable for {where} ({reason}); kept in the spool, retrying in {delay:.2f} s"
            log.warning("%s", text)
        self.note_error(text)
