"""WhatsApp Cloud API client: message sends from a business number, media lookups and downloads, Graph errors parsed.

Every call goes through chalicelib.egress (hard deadline, bounded answer); the access token travels only in the
Authorization header, never in a URL, and no error message holds it. A media download sends the token to the
URL Meta's media lookup named (Meta requires the bearer there too), and only there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from chalicelib.config import get_settings

# Graph answers to a send or a media lookup are a few hundred bytes; anything larger is refused.
MAX_ANSWER_BYTES = 1_048_576


class WhatsAppApiError(Exception):
    """The Graph API answered an error (`code` is Meta's error code, 0 when none), or could not be reached
    (`status` 0; `outcome_unknown` when the request had been sent: the message may be out)."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        details: str | None = None,
        trace_id: str | None = None,
        retry_after_sec: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(f"{status} #{code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.trace_id = trace_id
        self.retry_after_sec = retry_after_sec
        self.outcome_unknown = outcome_unknown


@dataclass(frozen=True)
class Media:
    """Meta's answer to `GET /<media-id>`: where the bytes are (a short-lived URL) and what they are."""

    media_id: str
    url: str
    mime_type: str | None
    size: int | None


def _token() -> str:
    return get_settings().require("whatsapp_access_token")


def _base() -> str:
    return get_settings().whatsapp_api_base_url.rstrip("/")


def _exchange(method: str, url: str, *, body: dict[str, Any] | None, timeout: float) -> Any:
    from chalicelib import egress

    headers = {"Authorization": f"Bearer {_token()}"}
    payload = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    try:
        resp = egress.request(method, url, headers=headers, body=payload, timeout_s=timeout,
                              max_bytes=MAX_ANSWER_BYTES, guard=False)
    except egress.EgressError as exc:
        raise WhatsAppApiError(0, 0, f"WhatsApp Cloud API unreachable: {exc}", outcome_unknown=exc.sent) from None
    try:
        data = json.loads(resp.content) if not resp.truncated else None
    except ValueError:
        data = None
    if resp.status_code // 100 == 2 and isinstance(data, dict):
        return data
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        raise WhatsAppApiError(resp.status_code, 0, f"unexpected answer (HTTP {resp.status_code})")
    code = error.get("code")
    error_data = error.get("error_data")
    details = error_data.get("details") if isinstance(error_data, dict) else None
    raise WhatsAppApiError(
        resp.status_code,
        code if isinstance(code, int) and not isinstance(code, bool) else 0,
        str(error.get("message") or f"HTTP {resp.status_code}"),
        details=str(details) if details else None,
        trace_id=str(error["fbtrace_id"]) if error.get("fbtrace_id") else None,
        retry_after_sec=_retry_after(resp.headers.get("Retry-After")),
    )


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds <= 86_400 else None


def post_message(phone_number_id: str, body: dict[str, Any], *, timeout: float = 15.0) -> dict[str, Any]:
    """`POST /<phone-number-id>/messages`: a send, or a read receipt with a typing indicator."""
    url = f"{_base()}/{quote(phone_number_id, safe='')}/messages"
    answer: dict[str, Any] = _exchange("POST", url, body=body, timeout=timeout)
    return answer


def media_info(media_id: str, *, timeout: float = 10.0) -> Media:
    """`GET /<media-id>`: the download URL (valid for minutes), MIME type and size."""
    data = _exchange("GET", f"{_base()}/{quote(media_id, safe='')}", body=None, timeout=timeout)
    url = data.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise WhatsAppApiError(200, 0, "media lookup answered without a download URL")
    size = data.get("file_size")
    try:
        size_value = int(size) if size is not None else None
    except (TypeError, ValueError):
        size_value = None
    mime = data.get("mime_type")
    return Media(media_id, url, mime if isinstance(mime, str) else None, size_value)


def download(media_id: str, max_bytes: int, *, timeout: float = 12.0) -> tuple[bytes, str | None] | None:
    """The media's bytes and type (lookup + download, each bounded by `timeout`), or None when Meta does not
    provide them (unknown or expired id, an error) or they exceed `max_bytes` (at most max_bytes + 1 are read)."""
    from chalicelib import egress

    try:
        media = media_info(media_id, timeout=timeout)
    except WhatsAppApiError:
        return None
    if media.size is not None and media.size > max_bytes:
        return None
    got = egress.fetch(media.url, headers={"Authorization": f"Bearer {_token()}"}, timeout_s=timeout,
                       max_bytes=max_bytes, guard=False)
    return None if got is None else (got[0], media.mime_type or got[1])


_display_numbers: dict[str, str] = {}
_display_misses: dict[str, float] = {}  # phone number id → monotonic time of a failed lookup
_MISS_RETRY_SEC = 60.0  # while Meta cannot say, token requests do not each wait for it


def display_number(phone_number_id: str, *, timeout: float = 3.0) -> str | None:
    """`+<digits>` of the business number `phone_number_id` (`GET /<id>?fields=display_phone_number`), cached
    per process (it changes only when Meta re-registers the number); None when Meta does not say (an
    unreachable Graph API is not asked again for a minute)."""
    import time

    if phone_number_id in _display_numbers:
        return _display_numbers[phone_number_id]
    missed = _display_misses.get(phone_number_id)
    if missed is not None and time.monotonic() - missed < _MISS_RETRY_SEC:
        return None
    try:
        data = _exchange("GET", f"{_base()}/{quote(phone_number_id, safe='')}?fields=display_phone_number",
                         body=None, timeout=timeout)
    except WhatsAppApiError as exc:
        if exc.status == 0:  # unreachable or timed out: what costs each token request its wait
            _display_misses[phone_number_id] = time.monotonic()
        return None
    digits = "".join(ch for ch in str(data.get("display_phone_number") or "") if ch.isdigit())
    if not 6 <= len(digits) <= 15:  # E.164 allows at most 15 digits
        return None
    _display_numbers[phone_number_id] = f"+{digits}"
    return _display_numbers[phone_number_id]
