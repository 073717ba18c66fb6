"""Platform webhooks: verify, enqueue, answer (no forwarding inside the request)."""

from __future__ import annotations

import time
from typing import Any

from chalice.app import Blueprint

from chalicelib import observability
from chalicelib.config import get_settings
from chalicelib.errors import NotFoundError, ServiceUnavailableError, UnauthorizedError
from chalicelib.routes.http import endpoint, json_object, raw_body

bp = Blueprint(__name__)
# SQS's message size limit: a bigger update could never be queued, and a 5xx would bring it back for a day.
QUEUE_MESSAGE_MAX_BYTES = 262_144


@endpoint(
    bp,
    "/v1/webhooks/telegram",
    ["POST"],
    summary="Telegram Bot API webhook (X-Telegram-Bot-Api-Secret-Token)",
    auth="platform",
    errors=(400, 401, 404, 413, 503),
)
def telegram_webhook() -> Any:
    from chalicelib.channels.telegram import inbound as telegram
    from chalicelib.models import QueuedEvent
    from chalicelib.queue import enqueue
    from chalicelib.secrets import same_secret

    settings = get_settings()
    if not settings.telegram_enabled:
        raise NotFoundError("Telegram is not enabled on this mux.", code="CHANNEL_DISABLED")
    # Half configured (token without secret): 503 NOT_CONFIGURED, an ERROR log naming the variable and the
    # alarmed ConfigurationError metric. Not a 2xx: Telegram would drop the update, while after a 5xx it keeps
    # it and retries for up to 24 h, so once the operator sets the secret nothing is lost; an update that
    # cannot be verified is never queued.
    secret = settings.require("telegram_webhook_secret")
    given = bp.current_request.headers.get("x-telegram-bot-api-secret-token")
    if not same_secret(given, secret):
        observability.count("AuthFailures", route="webhook", channel="telegram")
        raise UnauthorizedError("The webhook secret token is missing or wrong.")
    body = raw_body(bp)
    try:
        update = json_object(body)
        telegram.check_payload(update)
        msg = telegram.parse(update)
    except RecursionError:
        return _unusable("too_deep", [])
    except telegram.UnusableUpdateError as exc:
        return _unusable(exc.reason, exc.fields)
    if msg is None:
        observability.count("UpdatesIgnored", channel="telegram")
        return {"ok": True, "ignored": True}
    observability.log_keys(event_id=msg.event_id, route_key=msg.route_key)
    event = QueuedEvent(
        eventId=msg.event_id,
        channel="telegram",
        routeKey=msg.route_key,
        receivedAtMs=int(time.time() * 1000),
        payload=update,
    )
    if len(event.model_dump_json().encode("utf-8")) > QUEUE_MESSAGE_MAX_BYTES:
        return _unusable("too_large", [])
    try:
        enqueue(event)
    except Exception:
        observability.logger().exception("enqueue failed")
        observability.count("EnqueueFailures", channel="telegram")
        # 5xx so Telegram delivers the update again later: nothing authentic is dropped.
        raise ServiceUnavailableError("The update could not be queued; retry later.") from None
    observability.count("Received", channel="telegram")
    return {"ok": True}


def _unusable(reason: str, fields: list[str]) -> dict[str, Any]:
    """An authentic update that can never be processed: 200 (any other answer makes Telegram send it
    again for a day), counted, never queued."""
    observability.count("UpdatesUnusable", channel="telegram", reason=reason)
    observability.logger().warning("unusable update acknowledged", extra={"reason": reason, "fields": fields})
    return {"ok": True, "ignored": True}
