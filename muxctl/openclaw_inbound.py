"""OpenClaw's inbound mux handler rules (src/gateway/mux-http.ts at 022295a), for the local stand-ins.

What a forward must satisfy to reach the agent, in the handler's order:
* `Authorization: Bearer <gateway.http.endpoints.mux.token>` → else 401 `{"ok":false,"error":"unauthorized"}`;
  the endpoint switched off → 404 `{"ok":false,"error":"not enabled"}`; not POST → 405;
* a body over 10 MiB → 413; unparsable JSON → 400; a non-object JSON value counts as `{}`;
* `channel` (a known channel id), `sessionKey`, `to`: non-blank strings → else 400 "<field> required";
* a non-blank `body`, or an attachment with a non-empty string `content` (attachments without it are
  dropped), or a Telegram callback (`event.kind == "callback"`, `channelData.telegram.callbackData`,
  a positive `callbackMessageId`) → else 400 "body or attachment required"; then 202.
After the 202 (what the agent gets — `Verdict.turn`, None when nothing reaches it):
* attachments are parsed as images: one whose content is not base64, decodes to 0 bytes or more than
  5,000,000 bytes drops the **whole turn**; non-image attachments are dropped from it;
* a turn whose (channel, accountId, sessionKey, to, threadId, messageId) was seen in the last 20 minutes
  is dropped as a duplicate (messageId falls back to eventId; a non-string messageId gets a fresh id).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_BODY_BYTES = 10 * 1024 * 1024
IMAGE_MAX_BYTES = 5_000_000
DEDUPE_TTL_MS = 20 * 60_000
DEDUPE_MAX = 5000
CHANNELS = {"telegram", "discord", "whatsapp", "slack", "signal", "imessage", "googlechat", "msteams"}
_BASE64 = re.compile(r"^[A-Za-z0-9+/=]*$")
_DATA_URL = re.compile(r"^data:[^;]+;base64,(.*)$", re.S)
_IMAGE_MAGIC = ((b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))


@dataclass
class Verdict:
    """The handler's answer, and what the agent receives (None: refused, dropped or a duplicate)."""

    status: int
    answer: dict[str, Any]
    turn: dict[str, Any] | None = None
    note: str = ""  # "delivered" | "duplicate" | "dropped: …" | the error


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and value > 0:
        return int(value)
    if isinstance(value, str) and value.strip():
        digits = re.match(r"^\s*[+-]?\d+", value)
        if digits and int(digits.group(0)) > 0:
            return int(digits.group(0))
    return None


def _thread_id(thread: Any, channel_data: dict[str, Any]) -> str:
    if isinstance(thread, int | float) and not isinstance(thread, bool):
        return str(int(thread))
    if isinstance(thread, str) and thread.strip():
        return thread.strip()
    topic = channel_data.get("topicId")
    if isinstance(topic, int | float) and not isinstance(topic, bool):
        return str(int(topic))
    raw = channel_data.get("threadId")
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return str(int(raw))
    return raw.strip() if isinstance(raw, str) and raw.strip() else ""


