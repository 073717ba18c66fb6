"""The local stand-in for the queue-triggered Lambda functions, in a process of its own.

In AWS the webhook/API function and the queue workers are separate Lambda functions, each in its own
containers; here the stack process (`python -m local`: embedded AWS + HTTP API) starts this one child
process, which runs the inbound queue's and the events queue's pollers (local/poller.py) and invokes
`handle_inbound_queue` / `handle_events_queue` in it, talking to the embedded AWS over HTTP like any client.
So the worker's CPU (botocore, our code, the calls to OpenClaw) runs beside the API's on another core
instead of sharing one interpreter lock with it.

Protocol with the parent (local/stack.py `WorkerProcess`), over two inherited pipe descriptors:
* the child imports the heavy modules (Chalice, boto3, the app) at once, while the parent starts the
  embedded AWS, then reads one JSON line from the control pipe: `{"env": {...}}`, the parent's whole
  environment once the AWS endpoint and the provisioned resource names are in it;
* it loads the app for the `local` stage with that environment, starts the pollers and writes `ready`
  on the status pipe;
* every COUNTERS_EVERY_SEC it writes its in-process counters (observability.counters()) on the status
  pipe when they changed, for the stack's `GET /v1/admin/health`, which adds them to its own;
* SIGTERM (or the control pipe closing) stops it: the pollers finish their batches, then it exits 0.
  If the parent dies without a word (SIGKILL), the kernel sends this process SIGKILL too
  (PR_SET_PDEATHSIG), so no orphan keeps polling; whatever it held in flight stays on the queue.

    python -m local.worker CONTROL_FD STATUS_FD
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
STAGE = "local"
QUEUE_HANDLER = "handle_inbound_queue"
EVENTS_HANDLER = "handle_events_queue"
# Batches in flight at once, as Lambda runs several invocations per queue (FIFO keeps each chat in order).
POLLER_CONCURRENCY = 4
PR_SET_PDEATHSIG = 1
COUNTERS_EVERY_SEC = 0.25

log = logging.getLogger("local.worker")


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when the parent dies (Linux); elsewhere a thread watches the parent's pid."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent:  # it died before the call
                os._exit(1)
            return
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _preload() -> None:
    """Import what loading the app will need, before the parent has the resources (start-up overlaps)."""
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    import boto3  # noqa: F401
    import chalice.cli.factory  # noqa: F401
    import chalice.local  # noqa: F401

    import local.poller  # noqa: F401


def _pollers(environ: dict[str, str]) -> list[Any]:
    import boto3
    from chalice.cli.factory import CLIFactory
    from chalice.local import LambdaContext

    from chalicelib import aws, config, observability, secrets
    from local.poller import QueuePoller

    factory = CLIFactory(str(PROJECT_DIR), environ=os.environ)
    chalice_config = factory.create_config_obj(chalice_stage_name=STAGE)
    app = chalice_config.chalice_app
    # Loading the app writes the stage's defaults into os.environ; the parent's environment wins.
    os.environ.clear()
    os.environ.update(environ)
    config.reset_settings()
    aws.reset_clients()
    secrets.clear_cache()
    observability.logger()
    observability.metrics()
    region = os.environ["AWS_DEFAULT_REGION"]

    def poller(handler_name: str, url: str, concurrency: int) -> Any:
        scoped = chalice_config.scope(chalice_config.chalice_stage, handler_name)
        timeout_ms = int(scoped.lambda_timeout or 60) * 1000
        memory = int(scoped.lambda_memory_size or 512)
        return QueuePoller(
            boto3.session.Session().client("sqs", region_name=region),
            url,
            app.handler_map[handler_name],
            region=region,
            context_factory=lambda: LambdaContext(handler_name, memory_size=memory, max_runtime_ms=timeout_ms),
            concurrency=concurrency,
        )

    found = [poller(QUEUE_HANDLER, environ["MUX_INBOUND_QUEUE_URL"], POLLER_CONCURRENCY)]
    if environ.get("MUX_EVENTS_QUEUE_URL"):
        found.append(poller(EVENTS_HANDLER, environ["MUX_EVENTS_QUEUE_URL"], 1))
    return found


def warm_clients() -> None:
    """Create the service's SDK clients now, in the background, rather than inside the first batch that needs
    one: botocore's first client of a kind loads its endpoint data (≈ 1 s here), and the worker's first SQS
    call is typically the first retry at a tenant's outage, with every poller waiting on that one creation
    (a healthy tenant's first messages then waited 1.5 s). A Lambda container pays it once too."""
    from chalicelib import aws

    try:
        for make in (aws.dynamodb, aws.sqs, aws.kms):
            make()
    except Exception:  # noqa: BLE001 - created on first use instead
        log.warning("could not create the SDK clients ahead of use", exc_info=True)


def _read_line(fd: int) -> str:
    """One line from the control pipe ('' if it closed first)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 65536)
        if not chunk:
            return ""
        data += chunk
    return data.decode("utf-8")


def _until_closed(fd: int, stop: threading.Event) -> None:
    while os.read(fd, 4096):
        pass
    stop.set()


def main(argv: list[str]) -> int:
    control_fd, status_fd = int(argv[0]), int(argv[1])
    parent = os.getppid()
    _die_with_parent(parent)
    level = os.environ.get("MUX_LOCAL_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("werkzeug", "botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    _preload()
    line = _read_line(control_fd)
    if not line:
        return 0  # the parent gave up before the resources were there
    pollers = _pollers(json.loads(line)["env"])
    for poller in pollers:
        poller.start()
    os.write(status_fd, b"ready\n")
    threading.Thread(target=warm_clients, name="warm-clients", daemon=True).start()
    # The control pipe closes when the parent exits or stops the worker: stop then as well.
    threading.Thread(target=_until_closed, args=(control_fd, stop), name="control", daemon=True).start()
    from chalicelib import observability

    reported: dict[str, int] = {}
    while not stop.wait(COUNTERS_EVERY_SEC):
        if not all(poller.is_alive() for poller in pollers):
            log.error("a queue poller stopped; the worker exits so the stack restarts it")
            return 1
        # The worker's in-process counters, for the stack's GET /v1/admin/health (the API process's own).
        counts = observability.counters()
        if counts != reported:
            try:
                os.write(status_fd, (json.dumps({"counters": counts}) + "\n").encode("utf-8"))
            except OSError:
                return 0  # the parent is gone
            reported = counts
    for poller in pollers:
        poller.stop(timeout=15)
    return 0


class WorkerProcess:
    """The stack's handle on the worker child: `spawn()` early (it imports while the stack starts), then
    `configure(environ)` once the resources exist (returns when its pollers run), `is_alive()` for
    /health, `stop()`. If the child dies on its own, it is started again (`restarts` counts it)."""

    def __init__(self) -> None:
        self.process: Any = None
        self.restarts = 0
        self._control = -1
        self._status = -1
        self._environ: dict[str, str] | None = None
        self._ready = False
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None
        self._counts: dict[str, int] = {}
        self._counts_lock = threading.Lock()
        self._earlier: dict[str, int] = {}  # the counts of worker processes that exited

    def spawn(self) -> None:
        import subprocess

        control_read, self._control = os.pipe()
        self._status, status_write = os.pipe()
        code = f"import sys; sys.path.insert(0, {str(PROJECT_DIR)!r}); import local.worker as w; w.run()"
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code, str(control_read), str(status_write)],
                pass_fds=(control_read, status_write),
            )
        finally:
            os.close(control_read)
            os.close(status_write)
        self._ready = False

    def configure(self, environ: dict[str, str], timeout: float = 120.0) -> None:
        """Hand the child its environment and wait until its pollers run; RuntimeError if it cannot."""
        import select

        self._environ = dict(environ)
        os.write(self._control, (json.dumps({"env": self._environ}) + "\n").encode("utf-8"))
        ready, _, _ = select.select([self._status], [], [], timeout)
        answer = os.read(self._status, 6) if ready else b""
        if answer != b"ready\n":
            code = self.process.poll()
            why = f" (exit status {code}; its error is in the log above)" if code is not None else f" in {timeout:g} s"
            raise RuntimeError("the queue worker process did not start" + why)
        self._ready = True
        threading.Thread(target=self._read_counters, args=(self._status,), name="worker-counters", daemon=True).start()
        if self._supervisor is None:
            self._supervisor = threading.Thread(target=self._supervise, name="worker-supervisor", daemon=True)
            self._supervisor.start()

    def _read_counters(self, fd: int) -> None:
        with os.fdopen(os.dup(fd), "rb") as status:
            for line in status:
                try:
                    counts = json.loads(line)["counters"]
                except (ValueError, KeyError, TypeError):
                    continue
                with self._counts_lock:
                    self._counts = {str(k): int(v) for k, v in counts.items()}
        with self._counts_lock:  # that process is gone: keep what it counted
            for name, value in self._counts.items():
                self._earlier[name] = self._earlier.get(name, 0) + value
            self._counts = {}

    def counters(self) -> dict[str, int]:
        """What the worker processes counted so far (the exited ones included)."""
        with self._counts_lock:
            merged = dict(self._earlier)
            for name, value in self._counts.items():
                merged[name] = merged.get(name, 0) + value
        return merged

    def is_alive(self) -> bool:
        return self._ready and self.process is not None and self.process.poll() is None

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            process = self.process
            code = process.wait()
            if self._stopping.is_set():
                return
            self._ready = False
            log.error("the queue worker process exited (status %s); starting it again", code)
            self._stopping.wait(1.0)
            with self._lock:
                if self._stopping.is_set():
                    return
                self._close_pipes()
                try:
                    self.spawn()
                    assert self._environ is not None
                    self.configure(self._environ)
                    self.restarts += 1
                except (OSError, RuntimeError) as exc:
                    log.error("the queue worker process could not be started again: %s", exc)

    def _close_pipes(self) -> None:
        for fd in (self._control, self._status):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._control = self._status = -1

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the child: its pollers finish the batches they hold, then it exits (killed after `timeout`)."""
        import subprocess

        self._stopping.set()
        with self._lock:
            process = self.process
            if self._control >= 0:  # EOF on its control pipe stops it, even before it was configured
                os.close(self._control)
                self._control = -1
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    log.warning("the queue worker did not stop in %g s; killing it", timeout)
                    process.kill()
                    process.wait()
            self._close_pipes()


def run() -> None:
    """The child's entry point (see WorkerProcess.spawn)."""
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
