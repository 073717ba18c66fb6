"""Outbound (OpenClaw → mux → chat): request rules, route resolution and lock, idempotency, dispatch to senders.

Order of checks for `POST /v1/mux/outbound/send` (after the route's auth, body-size and JSON checks):
schema (400 INVALID_REQUEST) → channel enabled (400 CHANNEL_DISABLED) → operation/method rules that depend
only on the body (400 UNSUPPORTED_ACTION / UNSUPPORTED_METHOD / INVALID_REQUEST / TEXT_TOO_LONG) →
idempotency claim (409 IDEMPOTENCY_KEY_REUSED / IDEMPOTENCY_IN_PROGRESS, or a replay) → destination from the
session route (403 ROUTE_NOT_BOUND) → the sender's plan and the lock below the route (403 ROUTE_NOT_BOUND:
a message acted on that the mux did not send to or forward from this tenant's route, or a post into a topic
another tenant has bound) → the platform calls, one per part (502 PROVIDER_ERROR / PROVIDER_RATE_LIMITED /
PROVIDER_OUTCOME_UNKNOWN).

Body-only 400s are checked before the idempotency claim: they are a pure function of the body, so
answering them again is the same as replaying them, and they cost no write. Everything after the claim is
recorded: 2xx and 4xx answers are stored and replayed byte for byte, and so is PROVIDER_OUTCOME_UNKNOWN (the
request reached the platform unanswered: a blind retry could send the message twice). Other 5xx answers let a
retry go on: with no part delivered the key is released; with some delivered the record keeps their ids
(`partial`) and the retry resumes at the first part not delivered. Progress is saved after every part that
has a successor, so an attempt killed mid-send is resumed too, once its lock expires. A send that succeeded
but whose answer could not be stored still answers 200 (the message is out); its key then stays locked until
the lock expires.

Without an Idempotency-Key nothing is stored: each request is a new send, and a retry after a partial failure
sends every part again (the 502's `details.deliveredMessageIds` says which parts went out).

Every message a send creates is recorded for its route and tenant (`storage.messages`), so the tenant may edit,
react to or delete it later; so is every message forwarded from the route (in the inbound pipeline).

The destination is only ever the route bound to (tenant, channel, sessionKey): `to` and any chat id in a
raw body are ignored or overwritten by the sender.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib import observability
from chalicelib.channels.base import MAX_PARTS, Destination, Sender, SendPlan, sender_for
from chalicelib.clock import now_ms
from chalicelib.config import get_settings
from chalicelib.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    MuxError,
    ProviderError,
    ProviderOutcomeUnknownError,
    TextTooLongError,
)
from chalicelib.models import Binding, OutboundRequest, TypingRequest
from chalicelib.storage import bindings, messages, table
from chalicelib.storage import idempotency as store

# Longer than the function timeout (60 s): by the time a lock expires, the attempt holding it is dead.
IDEMPOTENCY_LOCK_MS = 60_000
IDEMPOTENCY_KEY_MAX = 255
SUPPORTED_ACTIONS = frozenset({"typing"})


@dataclass(frozen=True)
class Outcome:
    """What the route answers: status and JSON body; `replayed` when it comes from an idempotency record."""

    status: int
    body: dict[str, Any]
    replayed: bool = False



def canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def response_json(body: dict[str, Any]) -> str:
    """The answer's JSON text as stored for replay (same encoding as the HTTP layer's)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


# --- entry points -------------------------------------------------------------------------------
def send(tenant_id: str, data: dict[str, Any], *, idempotency_key: str | None = None) -> Outcome:
    """`POST /v1/mux/outbound/send`: a send (`op: send`) or an action (`op: action`)."""
    request = OutboundRequest.model_validate(_normalise(data))
    return _execute(tenant_id, request, data, idempotency_key)


def typing(tenant_id: str, data: dict[str, Any], *, idempotency_key: str | None = None) -> Outcome:
    """`POST /v1/mux/outbound/typing` `{channel, sessionKey}`."""
    req = TypingRequest.model_validate(data)
    request = OutboundRequest(channel=req.channel, sessionKey=req.sessionKey, op="action", action="typing")
    return _execute(tenant_id, request, data, idempotency_key)


