"""The local stack over real HTTP (`python -m local` as a subprocess), and its Lambda-like queue poller.

The subprocess is configured by env vars only (MUX_PORT, MUX_ADMIN_TOKEN), waited for by polling
/health against a deadline, and stopped with SIGTERM (it must exit 0 promptly).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest
import requests

from local.poller import QueuePoller, failed_message_ids, lambda_sqs_event
from tests.localstack import LocalStack, wait_until

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "local-stack-admin-token-0123456789"


def stack_in(tmp_path: Path) -> LocalStack:
    """A stack with only the admin token set, run from `tmp_path` (any working directory works)."""
    return LocalStack({"MUX_ADMIN_TOKEN": ADMIN_TOKEN}, log_dir=tmp_path, cwd=tmp_path)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with stack_in(tmp_path_factory.mktemp("local-stack")) as running:
        yield running


def admin(headers=None):
    return {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json", **(headers or {})}


def bootstrap(stack, tenant_id, key):
    body = {"tenantId": tenant_id, "apiKey": key, "inboundUrl": "http://127.0.0.1:9/v1/mux/inbound"}
    return requests.post(f"{stack.url}/v1/admin/tenants/bootstrap", json=body, headers=admin(), timeout=10)


def test_health(stack):
    response = requests.get(f"{stack.url}/health", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"ok": True}


def test_banner_shows_endpoints_but_not_the_admin_token(stack):
    out = stack.output()
    assert stack.url in out
    assert re.search(r"AWS \(moto\)\s+http://127\.0\.0\.1:\d+", out)
    assert "admin token     set" in out
    assert "MUX_TELEGRAM_API_BASE_URL" in out
    assert ADMIN_TOKEN not in out


def test_bootstrap_and_rotation_over_http(stack):
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    old_key, new_key = f"old-{uuid.uuid4().hex}", f"new-{uuid.uuid4().hex}"
    first = bootstrap(stack, tenant, old_key)
    assert first.status_code == 200, first.text
    assert first.json()["tenantId"] == tenant
    target = f"{stack.url}/v1/tenant/inbound-target"
    assert requests.get(target, headers={"Authorization": f"Bearer {old_key}"}, timeout=5).status_code == 200

    assert bootstrap(stack, tenant, new_key).status_code == 200
    old = requests.get(target, headers={"Authorization": f"Bearer {old_key}"}, timeout=5)
    assert old.status_code == 401
    assert old.json()["code"] == "UNAUTHORIZED"
    new = requests.get(target, headers={"Authorization": f"Bearer {new_key}"}, timeout=5)
    assert new.status_code == 200
    assert new.json()["inboundUrl"] == "http://127.0.0.1:9/v1/mux/inbound"
    assert old_key not in stack.output() and new_key not in stack.output()


def test_error_body_shape(stack):
    response = requests.post(
        f"{stack.url}/v1/admin/tenants/bootstrap", data=b"{not json", headers=admin(), timeout=5
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["ok"] is False
    assert body["code"] == "INVALID_JSON"
    assert isinstance(body["error"], str) and body["error"]


def test_unknown_nested_path_is_json_404(stack):
    response = requests.get(f"{stack.url}/v1/does/not/exist", timeout=5)
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_methods_the_server_does_not_know_get_the_error_body(stack):
    for method in ("TRACE", "QUERY"):
        response = requests.request(method, f"{stack.url}/health", timeout=5)
        assert response.status_code == 405
        assert response.json() == {
            "ok": False, "error": f"Method {method} is not supported.", "code": "METHOD_NOT_ALLOWED"
        }


def test_openapi_documents_the_operations_not_the_catch_all(stack):
    paths = requests.get(f"{stack.url}/openapi.json", timeout=5).json()["paths"]
    assert "/v1/mux/outbound/send" in paths and "/v1/webhooks/telegram" in paths
    assert not [p for p in paths if "+}" in p]


def test_body_limit_is_enforced(stack):
    big = json.dumps({"tenantId": "big", "apiKey": "k" * 30, "inboundUrl": "http://x/", "name": "x" * 1_100_000})
    response = requests.post(f"{stack.url}/v1/admin/tenants/bootstrap", data=big, headers=admin(), timeout=10)
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


def test_second_stack_side_by_side_then_sigterm_stops_it_cleanly(stack, tmp_path):
    tenant = f"only-on-first-{uuid.uuid4().hex[:6]}"
    assert bootstrap(stack, tenant, f"key-{uuid.uuid4().hex}").status_code == 200
    with stack_in(tmp_path) as second:
        assert second.port != stack.port
        # Separate processes, separate moto: the tenant exists only on the first stack.
        lookup = f"/v1/admin/tenants/{tenant}"
        assert requests.get(stack.url + lookup, headers=admin(), timeout=5).status_code == 200
        assert requests.get(second.url + lookup, headers=admin(), timeout=5).status_code == 404
        started = time.monotonic()
        rc = second.stop()
        assert rc == 0, second.output()
        assert time.monotonic() - started < second.stop_timeout
        assert "stopped" in second.output()
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{second.url}/health", timeout=2)
        assert stack.healthy()  # the first one is unaffected


# --- the poller, in-process against moto -------------------------------------------------------
def _send(queue_url: str, bodies: list[str], group: str = "chat-1") -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    for body in bodies:
        sqs.send_message(
            QueueUrl=queue_url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=uuid.uuid4().hex
        )


def _poller(aws_env, handler) -> QueuePoller:
    return QueuePoller(
        boto3.client("sqs", region_name="us-east-1"),
        aws_env.inbound_queue_url,
        handler,
        region="us-east-1",
        context_factory=lambda: None,
        wait_seconds=0,
    )


def _remaining_bodies(queue_url: str) -> list[str]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    bodies = []
    for _ in range(5):
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
            "Messages", []
        )
        bodies = sorted({*bodies, *(m["Body"] for m in messages)})
    return bodies


def test_poller_builds_lambda_event_and_deletes_only_successes(aws_env):
    _send(aws_env.inbound_queue_url, ["a", "b", "c"])
    seen = {}

    def handler(event, context):
        seen["event"] = event
        failed = [r["messageId"] for r in event["Records"] if r["body"] == "b"]
        for record in event["Records"]:
            if record["body"] == "b":
                # as the worker does for backoff: make the failed one visible again at once
                boto3.client("sqs", region_name="us-east-1").change_message_visibility(
                    QueueUrl=aws_env.inbound_queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
                )
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}

    assert _poller(aws_env, handler).poll_once() == 3
    records = seen["event"]["Records"]
    assert [r["body"] for r in records] == ["a", "b", "c"]
    assert len({r["messageId"] for r in records}) == 3
    first = records[0]
    assert first["eventSource"] == "aws:sqs"
    assert first["eventSourceARN"].endswith(":" + aws_env.inbound_queue_url.rsplit("/", 1)[1])
    for attribute in ("ApproximateReceiveCount", "SentTimestamp", "MessageGroupId", "MessageDeduplicationId"):
        assert first["attributes"][attribute], attribute
    assert first["attributes"]["ApproximateReceiveCount"] == "1"
    assert _remaining_bodies(aws_env.inbound_queue_url) == ["b"]


def test_poller_keeps_everything_when_the_handler_raises(aws_env):
    _send(aws_env.inbound_queue_url, ["x", "y"])
    calls = []

    def handler(event, context):
        calls.append(len(event["Records"]))
        sqs = boto3.client("sqs", region_name="us-east-1")
        for record in event["Records"]:
            sqs.change_message_visibility(
                QueueUrl=aws_env.inbound_queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
            )
        raise RuntimeError("worker crashed")

    assert _poller(aws_env, handler).poll_once() == 2
    assert calls == [2]
    assert _remaining_bodies(aws_env.inbound_queue_url) == ["x", "y"]


def test_poller_thread_stops_promptly(aws_env):
    handled = threading.Event()

    def handler(event, context):
        handled.set()
        return {"batchItemFailures": []}

    poller = _poller(aws_env, handler)
    poller.start()
    _send(aws_env.inbound_queue_url, ["z"])
    wait_until(handled.is_set, 10, what="the poller to deliver a message")
    poller.stop(timeout=10)
    assert not poller.is_alive()
    wait_until(lambda: poller.deleted == 1, 5, what="the delete to be counted")


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, {"m2"}),
        ({"batchItemFailures": [{"itemIdentifier": "unknown"}]}, {"m1", "m2", "m3"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"m1", "m2", "m3"}),
        ({"batchItemFailures": "nope"}, {"m1", "m2", "m3"}),
        ("not a dict", {"m1", "m2", "m3"}),
    ],
)
def test_failed_message_ids_follow_lambda_semantics(result, expected):
    assert failed_message_ids(result, ["m1", "m2", "m3"]) == expected


def test_lambda_event_shape_from_receive_message():
    messages = [
        {
            "MessageId": "id-1",
            "ReceiptHandle": "rh-1",
            "Body": "{}",
            "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
            "Attributes": {"ApproximateReceiveCount": "2", "MessageGroupId": "g"},
            "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "tg"}},
        }
    ]
    event = lambda_sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:q.fifo", "us-east-1")
    (record,) = event["Records"]
    assert record["messageId"] == "id-1" and record["receiptHandle"] == "rh-1"
    assert record["attributes"] == {"ApproximateReceiveCount": "2", "MessageGroupId": "g"}
    assert record["messageAttributes"]["kind"]["stringValue"] == "tg"
    assert record["awsRegion"] == "us-east-1"


def test_health_is_503_while_the_poller_is_not_running():
    from chalice import Chalice
    from chalice.test import Client

    from local.stack import LocalStack

    app = Chalice(app_name="health-guard")

    @app.route("/health")
    def health():
        return {"ok": True}

    @app.route("/other")
    def other():
        return {"ok": True}

    local_stack = LocalStack()
    local_stack.app = app
    local_stack._install_health_guard()

    class Alive:
        def __init__(self, alive):
            self.alive = alive

        def is_alive(self):
            return self.alive

    with Client(app, project_dir=str(ROOT)) as client:
        response = client.http.get("/health")
        assert response.status_code == 503
        assert response.json_body["code"] == "UNAVAILABLE"
        assert client.http.get("/other").status_code == 200
        local_stack.worker = Alive(True)
        assert client.http.get("/health").status_code == 200
        local_stack.worker = Alive(False)
        assert client.http.get("/health").status_code == 503


# --- HTTP edge cases of the local server ----------------------------------------------------
def _exchange(stack, raw: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes on one connection and read until the server closes it (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=timeout) as conn:
        conn.sendall(raw)
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                return received
            received += chunk
        raise AssertionError(f"the server kept the connection open after: {received[:300]!r}")


def test_trace_with_a_body_is_refused_and_its_body_never_read_as_a_request(stack):
    smuggled = b"GET /v1/smuggled-path HTTP/1.1\r\nHost: x\r\n\r\n"
    raw = b"TRACE /health HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(smuggled), smuggled)
    answer = _exchange(stack, raw)
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    assert answer.startswith(b"HTTP/1.1 405 ")
    assert b"Connection: close" in answer
    assert answer.split(b"\r\n\r\n", 1)[1] == (
        b'{"ok": false, "error": "Method TRACE is not supported.", "code": "METHOD_NOT_ALLOWED"}'
    )
    assert "/v1/smuggled-path" not in stack.output()


def test_chunked_or_unframed_bodies_are_refused_and_the_connection_closed(stack):
    chunked = _exchange(
        stack,
        b"POST /v1/admin/tenants/bootstrap HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2a\r\nGET /v1/smuggled-chunk HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n",
    )
    assert chunked.startswith(b"HTTP/1.1 411 ") and chunked.count(b"HTTP/1.1 ") == 1
    assert json.loads(chunked.split(b"\r\n\r\n", 1)[1])["code"] == "LENGTH_REQUIRED"
    bad_length = _exchange(stack, b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n")
    assert bad_length.startswith(b"HTTP/1.1 400 ")
    assert json.loads(bad_length.split(b"\r\n\r\n", 1)[1])["code"] == "INVALID_REQUEST"
    assert "/v1/smuggled-chunk" not in stack.output()


def test_chalice_own_errors_have_the_contract_body(stack):
    # Routes accept any content type (Chalice would otherwise answer its own 415): a body that is not
    # JSON-typed is still judged as JSON, with the contract's error body.
    media = requests.post(
        f"{stack.url}/v1/admin/tenants/bootstrap", data=b"{}", headers=admin({"Content-Type": "image/png"}), timeout=5
    )
    assert media.status_code == 400
    assert media.headers["Content-Type"].startswith("application/json")
    assert media.json()["ok"] is False and media.json()["code"] == "INVALID_REQUEST"
    method = requests.delete(f"{stack.url}/health", timeout=5)
    assert method.status_code == 405
    assert method.headers["Allow"] == "GET"
    assert method.json() == {
        "ok": False, "error": "Method DELETE is not allowed on this path.", "code": "METHOD_NOT_ALLOWED"
    }


def test_a_burst_of_new_clients_all_connect(stack):
    clients = 50
    barrier = threading.Barrier(clients)
    outcomes: list[object] = []

    def client() -> None:
        barrier.wait()
        try:
            # A connection the listen backlog drops waits for a SYN retransmission (1 s): count that as refused.
            with socket.create_connection(("127.0.0.1", stack.port), timeout=0.9) as conn:
                conn.settimeout(20)
                conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                outcomes.append(conn.recv(12))
        except OSError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes == [b"HTTP/1.1 200"] * clients


def test_responses_leave_in_one_write_without_nagle():
    from local.httpserver import WRITE_BUFFER_BYTES, _handler_class

    seen = {}

    class Probe(_handler_class()):  # type: ignore[misc]
        def __init__(self) -> None:
            pass

    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server_side, _ = listener.accept()
        probe = Probe()
        probe.request = probe.connection = server_side
        probe.setup()
        seen["nodelay"] = server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        seen["buffered"] = hasattr(probe.wfile, "raw")
        probe.wfile.close()
        probe.rfile.close()
        server_side.close()
        client.close()
    assert seen == {"nodelay": 1, "buffered": True}
    assert WRITE_BUFFER_BYTES >= 16 * 1024


def test_configuration_errors_are_reported_before_ports(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        aws_port = busy.getsockname()[1]
        local = LocalStack(
            {"MUX_LOCAL_AWS_PORT": str(aws_port), "MUX_MAX_BODY_BYTES": "lots"}, log_dir=tmp_path, cwd=tmp_path
        )
        with pytest.raises(AssertionError, match="exited with 2"):
            local.start()
    out = local.output()
    assert "MUX_MAX_BODY_BYTES" in out
    assert "not free" not in out and "cannot start the embedded AWS" not in out


def test_requests_queued_during_start_up_get_no_server_error(tmp_path):
    local = LocalStack({"MUX_ADMIN_TOKEN": ADMIN_TOKEN}, log_dir=tmp_path, cwd=tmp_path)
    answers: list[int] = []
    done = threading.Event()

    def knock() -> None:
        # Connects as soon as the port is bound; the request waits in the backlog until serving starts, so
        # these are the stack's first requests, all at once.
        while not done.is_set():
            try:
                answers.append(requests.get(f"{local.url}/v1/does/not/exist", timeout=30).status_code)
                return
            except requests.ConnectionError:
                time.sleep(0.02)

    knockers = [threading.Thread(target=knock) for _ in range(16)]
    for thread in knockers:
        thread.start()
    try:
        with local:
            for thread in knockers:
                thread.join(30)
    finally:
        done.set()
    assert answers and set(answers) <= {404, 503}, answers
    assert "Traceback" not in local.output()
