"""Shared fixtures: moto-backed AWS resources from infra/resources.json, the Chalice test client, tenants.

* ``aws_env``: fake credentials, ``moto.mock_aws``, the table/queues/key provisioned from the merge
  template (``local.provision``), the resource env vars, test settings; caches reset before and after.
* ``configure(**env)``: change settings inside a test (``None`` unsets a variable).
* ``client``: ``chalice.test.Client`` on the ``local`` stage. Its config.json env vars are applied only
  during a call and override the process env, so settings are primed *outside* calls (``aws_env`` and
  ``configure`` do it): the values set here are the ones the app sees.
* ``admin_headers``, ``make_tenant(...) -> (tenant_id, api_key)``.
* ``tg``: a fake Telegram Bot API on loopback with Telegram enabled against it (bot token, webhook
  secret, bot username); ``openclaw``: a fake tenant OpenClaw on loopback.
* ``sqs_event(queue_url)``: receive up to 10 messages and wrap them as Lambda's SQS event would (real,
  distinct messageIds and receipt handles), for invoking ``handle_inbound_queue``.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib import aws as _aws  # noqa: E402 - after the checkout is importable

_aws.PARAMETER_VALIDATION = True  # botocore checks every request here, as moto does not check all AWS does

ADMIN_TOKEN = "test-admin-token-0123456789"
REGION = "us-east-1"

TEST_ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "MUX_ADMIN_TOKEN": ADMIN_TOKEN,
    "MUX_ALLOW_PRIVATE_INBOUND_URLS": "true",
    "MUX_STAGE": "local",
    "MUX_RETRY_BASE_DELAY_SEC": "0",
    "MUX_PROBE_INTERVAL_SEC": "0",
    # The tests' queue drivers honour batchItemFailures, as the packaged template's trigger does.
    "MUX_REPORT_BATCH_ITEM_FAILURES": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_SERVICE_NAME": "openclaw-mux",
    "POWERTOOLS_METRICS_NAMESPACE": "OpenClawMux",
}
# Anything that could point boto3 at a real account or a server that is not moto.
SCRUBBED_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_KMS",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_CLOUDFORMATION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
# Settings that a developer's shell (or a previous test) must not leak into a test.
SETTING_PREFIXES = ("MUX_", "TELEGRAM_", "DISCORD_", "WHATSAPP_")


def _reset_caches() -> None:
    from chalicelib import aws, config
    from chalicelib import secrets as key_secrets

    config.reset_settings()
    aws.reset_clients()
    key_secrets.clear_cache()
    from chalicelib.services import instances

    instances.reset_cache()
    from chalicelib.services import recovery

    recovery.reset()
    from chalicelib.services import outbound

    outbound.reset_hints()
    from chalicelib.services import inbound

    inbound.reset_hints()
    from chalicelib.channels.whatsapp import api as whatsapp_api

    whatsapp_api._display_numbers.clear()
    whatsapp_api._display_misses.clear()


def _prime_settings() -> None:
    """Read settings now, from the test's env, before any Chalice call overlays config.json values."""
    from chalicelib import config

    config.reset_settings()
    config.get_settings()


_boto_session: Any = None


def _session() -> Any:
    """One boto3 session for provisioning (its loaded service models make the next stacks ~10x faster)."""
    global _boto_session
    if _boto_session is None:
        import boto3

        _boto_session = boto3.session.Session(region_name=REGION)
    return _boto_session


@pytest.fixture(scope="session", autouse=True)
def _fast_moto_symmetric_keys() -> Iterator[None]:
    """moto 5 builds an RSA-2048 private key for every KMS key, symmetric ones included (~75 ms each),
    used only for asymmetric sign/verify. Symmetric keys share one here; their own key material (what
    Encrypt/Decrypt use) stays per key."""
    try:
        import moto.kms.models as kms_models
    except ImportError:  # pragma: no cover - moto is a dev dependency
        yield
        return
    original = getattr(kms_models, "generate_private_key", None)
    if original is None:
        yield
        return
    cache: dict[str, Any] = {}

    def generate_private_key(key_spec: str) -> Any:
        if key_spec != "SYMMETRIC_DEFAULT":
            return original(key_spec)
        if key_spec not in cache:
            cache[key_spec] = original(key_spec)
        return cache[key_spec]

    kms_models.generate_private_key = generate_private_key
    try:
        yield
    finally:
        kms_models.generate_private_key = original


