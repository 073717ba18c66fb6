"""Telegram sender: raw Bot API calls and text/media sends onto the bound chat, with the route lock enforced.

Route lock (CONTRACT §7): whatever a raw body says, `chat_id` is the bound chat and, for a topic binding,
`message_thread_id` is the bound topic; `reply_parameters.chat_id` (quoting a message of another chat)
and `business_connection_id` are dropped. Decisions worth knowing:

* General topic: Telegram refuses `message_thread_id=1` on sends ("message thread not found"), so a binding
  to topic 1 sends without it; `sendChatAction` accepts (and needs) it, so typing keeps it.
* Unthreaded bindings (a chat, or a private chat with threads): the caller's `threadId` is injected when
  the raw body has no `message_thread_id` of its own (it cannot leave the bound chat either way).
* Message-level methods (`editMessageText`, `setMessageReaction`, `deleteMessage`) take no
  `message_thread_id` (dropped) and act only on a `message_id` the mux sent to or forwarded from this
  tenant's route (the plan's `acts_on`, checked by the service; message ids are sequential per chat, so a
  topic binding could otherwise edit another topic's messages). `answerCallbackQuery` needs a callback query
  the mux forwarded from the route. `editMessageText` with only `inline_message_id` edits an inline-mode
  message, which belongs to no chat: allowed only for an `inline:<id>` issued to the route, which the mux
  never does today (it forwards no inline-mode updates), so such edits are refused with 403.
* A reply (`reply_to_message_id`, `reply_parameters.message_id`, text mode's `replyToId`) to a message that is
  not the tenant's on its route is sent without the reply: Telegram would post it into the replied message's
  topic (a General-topic or chat binding could otherwise reach another tenant's topic).
* A chat binding of a group posting into a topic (`message_thread_id`, or General when none) is refused when
  another tenant has bound that topic (the plan's `posts_into`). `createForumTopic` needs a chat binding.
* Message ids for methods whose result is `true` (answerCallbackQuery, setMessageReaction, deleteMessage,
  sendChatAction, inline edits): the request's `message_id` (or `inline_message_id`) when it has one, else
  `"<method>:<requestId>"` (a fresh uuid when the caller sent no requestId). OpenClaw only needs a
  non-empty string, and an idempotent replay returns the stored one.
* Text mode is plain text (no parse mode). Text is split at 4096 UTF-16 code units (Telegram's unit),
  preferring line breaks, then spaces. Captions over 1024 units go out as a media message without caption
  followed by the text. Media type is guessed from the URL's extension: images → sendPhoto (also when there
  is no extension), anything else → sendDocument.
* A group upgraded to a supergroup (`migrate_to_chat_id`) moves the binding to the new chat id and the
  call is retried once there.
* A call whose request was sent but not answered (read timeout, connection dropped) raises
  PROVIDER_OUTCOME_UNKNOWN: the message may be out. `createForumTopic` answers the new topic's id.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from chalicelib import observability
from chalicelib.channels.base import MAX_PARTS, Destination, SendPlan, SendResult
from chalicelib.channels.telegram import api
from chalicelib.channels.telegram.inbound import GENERAL_TOPIC, route_key
from chalicelib.channels.text import split_text as text_split
from chalicelib.channels.text import utf16_len
from chalicelib.config import Settings
from chalicelib.errors import (
    ForbiddenError,
    InvalidInputError,
    ProviderError,
    ProviderOutcomeUnknownError,
    TextTooLongError,
)
from chalicelib.models import OutboundRequest

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024

# Methods that create a message in the bound chat (their answer is a Message).
SEND_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendPoll",
        "sendSticker",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendAnimation",
    }
)
# Methods that act on an existing message of the chat, named by `message_id`.
MESSAGE_METHODS = frozenset({"editMessageText", "setMessageReaction", "deleteMessage"})
RAW_METHODS = SEND_METHODS | MESSAGE_METHODS | {"sendChatAction", "answerCallbackQuery", "createForumTopic"}
_NO_THREAD_METHODS = MESSAGE_METHODS | {"answerCallbackQuery", "createForumTopic"}
# Per Bot API call; the send's time budget as a whole is bounded by MAX_PARTS.
CALL_TIMEOUT_SEC = 15.0
_IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".heic"})


def _chat_id_value(chat_id: str) -> int | str:
    """Telegram chat ids are integers; send them as JSON numbers (usernames like @channel stay strings)."""
    try:
        return int(chat_id)
    except ValueError:
        return chat_id


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _reply_to_id(value: Any) -> int | None:
    """The Telegram message a reply goes to: a message id, or the `<id>:edit:<edit_date>` id the mux gives
    an edited message's turn (OpenClaw replies to the turn's messageId)."""
    if isinstance(value, str) and ":edit:" in value:
        value = value.split(":edit:", 1)[0]
    return _int_or_none(value)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Chunks of at most `limit` UTF-16 units (Telegram counts in them), cut on a line break, else a space."""
    return text_split(text, limit)


