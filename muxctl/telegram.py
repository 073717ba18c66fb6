"""Telegram for operators: realistic simulated Updates (shapes as Telegram sends them) and the three
Bot API webhook calls. The bot token is never printed: errors name the method, never the URL."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import requests

from muxctl.client import MuxClient, api_error, describe_connection_error, origin, require_http_url
from muxctl.errors import AuthError, CliError, UnreachableError

DEFAULT_API_BASE = "https://api.telegram.org"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
WEBHOOK_PATH = "/v1/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
GENERAL_TOPIC = 1
TOPIC_CREATOR = {
    "id": 1_000_000_001, "is_bot": False, "first_name": "Topic", "last_name": "Creator",
    "username": "topic_creator", "language_code": "en",
}


_last_update_id = 0
_update_id_lock = threading.Lock()


def unique_update_id() -> int:
    """Microseconds since the epoch, strictly increasing within the process (two calls in the same
    microsecond would otherwise collide, and the mux dedupes by update id); below 2**53."""
    global _last_update_id
    with _update_id_lock:
        _last_update_id = max(_last_update_id + 1, time.time_ns() // 1000)
        return _last_update_id


def group_chat_id(chat_id: int) -> int:
    """Supergroup ids are negative with a -100 prefix; a positive id given for a group is converted."""
    if chat_id < 0:
        return chat_id
    return -(10**12 + chat_id)


def build_update(
    text: str,
    *,
    chat_id: int,
    user_id: int | None = None,
    topic: int | None = None,
    group: bool = False,
    update_id: int | None = None,
    message_id: int | None = None,
    first_name: str = "Muxctl",
    last_name: str | None = "Test",
    username: str | None = "muxctl_user",
    edited: bool = False,
    date: int | None = None,
) -> dict[str, Any]:
    """A Telegram `Update` with one text message, as in tests/fixtures/telegram (private_text.json,
    group_text.json, forum_topic_text.json)."""
    now = int(time.time()) if date is None else date
    update_id = unique_update_id() if update_id is None else update_id
    if message_id is None:
        message_id = (update_id % 2_000_000_000) or 1
    is_group = group or topic is not None
    chat_id = group_chat_id(chat_id) if is_group else chat_id
    sender_id = user_id if user_id is not None else (chat_id if not is_group else 6_234_567_890)
    sender: dict[str, Any] = {"id": sender_id, "is_bot": False, "first_name": first_name}
    if last_name:
        sender["last_name"] = last_name
    if username:
        sender["username"] = username
    sender["language_code"] = "en"
    chat: dict[str, Any]
    if not is_group:
        chat = {"id": chat_id, "first_name": first_name}
        if last_name:
            chat["last_name"] = last_name
        if username:
            chat["username"] = username
        chat["type"] = "private"
    else:
        chat = {"id": chat_id, "title": "Muxctl Test Group"}
        if topic is not None:
            chat["is_forum"] = True
        chat["type"] = "supergroup"
    message: dict[str, Any] = {"message_id": message_id, "from": sender, "chat": chat, "date": now}
    if topic is not None and topic != GENERAL_TOPIC:
        # Messages in a forum topic carry the thread id and reply to the topic's creation message;
        # the General topic (id 1) sends neither.
        message["message_thread_id"] = topic
        message["reply_to_message"] = {
            "message_id": topic,
            "from": TOPIC_CREATOR,
            "chat": dict(chat),
            "date": now - 86_400,
            "message_thread_id": topic,
            "forum_topic_created": {"name": f"Topic {topic}", "icon_color": 7322096},
            "is_topic_message": True,
        }
    if edited:
        message["edit_date"] = now
    message["text"] = text
    if text.startswith("/"):
        command = text.split(maxsplit=1)[0] if text.strip() else text
        message["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
    if topic is not None and topic != GENERAL_TOPIC:
        message["is_topic_message"] = True
    return {"update_id": update_id, ("edited_message" if edited else "message"): message}


def bot_api(
    api_base: str,
    bot_token: str,
    method: str,
    body: dict[str, Any] | None = None,
    *,
    timeout: float = 15.0,
) -> Any:
    """Call a Bot API method and return `result`; failures become CLI errors without the token."""
    api_base = require_http_url(api_base, "--api-base/MUX_TELEGRAM_API_BASE_URL")
    url = f"{api_base.rstrip('/')}/bot{bot_token}/{method}"
    try:
        resp = requests.post(url, json=body or {}, timeout=timeout)
    except requests.RequestException as exc:
        raise UnreachableError(
            f"cannot reach the Telegram Bot API at {origin(api_base)} ({describe_connection_error(exc)})"
        ) from None
    try:
        data = resp.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise CliError(f"Telegram {method}: non-JSON answer (HTTP {resp.status_code})", status=resp.status_code)
    if resp.status_code // 100 != 2 or not data.get("ok"):
        code = int(data.get("error_code") or resp.status_code)
        description = str(data.get("description") or f"HTTP {resp.status_code}")
        error_cls = AuthError if code in (401, 403, 404) and method != "getChatMember" else CliError
        hint = " (check the bot token)" if code in (401, 404) else ""
        raise error_cls(f"Telegram {method} failed: {code} {description}{hint}", status=code)
    return data.get("result")


def post_update(client: MuxClient, update: dict[str, Any], secret: str) -> tuple[int, dict[str, Any]]:
    """POST an Update to the mux the way Telegram does (raw JSON + the secret header)."""
    raw = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    reply = client.request(
        "POST", WEBHOOK_PATH, data=raw, headers={"Content-Type": "application/json", SECRET_HEADER: secret}
    )
    if not reply.ok:
        raise api_error(reply, "webhook POST")
    return reply.status, reply.body
