"""Bind a WhatsApp chat to a tenant without the chat-side pairing flow: a token item plus the real claim."""

from __future__ import annotations

import time
import uuid

from chalicelib.models import Binding
from chalicelib.storage import bindings
from tests.fakes.whatsapp_server import PHONE_NUMBER_ID


def whatsapp_route_key(chat_id: str, phone_number_id: str = PHONE_NUMBER_ID) -> str:
    return f"whatsapp:{phone_number_id}:chat:{chat_id}"


def whatsapp_session_key(chat_id: str, *, group: bool = False, agent_id: str = "main") -> str:
    """CONTRACT §5: `direct:+<E164>` (the BSUID when there is no number), `group:<groupId>`."""
    if group:
        return f"agent:{agent_id}:whatsapp:group:{chat_id}"
    peer = f"+{chat_id}" if chat_id.isdigit() else chat_id
    return f"agent:{agent_id}:whatsapp:direct:{peer}"


def bind_whatsapp(
    tenant_id: str,
    chat_id: str,
    *,
    group: bool = False,
    phone_number_id: str = PHONE_NUMBER_ID,
    session_key: str | None = None,
) -> Binding:
    """Claim `whatsapp:<phone_number_id>:chat:<chat_id>` for `tenant_id` (as sending the token would)."""
    now = int(time.time() * 1000)
    token_hash = uuid.uuid4().hex
    bindings.put_token(token_hash, {"tenantId": tenant_id, "channel": "whatsapp"}, now + 60_000)
    route = whatsapp_route_key(chat_id, phone_number_id)
    binding = Binding(
        binding_id=f"bind_{uuid.uuid4()}",
        tenant_id=tenant_id,
        channel="whatsapp",
        scope="group" if group else "chat",
        route_key=route,
        session_key=session_key or whatsapp_session_key(chat_id, group=group),
        chat_id=chat_id,
        created_at_ms=now,
    )
    return bindings.claim(
        token_hash=token_hash, channel="whatsapp", binding=binding, existing=bindings.get_route(route), now_ms=now
    )
