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
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
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
    UnauthorizedError,
)
from chalicelib.models import Binding, OutboundRequest, TypingRequest
from chalicelib.services.hints import HINT_LIMIT, Hints
from chalicelib.storage import bindings, messages, table
from chalicelib.storage import idempotency as store
from chalicelib.storage import tenants as tenant_store

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


@dataclass(frozen=True)
class Caller:
    """Who sends: a tenant already authenticated (`tenant_id`: a runtime JWT, verified without a read) or a tenant
    key still to check (`key_hash`, its SHA-256), which the send checks in its one BatchGetItem."""

    tenant_id: str | None = None
    key_hash: str | None = None


# --- entry points -------------------------------------------------------------------------------
def send(caller: Caller | str, data: dict[str, Any], *, idempotency_key: str | None = None) -> Outcome:
    """`POST /v1/mux/outbound/send`: a send (`op: send`) or an action (`op: action`)."""
    who = _caller(caller)
    try:
        request = OutboundRequest.model_validate(_normalise(data))
    except Exception:
        authenticate(who)  # 401 comes before any complaint about the body
        raise
    return _execute(who, request, data, idempotency_key)


def typing(caller: Caller | str, data: dict[str, Any], *, idempotency_key: str | None = None) -> Outcome:
    """`POST /v1/mux/outbound/typing` `{channel, sessionKey}`."""
    who = _caller(caller)
    try:
        req = TypingRequest.model_validate(data)
    except Exception:
        authenticate(who)
        raise
    request = OutboundRequest(channel=req.channel, sessionKey=req.sessionKey, op="action", action="typing")
    return _execute(who, request, data, idempotency_key)


def _caller(caller: Caller | str) -> Caller:
    return Caller(tenant_id=caller) if isinstance(caller, str) else caller


def authenticate(caller: Caller, reads: table.ReadSet | None = None) -> str:
    """The tenant id the caller stands for, or 401: a tenant key is valid exactly while its key-hash item exists
    (rotation, disable and delete remove it in their transactions), read strongly consistent for this request."""
    tenant_id = caller.tenant_id
    if tenant_id is None and caller.key_hash is not None:
        tenant_id = tenant_store.tenant_id_for_key_hash(caller.key_hash, reads)
    if tenant_id is None:
        if caller.key_hash is not None:
            _TENANT_OF_KEY.drop(caller.key_hash)  # a rotated-out key names nothing more to read ahead
        observability.count("AuthFailures", route="tenant")
        raise UnauthorizedError("A valid tenant bearer key is required.")
    if caller.key_hash is not None:
        _TENANT_OF_KEY.put(caller.key_hash, tenant_id)
    observability.log_keys(tenant_id=tenant_id)
    return tenant_id


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
    """The parts of one logical send delivered so far (by earlier attempts too), and where to save them;
    with `defer_records`, the message records of the parts wait in `records` for the caller to write."""

    def __init__(
        self, delivered: tuple[str, ...] = (), save: Callable[[list[str]], Any] | None = None,
        defer_records: bool = False,
    ) -> None:
        self.ids = list(delivered)
        self.save = save
        self.defer_records = defer_records
        self.records: list[dict[str, Any]] = []

    def write_records(self) -> None:
        records, self.records = self.records, []
        if records:
            _safely(table.batch_put, records)


def _execute(caller: Caller, request: OutboundRequest, data: dict[str, Any], idempotency_key: str | None) -> Outcome:
    try:
        sender = _sender(request.channel)
        if request.op == "action":
            if request.action not in SUPPORTED_ACTIONS:
                raise InvalidInputError(
                    f"Unsupported action {request.action!r}; supported: typing.", code="UNSUPPORTED_ACTION"
                )
        else:
            sender.validate(request)
    except MuxError:
        authenticate(caller)
        raise
    reads = _read_ahead(caller, request, sender)
    tenant_id = authenticate(caller, reads)

    def run(progress: _Progress) -> Outcome:
        destination = _destination(tenant_id, request.channel, request.sessionKey, reads)
        if request.op == "action":
            sender.typing(destination, request)
            return Outcome(200, {"ok": True})
        plan = sender.plan(destination, request)
        _check_reach(tenant_id, destination, plan, reads)
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


def _check_reach(tenant_id: str, destination: Destination, plan: SendPlan, reads: table.ReadSet | None = None) -> None:
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
        other = bindings.get_route(plan.posts_into, reads)
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
            records = [messages.item(binding.route_key, ref, tenant_id, now_ms()) for ref in dict.fromkeys(ids)]
            if progress.defer_records:
                progress.records = records  # written beside the idempotency record's final write
            else:
                _safely(table.batch_put, records)
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
    progress = _Progress(got.delivered, save=lambda ids: store.progress(got, ids), defer_records=True)
    try:
        outcome = _run_plain(run, progress)
    except BaseException:
        progress.write_records()
        _safely(_retryable, got, progress.ids)
        raise
    if outcome.status < 500 or outcome.body.get("code") == ProviderOutcomeUnknownError.code:
        # An unknown outcome is an answer too: replaying it is what keeps a blind retry from sending twice.
        _store_answer(got, outcome, progress)
    else:
        progress.write_records()
        _safely(_retryable, got, progress.ids)
    return outcome


