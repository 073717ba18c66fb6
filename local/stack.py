"""The local stack: embedded moto, resources from infra/resources.json and the Chalice app served over HTTP
in this process; in a child process (local/worker.py, as the queue-triggered functions are separate Lambda
functions in AWS) the pollers feeding the inbound and events queues to `handle_inbound_queue` and
`handle_events_queue` like Lambda would.

Configuration is the environment only. `.chalice/config.json`'s `local` stage supplies defaults; a
variable set in the environment that starts the stack wins over them. AWS is always the embedded moto
server: credentials are fake and profile/endpoint variables are removed, so nothing reaches a real
account.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from local.awsstate import EmbeddedAws, StateDir, StateError
from local.httpserver import create_server, install_contract_errors
from local.provision import TEMPLATE_PATH, Resources, provision
from local.worker import POLLER_CONCURRENCY, QUEUE_HANDLER, WorkerProcess, warm_clients

PROJECT_DIR = Path(__file__).resolve().parent.parent
STAGE = "local"
DEFAULT_STATE_DIR = PROJECT_DIR / ".local-state"
HOST = "127.0.0.1"
# The worker sets each retry's delay itself; this only bounds how long a crashed batch stays hidden.
LOCAL_VISIBILITY_TIMEOUT_SEC = 30
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
REMOVED_AWS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)

log = logging.getLogger("local")


class StackError(RuntimeError):
    """The stack cannot start (port in use, invalid configuration, …); the message says why."""


def isolate_aws(environ: Any, endpoint: str) -> None:
    """Point every AWS SDK call in this process at `endpoint` with fake credentials."""
    for name in list(environ):
        if name in REMOVED_AWS or name.startswith("AWS_ENDPOINT_URL_"):
            del environ[name]
    environ.update(FAKE_AWS)
    environ["AWS_ENDPOINT_URL"] = endpoint
    environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    environ["AWS_REGION"] = environ["AWS_DEFAULT_REGION"]
    # ~/.aws files could name another endpoint or a credential process: read neither.
    environ["AWS_CONFIG_FILE"] = os.devnull
    environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


def _template_digest() -> str:
    """Names the template and local settings a saved state was provisioned from."""
    digest = hashlib.sha256(TEMPLATE_PATH.read_bytes())
    digest.update(f"visibility={LOCAL_VISIBILITY_TIMEOUT_SEC}".encode())
    return digest.hexdigest()


def _reset_service_caches() -> None:
    from chalicelib import aws, config, secrets

    config.reset_settings()
    aws.reset_clients()
    secrets.clear_cache()


def check_configuration() -> None:
    """Refuse to start on a half configuration (CONTRACT §1), before anything is started: one sentence
    naming the variable, instead of a stack whose webhook answers 503."""
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    from chalicelib.config import get_settings, reset_settings
    from chalicelib.errors import ConfigurationError

    reset_settings()
    try:
        problems = get_settings().configuration_problems()
    except ConfigurationError as exc:
        raise StackError(exc.message) from None
    finally:
        reset_settings()
    if problems:
        raise StackError(" ".join(problems))


@dataclass
class LocalStack:
    """Start with `start()`, stop with `stop()` (idempotent); `url` is the API base URL."""

    aws_port: int = 0
    moto: Any = None
    server: Any = None
    server_thread: threading.Thread | None = None
    worker: Any = None
    resources: Resources | None = None
    settings: Any = None
    app: Any = None
    aws_endpoint: str = ""
    state_dir: Path | None = None
    fresh: bool = False
    state: StateDir | None = None
    restored: bool = False
    _saved: dict[str, Any] | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.settings.port}"

    # --- start ----------------------------------------------------------------------------
    def start(self) -> LocalStack:
        check_configuration()
        try:
            # The worker process imports its modules while this one starts the embedded AWS.
            self.worker = WorkerProcess()
            self.worker.spawn()
            # Configuration and ports first, so their errors are the ones reported, before any state is touched.
            self._load_app()
            self._bind_server()
            self._open_state()
            self._start_aws()
            self._provision()
            self._apply_resources()
            self._serve()
            self._start_worker()
            threading.Thread(target=warm_clients, name="warm-clients", daemon=True).start()
        except BaseException:
            self.stop()
            raise
        return self

    def _open_state(self) -> None:
        if self.state_dir is None:
            return
        self.state = StateDir(self.state_dir)
        try:
            self.state.acquire()
            if self.fresh:
                self.state.clear()
            saved = self.state.saved_resources()
        except StateError as exc:
            raise StackError(str(exc)) from None
        if saved is not None and saved.get("template") != _template_digest():
            raise StackError(
                f"the saved local state in {self.state_dir} was made with another infra/resources.json; "
                "start empty with --fresh (make run-fresh)"
            )
        self._saved = saved

    def _start_aws(self) -> None:
        port = self.aws_port
        self.moto = EmbeddedAws(HOST, port, self.state)
        try:
            self.moto.start(restore=self._saved is not None)
        except StateError as exc:
            self.moto = None
            raise StackError(str(exc)) from None
        except OSError as exc:
            self.moto = None
            raise StackError(
                f"cannot start the embedded AWS on {HOST}:{port} ({exc.strerror or exc}); "
                "set MUX_LOCAL_AWS_PORT to a free port or leave it unset"
            ) from None
        self.aws_port = self.moto.port
        self.aws_endpoint = self.moto.endpoint
        isolate_aws(os.environ, self.aws_endpoint)
        self.moto.serve_in_process()

    def _provision(self) -> None:
        if self._saved is not None:
            self.resources = Resources(**self._saved["resources"])
            self.restored = True
            return
        self.resources = provision(queue_visibility_timeout=LOCAL_VISIBILITY_TIMEOUT_SEC)
        if self.state is not None:
            assert self.moto is not None and self.moto.app is not None
            # Provisioning went through CloudFormation, which is not snapshotted per request: save it all once,
            # then mark the folder complete.
            self.moto.app.snapshot_all()
            self.state.save_resources({"template": _template_digest(), "resources": asdict(self.resources)})

    def _load_app(self) -> None:
        """Load the app and validate the settings (the provisioned resource names come later)."""
        if str(PROJECT_DIR) not in sys.path:
            sys.path.insert(0, str(PROJECT_DIR))  # app.py and chalicelib/, whatever the working directory
        from chalice.cli.factory import CLIFactory

        raw_port = os.environ.get("MUX_LOCAL_AWS_PORT", "").strip()
        try:
            self.aws_port = int(raw_port) if raw_port else 0
            if not 0 <= self.aws_port <= 65535:
                raise ValueError
        except ValueError:
            raise StackError(f"MUX_LOCAL_AWS_PORT must be a port number, not {raw_port!r}") from None
        self._explicit = dict(os.environ)
        self.factory = CLIFactory(str(PROJECT_DIR), environ=os.environ)
        self.config = self.factory.create_config_obj(chalice_stage_name=STAGE)
        # Loading the app writes the stage's config.json variables into os.environ; the environment
        # the stack was started with wins over those defaults, and the provisioned names win over all.
        self.app = self.config.chalice_app
        os.environ.update(self._explicit)
        self._read_settings()
        self._install_health_guard()
        install_contract_errors(self.app)
        self._prime_observability()

    def _prime_observability(self) -> None:
        """Create the service's logger and metrics now: their lazy creation is not thread-safe, and Lambda
        never runs two requests of one process at once, but the threaded local server does (requests
        queued during start-up are all served at once)."""
        from chalicelib import observability

        observability.logger()
        observability.metrics()

    def _read_settings(self) -> None:
        from chalicelib.config import get_settings
        from chalicelib.errors import ConfigurationError

        _reset_service_caches()
        try:
            self.settings = get_settings()
        except ConfigurationError as exc:
            raise StackError(exc.message) from None

    def _apply_resources(self) -> None:
        assert self.resources is not None
        os.environ.update(self.resources.env)
        self._read_settings()

    def _install_health_guard(self) -> None:
        """`GET /health` answers 503 unless the queue worker process runs its pollers (registered from here,
        so the Lambda code has no local-only branch)."""
        from chalice.app import Response

        def poller_health(event: Any, get_response: Any) -> Any:
            if event.path == "/health" and not (self.worker is not None and self.worker.is_alive()):
                body = {"ok": False, "error": "The local queue poller is not running.", "code": "UNAVAILABLE"}
                return Response(
                    body=json.dumps(body),
                    status_code=503,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                )
            return get_response(event)

        self.app.register_middleware(poller_health, "http")

        def worker_counters(event: Any, get_response: Any) -> Any:
            """The admin health report's counters are the process's own; locally, add the worker process's."""
            response = get_response(event)
            if event.path != "/v1/admin/health" or response.status_code != 200 or self.worker is None:
                return response
            body = response.body
            parsed = json.loads(body) if isinstance(body, str | bytes) else body
            if isinstance(parsed, dict) and isinstance(parsed.get("counters"), dict):
                counts = parsed["counters"]
                for name, value in self.worker.counters().items():
                    counts[name] = counts.get(name, 0) + value
                response.body = json.dumps(parsed) if isinstance(body, str | bytes) else parsed
            return response

        self.app.register_middleware(worker_counters, "http")

    def _bind_server(self) -> None:
        try:
            self.server = create_server(self.app, self.config, HOST, self.settings.port)
        except OSError as exc:
            raise StackError(
                f"cannot listen on {HOST}:{self.settings.port} ({exc.strerror or exc}); set MUX_PORT to a free port"
            ) from None

    def _serve(self) -> None:
        self.server_thread = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)
        self.server_thread.start()

    def _start_worker(self) -> None:
        try:
            self.worker.configure(dict(os.environ))
        except (OSError, RuntimeError) as exc:
            raise StackError(str(exc)) from None

    # --- stop -----------------------------------------------------------------------------
    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.worker is not None:
            self.worker.stop(timeout=20)
        if self.server is not None:
            if self.server_thread is not None:
                self.server.shutdown()
            self.server.server_close()
        if self.server_thread is not None:
            self.server_thread.join(timeout=5)
        if self.moto is not None:
            self.moto.stop()
        if self.state is not None:
            self.state.release()

    def state_summary(self) -> str:
        """How many durable writes the embedded AWS made and what they cost (printed on exit)."""
        if self.state is None or not self.state.saves:
            return "state: nothing written"
        return (
            f"state: {self.state.saves} durable writes (journal appends and snapshots), "
            f"{self.state.save_seconds * 1000 / self.state.saves:.2f} ms each on average "
            f"({self.state.syncs} journal syncs, shared by the appends made meanwhile)"
        )

    # --- banner ---------------------------------------------------------------------------
    def _state_line(self) -> str:
        if self.state is None:
            return "in memory only (--in-memory): lost when the stack stops"
        how = "restored from" if self.restored else "new, kept in"
        return f"{how} {self.state_dir} (make run-fresh starts empty)"

    def _discord_line(self) -> str:
        s = self.settings
        if not s.discord_enabled:
            return "disabled (set DISCORD_BOT_TOKEN and DISCORD_PUBLIC_KEY)"
        relay = "relay accepted" if s.discord_relay_secret else "no relay secret: slash commands only"
        return f"enabled, API base {s.discord_api_base_url}, {relay}"

    def describe(self) -> str:
        assert self.resources is not None
        s = self.settings
        url = self.url
        token = "set" if s.admin_token else "NOT set (admin routes answer 404; export MUX_ADMIN_TOKEN)"
        telegram = (
            f"enabled, API base {s.telegram_api_base_url}"
            if s.telegram_enabled
            else "disabled (set TELEGRAM_BOT_TOKEN and MUX_TELEGRAM_WEBHOOK_SECRET)"
        )
        lines = [
            f"openclaw-mux local stack (stage {STAGE})",
            f"  API             {url}   (public URL {s.base_url})",
            f"  AWS (moto)      {self.aws_endpoint}   region {os.environ['AWS_DEFAULT_REGION']}",
            f"  table           {self.resources.table_name}",
            f"  inbound queue   {self.resources.inbound_queue_url}",
            f"  dead letters    {self.resources.dead_letter_queue_url}",
            f"  events queue    {self.resources.env.get('MUX_EVENTS_QUEUE_URL', 'none')}",
            f"  KMS key         {self.resources.kms_key_id}",
            f"  state           {self._state_line()}",
            f"  admin token     {token}",
            f"  telegram        {telegram}",
            f"  discord         {self._discord_line()}",
            f"  queue poller    running in its own process ({QUEUE_HANDLER}, {POLLER_CONCURRENCY} batches of 10 "
            "at once, long poll 1 s)",
            "",
            "Try:",
            f"  curl -s {url}/health",
            f"  curl -s {url}/openapi.json | head -c 300",
            f"  curl -s -H \"Authorization: Bearer $MUX_ADMIN_TOKEN\" {url}/v1/admin/health",
            "  curl -s -X POST -H \"Authorization: Bearer $MUX_ADMIN_TOKEN\" -H 'Content-Type: application/json' \\",
            "       -d '{\"tenantId\":\"demo\",\"apiKey\":\"demo-key-0123456789abcdefghij\","
            "\"inboundUrl\":\"http://127.0.0.1:18901/v1/mux/inbound\"}' \\",
            f"       {url}/v1/admin/tenants/bootstrap",
            f"  curl -s -H 'Authorization: Bearer demo-key-0123456789abcdefghij' {url}/v1/tenant/inbound-target",
            f"  AWS_ENDPOINT_URL={self.aws_endpoint} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \\",
            f"       aws sqs get-queue-attributes --queue-url {self.resources.inbound_queue_url} --attribute-names All",
            "",
            "Fake Telegram: `muxctl dev telegram` (a fake Bot API on 127.0.0.1:18902), then run the stack with",
            "  MUX_TELEGRAM_API_BASE_URL=http://127.0.0.1:18902 TELEGRAM_BOT_TOKEN=<any> \\",
            "  MUX_TELEGRAM_WEBHOOK_SECRET=<secret> make run",
            f"  and post updates to {url}/v1/webhooks/telegram with header X-Telegram-Bot-Api-Secret-Token.",
            "Another stack side by side: MUX_PORT=<other port> make run.  Stop: Ctrl-C or SIGTERM.",
        ]
        return "\n".join(lines)
