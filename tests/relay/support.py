"""Harness for the relay tests: a fake mux gateway webhook that checks the relay's HMAC, and `python -m relay` runs."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from tests.localstack import ROOT, free_port, wait_until

SECRET = "relay-test-secret-0123456789"
TOKEN = "relay-test-bot-token"
WEBHOOK_PATH = "/v1/webhooks/discord/gateway"


@dataclass
class Delivery:
    timestamp: str
    signature: str
    body: bytes

    @property
    def frame(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


class FakeMux:
    """Answers POST /v1/webhooks/discord/gateway like the mux: 401 unless the HMAC and the ±300 s window hold,
    else `status` (200 by default; set 503 to play an unavailable mux). Records the accepted deliveries."""

    def __init__(self, secret: str = SECRET, port: int = 0) -> None:
        self.secret = secret
        self.status = 200
        self.accepted: list[Delivery] = []
        self.refused: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()
        mux = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                code = mux._answer(self.path, self.headers, body)
                payload = b'{"ok":true}' if code < 300 else b'{"code":"REFUSED","message":"refused by the fake"}'
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _answer(self, path: str, headers: Mapping[str, str], body: bytes) -> int:
        if path != WEBHOOK_PATH:
            return 404
        ts, sig = headers.get("X-Mux-Timestamp", ""), headers.get("X-Mux-Signature", "")
        expected = hmac.new(self.secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not ts.isdigit() or abs(time.time() - int(ts)) > 300 or not hmac.compare_digest(expected, sig):
            code = 401
        else:
            code = self.status
        with self._lock:
            if code < 300:
                self.accepted.append(Delivery(ts, sig, body))
            else:
                self.refused.append((code, body))
        return code

    def bodies(self) -> list[bytes]:
        with self._lock:
            return [d.body for d in self.accepted]

    def __enter__(self) -> FakeMux:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Relay:
    """`python -m relay` as `make relay` runs it, configured by env vars only; stopped with SIGTERM."""

    def __init__(self, *, mux_url: str, api_url: str, spool_dir: Path, log_path: Path,
                 extra: Mapping[str, str] | None = None) -> None:
        self.health_port = free_port()
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MUX_", "DISCORD_"))}
        env.update({
            "DISCORD_BOT_TOKEN": TOKEN,
            "MUX_PUBLIC_URL": mux_url,
            "MUX_DISCORD_RELAY_SECRET": SECRET,
            "MUX_DISCORD_API_BASE_URL": api_url,
            "MUX_RELAY_SPOOL_DIR": str(spool_dir),
            "MUX_RELAY_HEALTH_PORT": str(self.health_port),
            "MUX_RELAY_RETRY_BASE_DELAY_SEC": "0.05",
            "MUX_RELAY_RETRY_MAX_DELAY_SEC": "0.2",
            "MUX_RELAY_HEALTH_GRACE_SEC": "30",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(extra or {})
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Relay:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "relay"], cwd=ROOT, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        wait_until(lambda: self.health() is not None or self._died(), timeout=15, what="the relay's /health")
        return self

    def _died(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"relay exited with {self.proc.returncode}:\n{self.log()}")
        return False

    def health(self) -> tuple[int, dict[str, Any]] | None:
        try:
            response = requests.get(f"http://127.0.0.1:{self.health_port}/health", timeout=2)
        except requests.ConnectionError:
            return None
        return response.status_code, response.json()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=10)

    def __enter__(self) -> Relay:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
