"""Inbound Telegram media → envelope attachments: the file-proxy URL, and the bytes inline as base64.

Every kind (photo, document, audio, voice, video, video note, animation, sticker) is inlined up to
MUX_INBOUND_MEDIA_MAX_BYTES, because OpenClaw's handler drops attachments without `content`. The cap is
also held to OpenClaw's own 5,000,000-byte limit per attachment: above it (and for an empty file) its
handler throws away the whole turn after answering 202, so such a file goes as a URL only.
"""

from __future__ import annotations

import base64
from typing import Any

from chalicelib import observability
from chalicelib.channels.telegram import api
from chalicelib.channels.telegram.inbound import TelegramMessage
from chalicelib.config import Settings, get_settings


def file_url(file_id: str) -> str:
    from urllib.parse import quote

    return f"{get_settings().base_url}/v1/mux/files/telegram?id={quote(file_id, safe='')}"


def download(file_id: str, max_bytes: int, *, timeout: float = 15.0) -> tuple[bytes, str | None] | None:
    """The file's bytes via getFile + the file endpoint, or None if unavailable or over `max_bytes`.

    `timeout` bounds each of the two exchanges; at most `max_bytes` + 1 bytes are ever read."""
    from chalicelib import egress

    settings = get_settings()
    try:
        info = api.call("getFile", {"file_id": file_id}, timeout=timeout)
    except api.TelegramApiError:
        return None
    path = info.get("file_path") if isinstance(info, dict) else None
    size = info.get("file_size") if isinstance(info, dict) else None
    if not path or (isinstance(size, int) and size > max_bytes):
        return None
    url = f"{settings.telegram_api_base_url.rstrip('/')}/file/bot{settings.require('telegram_bot_token')}/{path}"
    return egress.fetch(url, timeout_s=timeout, max_bytes=max_bytes, guard=False)


# OpenClaw 022 (src/gateway/chat-attachments.ts): decoded bytes per attachment, 0 < size ≤ this.
OPENCLAW_ATTACHMENT_MAX_BYTES = 5_000_000


def attachments(msg: TelegramMessage, settings: Settings) -> list[dict[str, Any]]:
    """One attachment per media item, in order (the envelope's body relies on that)."""
    out: list[dict[str, Any]] = []
    cap = min(settings.inbound_media_max_bytes, OPENCLAW_ATTACHMENT_MAX_BYTES)
    for item in msg.media:
        attachment: dict[str, Any] = {
            "type": item["type"],
            "mimeType": item.get("mimeType"),
            "fileName": item.get("fileName"),
            "size": item.get("size"),
            "url": file_url(item["fileId"]),
        }
        source = _inline_source(msg, item, cap)
        if source is not None:
            fetched = download(source, cap)
            if fetched is None or not fetched[0]:
                observability.count("MediaInlineSkipped", channel="telegram", reason="unavailable")
            else:
                attachment["content"] = base64.b64encode(fetched[0]).decode("ascii")
                attachment["size"] = len(fetched[0])
        else:
            observability.count("MediaInlineSkipped", channel="telegram", reason="over_cap")
        out.append({k: v for k, v in attachment.items() if v is not None})
    return out


def _inline_source(msg: TelegramMessage, item: dict[str, Any], cap: int) -> str | None:
    """The file to inline: the item itself when it fits the cap; for a photo over it, the largest of the
    smaller sizes Telegram keeps that fits (the `url` still points at the full size)."""
    if cap <= 0:
        return None
    if (item.get("size") or 0) <= cap:
        return str(item["fileId"])
    if item.get("kind") == "photo":
        sizes = [p for p in msg.message.get("photo") or [] if isinstance(p, dict)]
        fitting = [p for p in sizes if isinstance(p.get("file_size"), int) and 0 < p["file_size"] <= cap]
        if fitting:
            return str(max(fitting, key=lambda p: int(p["file_size"]))["file_id"])
    return None
