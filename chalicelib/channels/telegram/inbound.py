"""Telegram updates → the mux's view of a message: routes, session keys, text, media, OpenClaw envelope.

Forum supergroups: a message belongs to topic `message_thread_id` when `is_topic_message` is set, else to
the General topic (id 1). In ordinary groups `message_thread_id` marks a reply thread and is ignored for
routing. Private chats with topics (Bot API 9.x) keep one route per chat and get a session key per thread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

HANDLED_UPDATES = ("message", "edited_message", "callback_query")
GENERAL_TOPIC = "1"
_MEDIA_KINDS = (
    ("photo", "image"),
    ("document", "document"),
    ("audio", "audio"),
    ("video", "video"),
    ("voice", "voice"),
    ("video_note", "video"),
    ("animation", "video"),
    ("sticker", "sticker"),
)
_COMMAND = re.compile(r"^[/!](?P<name>[A-Za-z0-9_]+)(?:@(?P<bot>[A-Za-z0-9_]+))?(?:\s+(?P<args>.*))?$", re.S)


def route_key(chat_id: str, topic_id: str | None = None) -> str:
    """CONTRACT §4 route key of a Telegram chat, or of one forum topic of it."""
    base = f"telegram:default:chat:{chat_id}"
    return f"{base}:topic:{topic_id}" if topic_id is not None else base


@dataclass
class TelegramMessage:
    """One inbound Telegram event reduced to what routing, pairing and forwarding need."""

    update_id: int
    kind: str  # "message" | "callback"
    update: dict[str, Any]
    message: dict[str, Any]
    chat_id: str
    chat_type: str  # private | group | supergroup | channel
    is_forum: bool
    topic_id: str | None  # forum topic (General = "1"), None outside forums
    private_thread_id: str | None
    user_id: str | None
    text: str  # text, caption, or callback data, exactly as sent
    message_id: str
    timestamp_ms: int
    media: list[dict[str, Any]] = field(default_factory=list)
    callback: dict[str, Any] | None = None

    @property
    def event_id(self) -> str:
        return f"{'tgcb' if self.kind == 'callback' else 'tg'}:{self.update_id}"

    @property
    def is_private(self) -> bool:
        return self.chat_type == "private"

    @property
    def chat_route(self) -> str:
        return route_key(self.chat_id)

    @property
    def route_key(self) -> str:
        """The most specific route of this message."""
        return route_key(self.chat_id, self.topic_id)

    def route_candidates(self) -> list[str]:
        """Binding lookup order: the topic route before its chat route."""
        return [self.route_key] if self.route_key == self.chat_route else [self.route_key, self.chat_route]

    @property
    def scope(self) -> str:
        return "topic" if self.topic_id is not None else "chat"

    @property
    def thread_id(self) -> str | None:
        return self.topic_id if self.topic_id is not None else self.private_thread_id

    def session_key(self, agent_id: str | None = None) -> str:
        """CONTRACT §5 session key for this message's route (and private thread)."""
        agent = agent_id or "main"
        if self.is_private:
            key = f"agent:{agent}:telegram:direct:{self.chat_id}"
            return key + (f":thread:{self.private_thread_id}" if self.private_thread_id else "")
        key = f"agent:{agent}:telegram:group:{self.chat_id}"
        return key + (f":topic:{self.topic_id}" if self.topic_id is not None else "")


@dataclass
class Command:
    name: str  # lower-case, without prefix
    bot: str | None
    args: str


def update_kind(update: dict[str, Any]) -> str | None:
    for key in HANDLED_UPDATES:
        if isinstance(update.get(key), dict):
            return key
    return None