def _is_image(url: str) -> bool:
    path = urlsplit(url).path if "://" in url else url
    ext = posixpath.splitext(path)[1].lower()
    return ext == "" or ext in _IMAGE_EXTENSIONS


def _media_urls(request: OutboundRequest) -> list[str]:
    urls: list[str] = []
    for url in [request.mediaUrl, *(request.mediaUrls or [])]:
        if isinstance(url, str) and url.strip() and url.strip() not in urls:
            urls.append(url.strip())
    return urls


def _raw_telegram(request: OutboundRequest) -> dict[str, Any] | None:
    raw = request.raw or {}
    value = raw.get("telegram")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInputError("raw.telegram must be an object {method, body}.", details={"fields": ["raw.telegram"]})
    method = value.get("method")
    if not isinstance(method, str) or not method:
        raise InvalidInputError(
            "raw.telegram.method must be a Telegram Bot API method name.",
            details={"fields": ["raw.telegram.method"]},
        )
    body = value.get("body", {})
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidInputError("raw.telegram.body must be an object.", details={"fields": ["raw.telegram.body"]})
    return {"method": method, "body": body}


def _fallback_id(method: str, request: OutboundRequest) -> str:
    return f"{method}:{request.requestId or uuid.uuid4()}"


def inbound_refs(message: dict[str, Any], callback: dict[str, Any] | None) -> list[str]:
    """What a forwarded update lets its tenant act on: the message (for a callback, the bot's message whose
    button was pressed) and the callback query to answer. Same spelling as `_acts_on`."""
    refs: list[str] = []
    message_id = _int_or_none(message.get("message_id"))
    if message_id is not None:
        refs.append(str(message_id))
    if callback is not None and callback.get("id"):
        refs.append(f"cbq:{callback['id']}")
    return refs


def _acts_on(method: str, body: dict[str, Any]) -> list[str]:
    """The existing messages a raw call acts on (normalising `message_id` so the id checked is the id sent)."""
    if method == "answerCallbackQuery":
        return [f"cbq:{body.get('callback_query_id')}"]
    if method not in MESSAGE_METHODS:
        return []
    if body.get("message_id") in (None, "") and method == "editMessageText" and body.get("inline_message_id"):
        # An inline-mode message belongs to no chat: allowed only if one was issued to this route (the mux
        # forwards no inline-mode updates today, so it never is).
        return [f"inline:{body['inline_message_id']}"]
    body.pop("inline_message_id", None)
    message_id = _int_or_none(body.get("message_id"))
    if message_id is None:
        return [f"{body.get('message_id')}"]
    body["message_id"] = message_id
    return [str(message_id)]


def _drop_foreign_reply(body: dict[str, Any], destination: Destination) -> None:
    """A reply names its message by id alone, and Telegram posts a reply into the replied message's topic: a
    reply to a message that is not this tenant's on this route would reach another topic. It goes out as a
    plain message instead (like `allow_sending_without_reply` for a deleted original)."""
    reply = body.get("reply_parameters")
    targets = [body.get("reply_to_message_id")] if "reply_to_message_id" in body else []
    if isinstance(reply, dict):
        targets.append(reply.get("message_id"))
    elif reply is not None:
        body.pop("reply_parameters")  # not an object: Telegram would refuse it anyway
    for target in targets:
        message_id = _int_or_none(target)
        if message_id is None or destination.owns is None or not destination.owns(str(message_id)):
            body.pop("reply_to_message_id", None)
            body.pop("reply_parameters", None)
            observability.count("TelegramForeignReplyDropped")
            return


