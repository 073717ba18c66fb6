"""Platform webhooks: verify, enqueue, answer (no forwarding inside the request)."""

from __future__ import annotations

import time
from typing import Any

from chalice.app import Blueprint

from chalicelib import observability
from chalicelib.config import get_settings
from chalicelib.errors import ForbiddenError, NotFoundError, ServiceUnavailableError, UnauthorizedError
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
    event = _queued_event("telegram", msg.event_id, msg.route_key, update)
    if event is None:
        return {"ok": True, "ignored": True}
    _enqueue(event)
    return {"ok": True}


@endpoint(
    bp,
    "/v1/webhooks/whatsapp",
    ["GET"],
    summary="WhatsApp webhook subscription handshake (hub.mode, hub.verify_token, hub.challenge)",
    auth="platform",
    errors=(403, 404, 503),
    query={
        "hub.mode": {"type": "string"},
        "hub.verify_token": {"type": "string"},
        "hub.challenge": {"type": "string"},
    },
)
def whatsapp_handshake() -> Any:
    from chalice.app import Response

    from chalicelib.channels.whatsapp import verify

    settings = get_settings()
    if not settings.whatsapp_enabled:
        raise NotFoundError("WhatsApp is not enabled on this mux.", code="CHANNEL_DISABLED")
    expected = settings.require("whatsapp_verify_token")
    query: Any = bp.current_request.query_params or {}
    challenge = verify.handshake_challenge(
        query.get("hub.mode"), query.get("hub.verify_token"), query.get("hub.challenge"), expected
    )
    if challenge is None:
        observability.count("AuthFailures", route="webhook_verify", channel="whatsapp")
        raise ForbiddenError("The verify token is missing or wrong.")
    return Response(body=challenge, status_code=200, headers={"Content-Type": "text/plain; charset=utf-8"})


@endpoint(
    bp,
    "/v1/webhooks/whatsapp",
    ["POST"],
    summary="WhatsApp Cloud API webhook (X-Hub-Signature-256)",
    auth="platform",
    errors=(400, 401, 404, 413, 503),
)
def whatsapp_webhook() -> Any:
    from chalicelib.channels.base import UnusableEventError, check_payload
    from chalicelib.channels.whatsapp import inbound as whatsapp
    from chalicelib.channels.whatsapp import verify

    settings = get_settings()
    if not settings.whatsapp_enabled:
        raise NotFoundError("WhatsApp is not enabled on this mux.", code="CHANNEL_DISABLED")
    secret = settings.require("whatsapp_app_secret")
    body = raw_body(bp)
    if not verify.signature_valid(body, bp.current_request.headers.get("x-hub-signature-256"), secret):
        observability.count("AuthFailures", route="webhook", channel="whatsapp")
        raise UnauthorizedError("The X-Hub-Signature-256 signature is missing or wrong.")
    try:
        payload = json_object(body)
        check_payload(payload)
    except RecursionError:
        return _unusable("too_deep", [], channel="whatsapp")
    except UnusableEventError as exc:
        return _unusable(exc.reason, exc.fields, channel="whatsapp")
    singles, statuses, unusable = whatsapp.split(payload)
    for problem in unusable:
        _unusable(problem.reason, problem.fields, channel="whatsapp")
    _report_statuses(statuses)
    # Every message checked before any is queued; a failed enqueue (503) brings the whole POST back, and what was
    # queued already is deduped by its event id.
    events = []
    for single in singles:
        msg = whatsapp.parse(single)
        event = _queued_event("whatsapp", msg.event_id, msg.route_candidates()[0], single)
        if event is not None:
            events.append(event)
    for event in events:
        _enqueue(event)
    if not events:
        return {"ok": True, "ignored": True}
    return {"ok": True}


@endpoint(
    bp,
    "/v1/webhooks/discord/interactions",
    ["POST"],
    summary="Discord interactions endpoint (Ed25519: X-Signature-Ed25519 over X-Signature-Timestamp + body)",
    auth="platform",
    errors=(400, 401, 404, 413, 503),
)
def discord_interactions() -> Any:
    from chalicelib.channels.base import UnusableEventError, check_payload
    from chalicelib.channels.discord import commands, verify
    from chalicelib.channels.discord import inbound as discord

    settings = get_settings()
    if not settings.discord_enabled:
        raise NotFoundError("Discord is not enabled on this mux.", code="CHANNEL_DISABLED")
    body = raw_body(bp)
    headers = bp.current_request.headers
    problem = verify.interaction_problem(body, headers.get("x-signature-ed25519"), headers.get("x-signature-timestamp"),
                                         settings.require("discord_public_key"), now_s=time.time())
    if problem is not None:
        # Discord probes the endpoint with bad signatures and removes one that accepts them.
        observability.count("AuthFailures", route="webhook", channel="discord", reason=problem)
        raise UnauthorizedError("The interaction signature is missing, wrong or stale.")
    try:
        payload = json_object(body)
        check_payload(payload)
        answer = commands.immediate(payload)
        if answer is not None:
            return answer
        msg = discord.parse(payload)
    except RecursionError:
        _unusable("too_deep", [], channel="discord")
        return commands.UNUSABLE
    except UnusableEventError as exc:
        _unusable(exc.reason, exc.fields, channel="discord")
        return commands.UNUSABLE
    if msg is None or discord.is_dispatch(payload):
        _unusable("not_an_interaction", [], channel="discord")
        return commands.UNUSABLE
    if not _queue_discord(msg, payload):
        return commands.UNUSABLE
    return commands.deferred(msg)


