"""The local stack in one process: embedded moto, resources from infra/resources.json, the Chalice app
served over HTTP, and a poller feeding the inbound queue to `handle_inbound_queue` like Lambda would.

Configuration is the environment only. `.chalice/config.json`'s `local` stage supplies defaults; a
variable set in the environment that starts the stack wins over them. AWS is always the embedded moto
server: credentials are fake and profile/endpoint variables are removed, so nothing reaches a real
account.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.poller import QueuePoller
from local.provision import Resources, provision

PROJECT_DIR = Path(__file__).resolve().parent.parent
STAGE = "local"
HOST = "127.0.0.1"
QUEUE_HANDLER = "handle_inbound_queue"
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
    poller: QueuePoller | None = None
    resources: Resources | None = None
    settings: Any = None
    app: Any = None
    aws_endpoint: str = ""
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.settings.port}"

    # --- start ----------------------------------------------------------------------------
    def start(self) -> LocalStack:
        check_configuration()
        try:
            self._start_moto()
            self._provision()
            self._load_app()
            self._start_server()
            self._start_poller()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_moto(self) -> None:
        from moto.server import ThreadedMotoServer

        raw_port = os.environ.get("MUX_LOCAL_AWS_PORT", "").strip()
        try:
            port = int(raw_port) if raw_port else 0
        except ValueError:
            raise StackError(f"MUX_LOCAL_AWS_PORT must be a port number, not {raw_port!r}") from None
        if port:
            # ThreadedMotoServer binds in its thread and would wait forever on a busy port: check first.
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                try:
                    probe.bind((HOST, port))
                except OSError as exc:
                    raise StackError(f"MUX_LOCAL_AWS_PORT {port} is not free: {exc.strerror or exc}") from None
        self.moto = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
        try:
            self.moto.start()
        except OSError as exc:
            self.moto = None
            raise StackError(f"cannot start moto on {HOST}:{port}: {exc.strerror or exc}") from None
        host, bound = self.moto.get_host_and_port()
        self.aws_port = int(bound)
        self.aws_endpoint = f"http://{host}:{bound}"
        isolate_aws(os.environ, self.aws_endpoint)

    def _provision(self) -> None:
        self.resources = provision(queue_visibility_timeout=LOCAL_VISIBILITY_TIMEOUT_SEC)

    def _load_app(self) -> None:
        if str(PROJECT_DIR) not in sys.path:
            sys.path.insert(0, str(PROJECT_DIR))  # app.py and chalicelib/, whatever the working directory
        from chalice.cli.factory import CLIFactory

        from chalicelib.config import get_settings
        from chalicelib.errors import ConfigurationError

        assert self.resources is not None
        explicit = dict(os.environ)
        self.factory = CLIFactory(str(PROJECT_DIR), environ=os.environ)
        self.config = self.factory.create_config_obj(chalice_stage_name=STAGE)
        # Loading the app writes the stage's config.json variables into os.environ; the environment
        # the stack was started with wins over those defaults, and the provisioned names win over all.
        self.app = self.config.chalice_app
        os.environ.update(explicit)
        os.environ.update(self.resources.env)
        _reset_service_caches()
        try:
            self.settings = get_settings()
        except ConfigurationError as exc:
            raise StackError(exc.message) from None
        self._install_health_guard()

    def _install_health_guard(self) -> None:
        """`GET /health` answers 503 unless the queue poller is running (registered from here, so the
        Lambda code has no local-only branch)."""
        from chalice.app import Response

        def poller_health(event: Any, get_response: Any) -> Any:
            if event.path == "/health" and not (self.poller is not None and self.poller.is_alive()):
                body = {"ok": False, "error": "The local queue poller is not running.", "code": "UNAVAILABLE"}
                return Response(
                    body=json.dumps(body),
                    status_code=503,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                )
            return get_response(event)

        self.app.register_middleware(poller_health, "http")

    def _start_server(self) -> None:
        from chalice.local import ChaliceRequestHandler

        from local.gateway import install_greedy_routes

        install_greedy_routes()

        class QuietRequestHandler(ChaliceRequestHandler):
            """Access log without query strings (they may carry verification tokens)."""

            def log_request(self, code: Any = "-", size: Any = "-") -> None:
                path = str(getattr(self, "path", "")).split("?", 1)[0]
                log.info('%s %s -> %s', getattr(self, "command", "?"), path, code)

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                if code != 501:
                    super().send_error(code, message, explain)
                    return
                # An HTTP method the server has no handler for (TRACE, QUERY, …): the contract's error body,
                # not the standard library's HTML page.
                body = json.dumps(
                    {"ok": False, "error": f"Method {self.command} is not supported.", "code": "METHOD_NOT_ALLOWED"}
                ).encode()
                self.send_response(405)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        try:
            self.server = self.factory.create_local_server(self.app, self.config, HOST, self.settings.port)
        except OSError as exc:
            raise StackError(
                f"cannot listen on {HOST}:{self.settings.port} ({exc.strerror or exc}); set MUX_PORT to a free port"
            ) from None
        self.server.server.RequestHandlerClass = functools.partial(
            QuietRequestHandler, app_object=self.app, config=self.config
        )
        self.server_thread = threading.Thread(target=self.server.server.serve_forever, name="http", daemon=True)
        self.server_thread.start()

    def _start_poller(self) -> None:
        import boto3
        from chalice.local import LambdaContext

        assert self.resources is not None
        handler = self.app.handler_map[QUEUE_HANDLER]
        scoped = self.config.scope(self.config.chalice_stage, QUEUE_HANDLER)
        timeout_ms = int(scoped.lambda_timeout or 60) * 1000
        memory = int(scoped.lambda_memory_size or 512)
        region = os.environ["AWS_DEFAULT_REGION"]
        self.poller = QueuePoller(
            boto3.session.Session().client("sqs", region_name=region),
            self.resources.inbound_queue_url,
            handler,
            region=region,
            context_factory=lambda: LambdaContext(QUEUE_HANDLER, memory_size=memory, max_runtime_ms=timeout_ms),
        )
        self.poller.start()

    # --- stop -----------------------------------------------------------------------------
    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.poller is not None:
            self.poller.stop(timeout=15)
        if self.server is not None:
            self.server.server.shutdown()
            self.server.server.server_close()
        if self.server_thread is not None:
            self.server_thread.join(timeout=5)
        if self.moto is not None:
            self.moto.stop()

    # --- banner ---------------------------------------------------------------------------
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
            f"  KMS key         {self.resources.kms_key_id}",
            f"  admin token     {token}",
            f"  telegram        {telegram}",
            f"  queue poller    running ({QUEUE_HANDLER}, batches of 10, long poll 1 s)",
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