# --- the pipeline -------------------------------------------------------------------------------
def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    """Accept the operation spellings OpenClaw's mux contract accepts (`op: typing`, bare `action: typing`)."""
    out = dict(data)
    op = out.get("op")
    action = out.get("action")
    if isinstance(op, str):
        out["op"] = op.strip().lower() or "send"
    if isinstance(action, str):
        out["action"] = action.strip().lower()
    if out.get("op") == "typing":
        out["op"], out["action"] = "action", "typing"
    elif "op" not in out and out.get("action") == "typing":
        out["op"] = "action"
    return out


def _sender(channel: str) -> Sender:
    sender = sender_for(channel)
    if sender is None or not sender.enabled(get_settings()):
        raise InvalidInputError(f"The {channel} channel is not enabled on this mux.", code="CHANNEL_DISABLED")
    return sender


class _Progress:
    """The parts of one logical send delivered so far (by earlier attempts too), and where to save them."""

    def __init__(self, delivered: tuple[str, ...] = (), save: Callable[[list[str]], Any] | None = None) -> None:
        self.ids = list(delivered)
        self.save = save


def _execute(tenant_id: str, request: OutboundRequest, data: dict[str, Any], idempotency_key: str | None) -> Outcome:
    sender = _sender(request.channel)
    if request.op == "action":
        if request.action not in SUPPORTED_ACTIONS:
            raise InvalidInputError(
                f"Unsupported action {request.action!r}; supported: typing.", code="UNSUPPORTED_ACTION"
            )
    else:
        sender.validate(request)

    def run(progress: _Progress) -> Outcome:
        destination = _destination(tenant_id, request.channel, request.sessionKey)
        if request.op == "action":
            sender.typing(destination, request)
            return Outcome(200, {"ok": True})
        plan = sender.plan(destination, request)
        _check_reach(tenant_id, destination, plan)
        ids = _deliver(tenant_id, destination.binding, plan, progress)
        return Outcome(200, plan.result(ids).body())

    key = (idempotency_key or "").strip()
    if not key:
        outcome = _count(request, _run_plain(run, _Progress()))
        return outcome
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise InvalidInputError(
            f"Idempotency-Key must be at most {IDEMPOTENCY_KEY_MAX} characters.",
            details={"fields": ["Idempotency-Key"]},
        )
    return _count(request, _run_idempotent(tenant_id, key, data, run))


def _check_reach(tenant_id: str, destination: Destination, plan: SendPlan) -> None:
    """The route lock below the route: messages acted on must be this tenant's on this route, and a send into
    a more specific route (a topic of the bound chat) must not land in another tenant's binding."""
    binding = destination.binding
    for ref in plan.acts_on:
        if destination.owns is None or not destination.owns(ref):
            raise ForbiddenError(
                "That message was not sent to or forwarded from the chat bound to this sessionKey "
                f"(or is older than {messages.RECORD_TTL_SEC // 3600} h).",
                code="ROUTE_NOT_BOUND",
            )
    if plan.posts_into and plan.posts_into != binding.route_key:
        other = bindings.get_route(plan.posts_into)
        if other is not None and other.tenant_id != tenant_id:
            raise ForbiddenError(
                "That topic of the bound chat is bound to another tenant.", code="ROUTE_NOT_BOUND"
            )


def _deliver(tenant_id: str, binding: Binding, plan: SendPlan, progress: _Progress) -> list[str]:
    """Run the parts not delivered yet, saving progress after each one that has a successor (the last one's
    outcome is the answer itself), and record the messages the tenant may act on later."""
    total = len(plan.parts)
    if total > MAX_PARTS:
        raise TextTooLongError(f"This send would take {total} platform messages; at most {MAX_PARTS}.")
    ids = progress.ids
    del ids[total:]
    try:
        for index in range(len(ids), total):
            ids.append(plan.parts[index]())
            if progress.save is not None and index < total - 1:
                _safely(progress.save, list(ids))
    except ProviderError as exc:
        if total > 1:
            exc.details = {**(exc.details or {}), "deliveredMessageIds": list(ids), "parts": total}
        raise
    finally:
        if plan.new_messages and ids:
            _safely(messages.record, binding.route_key, list(ids), tenant_id, now_ms())
    return list(ids)


def _run_plain(run: Callable[[_Progress], Outcome], progress: _Progress) -> Outcome:
    try:
        return run(progress)
    except MuxError as exc:
        return Outcome(exc.status, exc.body())


