"""The local stack's fixes to moto (local/motofixes.py) change nothing moto answers: the same SQS
scenarios — FIFO group order and in-flight blocking, visibility, deduplication, redrive to the DLQ, delays,
retention, the approximate counts — give the same results with and without them; with them a receive no
longer reads the clock hundreds of times per queued message, and moto keeps no copy of every item it served."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local import motofixes

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    yield


def _seen(response: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What a consumer can observe of received messages (ids, handles and timestamps are random or clock)."""
    return [
        (
            m["Body"],
            m.get("Attributes", {}).get("MessageGroupId"),
            m.get("Attributes", {}).get("MessageDeduplicationId"),
            m.get("Attributes", {}).get("ApproximateReceiveCount"),
            json.dumps(m.get("MessageAttributes", {}), sort_keys=True),
        )
        for m in response.get("Messages", [])
    ]


def _counts(sqs: Any, url: str) -> tuple[str, ...]:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return tuple(attributes[name] for name in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                               "ApproximateNumberOfMessagesDelayed"))


def _scenario() -> list[Any]:
    """Every step's observable result, in order."""
    sqs = boto3.client("sqs", region_name=REGION)
    out: list[Any] = []

    def receive(url: str, n: int = 10, visibility: int = 30) -> dict[str, Any]:
        response: dict[str, Any] = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=n, VisibilityTimeout=visibility, AttributeNames=["All"],
            MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"])
        out.append(_seen(response))
        return response

    dlq = sqs.create_queue(QueueName="dead.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    fifo = sqs.create_queue(QueueName="inbound.fifo", Attributes={
        "FifoQueue": "true", "VisibilityTimeout": "30",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})})["QueueUrl"]

    # FIFO: four chats interleaved, a duplicate dedupe id (dropped), message attributes.
    for i in range(3):
        for g in range(4):
            sqs.send_message(QueueUrl=fifo, MessageBody=f"g{g}-{i}", MessageGroupId=f"g{g}",
                             MessageDeduplicationId=f"d{g}-{i}",
                             MessageAttributes={"kind": {"DataType": "String", "StringValue": f"k{g}"}})
    sqs.send_message(QueueUrl=fifo, MessageBody="g0-again", MessageGroupId="g0", MessageDeduplicationId="d0-0")
    out.append(_counts(sqs, fifo))
    first = receive(fifo, 4)  # the heads of the groups, in order
    out.append(_counts(sqs, fifo))
    receive(fifo)  # the groups in flight are not handed out
    heads = first["Messages"]
    # One group released (visibility 0, as a retry without delay), one finished (deleted).
    sqs.change_message_visibility(QueueUrl=fifo, ReceiptHandle=heads[1]["ReceiptHandle"], VisibilityTimeout=0)
    sqs.delete_message(QueueUrl=fifo, ReceiptHandle=heads[2]["ReceiptHandle"])
    second = receive(fifo, 10)
    out.append(_counts(sqs, fifo))
    sqs.delete_message_batch(QueueUrl=fifo, Entries=[
        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(second["Messages"])])
    sqs.delete_message_batch(QueueUrl=fifo, Entries=[
        {"Id": str(n), "ReceiptHandle": heads[n]["ReceiptHandle"]} for n in (0, 3)])
    while receive(fifo, 3, visibility=0).get("Messages"):
        pass  # with visibility 0 every receive counts: after two, the third receive moves them to the DLQ
    out.append(_counts(sqs, fifo))
    out.append(_counts(sqs, dlq))
    receive(dlq)

    # Redrive of one message that keeps failing.
    sqs.send_message(QueueUrl=fifo, MessageBody="poison", MessageGroupId="p", MessageDeduplicationId="p1")
    for _ in range(4):
        receive(fifo, 1, visibility=0)
    receive(dlq, visibility=0)

    # Content-based deduplication.
    content = sqs.create_queue(QueueName="content.fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    for body in ("same", "same", "other"):
        sqs.send_message(QueueUrl=content, MessageBody=body, MessageGroupId="c")
    receive(content)

    # A standard queue: delays and the counts.
    standard = sqs.create_queue(QueueName="standard", Attributes={"DelaySeconds": "30"})["QueueUrl"]
    sqs.send_message(QueueUrl=standard, MessageBody="later")
    sqs.send_message(QueueUrl=standard, MessageBody="now", DelaySeconds=0)
    out.append(_counts(sqs, standard))
    receive(standard)
    out.append(_counts(sqs, standard))

    # Retention: a message older than MessageRetentionPeriod is not handed out.
    short = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=short, MessageBody="stale")
    sqs.send_message(QueueUrl=short, MessageBody="fresh")
    from moto.sqs.models import sqs_backends

    queue = sqs_backends["123456789012"][REGION].get_queue("short")
    queue._messages[0].sent_timestamp -= 120_000
    receive(short)
    receive(short, visibility=0)

    # Deletes: by an old receipt handle (the message was received again since), twice, by an unknown handle.
    again = sqs.create_queue(QueueName="again")["QueueUrl"]
    for body in ("a", "b", "c"):
        sqs.send_message(QueueUrl=again, MessageBody=body)
    old = receive(again, 10, visibility=0)["Messages"]
    new = receive(again, 10, visibility=30)["Messages"]
    by_body = {m["Body"]: m["ReceiptHandle"] for m in old}
    sqs.delete_message(QueueUrl=again, ReceiptHandle=by_body["a"])  # the old handle still deletes it
    sqs.delete_message(QueueUrl=again, ReceiptHandle=by_body["a"])  # and again: ignored
    answer = sqs.delete_message_batch(QueueUrl=again, Entries=[
        {"Id": "new", "ReceiptHandle": next(m["ReceiptHandle"] for m in new if m["Body"] == "b")},
        {"Id": "unknown", "ReceiptHandle": "not-a-handle"}])
    out.append(([e["Id"] for e in answer.get("Successful", [])],
                [(e["Id"], e["Code"]) for e in answer.get("Failed", [])]))
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=again, ReceiptHandle="not-a-handle")
    out.append(_counts(sqs, again))
    sqs.change_message_visibility(QueueUrl=again, ReceiptHandle=next(m["ReceiptHandle"] for m in new
                                                                    if m["Body"] == "c"), VisibilityTimeout=0)
    receive(again)  # only "c" is left
    return out


