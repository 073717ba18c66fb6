"""User-facing notices to a Telegram chat (pairing results, hints, command answers) and admin checks.

Notices are best effort: a failed notice is logged and counted, never retried, because retrying the whole
event would repeat its side effects (a consumed token would then answer "invalid").
"""

from __future__ import annotations

from typing import Any

from chalicelib import observability
from chalicelib.channels.telegram import api
from chalicelib.channels.telegram.inbound import GENERAL_TOPIC, TelegramMessage

ADMIN_STATUSES = {"creator", "administrator"}


def _thread(msg: TelegramMessage) -> int | None:
    if msg.topic_id is not None and msg.topic_id != GENERAL_TOPIC:
        return int(msg.topic_id)
    if msg.private_thread_id is not None:
        return int(msg.private_thread_id)
    return None


def send(msg: TelegramMessage, text: str) -> bool:
    body: dict[str, Any] = {"chat_id": int(msg.chat_id), "text": text}
    thread = _thread(msg)
    if thread is not None:
        body["message_thread_id"] = thread
    try:
        api.call("sendMessage", body)
    except api.TelegramApiError as exc:
        observability.count("NoticeFailures", channel="telegram")
        observability.logger().warning("notice not delivered", extra={"status": exc.status})
        return False
    return True


def answer_callback(msg: TelegramMessage) -> None:
    if msg.callback is None or not msg.callback.get("id"):
        return
    try:
        api.call("answerCallbackQuery", {"callback_query_id": str(msg.callback["id"])})
    except api.TelegramApiError as exc:
        observability.logger().info("callback answer failed", extra={"status": exc.status})


def is_chat_admin(msg: TelegramMessage) -> bool:
    """Ask Telegram whether the sender administers the chat (False when it cannot tell)."""
    if msg.user_id is None:
        return False
    try:
        member = api.call("getChatMember", {"chat_id": int(msg.chat_id), "user_id": int(msg.user_id)})
    except api.TelegramApiError as exc:
        observability.logger().warning("getChatMember failed", extra={"status": exc.status})
        return False
    return isinstance(member, dict) and member.get("status") in ADMIN_STATUSES
