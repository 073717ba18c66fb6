"""Telegram Bot API client: one call per method, errors classified (rate limit, migration, refusal)."""

from __future__ import annotations

from typing import Any

from chalicelib.config import get_settings
from chalicelib.errors import ConfigurationError


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


_session: Any = None


def _http() -> Any:
    global _session
    if _session is None:
        import requests

        _session = requests.Session()
    return _session


def _maybe_sent(exc: Exception) -> bool:
    """A read timeout, or a connection dropped after it was made, may come after Telegram acted on the call;
    a refused or timed-out connect never reached it."""
    import requests
    from urllib3.exceptions import ProtocolError

    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ReadTimeout):
        return True
    return isinstance(exc, requests.ConnectionError) and bool(exc.args) and isinstance(exc.args[0], ProtocolError)


def call(method: str, body: dict[str, Any], *, timeout: float = 15.0) -> Any:
    """POST `body` as JSON to `<base>/bot<token>/<method>` and return Telegram's `result`."""
    import requests

    settings = get_settings()
    token = settings.telegram_bot_token
    if not token:
        raise ConfigurationError("TELEGRAM_BOT_TOKEN is not set; Telegram is disabled.")
    url = f"{settings.telegram_api_base_url.rstrip('/')}/bot{token}/{method}"
    try:
        resp = _http().post(url, json=body, timeout=timeout)
    except requests.RequestException as exc:
        # The URL holds the bot token: report the exception type only, never its text.
        raise TelegramApiError(
            method, 0, f"Telegram API unreachable ({type(exc).__name__})", outcome_unknown=_maybe_sent(exc)
        ) from None
    try:
        data = resp.json()
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