def parse(update: dict[str, Any]) -> TelegramMessage | None:
    """Parse a handled update; None for updates the mux ignores (or that carry no chat)."""
    kind = update_kind(update)
    if kind is None:
        return None
    callback: dict[str, Any] | None = None
    if kind == "callback_query":
        callback = update["callback_query"]
        message = callback.get("message") or {}
        user = callback.get("from") or {}
        text = str(callback.get("data") or "")
    else:
        message = update[kind]
        user = message.get("from") or {}
        text = message.get("text") if message.get("text") is not None else message.get("caption")
        text = str(text or "")
    chat = message.get("chat")
    if not isinstance(chat, dict) or "id" not in chat:
        return None
    chat_type = str(chat.get("type", "private"))
    is_forum = bool(chat.get("is_forum"))
    thread = message.get("message_thread_id")
    topic_id: str | None = None
    private_thread: str | None = None
    if is_forum:
        topic_id = str(thread) if message.get("is_topic_message") and thread else GENERAL_TOPIC
    elif chat_type == "private" and thread:
        private_thread = str(thread)
    date = message.get("edit_date") if kind == "edited_message" else message.get("date")
    return TelegramMessage(
        update_id=int(update.get("update_id", 0)),
        kind="callback" if callback is not None else "message",
        update=update,
        message=message,
        chat_id=str(chat["id"]),
        chat_type=chat_type,
        is_forum=is_forum,
        topic_id=topic_id,
        private_thread_id=private_thread,
        user_id=str(user["id"]) if "id" in user else None,
        text=text,
        message_id=str(message.get("message_id", "")),
        timestamp_ms=int(date or 0) * 1000,
        media=_media(message) if callback is None else [],
        callback=callback,
    )


def _media(message: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key, kind in _MEDIA_KINDS:
        value = message.get(key)
        if not value:
            continue
        item = value[-1] if isinstance(value, list) else value  # photos: the largest size comes last
        if not isinstance(item, dict) or "file_id" not in item:
            continue
        out.append(
            {
                "type": kind,
                "fileId": item["file_id"],
                "fileUniqueId": item.get("file_unique_id"),
                "fileName": item.get("file_name"),
                "mimeType": item.get("mime_type") or ("image/jpeg" if key == "photo" else None),
                "size": item.get("file_size"),
                "width": item.get("width"),
                "height": item.get("height"),
                "duration": item.get("duration"),
            }
        )
    return out


def command(text: str) -> Command | None:
    """A `/name[@bot] args` or `!name args` command at the start of the text."""
    match = _COMMAND.match(text.strip())
    if not match:
        return None
    return Command(match["name"].lower(), match["bot"], (match["args"] or "").strip())


def addressed_to_other_bot(cmd: Command, bot_username: str | None) -> bool:
    return bool(cmd.bot and bot_username and cmd.bot.lower() != bot_username.lower())


_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])(mpt_[A-Za-z0-9_-]{32})(?![A-Za-z0-9_-])")


def find_token(text: str) -> str | None:
    """A pairing token in `/start <token>`, `/start@Bot <token>`, `/bot_switch <token>` or anywhere."""
    match = _TOKEN.search(text)
    return match.group(1) if match else None


def envelope(
    msg: TelegramMessage,
    *,
    session_key: str,
    account_id: str,
    route_key: str,
    attachments: list[dict[str, Any]],
) -> dict[str, Any]:
    """The CONTRACT §8 envelope; `body` is the text/caption exactly as sent."""
    telegram: dict[str, Any] = {"media": msg.media, "rawMessage": msg.message, "updateId": msg.update_id}
    if msg.callback is not None:
        telegram.update(
            callbackData=msg.text,
            callbackQueryId=str(msg.callback.get("id", "")),
            callbackMessageId=msg.message.get("message_id"),
        )
    channel_data: dict[str, Any] = {
        "accountId": account_id,
        "messageId": msg.message_id,
        "chatId": msg.chat_id,
        "routeKey": route_key,
        "telegram": telegram,
    }
    if msg.topic_id is not None:
        channel_data["topicId"] = msg.topic_id
    out: dict[str, Any] = {
        "eventId": msg.event_id,
        "channel": "telegram",
        "event": {"kind": msg.kind, "raw": msg.update},
        "raw": msg.update,
        "sessionKey": session_key,
        "accountId": account_id,
        "body": msg.text,
        "from": f"telegram:{msg.user_id}" if msg.user_id else f"telegram:{msg.chat_id}",
        "to": f"telegram:{msg.chat_id}",
        "chatType": "direct" if msg.is_private else "group",
        "messageId": msg.message_id,
        "timestampMs": msg.timestamp_ms,
        "channelData": channel_data,
    }
    thread = msg.thread_id
    if thread is not None:
        out["threadId"] = int(thread)
    if attachments:
        out["attachments"] = attachments
    return out