@endpoint(
    bp,
    "/v1/webhooks/discord/gateway",
    ["POST"],
    summary="Discord gateway relay: MESSAGE_CREATE dispatches (X-Mux-Timestamp, X-Mux-Signature HMAC-SHA256)",
    auth="platform",
    errors=(400, 401, 404, 413, 503),
)
def discord_gateway() -> Any:
    from chalicelib.channels.base import UnusableEventError, check_payload
    from chalicelib.channels.discord import inbound as discord
    from chalicelib.channels.discord import verify

    settings = get_settings()
    if not settings.discord_enabled:
        raise NotFoundError("Discord is not enabled on this mux.", code="CHANNEL_DISABLED")
    # Without the secret nothing can be verified: 503 NOT_CONFIGURED, so the relay keeps what it holds.
    secret = settings.require("discord_relay_secret")
    body = raw_body(bp)
    headers = bp.current_request.headers
    problem = verify.relay_problem(body, headers.get("x-mux-signature"), headers.get("x-mux-timestamp"), secret,
                                   now_s=time.time())
    if problem is not None:
        observability.count("AuthFailures", route="webhook", channel="discord", reason=problem)
        raise UnauthorizedError("The relay signature is missing, wrong or stale.")
    try:
        payload = json_object(body)
        check_payload(payload)
        if not discord.is_dispatch(payload):
            raise UnusableEventError("not_a_dispatch", ["t", "d"])
        msg = discord.parse(payload)
    except RecursionError:
        return _unusable("too_deep", [], channel="discord")
    except UnusableEventError as exc:
        return _unusable(exc.reason, exc.fields, channel="discord")
    if msg is None:
        # Other dispatches, bots' and webhooks' messages, service messages (joins, pins, thread created …).
        observability.count("UpdatesIgnored", channel="discord")
        return {"ok": True, "ignored": True}
    if not _queue_discord(msg, payload):
        return {"ok": True, "ignored": True}
    return {"ok": True}


def _queue_discord(msg: Any, payload: dict[str, Any]) -> bool:
    """Queue a Discord event, grouped by the channel or thread it happened in (its order kept); False when it
    is too big for the queue (counted as unusable). 503 when the queue fails."""
    event = _queued_event("discord", msg.event_id, msg.route_candidates()[0], payload)
    if event is None:
        return False
    _enqueue(event)
    return True


def _queued_event(channel: str, event_id: str, route_key: str, payload: dict[str, Any]) -> Any:
    """The queue message of one platform event (grouped by `route_key`), or None when it is too big for SQS
    (counted as unusable: a 5xx would only bring it back)."""
    from chalicelib.models import QueuedEvent

    event = QueuedEvent(eventId=event_id, channel=channel, routeKey=route_key,
                        receivedAtMs=int(time.time() * 1000), payload=payload)
    if len(event.model_dump_json().encode("utf-8")) > QUEUE_MESSAGE_MAX_BYTES:
        _unusable("too_large", [], channel=channel)
        return None
    observability.log_keys(event_id=event_id, route_key=route_key)
    return event


def _report_statuses(statuses: list[dict[str, Any]]) -> None:
    """Delivery statuses of what the mux sent: acknowledged, never forwarded; a failure is logged and counted
    by Meta's error code (131047: the 24-hour window closed, a template is needed)."""
    for status in statuses:
        if status.get("status") != "failed":
            observability.count("StatusesAcknowledged", channel="whatsapp")
            continue
        errors = status.get("errors")
        codes = [e.get("code") for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
        for code in codes or [None]:
            dimension = str(code) if isinstance(code, int) and not isinstance(code, bool) else "unknown"
            observability.count("DeliveryFailures", channel="whatsapp", code=dimension)
            observability.logger().warning(
                "whatsapp message not delivered",
                extra={"code": dimension, "wamid": str(status.get("id", ""))[:200]},
            )


def _enqueue(event: Any) -> None:
    from chalicelib.queue import enqueue

    try:
        enqueue(event)
    except Exception:
        observability.logger().exception("enqueue failed")
        observability.count("EnqueueFailures", channel=event.channel)
        # 5xx so the platform delivers the update again later: nothing authentic is dropped (what was queued
        # already is deduped by its event id).
        raise ServiceUnavailableError("The update could not be queued; retry later.") from None
    observability.count("Received", channel=event.channel)


def _unusable(reason: str, fields: list[str], channel: str = "telegram") -> dict[str, Any]:
    """An authentic update that can never be processed: 200 (any other answer makes the platform send it
    again for a day or a week), counted, never queued."""
    observability.count("UpdatesUnusable", channel=channel, reason=reason)
    observability.logger().warning("unusable update acknowledged", extra={"reason": reason, "fields": fields})
    return {"ok": True, "ignored": True}