@pytest.fixture(scope="session", autouse=True)
def _api_gateway_greedy_routes() -> None:
    """`/{proxy+}` matches several path segments, as in API Gateway (see local/gateway.py)."""
    from local.gateway import install_greedy_routes

    install_greedy_routes()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto-backed resources from infra/resources.json and the env vars that name them."""
    from moto import mock_aws

    from local.provision import provision

    for name in SCRUBBED_ENV:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith(SETTING_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    _reset_caches()
    with mock_aws():
        resources = provision(session=_session())
        for name, value in resources.env.items():
            monkeypatch.setenv(name, value)
        _reset_caches()
        _prime_settings()
        try:
            yield resources
        finally:
            _reset_caches()


@pytest.fixture
def configure(aws_env: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """`configure(MUX_MAX_BODY_BYTES="64", MUX_ADMIN_TOKEN=None)`: set/unset env and re-read settings."""

    def apply(**env: str | None) -> None:
        for name, value in env.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, str(value))
        _prime_settings()

    return apply


@pytest.fixture
def client(aws_env: Any) -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local", project_dir=str(ROOT)) as test_client:
        yield test_client


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}


@pytest.fixture
def make_tenant(client: Any, admin_headers: dict[str, str]) -> Callable[..., tuple[str, str]]:
    """Bootstrap a tenant over the admin API; returns `(tenant_id, api_key)`."""

    def make(
        tenant_id: str = "t1",
        inbound_url: str = "http://127.0.0.1:9/v1/mux/inbound",
        api_key: str | None = None,
        **extra: Any,
    ) -> tuple[str, str]:
        key = api_key or f"tk_{tenant_id}_{secrets.token_urlsafe(24)}"
        body = {"tenantId": tenant_id, "apiKey": key, "inboundUrl": inbound_url, **extra}
        response = client.http.post(
            "/v1/admin/tenants/bootstrap", headers=admin_headers, body=json.dumps(body)
        )
        assert response.status_code == 200, response.body
        return tenant_id, key

    return make


@pytest.fixture
def sqs_event(aws_env: Any) -> Callable[..., dict[str, Any]]:
    """`sqs_event(queue_url=<inbound>, max_messages=10)`: a Lambda-shaped SQS event of received messages."""
    from local.poller import lambda_sqs_event

    def receive(queue_url: str | None = None, max_messages: int = 10) -> dict[str, Any]:
        import boto3

        url = queue_url or aws_env.inbound_queue_url
        sqs = boto3.client("sqs", region_name=REGION)
        response = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=max_messages,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return lambda_sqs_event(response.get("Messages", []), arn, REGION)

    return receive


@pytest.fixture
def tg(configure: Callable[..., None]) -> Iterator[Any]:
    from tests.fakes.telegram_server import FakeTelegram
    from tests.inbound_support import BOT_TOKEN, SECRET

    with FakeTelegram() as fake:
        configure(
            TELEGRAM_BOT_TOKEN=BOT_TOKEN,
            MUX_TELEGRAM_WEBHOOK_SECRET=SECRET,
            MUX_TELEGRAM_API_BASE_URL=fake.url,
            MUX_TELEGRAM_BOT_USERNAME="MuxAssistBot",
        )
        yield fake


@pytest.fixture
def openclaw() -> Iterator[Any]:
    from tests.fakes.openclaw_server import FakeOpenClaw

    with FakeOpenClaw() as fake:
        yield fake
