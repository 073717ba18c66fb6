"""Control-plane events (CONTRACT §13): build one and queue it for a tenant that has an `eventsUrl`, never failing
the caller.

Each emit point calls one function here with what it already holds. A tenant without an events URL costs
nothing (no SQS call); with one, an emit is one SendMessage to the events queue, whose consumer
(`services.event_delivery`) signs and POSTs it with retries. A failed emit is logged and counted
(`EventEmitFailures{type}`), never raised: a claim, an unbind or a forward never fails because of an event.

Events: `{eventId, type, tenantId, createdAtMs, data}`; `data` holds only the tenant's own ids and the chat's
display fields, never a key, a token or message content (a dead letter names the message by its event id and
route; its text stays in the dead-letter queue, where the operator's tools read it). Event ids are derived
from what happened (the binding, the claiming event, the outage's start), so an emit repeated after a crash
carries the same id and a receiver can drop the duplicate.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from chalicelib import observability
from chalicelib.clock import now_ms
from chalicelib.models import Binding, Tenant

BINDING_CREATED = "binding.created"
BINDING_REMOVED = "binding.removed"
DELIVERY_FAILING = "delivery.failing"
DELIVERY_RECOVERED = "delivery.recovered"
MESSAGE_DEAD_LETTERED = "message.dead_lettered"
TYPES = (BINDING_CREATED, BINDING_REMOVED, DELIVERY_FAILING, DELIVERY_RECOVERED, MESSAGE_DEAD_LETTERED)
# binding.removed data.reason
BY_API, BY_CHAT_COMMAND, BY_SWITCH, BY_TENANT_DELETE = "api", "chat_command", "switched", "tenant_deleted"


def binding_created(tenant: Tenant | str | None, binding: Binding, *, token_id: str | None, cause: str) -> None:
    """A claim bound a chat (a pairing token, or /bot_switch moving the chat here). `cause`: the claiming
    event's id (the same claim, retried after a crash, gives the same event id)."""
    def data() -> dict[str, Any]:
        from chalicelib.services.pairing import _item

        return {**_item(binding).model_dump(mode="json"), "tokenId": token_id}

    _emit(tenant, BINDING_CREATED, data, key=f"{binding.binding_id}:{cause}")


def claimed(
    tenant: Tenant | str, binding: Binding | None, previous: Binding | None, token_id: Any, cause: str
) -> None:
    """A claim committed: binding.created for the claiming tenant and, when /bot_switch took the chat from
    another tenant (`previous`), binding.removed (switched) for that one."""
    if binding is None:
        return
    if previous is not None and previous.tenant_id != binding.tenant_id:
        binding_removed(previous.tenant_id, previous, BY_SWITCH)
    binding_created(tenant, binding, token_id=str(token_id) if token_id else None, cause=cause)


def binding_removed(tenant: Tenant | str | None, binding: Binding, reason: str) -> None:
    """A binding is gone: `reason` api | chat_command | switched | tenant_deleted."""
    def data() -> dict[str, Any]:
        return {
            "bindingId": binding.binding_id,
            "channel": binding.channel,
            "scope": binding.scope,
            "routeKey": binding.route_key,
            "sessionKey": binding.session_key,
            "reason": reason,
        }

    _emit(tenant, BINDING_REMOVED, data, key=f"{binding.binding_id}:{reason}")


def delivery_failing(tenant: Tenant | str | None, down_since_ms: int) -> None:
    """The tenant's OpenClaw has failed every forward for at least MUX_EVENTS_FAILING_AFTER_SEC (once per outage)."""
    def data() -> dict[str, Any]:
        return {"downSinceMs": down_since_ms, "failingForMs": max(0, now_ms() - down_since_ms)}

    _emit(tenant, DELIVERY_FAILING, data, key=str(down_since_ms))


def delivery_recovered(tenant: Tenant | str | None, down_since_ms: int) -> None:
    """The tenant's OpenClaw answers again after an outage that was reported as failing (once)."""
    def data() -> dict[str, Any]:
        return {"downSinceMs": down_since_ms, "downForMs": max(0, now_ms() - down_since_ms)}

    _emit(tenant, DELIVERY_RECOVERED, data, key=str(down_since_ms))


def message_dead_lettered(
    tenant: Tenant | None, binding: Binding | None, *, event_id: str, route_key: str, status: int | None,
    reason: str, attempts: int, why: str, source_id: str,
) -> None:
    """One of the tenant's messages went to the dead-letter queue. `reason` is the mux's own sentence (never
    OpenClaw's answer, which may quote the message); `why`: rejected | budget."""
    def data() -> dict[str, Any]:
        return {
            "eventId": event_id,
            "channel": binding.channel if binding else None,
            "routeKey": route_key,
            "bindingId": binding.binding_id if binding else None,
            "status": status,
            "reason": reason,
            "kind": why,
            "attempts": attempts,
        }

    _emit(tenant, MESSAGE_DEAD_LETTERED, data, key=source_id)


def _event_id(kind: str, tenant_id: str, key: str | None) -> str:
    if key is None:
        return "evt_" + uuid.uuid4().hex
    return "evt_" + hashlib.sha256(f"{kind}\n{tenant_id}\n{key}".encode()).hexdigest()[:32]


def _emit(tenant: Tenant | str | None, kind: str, data: Any, *, key: str | None = None) -> None:
    try:
        if isinstance(tenant, str):
            from chalicelib.storage import tenants as tenant_store

            tenant = tenant_store.get(tenant)
        if tenant is None or not tenant.events_url or tenant.mode != "shared-key":
            return
        from chalicelib import events_queue

        event = {
            "eventId": _event_id(kind, tenant.tenant_id, key),
            "type": kind,
            "tenantId": tenant.tenant_id,
            "createdAtMs": now_ms(),
            "data": data(),
        }
        # The target as of now (URL, KMS-encrypted key): used only if the tenant record is gone at delivery
        # (deleted meanwhile), so the events it caused before and by its delete still reach its control plane.
        message = {"event": event, "target": {"url": tenant.events_url, "keyCiphertext": tenant.key_ciphertext}}
        events_queue.send(json.dumps(message, ensure_ascii=False, separators=(",", ":")))
    except Exception:  # noqa: BLE001 - an event must never fail the operation that caused it
        observability.logger().warning("control-plane event not queued", extra={"type": kind}, exc_info=True)
        observability.count("EventEmitFailures", type=kind)