def _sniff(data: bytes) -> str | None:
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class InboundHandler:
    """Apply the rules; thread-safe. `token=None` accepts any non-empty bearer (the mux must send one)."""

    def __init__(
        self,
        token: str | None = None,
        *,
        enabled: bool = True,
        clock_ms: Callable[[], float] = lambda: time.time() * 1000,
    ) -> None:
        self.token = token
        self.enabled = enabled
        self.clock_ms = clock_ms
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def handle(self, method: str, headers: dict[str, str], raw: bytes) -> Verdict:
        lower = {k.lower(): v for k, v in headers.items()}
        if not self.enabled:
            return Verdict(404, {"ok": False, "error": "not enabled"}, note="not enabled")
        if method.upper() != "POST":
            return Verdict(405, {"ok": False, "error": "Method Not Allowed"}, note="method")
        match = re.match(r"^Bearer\s+(.+)$", lower.get("authorization", "").strip(), re.I | re.S)
        given = match.group(1).strip() if match else ""
        if not given or (self.token is not None and not hmac.compare_digest(given.encode(), self.token.encode())):
            return Verdict(401, {"ok": False, "error": "unauthorized"}, note="unauthorized")
        if len(raw) > MAX_BODY_BYTES:
            return Verdict(413, {"ok": False, "error": "payload too large"}, note="payload too large")
        text = raw.decode("utf-8", "replace").strip()
        try:
            value = json.loads(text) if text else {}
        except ValueError as exc:
            return Verdict(400, {"ok": False, "error": f"SyntaxError: {exc}"}, note="invalid JSON")
        return self._payload(value if isinstance(value, dict) else {})

    def _payload(self, payload: dict[str, Any]) -> Verdict:
        channel = (_text(payload.get("channel")) or "").lower()
        session_key = _text(payload.get("sessionKey"))
        to = _text(payload.get("to"))
        mid = payload.get("messageId")
        message_id = _text(mid if mid is not None else payload.get("eventId")) or f"mux:{int(self.clock_ms())}"
        body = payload.get("body") if isinstance(payload.get("body"), str) else ""
        attachments = [
            a for a in payload.get("attachments") or [] if isinstance(payload.get("attachments"), list)
            and isinstance(a, dict) and isinstance(a.get("content"), str) and a["content"]
        ]
        channel_data = payload.get("channelData") if isinstance(payload.get("channelData"), dict) else {}
        assert isinstance(channel_data, dict)
        for name, present in (("channel", channel in CHANNELS), ("sessionKey", session_key), ("to", to)):
            if not present:
                return Verdict(400, {"ok": False, "error": f"{name} required"}, note=f"{name} required")
        callback = channel == "telegram" and self._is_callback(payload, channel_data, to or "")
        assert isinstance(body, str)
        if not body.strip() and not attachments and not callback:
            error = "body or attachment required"
            return Verdict(400, {"ok": False, "error": error}, note=error)
        answer = {"ok": True, "eventId": _text(payload.get("eventId")) or message_id}
        if callback:
            data = str(channel_data["telegram"]["callbackData"])
            body = data  # what a plain callback button turns into (no command/pagination matched)
        images: list[dict[str, Any]] = []
        for index, attachment in enumerate(attachments):
            label = attachment.get("fileName") or attachment.get("type") or f"attachment-{index + 1}"
            b64 = str(attachment["content"]).strip()
            data_url = _DATA_URL.match(b64)
            if data_url:
                b64 = data_url.group(1)
            if len(b64) % 4 or not _BASE64.match(b64):
                return Verdict(202, answer, note=f"dropped: attachment {label}: invalid base64 content")
            try:
                decoded = base64.b64decode(b64)
            except (binascii.Error, ValueError):
                return Verdict(202, answer, note=f"dropped: attachment {label}: invalid base64 content")
            if not 0 < len(decoded) <= IMAGE_MAX_BYTES:
                return Verdict(202, answer, note=f"dropped: attachment {label}: exceeds size limit ({len(decoded)})")
            sniffed = _sniff(decoded)
            provided = str(attachment.get("mimeType") or "").split(";")[0].strip().lower()
            if sniffed or provided.startswith("image/"):
                images.append({"type": "image", "mimeType": sniffed or provided, "bytes": len(decoded)})
        thread = _thread_id(payload.get("threadId"), channel_data)
        account = _text(payload.get("accountId")) or ""
        key = "|".join(p for p in (channel, account, session_key, to, thread, message_id) if p)
        if self._duplicate(key):
            return Verdict(202, answer, note="duplicate")
        turn = {
            "body": body,
            "sessionKey": session_key,
            "from": _text(payload.get("from")),
            "to": to,
            "accountId": account or None,
            "messageSid": message_id,
            "threadId": thread or None,
            "chatType": _text(payload.get("chatType")) or "direct",
            "images": images,
            "envelope": payload,
        }
        return Verdict(202, answer, turn=turn, note="delivered")

    @staticmethod
    def _is_callback(payload: dict[str, Any], channel_data: dict[str, Any], to: str) -> bool:
        event = payload.get("event")
        if not isinstance(event, dict) or _text(event.get("kind")) != "callback":
            return False
        telegram = channel_data.get("telegram")
        if not isinstance(telegram, dict) or not _text(telegram.get("callbackData")):
            return False
        if _positive_int(telegram.get("callbackMessageId")) is None:
            return False
        return bool(_text(channel_data.get("chatId")) or re.sub(r"^telegram:", "", to, flags=re.I))

    def _duplicate(self, key: str) -> bool:
        now = self.clock_ms()
        with self._lock:
            seen = self._seen.pop(key, None)
            self._seen[key] = now
            if seen is not None and now - seen < DEDUPE_TTL_MS:
                return True
            for old, at in list(self._seen.items()):
                if now - at < DEDUPE_TTL_MS:
                    break
                del self._seen[old]
            while len(self._seen) > DEDUPE_MAX:
                self._seen.popitem(last=False)
            return False
