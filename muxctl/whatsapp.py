"""WhatsApp for operators: webhook payloads shaped as Meta sends them (tests/fixtures/whatsapp), signed with the
app secret; the GET verification handshake; `wa.me` pairing links. Secrets are never printed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import quote

from muxctl.client import MuxClient, api_error

WEBHOOK_PATH = "/v1/webhooks/whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"
DEFAULT_PHONE_NUMBER_ID = "318765432109876"
DEFAULT_DISPLAY_NUMBER = "15551230042"
DEFAULT_WABA_ID = "240118765432109"

_last_ms = 0
_lock = threading.Lock()


def _unique_ms() -> int:
    global _last_ms
    with _lock:
        _last_ms = max(_last_ms + 1, time.time_ns() // 1_000_000)
        return _last_ms


def new_wamid(sender: str) -> str:
    """A unique message id in Meta's shape (`wamid.` + base64)."""
    raw = f"\x18\x0c{sender}\x15\x02\x00\x12\x18 muxctl{_unique_ms():016d}{secrets.token_hex(4)}".encode()
    return "wamid." + base64.b64encode(raw).decode("ascii")


def is_bsuid(value: str) -> bool:
    """Business-scoped user ids look like `US.58203317440219867531` (country, dot, id); phone numbers are digits."""
    return not value.lstrip("+").isdigit()


def build_payload(
    text: str,
    *,
    sender: str,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    display_number: str = DEFAULT_DISPLAY_NUMBER,
    name: str = "Muxctl Test",
    bsuid: str | None = None,
    group_id: str | None = None,
    wamid: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A `messages` webhook with one text message, as in text.json / text_username_no_phone.json / group_text.json.

    `sender` is a phone number (digits, `+` allowed) or a BSUID (a user who shares no number: no `wa_id`/`from`).
    """
    ts = str(int(time.time()) if timestamp is None else timestamp)
    contact: dict[str, Any] = {"profile": {"name": name}}
    message: dict[str, Any] = {}
    if is_bsuid(sender):
        contact["user_id"] = sender
        message["from_user_id"] = sender
    else:
        phone = sender.lstrip("+")
        contact["wa_id"] = phone
        message["from"] = phone
        if bsuid:
            contact["user_id"] = bsuid
            message["from_user_id"] = bsuid
    if group_id:
        message["group_id"] = group_id
    message.update({"id": wamid or new_wamid(sender), "timestamp": ts, "type": "text", "text": {"body": text}})
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display_number, "phone_number_id": phone_number_id},
        "contacts": [contact],
        "messages": [message],
    }
    return {"object": "whatsapp_business_account",
            "entry": [{"id": DEFAULT_WABA_ID, "changes": [{"value": value, "field": "messages"}]}]}


def encode(payload: dict[str, Any]) -> bytes:
    """The raw body as Meta sends it (compact JSON, UTF-8)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature(app_secret: str, raw: bytes) -> str:
    """`X-Hub-Signature-256`: `sha256=` + hex HMAC-SHA256 of the exact raw body with the app secret."""
    return "sha256=" + hmac.new(app_secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()


def post_payload(client: MuxClient, payload: dict[str, Any], app_secret: str) -> tuple[int, dict[str, Any]]:
    raw = encode(payload)
    reply = client.request("POST", WEBHOOK_PATH, data=raw, headers={
        "Content-Type": "application/json", SIGNATURE_HEADER: signature(app_secret, raw)})
    if not reply.ok:
        raise api_error(reply, "webhook POST")
    return reply.status, reply.body


def handshake(client: MuxClient, verify_token: str, challenge: str) -> tuple[int, str]:
    """Meta's subscription check: GET with hub.mode=subscribe, the verify token and a challenge."""
    reply = client.request("GET", WEBHOOK_PATH, params={
        "hub.mode": "subscribe", "hub.verify_token": verify_token, "hub.challenge": challenge})
    return reply.status, reply.text


def wa_me_link(number: str, token: str) -> str:
    """`https://wa.me/<digits>?text=<token>`: opens a chat with the number, the token prefilled."""
    digits = "".join(ch for ch in number if ch.isdigit())
    return f"https://wa.me/{digits}?text={quote(token, safe='')}"
