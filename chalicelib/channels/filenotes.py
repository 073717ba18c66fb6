"""An envelope's body for a message without text: the one-line notes naming files the agent would not see."""

from __future__ import annotations

from typing import Any


def describe_file(item: dict[str, Any]) -> str:
    """One line naming a file that was sent: kind, emoji (a sticker's), file name, size."""
    parts = [str(p) for p in (item.get("emoji"), item.get("fileName")) if p]
    size = item.get("size")
    if isinstance(size, int) and size > 0:
        parts.append(_human_size(size))
    return f"[{item.get('kind') or item.get('type')}{': ' + ', '.join(parts) if parts else ''}]"


def _human_size(size: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def body(text: str, summary: str | None, attachments: list[dict[str, Any]]) -> str:
    """The text as sent; else the message's own one-line summary; else notes for the files the agent won't see."""
    if text.strip():
        return text
    if summary is not None:
        return summary
    # OpenClaw passes the agent only images (by MIME type) among the attachments: a text-less file of any other
    # kind (or one over the inline cap) would be an empty turn, so the body names what was sent.
    unseen = [a for a in attachments if not a.get("content") or not str(a.get("mimeType") or "").startswith("image/")]
    if unseen:
        return " ".join(describe_file(m) for m in unseen)
    return text