def _run(fixed: bool) -> list[Any]:
    with motofixes.fixes(fixed), mock_aws():
        return _scenario()


def test_moto_sqs_answers_the_same_with_the_local_fixes() -> None:
    plain = _run(False)
    assert _run(True) == plain
    # The scenario does exercise what it claims (moto's own behaviour, asserted once on the plain run).
    assert plain[1] == [("g0-0", "g0", "d0-0", "1", json.dumps({"kind": {"DataType": "String", "StringValue": "k0"}})),
                        ("g1-0", "g1", "d1-0", "1", json.dumps({"kind": {"DataType": "String", "StringValue": "k1"}})),
                        ("g2-0", "g2", "d2-0", "1", json.dumps({"kind": {"DataType": "String", "StringValue": "k2"}})),
                        ("g3-0", "g3", "d3-0", "1", json.dumps({"kind": {"DataType": "String", "StringValue": "k3"}}))]
    assert plain[0] == ("12", "0", "0")  # the duplicate was dropped
    assert plain[3] == []  # all four groups in flight
    assert [m[0] for m in plain[4]] == ["g1-0", "g1-1", "g2-1", "g1-2", "g2-2"]  # queue order, groups in order
    assert plain[-3] == (["new"], [("unknown", "ReceiptHandleIsInvalid")])
    assert plain[-2] == ("0", "1", "0")  # "a" and "b" gone, "c" in flight
    assert [m[0] for m in plain[-1]] == ["c"]


def test_a_receive_reads_the_clock_about_once_per_queued_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the fixes moto read the clock ≈ 100 times per queued message for one receive of 10."""
    import time

    from moto.core import utils

    queued = 300
    reads = 0
    with motofixes.fixes(True), mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        for n in range(queued):
            sqs.send_message(QueueUrl=url, MessageBody=str(n), MessageGroupId=f"g{n % 30}",
                             MessageDeduplicationId=str(n))
        utcnow = utils.utcnow

        def counted_utcnow() -> Any:  # moto's clock
            nonlocal reads
            reads += 1
            return utcnow()

        class CountedTime:  # the fixes' clock
            @staticmethod
            def time_ns() -> int:
                nonlocal reads
                reads += 1
                return time.time_ns()

        monkeypatch.setattr(utils, "utcnow", counted_utcnow)
        monkeypatch.setattr(motofixes, "time", CountedTime)
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        monkeypatch.undo()
    assert len(got) == 10
    assert reads < 3 * queued, f"{reads} clock reads for one receive with {queued} queued"


def test_moto_keeps_no_copy_of_every_item_it_ever_served() -> None:
    """Before: each GetItem/UpdateItem appended a deep copy of the item to `Item.instances_tracked`, forever."""
    from moto.dynamodb.models.dynamo_type import Item

    with motofixes.fixes(True), mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                              BillingMode="PAY_PER_REQUEST")
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}, "n": {"N": "0"}})
        before = len(Item.instances_tracked)  # type: ignore[attr-defined]
        for n in range(50):
            dynamodb.update_item(TableName="t", Key={"pk": {"S": "a"}}, UpdateExpression="SET n = :n",
                                 ExpressionAttributeValues={":n": {"N": str(n)}})
            assert dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]["n"] == {"N": str(n)}
        assert len(Item.instances_tracked) == before  # type: ignore[attr-defined]


def _run_embedded(direct: bool, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The scenario through the embedded AWS's HTTP server, its SQS calls answered past Flask or by it."""
    from tests.localstack import embedded_aws

    with embedded_aws("sqs", direct=direct) as aws, monkeypatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
        seen = _scenario()
        assert bool(aws.app._routes.get("sqs")) == direct  # the calls did reach this server's direct path
        return seen


def test_sqs_calls_past_flask_answer_as_through_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """DurableApp._direct for SQS: the whole scenario (errors included) sees the same answers either way."""
    through_flask = _run_embedded(False, monkeypatch)
    assert _run_embedded(True, monkeypatch) == through_flask
    assert through_flask == _run(True)  # and the same as moto's own in-process mock
