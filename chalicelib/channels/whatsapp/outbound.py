"""WhatsApp sender (Cloud API): text, media by link, templates and typing onto the bound chat, from the bound number.

Destination (CONTRACT §4, §7): the route `whatsapp:<phoneNumberId>:chat:<id>` names both ends. Every call goes
to `/<phoneNumberId>/messages` of the route — the business number the chat wrote to, so one mux serves several
numbers with one access token — and addresses the route's chat whatever the request says (`to` is ignored):
a group binding (`scope` `group`) sends `recipient_type: group` + `to: <groupId>`; a chat id of digits is a
phone number (`to: +<digits>`); anything else is a business-scoped user id (BSUID, e.g. `US.5820…`, a user who
shares no phone number), sent as `recipient: <BSUID>` as Meta requires.

Decisions worth knowing:

* Text mode and `raw.whatsapp.send` (`{text?, mediaUrl?, mediaUrls?}`, OpenClaw's raw shape; its fields win
  over the top-level ones, as in the reference mux): media first, the first one carrying the text as caption
  when it fits (1024 units) and its kind takes captions (image, video, document; not audio or sticker);
  otherwise the text follows, split at 4096 UTF-16 units. Plain text, no link previews.
* Media kind from the URL's extension: .jpg/.jpeg/.png image, .mp4/.3gp video, .aac/.amr/.mp3/.m4a/.ogg/.opus
  audio, .webp sticker, anything else (or none) a document named after the URL's last path segment — a
  document is the one kind WhatsApp accepts for every file type. Links must be absolute http(s) URLs.
* `replyToId` becomes `context.message_id` on the first message, only for a message the mux sent to or
  forwarded from this route for this tenant (else the message goes out without the quote, counted).
* `raw.whatsapp.template = {name, language: "en_US" | {code}, components?}` sends one template message: the
  only kind WhatsApp delivers once the 24-hour customer-service window is closed, so an agent can reopen a
  conversation. It cannot be combined with `send`/text.
* Typing = a read receipt with a typing indicator on the user's newest message (`status: read` +
  `typing_indicator`; Meta requires an incoming message id): `replyToId` when it names one of the route's
  messages, else the newest message forwarded from the route (recorded by the inbound pipeline with
  `inbound_items`). With neither — nothing forwarded in the last 48 h — there is nothing to mark and the
  call is skipped (200, counted): the window is closed by then anyway.
* Errors: 131047 (window closed) → 502 WINDOW_CLOSED saying a template is needed; 130429 (throughput), 131056
  (too many messages to one user), 4 and 80007 (app / account rate limits) → 502 PROVIDER_RATE_LIMITED with
  `retryAfterMs` (Retry-After when Meta sends one, else 6 s for 131056 — Meta's pair limit is about one
  message per 6 s — and 1 s otherwise); 190 or HTTP 401 (access token expired or invalid) → 502 PROVIDER_AUTH; a
  request sent and not answered → 502 PROVIDER_OUTCOME_UNKNOWN; anything else → 502 PROVIDER_ERROR with Meta's
  code and details.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from chalicelib import observability
from chalicelib.channels.base import MAX_PARTS, Destination, SendPlan, SendResult
from chalicelib.channels.sendfields import send_fields
from chalicelib.channels.text import split_text, utf16_len
from chalicelib.channels.whatsapp import api
from chalicelib.clock import now_ms
from chalicelib.config import Settings
from chalicelib.errors import (
    InvalidInputError,
    ProviderAuthError,
    ProviderError,
    ProviderOutcomeUnknownError,
    ProviderRateLimitedError,
    TextTooLongError,
    WindowClosedError,
)
from chalicelib.models import Binding, OutboundRequest
from chalicelib.storage import messages

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALL_TIMEOUT_SEC = 15.0
WINDOW_CLOSED_CODE = 131047
RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131056})
AUTH_CODES = frozenset({190})
PAIR_RATE_LIMIT_CODE = 131056
_EXTENSION_KINDS = {
    ".jpg": "image", ".jpeg": "image", ".png": "image",
    ".mp4": "video", ".3gp": "video",
    ".aac": "audio", ".amr": "audio", ".mp3": "audio", ".m4a": "audio", ".ogg": "audio", ".opus": "audio",
    ".webp": "sticker",
}
_CAPTION_KINDS = frozenset({"image", "video", "document"})


# --- destination ------------------------------------------------------------------------------
def parse_route(route_key: str) -> tuple[str, str]:
    """(phone number id, chat id) of `whatsapp:<phoneNumberId>:chat:<id>`."""
    parts = route_key.split(":", 3)
    if len(parts) != 4 or parts[0] != "whatsapp" or parts[2] != "chat" or not parts[1] or not parts[3]:
        raise ValueError(f"not a WhatsApp route key: {route_key!r}")
    return parts[1], parts[3]


def route_key(phone_number_id: str, chat_id: str) -> str:
    return f"whatsapp:{phone_number_id}:chat:{chat_id}"


def addressing(binding: Binding) -> dict[str, str]:
    """How Meta addresses the bound chat: a group, a phone number, or a business-scoped user id."""
    _, chat = parse_route(binding.route_key)
    if binding.scope == "group":
        return {"recipient_type": "group", "to": chat}
    if chat.lstrip("+").isdigit():
        return {"recipient_type": "individual", "to": "+" + chat.lstrip("+")}
    return {"recipient_type": "individual", "recipient": chat}


def inbound_items(route: str, wamid: str, tenant_id: str, now: int) -> list[dict[str, Any]]:
    """What the inbound pipeline writes (in the dedupe record's BatchWriteItem) when it forwards message
    `wamid` from `route`: the tenant may reply to it, and typing marks it read."""
    return [messages.item(route, wamid, tenant_id, now), messages.latest_inbound_item(route, wamid, tenant_id, now)]


# --- request parsing --------------------------------------------------------------------------
def _raw_whatsapp(request: OutboundRequest) -> dict[str, Any] | None:
    value = (request.raw or {}).get("whatsapp")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInputError("raw.whatsapp must be an object {send} or {template}.",
                                details={"fields": ["raw.whatsapp"]})
    return value


def _send_fields(request: OutboundRequest) -> tuple[str, list[str]]:
    """The text and media links of a send: `raw.whatsapp.send` first, then the top-level fields."""
    read = send_fields(request, _raw_whatsapp(request) or {}, channel="whatsapp",
                       shape="{text?, mediaUrl?, mediaUrls?}",
                       media_error="Media links must be absolute http(s) URLs WhatsApp can fetch.")
    return read.text, read.media


def _template(request: OutboundRequest) -> dict[str, Any] | None:
    raw = _raw_whatsapp(request)
    if raw is None or raw.get("template") is None:
        return None
    value = raw["template"]
    fields = {"fields": ["raw.whatsapp.template"]}
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"].strip():
        raise InvalidInputError("raw.whatsapp.template needs a name (an approved template).", details=fields)
    language = value.get("language", "en_US")
    if isinstance(language, str) and language.strip():
        language = {"code": language.strip()}
    if not isinstance(language, dict) or not isinstance(language.get("code"), str) or not language["code"]:
        raise InvalidInputError("raw.whatsapp.template.language must be a code such as en_US or {code}.",
                                details=fields)
    template: dict[str, Any] = {"name": value["name"].strip(), "language": {"code": language["code"]}}
    components = value.get("components")
    if components is not None:
        if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
            raise InvalidInputError("raw.whatsapp.template.components must be a list of objects.", details=fields)
        template["components"] = components
    if raw.get("send") is not None or (request.text or "").strip() or request.mediaUrl or request.mediaUrls:
        raise InvalidInputError("A template message is sent on its own: drop text, media and raw.whatsapp.send.",
                                details=fields)
    return template


def media_kind(url: str) -> str:
    return _EXTENSION_KINDS.get(posixpath.splitext(urlsplit(url).path)[1].lower(), "document")


def _media_object(url: str, kind: str) -> dict[str, Any]:
    obj: dict[str, Any] = {"link": url}
    if kind == "document":
        name = unquote(posixpath.basename(urlsplit(url).path))
        if name:
            obj["filename"] = name[:240]
    return obj


def _messages(request: OutboundRequest) -> list[dict[str, Any]]:
    """The message objects of a send (without addressing), in order. Pure: a retry plans the same parts."""
    template = _template(request)
    if template is not None:
        return [{"type": "template", "template": template}]
    text, urls = _send_fields(request)
    has_text = bool(text.strip())
    out: list[dict[str, Any]] = []
    caption_used = False
    for index, url in enumerate(urls):
        kind = media_kind(url)
        obj = _media_object(url, kind)
        if index == 0 and has_text and kind in _CAPTION_KINDS and utf16_len(text) <= CAPTION_LIMIT:
            obj["caption"] = text
            caption_used = True
        out.append({"type": kind, kind: obj})
    if has_text and not caption_used:
        out.extend({"type": "text", "text": {"preview_url": False, "body": chunk}}
                   for chunk in split_text(text, TEXT_LIMIT))
    return out


def _too_long(count: int) -> TextTooLongError:
    return TextTooLongError(
        f"This send would take {count} WhatsApp messages; at most {MAX_PARTS} per request "
        f"(text up to about {MAX_PARTS * TEXT_LIMIT:,} characters). Split it into several requests.",
        details={"fields": ["text"], "parts": count, "maxParts": MAX_PARTS},
    )


# --- errors -----------------------------------------------------------------------------------
def provider_error(exc: api.WhatsAppApiError) -> ProviderError:
    details: dict[str, Any] = {"status": exc.status, "code": exc.code, "message": exc.message}
    if exc.details:
        details["details"] = exc.details
    if exc.trace_id:
        details["fbtraceId"] = exc.trace_id
    if exc.outcome_unknown:
        return ProviderOutcomeUnknownError(
            "WhatsApp did not answer in time: the message may or may not have been sent.", details=details
        )
    if exc.status == 0:
        return ProviderError(f"WhatsApp could not be reached: {exc.message}", details=details)
    if exc.code == WINDOW_CLOSED_CODE:
        return WindowClosedError(
            "WhatsApp refused the message: more than 24 hours have passed since the user last wrote to this "
            "number, so only a template message can reach them now (send raw.whatsapp.template to reopen the "
            "conversation).",
            details=details,
        )
    if exc.code in RATE_LIMIT_CODES or exc.status == 429:
        if exc.retry_after_sec is not None:
            retry_ms = int(exc.retry_after_sec * 1000)
        else:
            retry_ms = 6000 if exc.code == PAIR_RATE_LIMIT_CODE else 1000
        return ProviderRateLimitedError(
            f"WhatsApp rate limit (#{exc.code}): retry after {retry_ms / 1000:g} s.",
            details=details, retry_after_ms=retry_ms, http_status=exc.status,
        )
    if exc.code == 190 or exc.status == 401:
        return ProviderAuthError(
            "WhatsApp refused the mux's access token (expired or revoked): the operator must renew "
            "WHATSAPP_ACCESS_TOKEN.",
            details=details, http_status=exc.status,
        )
    return ProviderError(f"WhatsApp refused the message (#{exc.code}): {exc.details or exc.message}",
                         details=details, http_status=exc.status)


def _call(phone_number_id: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        return api.post_message(phone_number_id, body, timeout=CALL_TIMEOUT_SEC)
    except api.WhatsAppApiError as exc:
        observability.count("WhatsAppApiErrors", reason=str(exc.code) if exc.code in _COUNTED else "other")
        raise provider_error(exc) from None


_COUNTED = RATE_LIMIT_CODES | AUTH_CODES | {WINDOW_CLOSED_CODE}


def _message_id(answer: dict[str, Any]) -> str:
    sent = answer.get("messages")
    first = sent[0] if isinstance(sent, list) and sent and isinstance(sent[0], dict) else {}
    wamid = first.get("id")
    if not isinstance(wamid, str) or not wamid.strip():
        raise ProviderError("WhatsApp accepted the message but answered no message id.", details={"answer": answer})
    return wamid


class WhatsAppSender:
    channel = "whatsapp"

    def enabled(self, settings: Settings) -> bool:
        return settings.whatsapp_enabled

    def validate(self, request: OutboundRequest) -> None:
        parts = _messages(request)
        if not parts:
            raise InvalidInputError(
                "Nothing to send: give text, mediaUrl/mediaUrls, raw.whatsapp.send or raw.whatsapp.template.",
                details={"fields": ["text"]},
            )
        text, _ = _send_fields(request)
        units = utf16_len(text)
        if units > MAX_PARTS * TEXT_LIMIT:
            raise _too_long(-(-units // TEXT_LIMIT))
        if len(parts) > MAX_PARTS:
            raise _too_long(len(parts))

    def plan(self, destination: Destination, request: OutboundRequest) -> SendPlan:
        binding = destination.binding
        phone_number_id, chat = parse_route(binding.route_key)
        head = {"messaging_product": "whatsapp", **addressing(binding)}
        bodies = [{**head, **message} for message in _messages(request)]
        reply_to = str(request.replyToId).strip() if request.replyToId not in (None, "") else None
        if reply_to and bodies:
            if destination.owns is not None and destination.owns(reply_to):
                bodies[0]["context"] = {"message_id": reply_to}
            else:
                observability.count("WhatsAppForeignReplyDropped")

        def part(body: dict[str, Any]) -> Callable[[], str]:
            return lambda: _message_id(_call(phone_number_id, body))

        def result(ids: list[str]) -> SendResult:
            return SendResult(message_ids=ids, to_jid=chat)

        return SendPlan(parts=[part(b) for b in bodies], result=result)

    def typing(self, destination: Destination, request: OutboundRequest | None = None) -> None:
        binding = destination.binding
        phone_number_id, _ = parse_route(binding.route_key)
        target = None
        asked = request.replyToId if request is not None else None
        if asked not in (None, "") and destination.owns is not None and destination.owns(str(asked)):
            target = str(asked)
        if target is None:
            target = messages.latest_inbound(binding.route_key, binding.tenant_id, now_ms())
        if target is None:
            observability.count("WhatsAppTypingSkipped")
            return
        _call(phone_number_id, {"messaging_product": "whatsapp", "status": "read", "message_id": target,
                                "typing_indicator": {"type": "text"}})


SENDER = WhatsAppSender()