def _text_parts(request: OutboundRequest) -> list[tuple[str, dict[str, Any]]]:
    """Text mode as (method, body) calls, in order: media first (the first carries a short text as its
    caption), then the text split at Telegram's limit. Pure: a retry plans the same parts."""
    text = request.text or ""
    has_text = bool(text.strip())
    parts: list[tuple[str, dict[str, Any]]] = []
    caption_used = False
    for index, url in enumerate(_media_urls(request)):
        method, field = ("sendPhoto", "photo") if _is_image(url) else ("sendDocument", "document")
        body: dict[str, Any] = {field: url}
        if index == 0 and has_text and utf16_len(text) <= CAPTION_LIMIT:
            body["caption"] = text
            caption_used = True
        parts.append((method, body))
    if has_text and not caption_used:
        parts.extend(("sendMessage", {"text": chunk}) for chunk in split_text(text))
    reply_to = _reply_to_id(request.replyToId)
    if reply_to is not None and parts:
        # Only the first message replies; a deleted original must not fail the whole send.
        parts[0][1]["reply_parameters"] = {"message_id": reply_to, "allow_sending_without_reply": True}
    return parts


def _too_long(count: int) -> TextTooLongError:
    return TextTooLongError(
        f"This send would take {count} Telegram messages; at most {MAX_PARTS} per request "
        f"(text up to about {MAX_PARTS * TEXT_LIMIT:,} characters). Split it into several requests.",
        details={"fields": ["text"], "parts": count, "maxParts": MAX_PARTS},
    )


