"""Secrets and message text never reach the logs, even at DEBUG and on every failure path."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import BOT_TOKEN, SECRET, drain, post_update, private_update

MESSAGE = "my card number is 4111 1111 1111 1111"


def test_secrets_and_message_text_stay_out_of_logs(
    client: Any, make_tenant: Any, sqs_event: Any, configure: Any, admin_headers: dict[str, str],
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    import io

    from chalicelib.observability import SERVICE, logger

    previous = logger().log_level
    logger().setLevel("DEBUG")
    # The service logger does not propagate and its handler keeps the stream it was created with, so
    # read it through a handler of our own that uses the service's JSON formatter (extras included).
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger().registered_formatter)
    logging.getLogger(SERVICE).addHandler(handler)
    caplog.set_level(logging.DEBUG)
    try:
        with FakeTelegram() as tg, FakeOpenClaw() as openclaw:
            configure(TELEGRAM_BOT_TOKEN=BOT_TOKEN, MUX_TELEGRAM_WEBHOOK_SECRET=SECRET,
                      MUX_TELEGRAM_API_BASE_URL=tg.url, MUX_RETRY_MAX_ATTEMPTS="2")
            _, key = make_tenant("acme", inbound_url=openclaw.url)
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            token = json.loads(client.http.post("/v1/pairings/token", headers=headers,
                                                body=json.dumps({"channel": "telegram"})).body)["token"]
            post_update(client, private_update(77, f"/start {token}"))
            drain(sqs_event)
            openclaw.fail_next(1, 503)
            post_update(client, private_update(77, MESSAGE))       # retried, then delivered
            drain(sqs_event)
            openclaw.status = 400
            openclaw.error_text = f"refused: {MESSAGE}"  # an OpenClaw that echoes what it refused
            post_update(client, private_update(77, MESSAGE + "!"))  # dead-lettered
            tg.fail("sendMessage", times=5, error={"ok": False, "error_code": 403, "description": "blocked"})
            post_update(client, private_update(78, MESSAGE))        # hint to a blocked chat: notice fails
            drain(sqs_event)
            post_update(client, private_update(77, "x"), secret="forged-" + SECRET)
            client.http.get("/v1/tenant/inbound-target", headers={"Authorization": f"Bearer {key}x"})
            client.http.get("/v1/admin/health", headers={"Authorization": f"Bearer {admin_headers['Authorization']}x"})
            client.http.post("/v1/admin/tenants/bootstrap", headers=admin_headers,
                             body=json.dumps({"tenantId": "b", "apiKey": key, "inboundUrl": "ftp://x"}))
            assert openclaw.bodies() == [MESSAGE]
    finally:
        logger().setLevel(previous)
        logging.getLogger(SERVICE).removeHandler(handler)
    captured = capsys.readouterr()
    # botocore wire logs and moto's `responses` passthrough exist only at DEBUG or only in tests.
    ours = [r for r in caplog.records if not r.name.startswith(("botocore", "urllib3", "boto3", "responses", "moto"))]
    output = "\n".join(
        [stream.getvalue(), captured.out, captured.err, *(r.getMessage() + str(r.__dict__) for r in ours)]
    )
    assert "will retry" in output and "dead-lettered" in output  # the failure paths did log
    for secret in (key, BOT_TOKEN, SECRET, token, admin_headers["Authorization"].split()[1], MESSAGE, "4111"):
        assert secret not in output, f"{secret[:6]}… leaked into the logs"
