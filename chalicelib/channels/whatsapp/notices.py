"""User-facing notices to a WhatsApp chat (pairing results, hints, command answers) as plain text messages.

Best effort, as for Telegram: a failed notice is logged and counted, never retried. A notice leaves from the
business number the message came to (the route names it). The full sender is outbound.py; this is one call.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib import observability
from chalicelib.channels.whatsapp.inbound import WhatsAppMessage
from chalicelib.config import get_settings

TIMEOUT_S = 10.0
ANSWER_MAX_BYTES = 65_536


def recipient(msg: WhatsAppMessage) -> dict[str, str]:
    """Who a reply to this message goes to: the group, the user's number, or (number hidden) their BSUID."""
    if msg.group_id is not None:
        return {"recipient_type": "group", "to": msg.group_id}
    if msg.wa_id:
        return {"recipient_type": "individual", "to": f"+{msg.wa_id}"}
    return {"recipient_type": "individual", "recipient": str(msg.bsuid)}


def send(msg: WhatsAppMessage, text: str) -> bool:
    from chalicelib import egress

    settings = get_settings()
    body: dict[str, Any] = {"messaging_product": "whatsapp", **recipient(msg), "type": "text", "text": {"body": text}}
    url = f"{settings.whatsapp_api_base_url.rstrip('/')}/{msg.phone_number_id}/messages"
    headers = {
        "Authorization": f"Bearer {settings.require('whatsapp_access_token')}",
        "Content-Type": "application/json",
    }
    try:
        resp = egress.request("POST", url, headers=headers, body=json.dumps(body).encode("utf-8"),
                              timeout_s=TIMEOUT_S, max_bytes=ANSWER_MAX_BYTES, guard=False)
    except egress.EgressError as exc:
        observability.count("NoticeFailures", channel="whatsapp")
        observability.logger().warning("notice not delivered", extra={"error": type(exc).__name__})
        return False
    if not 200 <= resp.status_code < 300:
        observability.count("NoticeFailures", channel="whatsapp")
        observability.logger().warning("notice not delivered", extra={"status": resp.status_code,
                                                                     "code": _error_code(resp.content)})
        return False
    return True


def _error_code(content: bytes) -> int | None:
    try:
        code = json.loads(content)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return code if isinstance(code, int) else None
