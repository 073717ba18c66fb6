"""Reading a send's text and media links: the channel's `raw.<channel>.send` first, then the top-level fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chalicelib.errors import InvalidInputError
from chalicelib.models import OutboundRequest


@dataclass(frozen=True)
class RawSend:
    text: str
    media: list[str]
    # The raw send object itself ({} when none), for the fields only one channel reads (e.g. replyTo).
    send: dict[str, Any]


def send_fields(request: OutboundRequest, raw: dict[str, Any], *, channel: str, shape: str,
                media_error: str) -> RawSend:
    """`raw` is the request's `raw.<channel>` object; `shape` and `media_error` are the channel's own wording."""
    send = raw.get("send")
    if send is not None and not isinstance(send, dict):
        raise InvalidInputError(f"raw.{channel}.send must be an object {shape}.",
                                details={"fields": [f"raw.{channel}.send"]})
    send = send or {}
    text = send["text"] if isinstance(send.get("text"), str) else (request.text or "")
    if "mediaUrl" in send or "mediaUrls" in send:
        listed = send.get("mediaUrls")
        candidates = [send.get("mediaUrl"), *(listed if isinstance(listed, list) else [])]
    else:
        candidates = [request.mediaUrl, *(request.mediaUrls or [])]
    urls: list[str] = []
    for url in candidates:
        if isinstance(url, str) and url.strip() and url.strip() not in urls:
            urls.append(url.strip())
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInputError(media_error, details={"fields": ["mediaUrl"]})
    return RawSend(text, urls, send)