class TelegramSender:
    channel = "telegram"

    # --- Sender protocol ------------------------------------------------------------------------
    def enabled(self, settings: Settings) -> bool:
        return settings.telegram_enabled

    def validate(self, request: OutboundRequest) -> None:
        raw = _raw_telegram(request)
        if raw is not None:
            if raw["method"] not in RAW_METHODS:
                raise InvalidInputError(
                    f"raw.telegram.method {raw['method']!r} is not supported; use one of "
                    + ", ".join(sorted(RAW_METHODS))
                    + ".",
                    code="UNSUPPORTED_METHOD",
                )
            return
        if not (request.text or "").strip() and not _media_urls(request):
            raise InvalidInputError(
                "Nothing to send: give text, mediaUrl/mediaUrls or raw.telegram.",
                details={"fields": ["text"]},
            )
        text_units = utf16_len(request.text or "")
        if text_units > MAX_PARTS * TEXT_LIMIT:
            raise _too_long(-(-text_units // TEXT_LIMIT))
        count = len(_text_parts(request))
        if count > MAX_PARTS:
            raise _too_long(count)

    def plan(self, destination: Destination, request: OutboundRequest) -> SendPlan:
        call = _Calls(destination)

        def result(ids: list[str]) -> SendResult:
            return SendResult(message_ids=ids, chat_id=call.chat_id)

        raw = _raw_telegram(request)
        if raw is None:
            parts = _text_parts(request)
            for _, part_body in parts[:1]:  # only the first part replies
                _drop_foreign_reply(part_body, destination)
            thread = request.threadId
            return SendPlan(
                parts=[self._part(call, method, body, request) for method, body in parts],
                result=result,
                posts_into=self._posts_into(destination, {}, thread),
            )
        method, body = raw["method"], dict(raw["body"])
        if method == "createForumTopic" and destination.topic_id is not None:
            raise ForbiddenError(
                "createForumTopic needs a binding of the whole chat; this session is bound to one topic.",
                code="ROUTE_NOT_BOUND",
            )
        acts_on = _acts_on(method, body)
        posting = method in SEND_METHODS
        if posting:
            _drop_foreign_reply(body, destination)
            if destination.topic_id is None and "message_thread_id" in body:
                # The topic checked is the topic sent: 43.0 or " 43" must not slip past the check as another key.
                thread = _int_or_none(body["message_thread_id"])
                if thread is None:
                    body.pop("message_thread_id")
                else:
                    body["message_thread_id"] = thread
        return SendPlan(
            parts=[self._part(call, method, body, request)],
            result=result,
            acts_on=acts_on,
            posts_into=self._posts_into(destination, body, request.threadId) if posting else None,
            new_messages=posting,
        )

    def typing(self, destination: Destination, request: OutboundRequest | None = None) -> None:
        call = _Calls(destination)
        body: dict[str, Any] = {"action": "typing"}
        thread = request.threadId if request is not None else None
        call("sendChatAction", body, thread_id=thread)

    # --- parts ----------------------------------------------------------------------------------
    @staticmethod
    def _posts_into(destination: Destination, body: dict[str, Any], thread_id: Any) -> str | None:
        """The topic route a chat binding's send lands in (groups only: a private chat is bound whole)."""
        if destination.topic_id is not None or not destination.chat_id.startswith("-"):
            return None
        thread = body.get("message_thread_id") if "message_thread_id" in body else _int_or_none(thread_id)
        if thread is None:
            thread = GENERAL_TOPIC  # a forum's unthreaded send lands in General
        return route_key(destination.chat_id, str(thread))

    @staticmethod
    def _part(call: _Calls, method: str, body: dict[str, Any], request: OutboundRequest) -> Callable[[], str]:
        def run() -> str:
            result = call(method, dict(body), thread_id=request.threadId)
            if isinstance(result, dict):
                for key in ("message_id", "message_thread_id"):  # a Message, or createForumTopic's ForumTopic
                    if result.get(key) is not None:
                        return str(result[key])
            for key in ("message_id", "inline_message_id"):
                if body.get(key) not in (None, ""):
                    return str(body[key])
            return _fallback_id(method, request)

        return run


class _Calls:
    """Bot API calls pinned to one destination: route lock, topic rules, error mapping, migration retry."""

    def __init__(self, destination: Destination) -> None:
        self.destination = destination
        self.chat_id = destination.chat_id
        self.migrated = False

    def __call__(self, method: str, body: dict[str, Any], *, thread_id: Any = None) -> Any:
        locked = self._lock(method, body, thread_id)
        try:
            return api.call(method, locked, timeout=CALL_TIMEOUT_SEC)
        except api.TelegramApiError as exc:
            if exc.migrate_to_chat_id is not None and not self.migrated and "chat_id" in locked:
                self._migrate(str(exc.migrate_to_chat_id))
                locked["chat_id"] = _chat_id_value(self.chat_id)
                try:
                    return api.call(method, locked, timeout=CALL_TIMEOUT_SEC)
                except api.TelegramApiError as again:
                    raise _provider_error(again) from None
            raise _provider_error(exc) from None

    def _lock(self, method: str, body: dict[str, Any], thread_id: Any) -> dict[str, Any]:
        out = dict(body)
        if method == "answerCallbackQuery":
            return out
        # Fields that would reach outside the bound chat: a reply quoting another chat's message, or a
        # send through a business account connection.
        out.pop("business_connection_id", None)
        reply = out.get("reply_parameters")
        if isinstance(reply, dict) and "chat_id" in reply:
            out["reply_parameters"] = {k: v for k, v in reply.items() if k != "chat_id"}
        inline_only = method == "editMessageText" and out.get("inline_message_id") and "message_id" not in out
        if inline_only:
            out.pop("chat_id", None)
        else:
            out["chat_id"] = _chat_id_value(self.chat_id)
        if method in _NO_THREAD_METHODS:
            out.pop("message_thread_id", None)
            return out
        topic = self.destination.topic_id
        if topic:
            if topic == GENERAL_TOPIC and method != "sendChatAction":
                out.pop("message_thread_id", None)
            else:
                out["message_thread_id"] = _int_or_none(topic) or topic
        elif "message_thread_id" not in out:
            thread = _int_or_none(thread_id)
            if thread is not None:
                out["message_thread_id"] = thread
        return out

    def _migrate(self, new_chat_id: str) -> None:
        self.migrated = True
        observability.count("TelegramChatMigrated")
        relocate = self.destination.relocate
        if relocate is not None:
            moved = relocate(new_chat_id, route_key(new_chat_id, self.destination.topic_id))
            self.chat_id = moved.chat_id
        else:
            self.chat_id = new_chat_id


def _provider_error(exc: api.TelegramApiError) -> ProviderError:
    details = {"method": exc.method, "status": exc.status, "description": exc.description}
    if exc.outcome_unknown:
        return ProviderOutcomeUnknownError(
            f"Telegram did not answer {exc.method} in time: it may or may not have been done.", details=details
        )
    if exc.status == 429:
        retry_ms = int(exc.retry_after_sec or 1) * 1000
        return ProviderError(
            f"Telegram rate limit: retry after {retry_ms // 1000} s.",
            code="PROVIDER_RATE_LIMITED",
            details=details,
            retry_after_ms=retry_ms,
            http_status=429,
        )
    return ProviderError(
        f"Telegram refused {exc.method}: {exc.description}",
        details=details,
        http_status=exc.status or None,
    )


SENDER = TelegramSender()
