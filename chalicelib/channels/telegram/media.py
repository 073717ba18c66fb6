"""Inbound Telegram media → envelope attachments (file-proxy URL; images inline as base64 up to the cap)."""

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
    try:
        resp = egress.request("GET", url, timeout_s=timeout, max_bytes=max_bytes, guard=False)
    except egress.EgressError:
        return None
    if resp.status_code != 200 or resp.truncated:
        return None
    return resp.content, resp.headers.get("Content-Type")


def attachments(msg: TelegramMessage, settings: Settings) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in msg.media:
        attachment: dict[str, Any] = {
            "type": item["type"],
            "mimeType": item.get("mimeType"),
            "fileName": item.get("fileName"),
            "size": item.get("size"),
            "url": file_url(item["fileId"]),
        }
        cap = settings.inbound_media_max_bytes
        if item["type"] == "image" and cap > 0 and (item.get("size") or 0) <= cap:
            fetched = download(item["fileId"], cap)
            if fetched is None:
                observability.count("MediaInlineSkipped", channel="telegram")
            else:
                attachment["content"] = base64.b64encode(fetched[0]).decode("ascii")
                attachment["size"] = len(fetched[0])
        out.append({k: v for k, v in attachment.items() if v is not None})
    return out
