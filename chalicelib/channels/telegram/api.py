"""Telegram Bot API client: one call per method, errors classified (rate limit, migration, refusal)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.config import get_settings
from chalicelib.errors import ConfigurationError

# Bot API answers are small JSON documents (a Message, a ChatMember, a File); anything larger is refused.
MAX_ANSWER_BYTES = 1_048_576


class TelegramApiError(Exception):
    """Telegram answered ok:false or a non-2xx status, or could not be reached (`status` 0)."""

    def __init__(
        self,
        method: str,
        status: int,
        description: str,
        *,
        retry_after_sec: int | None = None,
        migrate_to_chat_id: int | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(f"{method}: {status} {description}")
        self.method = method
        self.status = status
        self.description = description
        self.retry_after_sec = retry_after_sec
        self.migrate_to_chat_id = migrate_to_chat_id
        self.outcome_unknown = outcome_unknown  # the request was sent and no answer came: it may have worked


def call(method: str, body: dict[str, Any], *, timeout: float = 15.0) -> Any:
    """POST `body` as JSON to `<base>/bot<token>/<method>` and return Telegram's `result`.

    `timeout` bounds the whole exchange (chalicelib.egress)."""
    from chalicelib import egress

    settings = get_settings()
    token = settings.telegram_bot_token
    if not token:
        raise ConfigurationError("TELEGRAM_BOT_TOKEN is not set; Telegram is disabled.")
    url = f"{settings.telegram_api_base_url.rstrip('/')}/bot{token}/{method}"
    payload = json.dumps(body, separators=(",", ":")).encode("ascii")
    try:
        resp = egress.request("POST", url, headers={"Content-Type": "application/json"}, body=payload,
                              timeout_s=timeout, max_bytes=MAX_ANSWER_BYTES, guard=False)
    except egress.EgressError as exc:
        # egress messages never hold the URL (it carries the bot token).
        raise TelegramApiError(method, 0, f"Telegram API unreachable: {exc}", outcome_unknown=exc.sent) from None
    if resp.truncated:
        raise TelegramApiError(method, resp.status_code, f"answer larger than {MAX_ANSWER_BYTES} bytes")
    try:
        data = json.loads(resp.content)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise TelegramApiError(method, resp.status_code, f"non-JSON answer (HTTP {resp.status_code})")
    if resp.status_code // 100 != 2 or not data.get("ok"):
        params = data.get("parameters") or {}
        raise TelegramApiError(
            method,
            int(data.get("error_code") or resp.status_code),
            str(data.get("description") or f"HTTP {resp.status_code}"),
            retry_after_sec=params.get("retry_after"),
            migrate_to_chat_id=params.get("migrate_to_chat_id"),
        )
    return data.get("result")
