"""Dead-lettered inbound messages straight from SQS (boto3, standard AWS environment) for when the
admin HTTP routes are not reachable. Reads the attributes the mux's worker writes (`muxReason`,
`muxStatus`, `muxAttempts`, `muxDeadLetteredAtMs`)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from muxctl.errors import CliError, UnreachableError, UsageProblem

_REGION = re.compile(r"sqs[.-]([a-z0-9-]+)\.amazonaws\.com")


def _sqs(queue_url: str) -> Any:
    try:
        import boto3
    except ImportError:
        raise UsageProblem("the SQS path needs boto3: pip install boto3 (or use the admin HTTP route)") from None
    match = _REGION.search(queue_url)
    session = boto3.session.Session()
    region = session.region_name or (match.group(1) if match else None)
    if region is None:
        raise UsageProblem("no AWS region: set AWS_DEFAULT_REGION")
    return session.client("sqs", region_name=region)


def _aws_call(fn: Any, **kwargs: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    try:
        return fn(**kwargs)
    except NoCredentialsError:
        raise UsageProblem("no AWS credentials (configure the standard AWS environment)") from None
    except EndpointConnectionError as exc:
        raise UnreachableError(f"cannot reach SQS ({exc.kwargs.get('endpoint_url', 'endpoint')})") from None
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise CliError(f"SQS {exc.operation_name} failed: {err.get('Code')}: {err.get('Message')}") from None
    except BotoCoreError as exc:
        raise CliError(f"SQS call failed: {exc}") from None


def _num(attrs: dict[str, Any], name: str) -> int | None:
    value = attrs.get(name, {}).get("StringValue")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def summarize(msg: dict[str, Any]) -> dict[str, Any]:
    """The same item shape as GET /v1/admin/dead-letters."""
    attrs = msg.get("MessageAttributes") or {}
    try:
        body = json.loads(msg.get("Body") or "")
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    reason = attrs.get("muxReason", {}).get("StringValue")
    if reason is None:
        count = msg.get("Attributes", {}).get("ApproximateReceiveCount", "?")
        reason = f"moved by the queue's redrive policy after {count} receives (worker crash or timeout)"
    return {
        "id": msg["MessageId"],
        "eventId": body.get("eventId"),
        "routeKey": body.get("routeKey"),
        "reason": reason,
        "status": _num(attrs, "muxStatus"),
        "attempts": _num(attrs, "muxAttempts"),
        "deadLetteredAtMs": _num(attrs, "muxDeadLetteredAtMs"),
    }


def _receive_all(sqs: Any, dlq_url: str, hold_sec: int, limit: int) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    while len(seen) < limit:
        resp = _aws_call(
            sqs.receive_message,
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=hold_sec,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        batch = resp.get("Messages", [])
        if not batch:
            break
        for msg in batch:
            seen.setdefault(msg["MessageId"], msg)
    return list(seen.values())


def _release(sqs: Any, dlq_url: str, messages: list[dict[str, Any]]) -> None:
    for msg in messages:
        _aws_call(sqs.change_message_visibility, QueueUrl=dlq_url, ReceiptHandle=msg["ReceiptHandle"],
                  VisibilityTimeout=0)


def list_dead(dlq_url: str, limit: int = 1000) -> list[dict[str, Any]]:
    """Peek: received while scanning, then made visible again."""
    sqs = _sqs(dlq_url)
    found = _receive_all(sqs, dlq_url, 30, limit)
    _release(sqs, dlq_url, found)
    return [summarize(m) for m in found]


def redrive(
    dlq_url: str,
    inbound_url: str,
    ids: set[str] | None,
    limit: int = 100_000,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Move dead letters (all, or the given ids / event ids) back to the inbound queue, keeping groups.

    A FIFO queue hands out nothing more of a chat while its received messages are in flight, so each batch
    is moved (which releases the chat's next ones) before the next receive. Dead letters made after the
    start (a redriven message refused again) are held, not moved again."""
    sqs = _sqs(dlq_url)
    cutoff = int(time.time() * 1000)
    stamp = cutoff
    moved: list[str] = []
    keep: list[dict[str, Any]] = []
    try:
        while len(moved) < limit:
            batch = _aws_call(
                sqs.receive_message,
                QueueUrl=dlq_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=120,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                break
            for msg in batch:
                item = summarize(msg)
                newer = (item["deadLetteredAtMs"] or 0) > cutoff
                if newer or (ids is not None and item["id"] not in ids and item["eventId"] not in ids):
                    keep.append(msg)
                    continue
                _aws_call(
                    sqs.send_message,
                    QueueUrl=inbound_url,
                    MessageBody=msg["Body"],
                    MessageGroupId=msg.get("Attributes", {}).get("MessageGroupId", "dead-letter"),
                    # A fresh dedupe id, or SQS drops it as a duplicate of the original send for 5 minutes.
                    MessageDeduplicationId=f"redrive-{item['id']}-{stamp}"[:128],
                )
                _aws_call(sqs.delete_message, QueueUrl=dlq_url, ReceiptHandle=msg["ReceiptHandle"])
                moved.append(item["id"])
            if progress is not None:
                progress(len(moved))
    finally:
        _release(sqs, dlq_url, keep)
    return moved
