"""What a human recognises a Telegram chat by (title, type, topic name, user name), read from a raw message."""

from __future__ import annotations

from typing import Any

MAX_CHARS = 256  # Telegram caps titles at 128 and names at 64; a longer value is not Telegram's


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:MAX_CHARS]


def _person(obj: Any) -> tuple[str | None, str | None]:
    """(full name, handle without '@') of a Telegram user or private chat object."""
    if not isinstance(obj, dict):
        return None, None
    parts = [p for p in (_text(obj.get("first_name")), _text(obj.get("last_name"))) if p]
    return (" ".join(parts) or None), _text(obj.get("username"))


def _topic_name(message: dict[str, Any]) -> str | None:
    """The forum topic's name where the message says it: a topic creation/rename service message, or the
    topic's creation message that Telegram attaches as `reply_to_message` to messages in a topic."""
    for key in ("forum_topic_edited", "forum_topic_created"):
        name = _text((message.get(key) or {}).get("name")) if isinstance(message.get(key), dict) else None
        if name:
            return name
    reply = message.get("reply_to_message")
    if isinstance(reply, dict) and isinstance(reply.get("forum_topic_created"), dict):
        if reply.get("message_id") == message.get("message_thread_id"):
            return _text(reply["forum_topic_created"].get("name"))
    return None


def fields(message: dict[str, Any], *, topic_id: str | None, claim: bool) -> dict[str, str]:
    """Display fields found in `message` (absent ones are left out, so a refresh never erases a name).

    The user of a private chat is the chat itself; in a group the user is the one who paired it, so it is
    taken at the claim only (`claim`), not from whoever spoke last.
    """
    raw_chat = message.get("chat")
    chat: dict[str, Any] = raw_chat if isinstance(raw_chat, dict) else {}
    out: dict[str, str] = {}
    chat_type = _text(chat.get("type"))
    if chat_type:
        out["chatType"] = chat_type
    title = _text(chat.get("title"))
    if title:
        out["chatTitle"] = title
    if chat_type == "private":
        name, handle = _person(chat)
    elif claim:
        name, handle = _person(message.get("from"))
    else:
        name, handle = None, None
    if name:
        out["userName"] = name
    if handle:
        out["userHandle"] = handle
    if topic_id is not None:
        topic = "General" if topic_id == "1" else _topic_name(message)
        if topic:
            out["topicName"] = topic
    return out
