"""A fake tenant OpenClaw on 127.0.0.1: applies OpenClaw's own handler rules (muxctl.openclaw_inbound) to
every POST /v1/mux/inbound, records what it answered and what the agent got, and fails as scripted."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from muxctl.openclaw_inbound import InboundHandler, Verdict


class FakeOpenClaw:
    """Answers as OpenClaw's handler does (202, or its 4xx for an envelope it refuses);
    `fail_next(n, status)` makes the next n requests fail with `status` (0 = drop the connection);
    (a 2xx in the script is answered as a success); `answer_for(status, seconds)` answers `status` to every
    request for the next `seconds` (phases queue up after one another: an outage by time); `status = 400`
    makes every request fail permanently. `attempts` lists the `eventId` of every POST, whatever the answer.

    `received`: envelopes answered 2xx; `turns`: what reached the agent (after OpenClaw's attachment parse
    and 20-minute messageId dedupe); `refused`: (status, error, envelope) of the handler's refusals;
    `dropped`: (why, envelope) of envelopes answered 202 that never reached the agent.
    """

    def __init__(self, key: str | None = None) -> None:
        self.rules = InboundHandler(key)
        self.received: list[dict[str, Any]] = []
        self.turns: list[dict[str, Any]] = []
        self.refused: list[tuple[int, str, Any]] = []
        self.dropped: list[tuple[str, dict[str, Any]]] = []
        self._phases: list[tuple[float, int]] = []  # (monotonic end, status)
        self.attempts: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.status = 202
        self.error_text: str | None = None  # put into error answers (OpenClaw may echo what it refused)
        self.gate: threading.Event | None = None  # when set to an Event, answers wait until it is set
        self.arrivals = 0  # POSTs read so far, counted before the gate holds them
        self._failures: list[int] = []
        # Runtime-JWT generation: an object with `refuse(headers, raw) -> (status, answer) | None` (see
        # tests/fakes/openclaw_jwt.py) checked before anything else, as OpenClaw's handler does.
        self.inbound_auth: Any = None
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # One write per response and no Nagle delay: timings measure the caller, not the fake.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with fake._lock:
                    fake.arrivals += 1
                    fake._cond.notify_all()
                if fake.gate is not None:
                    fake.gate.wait(30)
                lowered = {k.lower(): v for k, v in self.headers.items()}
                refused = fake.inbound_auth.refuse(lowered, raw) if fake.inbound_auth is not None else None
                if refused is not None:
                    with fake._lock:
                        fake.attempts.append("")
                        fake._cond.notify_all()
                    body = json.dumps(refused[1]).encode()
                    self.wfile.write(
                        f"HTTP/1.1 {refused[0]} Refused\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n".encode() + body
                    )
                    return
                with fake._lock:
                    try:
                        fake.attempts.append(str(json.loads(raw).get("eventId")))
                    except ValueError:
                        fake.attempts.append("")
                    now = time.monotonic()
                    while fake._phases and fake._phases[0][0] <= now:
                        fake._phases.pop(0)
                    if fake._failures:
                        status = fake._failures.pop(0)
                    else:
                        status = fake._phases[0][1] if fake._phases else fake.status
                    answer: dict[str, Any] = {"ok": 200 <= status < 300}
                    if 200 <= status < 300:
                        verdict = fake.rules.handle("POST", dict(self.headers.items()), raw)
                        status, answer = verdict.status, verdict.answer
                        fake._record(verdict, raw, {k.lower(): v for k, v in self.headers.items()})
                    fake._cond.notify_all()
                if status == 0:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if fake.error_text is not None and not answer["ok"]:
                    answer["error"] = fake.error_text
                body = json.dumps(answer).encode()
                head = (
                    f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode()
                self.wfile.write(head + body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/mux/inbound"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenClaw:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _record(self, verdict: Verdict, raw: bytes, headers: dict[str, str]) -> None:
        try:
            envelope: Any = json.loads(raw)
        except ValueError:
            envelope = None
        if verdict.status // 100 != 2:
            self.refused.append((verdict.status, str(verdict.answer.get("error")), envelope))
            return
        self.received.append(envelope)
        self.headers.append(headers)
        if verdict.turn is not None:
            self.turns.append(verdict.turn)
        else:
            self.dropped.append((verdict.note, envelope))

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def bodies(self) -> list[str]:
        with self._lock:
            return [e["body"] for e in self.received]

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0) -> bool:
        return self._wait(lambda: predicate(self.received), timeout)

    def _wait(self, done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not done():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def wait_for_arrivals(self, count: int, timeout: float = 10.0) -> bool:
        """Until `count` POSTs have arrived (answered or still held by `gate`)."""
        return self._wait(lambda: self.arrivals >= count, timeout)

    def answer_for(self, status: int, seconds: float) -> None:
        with self._lock:
            start = self._phases[-1][0] if self._phases else time.monotonic()
            self._phases.append((start + seconds, status))
