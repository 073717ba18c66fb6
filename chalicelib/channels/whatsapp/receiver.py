"""WhatsApp's inbound side on the channel-neutral interface: messages → InboundMessage, notices, media, envelope.

Media: the webhook carries a media id; `GET /<media-id>` (access token) answers a short-lived URL, and that URL
(access token again) the bytes. Every kind is inlined as base64 up to MUX_INBOUND_MEDIA_MAX_BYTES (held to
OpenClaw's 5,000,000-byte attachment limit, as for Telegram); above it only the file-proxy `url`.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

from chalicelib import observability
from chalicelib.channels.base import InboundMessage, PairingHint, command, find_token
from chalicelib.channels.whatsapp import inbound as wa
from chalicelib.config import Settings, get_settings

# OpenClaw 022 (src/gateway/chat-attachments.ts): decoded bytes per attachment, 0 < size ≤ this.
OPENCLAW_ATTACHMENT_MAX_BYTES = 5_000_000
LOOKUP_MAX_BYTES = 65_536
MEDIA_TIMEOUT_S = 15.0


def _native(msg: InboundMessage) -> wa.WhatsAppMessage:
    native: wa.WhatsAppMessage = msg.native
    return native


def file_url(media_id: str) -> str:
    return f"{get_settings().base_url}/v1/mux/files/whatsapp?id={quote(media_id, safe='')}"


def download(media_id: str, max_bytes: int, *, timeout: float = MEDIA_TIMEOUT_S) -> tuple[bytes, str | None] | None:
    """The media's bytes, or None when unavailable or over `max_bytes` (at most `max_bytes` + 1 are read)."""
    from chalicelib import egress

    settings = get_settings()
    auth = {"Authorization": f"Bearer {settings.require('whatsapp_access_token')}"}
    lookup = f"{settings.whatsapp_api_base_url.rstrip('/')}/{quote(media_id, safe='')}"
    try:
        resp = egress.request("GET", lookup, headers=auth, timeout_s=timeout, max_bytes=LOOKUP_MAX_BYTES, guard=False)
        info = json.loads(resp.content) if resp.status_code == 200 and not resp.truncated else None
        url = info.get("url") if isinstance(info, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            return None
        size = str(info.get("file_size", "")) if isinstance(info, dict) else ""
        if size.isdigit() and int(size) > max_bytes:
            return None
        # The URL is Meta's CDN, named by the Graph API answer (not by a tenant): no SSRF guard, like the API.
        return egress.fetch(url, headers=auth, timeout_s=timeout, max_bytes=max_bytes, guard=False)
    except (egress.EgressError, ValueError):
        return None


def attachments(native: wa.WhatsAppMessage, settings: Settings) -> list[dict[str, Any]]:
    """One attachment per media item, in order."""
    out: list[dict[str, Any]] = []
    cap = min(settings.inbound_media_max_bytes, OPENCLAW_ATTACHMENT_MAX_BYTES)
    for item in native.media:
        attachment: dict[str, Any] = {
            "type": item["type"],
            "mimeType": item.get("mimeType"),
            "fileName": item.get("fileName"),
            "url": file_url(item["fileId"]),
        }
        fetched = download(item["fileId"], cap) if cap > 0 else None
        if fetched is None or not fetched[0]:
            reason = "unavailable" if cap > 0 else "over_cap"
            observability.count("MediaInlineSkipped", channel="whatsapp", reason=reason)
        else:
            attachment["content"] = base64.b64encode(fetched[0]).decode("ascii")
            attachment["size"] = len(fetched[0])
        out.append({k: v for k, v in attachment.items() if v is not None})
    return out


class WhatsAppReceiver:
    channel = "whatsapp"

    def enabled(self, settings: Settings) -> bool:
        return settings.whatsapp_enabled

    def pairing_hint(self, token: str, settings: Settings) -> PairingHint:
        from chalicelib.channels.whatsapp import api

        # CONTRACT §3.3: "send it to <number>". The default number's display form comes from Meta (cached);
        # if Meta cannot say right now, the hint still tells the user what to do.
        number = api.display_number(settings.whatsapp_phone_number_id) if settings.whatsapp_phone_number_id else None
        return PairingHint(instructions=f"Send {token} as a WhatsApp message to {number or 'the business number'}.")

    def parse(self, payload: dict[str, Any]) -> InboundMessage | None:
        native = wa.parse(payload)
        return InboundMessage(
            channel=self.channel,
            event_id=native.event_id,
            kind="message",
            route_candidates=native.route_candidates(),
            scope="group" if native.is_group else "chat",
            chat_id=native.chat_id,
            topic_id=None,
            is_private=not native.is_group,
            text=native.text,
            forwardable=native.has_content and not native.service,
            native=native,
            command=command(native.text),
            token=find_token(native.text),
            media=native.media,
            refs=[native.wamid],
            typing_ref=native.wamid,
            service=native.service,
        )

    def notify(self, msg: InboundMessage, text: str) -> bool:
        from chalicelib.channels.whatsapp import notices

        return notices.send(_native(msg), text)

    def acknowledge(self, msg: InboundMessage) -> None:
        """Button replies arrive as ordinary messages: nothing to acknowledge."""

    def is_chat_admin(self, msg: InboundMessage) -> bool:
        # The Cloud API does not say who administers a group: group-wide changes are made from the dashboard.
        return False

    def session_key(self, msg: InboundMessage, agent_id: str | None, *, thread: bool) -> str:
        return _native(msg).session_key(agent_id)

    def envelope(self, msg: InboundMessage, *, session_key: str, account_id: str, route_key: str,
                 settings: Settings) -> dict[str, Any]:
        native = _native(msg)
        return wa.envelope(native, session_key=session_key, account_id=account_id, route_key=route_key,
                           attachments=attachments(native, settings))

    def download(self, file_id: str, max_bytes: int, *, timeout: float) -> tuple[bytes, str | None] | None:
        return download(file_id, max_bytes, timeout=timeout)

    def display(self, msg: InboundMessage, *, topic_id: str | None, claim: bool) -> dict[str, str]:
        # The webhook names the sender by profile name and number; a group's subject is not in it.
        native = _native(msg)
        out = {"chatType": "group" if native.is_group else "private"}
        if native.is_group and not claim:
            return out
        name = (native.profile_name or "").strip()[:256]
        if name:
            out["userName"] = name
        if native.wa_id:
            out["userHandle"] = f"+{native.wa_id}"
        return out


RECEIVER = WhatsAppReceiver()
