"""A trigger without ReportBatchItemFailures (what `chalice deploy` creates) loses no message.

Lambda, with such a trigger, deletes a whole batch when the function returns and nothing when it raises;
`lambda_as_chalice_deploys_it` drives the real entry point exactly like that.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib.services import settle
from tests.fakes.openclaw_server import FakeOpenClaw
from tests.inbound_support import drain, post_update, private_update, queue_depth


def lambda_as_chalice_deploys_it(sqs_event: Any) -> str:
    """One poll of an SQS trigger without FunctionResponseTypes: returns what Lambda did with the batch."""
    import app as entry_points

    event = sqs_event()
    if not event["Records"]:
        return "empty"
    try:
        entry_points.handle_inbound_queue(event, None)
    except settle.BatchRetryError:
        return "kept"  # a failed invocation: Lambda deletes nothing
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=event["Records"][0]["eventSourceARN"].rsplit(":", 1)[-1])["QueueUrl"]
    for record in event["Records"]:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])
    return "deleted"


def _pair(client: Any, sqs_event: Any, key: str, chat_id: int) -> None:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    token = json.loads(client.http.post("/v1/pairings/token", headers=headers, body='{"channel":"telegram"}').body)
    assert post_update(client, private_update(chat_id, token["startCommand"])).status_code == 200
    drain(sqs_event)


def test_failed_message_survives_a_trigger_that_ignores_batch_item_failures(
    client: Any, make_tenant: Any, sqs_event: Any, tg: Any, openclaw: FakeOpenClaw, configure: Any, aws_env: Any
) -> None:
    with FakeOpenClaw() as down:
        down.status = 503
        _, key_down = make_tenant("down", inbound_url=down.url)
        _, key_up = make_tenant("up", inbound_url=openclaw.url)
        _pair(client, sqs_event, key_down, 801)
        _pair(client, sqs_event, key_up, 802)
        configure(MUX_REPORT_BATCH_ITEM_FAILURES=None)  # the default: as deployed by `chalice deploy`
        post_update(client, private_update(801, "to the tenant that is down"))
        post_update(client, private_update(802, "to the tenant that is up"))

        assert lambda_as_chalice_deploys_it(sqs_event) == "kept"
        assert openclaw.bodies() == ["to the tenant that is up"]
        assert queue_depth(aws_env.inbound_queue_url) == 1  # the delivered one is gone, the failed one stays

        down.status = 200
        outcomes = [lambda_as_chalice_deploys_it(sqs_event) for _ in range(3)]
        assert outcomes[0] == "deleted" and outcomes[1:] == ["empty", "empty"]
        assert down.bodies() == ["to the tenant that is down"]
        assert openclaw.bodies() == ["to the tenant that is up"]  # not delivered twice
        assert queue_depth(aws_env.inbound_queue_url) == 0


def _records(n: int) -> list[dict[str, Any]]:
    return [{"messageId": f"m{i}", "receiptHandle": f"r{i}"} for i in range(n)]


def test_reported_failures_are_returned_untouched_when_the_trigger_reports_them(
    aws_env: Any, configure: Any
) -> None:
    configure(MUX_REPORT_BATCH_ITEM_FAILURES="true")
    response = {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert settle.settle(_records(3), response) is response


@pytest.mark.parametrize("reporting", [None, "true"])
def test_a_batch_without_failures_returns_normally_in_both_modes(aws_env: Any, configure: Any, reporting: Any) -> None:
    configure(MUX_REPORT_BATCH_ITEM_FAILURES=reporting)
    assert settle.settle(_records(3), {"batchItemFailures": []}) == {"batchItemFailures": []}


def test_the_error_says_how_many_failed_and_were_deleted(aws_env: Any, sqs_event: Any, configure: Any) -> None:
    configure(MUX_REPORT_BATCH_ITEM_FAILURES=None)
    sqs = boto3.client("sqs")
    for n in range(3):
        sqs.send_message(
            QueueUrl=aws_env.inbound_queue_url, MessageBody="{}", MessageGroupId=f"g{n}", MessageDeduplicationId=f"d{n}"
        )
    records = sqs_event()["Records"]
    assert len(records) == 3
    with pytest.raises(settle.BatchRetryError, match=r"^1 of 3 records failed .*; 2 finished ones were deleted"):
        settle.settle(records, {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]})
    assert queue_depth(aws_env.inbound_queue_url) == 1