def _run_idempotent(
    tenant_id: str, key: str, data: dict[str, Any], run: Callable[[_Progress], Outcome]
) -> Outcome:
    body_hash = table.sha256_hex(canonical_json(data))
    got = store.claim(
        tenant_id,
        table.sha256_hex(key),
        body_hash,
        now_ms=now_ms(),
        ttl_ms=get_settings().idempotency_ttl_ms,
        lock_ms=IDEMPOTENCY_LOCK_MS,
    )
    if isinstance(got, store.Existing):
        if got.body_hash != body_hash:
            raise ConflictError(
                "This Idempotency-Key was already used with a different request body.",
                code="IDEMPOTENCY_KEY_REUSED",
            )
        if got.status == store.DONE and got.response_status is not None and got.response_body is not None:
            observability.count("OutboundIdempotentReplays")
            return Outcome(got.response_status, json.loads(got.response_body), replayed=True)
        raise ConflictError(
            "A request with this Idempotency-Key is still in progress; retry later.",
            code="IDEMPOTENCY_IN_PROGRESS",
        )
    if got.delivered:
        observability.count("OutboundResumed")
    progress = _Progress(got.delivered, save=lambda ids: store.progress(got, ids))
    try:
        outcome = _run_plain(run, progress)
    except BaseException:
        _safely(_retryable, got, progress.ids)
        raise
    if outcome.status < 500 or outcome.body.get("code") == ProviderOutcomeUnknownError.code:
        # An unknown outcome is an answer too: replaying it is what keeps a blind retry from sending twice.
        _safely(store.finish, got, outcome.status, response_json(outcome.body))
    else:
        _safely(_retryable, got, progress.ids)
    return outcome


def _retryable(claim: store.Claim, delivered: list[str]) -> None:
    """A retry may succeed: resume after the parts delivered, or start afresh when none was."""
    if delivered:
        store.suspend(claim, list(delivered))
    else:
        store.release(claim)


def _safely(fn: Callable[..., Any], *args: Any) -> None:
    """Record-keeping after a send must not turn a delivered message into an error answer."""
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - logged; the key's lock expires on its own
        observability.logger().warning("outbound record keeping failed", exc_info=True)


def _count(request: OutboundRequest, outcome: Outcome) -> Outcome:
    if outcome.status >= 500:
        observability.logger().error(
            "outbound failed", extra={"code": outcome.body.get("code"), "channel": request.channel}
        )
    observability.count(
        "OutboundRequests", channel=request.channel, op=request.op, outcome=f"{outcome.status // 100}xx"
    )
    return outcome


# --- destination --------------------------------------------------------------------------------
def _not_bound() -> ForbiddenError:
    return ForbiddenError("No chat is bound to this sessionKey for this tenant and channel.", code="ROUTE_NOT_BOUND")


def resolve_binding(tenant_id: str, channel: str, session_key: str) -> Binding:
    """The binding a session key sends to; the route item (the global lock) must still name this tenant
    and the binding the session route points at. A per-thread session under a chat binding (a private
    chat's thread) carries its thread in the session route: sends to that session go to that thread."""
    session = bindings.session_route(tenant_id, channel, session_key)
    if not session or not session.get("routeKey"):
        raise _not_bound()
    binding = bindings.get_route(str(session["routeKey"]))
    if (
        binding is None
        or binding.tenant_id != tenant_id
        or binding.binding_id != session.get("bindingId")
        or binding.channel != channel
    ):
        raise _not_bound()
    thread = session.get("topicId")
    if thread and binding.topic_id is None:
        binding = binding.model_copy(update={"topic_id": str(thread)})
    return binding


def _destination(tenant_id: str, channel: str, session_key: str) -> Destination:
    binding = resolve_binding(tenant_id, channel, session_key)

    def owns(ref: str) -> bool:
        return messages.owns(binding.route_key, ref, tenant_id, now_ms())

    return Destination(binding=binding, relocate=_relocator(binding), owns=owns)


def _relocator(binding: Binding) -> Callable[[str, str], Binding]:
    def relocate(new_chat_id: str, new_route_key: str) -> Binding:
        try:
            moved = bindings.update_chat_id(binding, new_chat_id, new_route_key)
        except Exception as exc:
            if not table.is_conditional_failure(exc):
                raise
            # Moved already (a concurrent send, or the inbound migration notice)? Then send there.
            current = bindings.get_route(new_route_key)
            if current is None or current.binding_id != binding.binding_id:
                raise _not_bound() from None
            return current
        observability.logger().info("binding moved to migrated chat", extra={"binding_id": binding.binding_id})
        return moved

    return relocate
