"""Bind a chat to a tenant without the chat-side pairing flow: a token item plus the real claim transaction."""

from __future__ import annotations

import time
import uuid

from chalicelib.models import Binding
from chalicelib.storage import bindings


def telegram_route_key(chat_id: str, topic_id: str | None = None) -> str:
    base = f"telegram:default:chat:{chat_id}"
    return f"{base}:topic:{topic_id}" if topic_id else base


def telegram_session_key(chat_id: str, topic_id: str | None = None, agent_id: str = "main") -> str:
    """CONTRACT §5: private chats are `direct`, groups `group` (+ `:topic:<n>`)."""
    if not chat_id.startswith("-"):
        return f"agent:{agent_id}:telegram:direct:{chat_id}"
    base = f"agent:{agent_id}:telegram:group:{chat_id}"
    return f"{base}:topic:{topic_id}" if topic_id else base


def bind_telegram(
    tenant_id: str,
    chat_id: str | int,
    *,
    topic_id: str | int | None = None,
    session_key: str | None = None,
) -> Binding:
    """Claim `telegram:default:chat:<chat_id>[:topic:<topic_id>]` for `tenant_id` (as `/start <token>` would)."""
    chat = str(chat_id)
    topic = str(topic_id) if topic_id is not None else None
    now = int(time.time() * 1000)
    token_hash = uuid.uuid4().hex
    bindings.put_token(token_hash, {"tenantId": tenant_id, "channel": "telegram"}, now + 60_000)
    route = telegram_route_key(chat, topic)
    binding = Binding(
        binding_id=f"bind_{uuid.uuid4()}",
        tenant_id=tenant_id,
        channel="telegram",
        scope="topic" if topic else "chat",
        route_key=route,
        session_key=session_key or telegram_session_key(chat, topic),
        chat_id=chat,
        topic_id=topic,
        created_at_ms=now,
    )
    return bindings.claim(
        token_hash=token_hash,
        channel="telegram",
        binding=binding,
        existing=bindings.get_route(route),
        now_ms=now,
    )
