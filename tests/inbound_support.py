"""Helpers for inbound tests: Telegram updates, the webhook call, and draining the queue like Lambda's ESM."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "telegram"
SECRET = "fixture_SecretToken-not-real_0123456789"
BOT_TOKEN = "7012345678:fake-bot-token"
_update_ids = itertools.count(900_000_000)


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def private_update(chat_id: int, text: str, *, thread: int | None = None, user_id: int | None = None) -> dict[str, Any]:
    update = fixture("private_text.json")
    update["update_id"] = next(_update_ids)
    msg = update["message"]
    msg["chat"]["id"] = chat_id
    msg["from"]["id"] = user_id or chat_id
    msg["text"] = text
    msg["message_id"] = update["update_id"] % 100000
    if thread is not None:
        msg["message_thread_id"] = thread
        msg["is_topic_message"] = True
    return update


def group_update(chat_id: int, text: str, *, user_id: int = 6234567890, topic: int | None = None) -> dict[str, Any]:
    update = copy.deepcopy(fixture("forum_topic_text.json" if topic else "group_text.json"))
    update["update_id"] = next(_update_ids)
    msg = update["message"]
    msg["chat"]["id"] = chat_id
    msg["from"]["id"] = user_id
    msg["text"] = text
    msg.pop("entities", None)
    msg["message_id"] = update["update_id"] % 100000
    if topic:
        msg["message_thread_id"] = topic
        msg["is_topic_message"] = True
    return update


def post_update(client: Any, update: dict[str, Any], secret: str = SECRET) -> Any:
    return client.http.post(
        "/v1/webhooks/telegram",
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret},
        body=json.dumps(update),
    )


def drain(sqs_event: Any, max_rounds: int = 40) -> list[dict[str, Any]]:
    """Receive → invoke the real queue entry point → delete what it did not report as failed, until the
    queue is empty (retries in tests have zero backoff) or `max_rounds` receives returned nothing new."""
    import boto3

    import app as entry_points

    sqs = boto3.client("sqs")
    results: list[dict[str, Any]] = []
    for _ in range(max_rounds):
        event = sqs_event()
        if not event["Records"]:
            break
        result = entry_points.handle_inbound_queue(event, None)
        results.append(result)
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        url = queue_url_from_arn(event["Records"][0]["eventSourceARN"])
        for record in event["Records"]:
            # Failed records stay in flight until the visibility the worker gave them (zero in tests).
            if record["messageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])
    return results


def queue_url_from_arn(arn: str) -> str:
    import boto3

    name = arn.rsplit(":", 1)[-1]
    return str(boto3.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])


def dlq_messages() -> list[dict[str, Any]]:
    import boto3

    from chalicelib.config import get_settings

    sqs = boto3.client("sqs")
    resp = sqs.receive_message(
        QueueUrl=get_settings().dead_letter_queue_url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=0,
        MessageAttributeNames=["All"],
    )
    return list(resp.get("Messages", []))


def queue_depth(url: str) -> int:
    import boto3

    attrs = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
