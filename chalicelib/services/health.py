"""Operator health report: table and queue reachability, queue depths, channel enablement, counters."""

from __future__ import annotations

from typing import Any

from chalicelib import aws, observability
from chalicelib.channels.base import receiver_for
from chalicelib.config import Settings, get_settings
from chalicelib.models import CHANNELS, AdminHealthResponse


def _queue_depth(url: str | None) -> dict[str, Any]:
    if not url:
        return {"configured": False}
    try:
        attrs = aws.sqs().get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
    except Exception as exc:  # noqa: BLE001 - reported, not raised: this is a health probe
        return {"configured": True, "ok": False, "error": type(exc).__name__}
    return {
        "configured": True,
        "ok": True,
        "visible": int(attrs.get("ApproximateNumberOfMessages", 0)),
        "inFlight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
    }


def report() -> AdminHealthResponse:
    settings = get_settings()
    table: dict[str, Any] = {"configured": settings.table_name is not None}
    if settings.table_name:
        try:
            aws.dynamodb().describe_table(TableName=settings.table_name)
            table["ok"] = True
        except Exception as exc:  # noqa: BLE001
            table.update(ok=False, error=type(exc).__name__)
    return AdminHealthResponse(
        stage=settings.stage,
        dependencies={"table": table, "kms": {"configured": settings.kms_key_id is not None}},
        queues={
            "inbound": _queue_depth(settings.inbound_queue_url),
            "deadLetter": _queue_depth(settings.dead_letter_queue_url),
            "events": _queue_depth(settings.events_queue_url),
            "eventsDeadLetter": _queue_depth(settings.events_dead_letter_queue_url),
        },
        channels={channel: _served(channel, settings) for channel in CHANNELS},
        counters=observability.counters(),
    )


def _served(channel: str, settings: Settings) -> bool:
    """Whether this mux serves the channel: built (it has a receiver) and configured."""
    receiver = receiver_for(channel)
    return receiver is not None and receiver.enabled(settings)
