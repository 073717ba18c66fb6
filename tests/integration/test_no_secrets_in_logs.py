"""Secrets and message text never reach the logs, even at DEBUG and on every failure path."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import BOT_TOKEN, SECRET, drain, post_update, private_update

MESSAGE = "my card number is 4111 1111 1111 1111"
IN_A_NUMBER_FIELD = "typed-into-a-number-field-5555"  # exception messages quote such values


class _EverythingFormatter(logging.Formatter):
    """Message, exception text and every attribute of the record: whatever any handler could print."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record) + " " + str(record.__dict__)


@pytest.fixture
def every_logger() -> Iterator[io.StringIO]:
    """Every record of every logger, at DEBUG: a root handler, root at DEBUG, and propagation turned on for
    loggers that switch it off (the service logger does). Library loggers keep the levels the mux gives them."""
    from chalicelib.observability import logger

    logger()  # created first, so its propagation is switched on below
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(_EverythingFormatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    previous_level = root.level
    silenced = [lg for lg in logging.root.manager.loggerDict.values()
                if isinstance(lg, logging.Logger) and not lg.propagate]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for lg in silenced:
        lg.propagate = True
    try:
        yield stream
    finally:
        for lg in silenced:
            lg.propagate = False
        root.removeHandler(handler)
        root.setLevel(previous_level)


def test_secrets_and_message_text_stay_out_of_logs(
    client: Any, make_tenant: Any, sqs_event: Any, configure: Any, admin_headers: dict[str, str],
    capsys: pytest.CaptureFixture[str], every_logger: io.StringIO,
) -> None:
    from chalicelib.observability import SERVICE, logger

    previous = logger().log_level
    logger().setLevel("DEBUG")
    # Also through a handler with the service's own JSON formatter (what CloudWatch receives).
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger().registered_formatter)
    logging.getLogger(SERVICE).addHandler(handler)
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
            for field in ("update_id", "date"):  # a text where a number belongs fails somewhere: no echo
                update = private_update(77, "x")
                (update if field == "update_id" else update["message"])[field] = IN_A_NUMBER_FIELD
                post_update(client, update)
            drain(sqs_event)
            assert openclaw.bodies() == [MESSAGE]
    finally:
        logger().setLevel(previous)
        logging.getLogger(SERVICE).removeHandler(handler)
    captured = capsys.readouterr()
    output = "\n".join([stream.getvalue(), every_logger.getvalue(), captured.out, captured.err])
    assert "will retry" in output and "dead-lettered" in output  # the failure paths did log
    # A text where a number belongs is refused at the webhook, logged by field name only (the exception
    # filter that withholds messages of logged exceptions is tested in tests/unit/test_observability.py).
    assert "unusable update acknowledged" in output and "message.date" in output
    key_b64 = base64.b64encode(key.encode()).decode()  # how KMS request and response bodies carry it
    for secret in (key, key_b64[:24], BOT_TOKEN, SECRET, token, admin_headers["Authorization"].split()[1], MESSAGE,
                   "4111 1111", IN_A_NUMBER_FIELD):  # not bare "4111": it occurs in timestamps and ids
        assert secret not in output, f"{secret[:6]}… leaked into the logs"