def _store_answer(claim: store.Claim, outcome: Outcome, progress: _Progress) -> None:
    """The answer for replay and the message records. Normally one BatchWriteItem: the whole finished record,
    unconditionally, beside the message records (`store.finished_item`: only while no other attempt can own the
    key by the time it lands). Else, or if that write did not take the record, the conditional `finish`, side by
    side with the records' write (one round trip of latency). Never one TransactWriteItems: that would double
    the write units of both, on every send OpenClaw makes (it sends an Idempotency-Key with each)."""
    answer = response_json(outcome.body)
    finished = store.finished_item(claim, outcome.status, answer, now_ms=now_ms(), part_ids=progress.ids)
    if finished is None:
        records = threading.Thread(target=progress.write_records, name="outbound-records")
        records.start()
        _safely(store.finish, claim, outcome.status, answer)
        records.join()
        return
    items, progress.records = [finished, *progress.records], []
    try:
        left = table.batch_write_once(items[:25]) + items[25:]
    except Exception:  # noqa: BLE001 - whether it landed is unknown: the conditional writes below are safe either way
        observability.logger().warning("outbound record keeping failed", exc_info=True)
        left = items
    if any(table.same_key(item, finished) for item in left):
        _safely(store.finish, claim, outcome.status, answer)
    rest = [item for item in left if not table.same_key(item, finished)]
    if rest:
        _safely(table.batch_put, rest)


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


def resolve_binding(tenant_id: str, channel: str, session_key: str, reads: table.ReadSet | None = None) -> Binding:
    """The binding a session key sends to; the route item (the global lock) must still name this tenant
    and the binding the session route points at. A per-thread session under a chat binding (a private
    chat's thread) carries its thread in the session route: sends to that session go to that thread.

    Both items come from the request's read set when the send named them up front (`_read_ahead`), else
    they are read here: the same two strongly consistent reads, the same checks, either way."""
    session = bindings.session_route(tenant_id, channel, session_key, reads)
    if not session or not session.get("routeKey"):
        _BINDING_OF_SESSION.drop((tenant_id, channel, session_key))
        raise _not_bound()
    binding = bindings.get_route(str(session["routeKey"]), reads)
    if (
        binding is None
        or binding.tenant_id != tenant_id
        or binding.binding_id != session.get("bindingId")
        or binding.channel != channel
    ):
        _BINDING_OF_SESSION.drop((tenant_id, channel, session_key))
        raise _not_bound()
    thread = session.get("topicId")
    if thread and binding.topic_id is None:
        binding = binding.model_copy(update={"topic_id": str(thread)})
    _BINDING_OF_SESSION.put((tenant_id, channel, session_key), binding)
    return binding


def _destination(tenant_id: str, channel: str, session_key: str, reads: table.ReadSet | None = None) -> Destination:
    binding = resolve_binding(tenant_id, channel, session_key, reads)

    def owns(ref: str) -> bool:
        return messages.owns(binding.route_key, ref, tenant_id, now_ms(), reads)

    return Destination(binding=binding, relocate=_relocator(binding), owns=owns)


# --- one round trip ---------------------------------------------------------------------------------
# Names, not answers. A send's reads depend on each other (key → tenant → session route → route lock →
# messages acted on), so this container remembers which tenant a key hash named and which binding a session
# resolved to, only to *name* every item of the next send's single BatchGetItem. Nothing is ever answered from
# here: each named item is read strongly consistent for the request and checked exactly as before (key-hash
# item present, session route → route lock naming this tenant and binding, message records). A remembered name
# that went stale (key rotated, chat unbound, session moved) names an item that is not the one checked, which
# is then read on its own: one more round trip, never a send the tenant may no longer make.
_TENANT_OF_KEY = Hints(HINT_LIMIT)  # key hash → tenant id
_BINDING_OF_SESSION = Hints(HINT_LIMIT)  # (tenant id, channel, session key) → Binding


def reset_hints() -> None:
    """Forget what earlier sends learnt (tests that need a cold container)."""
    _TENANT_OF_KEY.clear()
    _BINDING_OF_SESSION.clear()


@dataclass
class _Noted:
    refs: list[str] = field(default_factory=list)

    def owns(self, ref: str) -> bool:
        self.refs.append(ref)
        return True


def _read_ahead(caller: Caller, request: OutboundRequest, sender: Sender) -> table.ReadSet:
    """Every item this send will read that can be named before reading anything, in one BatchGetItem: the
    key-hash item, the session route, the route lock it named last time, and the message records and topic
    route that the plan for that route would check (the plan is pure: drawn up here once on the remembered
    binding just to learn those names, and drawn up again on the binding actually read)."""
    keys: list[dict[str, str]] = []
    if caller.tenant_id is None and caller.key_hash is not None:
        keys.append(table.key_hash_key(caller.key_hash))
    tenant_id = caller.tenant_id or (_TENANT_OF_KEY.get(caller.key_hash) if caller.key_hash else None)
    if tenant_id is not None:
        keys.append(table.session_key(tenant_id, request.channel, request.sessionKey))
        hinted: Binding | None = _BINDING_OF_SESSION.get((tenant_id, request.channel, request.sessionKey))
        if hinted is not None:
            keys.append(table.route_key(hinted.route_key))
            if request.op != "action":
                keys.extend(_plan_keys(sender, hinted, request))
    return table.ReadSet(keys)


def _plan_keys(sender: Sender, binding: Binding, request: OutboundRequest) -> list[dict[str, str]]:
    noted = _Noted()
    try:
        plan = sender.plan(Destination(binding=binding, owns=noted.owns), request)
    except MuxError:
        return []  # the real plan will say so
    keys = [table.message_key(binding.route_key, ref) for ref in [*noted.refs, *plan.acts_on]]
    if plan.posts_into and plan.posts_into != binding.route_key:
        keys.append(table.route_key(plan.posts_into))
    return keys


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
