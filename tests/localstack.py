"""Start the real local stack (`python -m local`, exactly as `make run` does) on a free port for a test.

The one harness every test uses for it: configured by env vars only (the developer's own MUX_*, TELEGRAM_*,
DISCORD_*, WHATSAPP_* and AWS_* variables are dropped), ready once GET /health answers 200 and the banner is
written, stopped with SIGTERM. Everything waits by polling against a deadline (`wait_until`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import requests

ROOT = Path(__file__).resolve().parent.parent
SCRUBBED_PREFIXES = ("MUX_", "TELEGRAM_", "DISCORD_", "WHATSAPP_", "AWS_")
BANNER_END = "Stop: Ctrl-C or SIGTERM."  # the banner's last line: the whole banner is in the log once it is

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(probe: Callable[[], T | None], timeout: float = 20.0, what: str = "condition",
               interval: float = 0.05) -> T:
    """Poll `probe()` until it returns something truthy and return that; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def answers_200(url: str, timeout: float = 2.0) -> bool:
    """GET `url` answers 200 (False while nothing listens there)."""
    try:
        return requests.get(url, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


class LocalStack:
    """`with LocalStack(env) as stack: requests.get(stack.url + "/health")`, or `start()` / `stop()`.

    `env` is added to the scrubbed environment; the output (stdout and stderr) goes to a log file in
    `log_dir` (the temp dir by default), read back with `output()`. The embedded AWS state is kept in
    `state_dir` (reuse it, and `port`, to restart a stack with its state); without one, in a temp folder
    removed by `stop()`. `args` are added to `python -m local`'s command line (`--fresh`, `--in-memory`).
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        log_dir: Path | None = None,
        cwd: Path = ROOT,
        startup_timeout: float = 90.0,
        stop_timeout: float = 30.0,
        state_dir: Path | None = None,
        port: int | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.args = list(args)
        self.port = port or free_port()
        self._own_state = state_dir is None
        self.state_dir = Path(tempfile.mkdtemp(prefix="mux-state-")) if state_dir is None else state_dir
        self.url = f"http://127.0.0.1:{self.port}"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
        self.env = {**clean, "MUX_PORT": str(self.port), "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log_path = Path(log_dir or tempfile.gettempdir()) / f"mux-local-{self.port}.log"
        self.cwd = cwd
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.killed = False

    def start(self) -> LocalStack:
        """Start the process and wait until it is healthy and has printed its banner."""
        if self.process is not None:
            raise RuntimeError(f"the local stack on {self.url} was started already")
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "local", "--state-dir", str(self.state_dir), *self.args],
                cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            wait_until(self.healthy, self.startup_timeout, f"GET {self.url}/health == 200", interval=0.1)
            wait_until(lambda: BANNER_END in self.output(), 10, "the local stack's banner")
        except BaseException as exc:
            exited = self.process.poll() is not None
            self.stop()
            if exited or not isinstance(exc, AssertionError):
                raise
            raise AssertionError(f"{exc}; the local stack's output:\n{self.output()}") from None
        return self

    def healthy(self) -> bool:
        """GET /health answers 200; AssertionError (with the output) once the process has exited."""
        if self.process is None:
            return False
        if self.process.poll() is not None:
            raise AssertionError(f"local stack exited with {self.process.returncode}:\n{self.output()}")
        return answers_200(f"{self.url}/health")

    def output(self) -> str:
        """What the process has written so far (stdout and stderr)."""
        return self.log_path.read_text() if self.log_path.exists() else ""

    def banner(self, label: str) -> str:
        """The value the banner shows for `label`, e.g. `banner("dead letters")` → the DLQ URL."""
        found = re.search(rf"^\s*{re.escape(label)}\s+(\S+)", self.output(), re.MULTILINE)
        if found is None:
            raise AssertionError(f"no {label!r} line in the local stack's banner:\n{self.output()}")
        return found.group(1)

    def stop(self) -> int | None:
        """SIGTERM, then wait `stop_timeout` s; the exit code, or None if it had to be killed. Idempotent."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.killed = True
                self.process.kill()
                self.process.wait(10)
        if self._own_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        return None if self.killed else self.process.returncode

    def kill(self) -> None:
        """SIGKILL (a crash: nothing is flushed or stopped) and reap the process; the state folder stays."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        self.killed = True

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@contextmanager
def embedded_aws(service: str, *, direct: bool) -> Iterator[Any]:
    """The local stack's embedded AWS alone (moto behind DurableApp, in memory, moto's local fixes on), on a free
    port, with `service`'s moto backend empty before and after; `direct`: DynamoDB and SQS JSON calls skip Flask
    (DurableApp._direct) or go through it."""
    from moto.backends import get_backend

    from local import motofixes
    from local.awsstate import EmbeddedAws

    with motofixes.fixes(True):
        aws = EmbeddedAws("127.0.0.1", 0, None)
        aws.start()
        assert aws.app is not None
        aws.app.direct = direct
        try:
            get_backend(service).reset()
            yield aws
        finally:
            aws.stop()
            get_backend(service).reset()

