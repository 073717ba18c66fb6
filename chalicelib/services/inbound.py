"""The inbound pipeline for one queued event: dedupe, route → binding, claims, bot commands, forwarding.

Raises `RetryLater` for failures worth retrying (OpenClaw down, tenant without target, AWS hiccups) and
`Rejected` for permanent ones (OpenClaw refused the envelope: 400, 413, 415, 422); the worker turns them into
visibility backoff or a dead letter. Pairing-token messages and bot commands are never forwarded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from chalicelib import observability, secrets
from chalicelib.channels.base import (
    Command,
    InboundMessage,
    Receiver,
    UnusableEventError,
    find_token,
    receiver_for,
)
from chalicelib.clock import now_ms
from chalicelib.config import get_settings
from chalicelib.delivery import post_envelope, status_dimension
from chalicelib.models import Binding, QueuedEvent, Tenant
from chalicelib.services import notify_events, sessions
from chalicelib.services.hints import HINT_LIMIT, Hints
from chalicelib.services.pairing import new_binding_id
from chalicelib.storage import bindings as binding_store
from chalicelib.storage import events, messages
from chalicelib.storage import table as tbl
from chalicelib.storage import tenants as tenant_store
from chalicelib.storage.table import sha256_hex

CONTROL_COMMANDS = {"bot_help", "bot_status", "bot_unpair", "bot_switch", "bot_sessions", "bot_use"}
TOUCH_INTERVAL_MS = 5 * 60 * 1000


class RetryLaterError(Exception):
    def __init__(self, reason: str, status: int | None = None, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason  # loggable
        self.status = status
        self.detail = detail  # OpenClaw's answer: for the dead letter only


class DeferredError(Exception):
    """Not enough time left in this invocation to wait for the tenant's OpenClaw: try again at once,
    in another invocation (not an attempt: no backoff, no budget used)."""


class RejectedError(Exception):
    def __init__(self, reason: str, status: int | None, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason  # loggable
        self.status = status
        self.detail = detail  # OpenClaw's answer: for the dead letter only



class ForwardGate(Protocol):
    """The worker's say over one forward (services.recovery: probe or park while a tenant is down)."""

    def forwarding(self, tenant: Tenant, binding: Binding) -> None: ...  # whose message this is (events)

    def before(self, tenant_id: str, timeout_ms: int) -> None: ...  # may raise to not forward at all

    def after(self, tenant_up: bool) -> None: ...


# Time kept in hand after a forward's own timeout: the bookkeeping that follows a delivery.
DEADLINE_MARGIN_MS = 3000


def process(event: QueuedEvent, attempt: int, time_left_ms: Callable[[], int] | None = None,
            gate: ForwardGate | None = None) -> str:
    """Handle one event; returns its outcome (for logs and metrics). `time_left_ms` is the invocation's
    remaining time: a forward that could outlast it is deferred instead of started."""
    receiver = receiver_for(event.channel)
    if receiver is None:
        return "ignored"
    try:
        msg = receiver.parse(event.payload)
    except UnusableEventError as exc:
        # Queued before the webhook validated updates completely: it can never be processed.
        observability.count("UpdatesUnusable", channel=event.channel, reason=exc.reason)
        return "unusable"
    if msg is None:
        return "ignored"
    return _process_message(receiver, msg, attempt, time_left_ms, event.receivedAtMs, gate)


# Names, not answers (as in services/outbound.py): the tenant that owned a route when this container last forwarded
# from it, only to *name* the tenant item in the message's one BatchGetItem. The tenant used is always the one the
# route read in that batch names, read strongly consistent for this message: when the hint went stale (the route
# is another tenant's now) the named item is simply not the one used, and the right one is read on its own (one
# more round trip, never a forward to a tenant the route no longer names).
_TENANT_OF_ROUTE = Hints(HINT_LIMIT)  # route key → tenant id


def reset_hints() -> None:
    """Forget what earlier messages taught (tests that need a cold container)."""
    _TENANT_OF_ROUTE.clear()


def _lookup(msg: InboundMessage) -> tuple[bool, Binding | None, dict[str, Binding], tbl.ReadSet]:
    """Dedupe record, candidate routes and the tenant the route named last time, in one BatchGetItem."""
    candidates = msg.route_candidates
    keys = [events.key(msg.event_id)] + [tbl.route_key(r) for r in candidates]
    for route in candidates:
        hinted = _TENANT_OF_ROUTE.get(route)
        if hinted is not None:
            keys.append(tbl.tenant_key(hinted))
    reads = tbl.ReadSet(keys)
    found = reads.found()
    handled = any(i.get("type") == "event" and events.is_handled(i, now_ms()) for i in found)
    routes = {
        i["routeKey"]: binding_store.binding_from_item(i) for i in found if i.get("type") == "route"
    }
    binding = next((routes[r] for r in candidates if r in routes), None)
    return handled, binding, routes, reads


def _process_message(
    rx: Receiver, msg: InboundMessage, attempt: int, time_left_ms: Callable[[], int] | None,
    received_at_ms: int, gate: ForwardGate | None = None,
) -> str:
    settings = get_settings()
    handled, binding, routes, reads = _lookup(msg)
    if handled:
        observability.count("DuplicatesSkipped", channel=msg.channel)
        return "duplicate"
    outcome: str
    tenant_id = binding.tenant_id if binding else None
    if msg.kind == "message":
        token = msg.token
        cmd = msg.command
        if cmd is not None and cmd.name in CONTROL_COMMANDS:
            outcome = _control(rx, msg, cmd, binding, routes.get(msg.route_key))
            _mark(msg, outcome, tenant_id)
            return outcome
        if token is not None:
            outcome = _claim(rx, msg, token, routes.get(msg.route_key), replace=False)
            _mark(msg, outcome, tenant_id)
            return outcome
        _refuse_if_owner_deleted(msg, binding, routes, received_at_ms)
        if binding is None:
            if (msg.is_private and msg.forwardable) or cmd is not None:
                rx.notify(msg, settings.unpaired_hint_text)
                _mark(msg, "unpaired_hint", None)
                return "unpaired_hint"
            # Chatter in an unpaired group has no effect to repeat: no dedupe record (a write per message
            # in every busy group the bot sits in, for nothing).
            return "unpaired_ignored"
    else:
        _refuse_if_owner_deleted(msg, binding, routes, received_at_ms)
        if binding is None:
            rx.acknowledge(msg)
            _mark(msg, "unpaired_callback", None)
            return "unpaired_callback"
    assert binding is not None
    if not msg.forwardable:
        # Service messages (joins, pins, title changes …), live-location moves, callbacks without data:
        # nothing for the agent, and OpenClaw would refuse a content-less envelope.
        observability.count("NotForwarded", channel=msg.channel, reason="service" if msg.service else "empty")
        if msg.kind == "callback":
            _answer_callback_once(rx, msg)
        _mark(msg, "not_forwarded", binding.tenant_id)
        return "not_forwarded"
    _forward(rx, msg, binding, attempt, time_left_ms, gate, reads)
    _mark(msg, "forwarded", binding.tenant_id, owned_on=binding.route_key)
    return "forwarded"


def _refuse_if_owner_deleted(
    msg: InboundMessage, binding: Binding | None, routes: dict[str, Binding], received_at_ms: int
) -> None:
    """Dead-letter ("tenant deleted") a message whose route belonged, when it arrived, to a tenant deleted
    since: it is never forwarded elsewhere, even if the route was bound to another tenant after the delete.

    Costs nothing on the hot path: a binding older than the message settles it; only an unbound route or a
    binding newer than the message reads the deletion markers (one BatchGetItem). Most specific route
    first: a marker younger than the message means the deleted tenant owned it then; a binding older than
    the message means that binding did, and less specific routes do not matter.
    """
    if binding is not None and binding.created_at_ms <= received_at_ms:
        return
    candidates = msg.route_candidates
    gone = tenant_store.deleted_routes(candidates, now_ms())
    for route in candidates:
        if gone.get(route, 0) > received_at_ms:
            observability.count("ForwardSkipped", reason="tenant_deleted")
            raise RejectedError("tenant deleted", None)
        owner = routes.get(route)
        if owner is not None and owner.created_at_ms <= received_at_ms:
            return


def _mark(msg: InboundMessage, outcome: str, tenant_id: str | None, owned_on: str | None = None) -> None:
    now = now_ms()
    # A forwarded message (and callback) becomes one the tenant may edit, react to or answer on its route;
    # that record rides in the dedupe record's write.
    also = None
    if owned_on is not None and tenant_id is not None:
        also = [messages.item(owned_on, ref, tenant_id, now) for ref in msg.refs]
        if msg.typing_ref is not None:
            # The newest forwarded message of the route: what a typing indicator names (WhatsApp marks it read).
            also.append(messages.latest_inbound_item(owned_on, msg.typing_ref, tenant_id, now))
    events.mark_handled(msg.event_id, outcome, now, get_settings().dedupe_ttl_sec, tenant_id, also=also)


# --- forwarding -------------------------------------------------------------------------------
def _session_for(rx: Receiver, msg: InboundMessage, binding: Binding) -> tuple[str, bool]:
    """The session key of this message, and whether its session route must be (re)written.

    A binding's own session key is used as is; a thread under a chat binding (a Telegram private-chat
    thread) gets its own derived key (`…:thread:<n>`) whose session route points at that thread for
    outbound sends.
    """
    if msg.thread_id and not binding.session_override:
        return rx.session_key(msg, binding.agent_id, thread=True), True
    return binding.session_key, False


def _forward(
    rx: Receiver, msg: InboundMessage, binding: Binding, attempt: int, time_left_ms: Callable[[], int] | None,
    gate: ForwardGate | None = None, reads: tbl.ReadSet | None = None,
) -> None:
    settings = get_settings()
    observability.log_keys(tenant_id=binding.tenant_id, route_key=binding.route_key, event_id=msg.event_id)
    if msg.kind == "callback":
        _answer_callback_once(rx, msg)
    # The tenant the route read names: from the message's batch when the hint named it, else a GetItem.
    tenant = tenant_store.get(binding.tenant_id, reads)
    if tenant is None:
        _TENANT_OF_ROUTE.drop(binding.route_key)
    else:
        _TENANT_OF_ROUTE.put(binding.route_key, tenant.tenant_id)
    if tenant is None:
        # A route lock outliving its tenant (written by a claim racing the delete): never forwarded.
        observability.count("ForwardSkipped", reason="tenant_deleted")
        raise RejectedError("tenant deleted", None)
    if gate is not None:
        gate.forwarding(tenant, binding)
    if tenant.disabled:
        observability.count("ForwardSkipped", reason="tenant_disabled")
        raise RetryLaterError("tenant is disabled or deleted")
    if not tenant.inbound_url:
        observability.count("ForwardSkipped", reason="no_inbound_target")
        raise RetryLaterError("tenant has no inbound target")
    if time_left_ms is not None and time_left_ms() < tenant.inbound_timeout_ms + DEADLINE_MARGIN_MS:
        raise DeferredError()
    if gate is not None:  # before the media downloads (inside the envelope): a parked message costs none
        gate.before(tenant.tenant_id, tenant.inbound_timeout_ms)
        # It may have waited for another forward's first contact with the tenant.
        if time_left_ms is not None and time_left_ms() < tenant.inbound_timeout_ms + DEADLINE_MARGIN_MS:
            raise DeferredError()
    session_key, sub_session = _session_for(rx, msg, binding)
    envelope = rx.envelope(
        msg,
        session_key=session_key,
        account_id=settings.openclaw_account_id,
        route_key=binding.route_key,
        settings=settings,
    )
    if msg.media:
        events.record_files(msg.channel, msg.media, tenant.tenant_id, binding.route_key, now_ms(),
                            settings.dedupe_ttl_sec)
    extra_headers = None
    if tenant.mode == "jwt":
        from chalicelib.services import instances

        # A runtime-JWT OpenClaw wants a fresh mux-signed token per attempt and its id in header and body.
        key = instances.inbound_token(tenant.tenant_id)
        envelope["openclawId"] = tenant.tenant_id
        extra_headers = {"X-OpenClaw-Id": tenant.tenant_id}
    else:
        key = secrets.decrypt_key(tenant.tenant_id, tenant.key_ciphertext)
    result = post_envelope(tenant.inbound_url, key, envelope, tenant.inbound_timeout_ms, extra_headers)
    if gate is not None:
        gate.after(result.delivered or not result.retryable)
    if not result.delivered:
        # By status, so an operator sees "a tenant answers 401" (dimension values are bounded).
        observability.count("ForwardFailures", channel=msg.channel, status=status_dimension(result.status))
        if result.retryable:
            raise RetryLaterError(result.reason, result.status, result.detail)
        raise RejectedError(result.reason, result.status, result.detail)
    observability.count("Forwarded", channel=msg.channel)
    _after_forward(rx, msg, binding, tenant, session_key, sub_session)


def _answer_callback_once(rx: Receiver, msg: InboundMessage) -> None:
    """Acknowledge the callback on the first attempt only — also after a redrive from the dead letters
    (attempts start again there): the side effect is recorded under the event id."""
    effect = f"{msg.event_id}#answered"
    if events.is_handled(tbl.get(events.key(effect)), now_ms()):
        return
    rx.acknowledge(msg)
    events.mark_handled(effect, "callback_answered", now_ms(), get_settings().dedupe_ttl_sec, None)


def _after_forward(
    rx: Receiver, msg: InboundMessage, binding: Binding, tenant: Tenant, session_key: str, sub_session: bool
) -> None:
    """Activity bookkeeping, throttled so a busy chat costs no extra write per message."""
    now = now_ms()
    try:
        if sub_session:
            thread = binding.model_copy(update={"session_key": session_key, "topic_id": msg.thread_id})
            binding_store.touch(thread, now, refresh_session=True, route_too=False)
        if binding.last_seen_at_ms is None or now - binding.last_seen_at_ms > TOUCH_INTERVAL_MS:
            binding_store.touch(
                binding, now, refresh_session=binding.session_override, route_too=True,
                display=rx.display(msg, topic_id=binding.topic_id, claim=False),
            )
    except Exception:  # noqa: BLE001 - bookkeeping must not turn a delivered message into a retry
        observability.logger().warning("activity bookkeeping failed", exc_info=True)


# --- pairing ----------------------------------------------------------------------------------
def _claim(rx: Receiver, msg: InboundMessage, token: str, existing: Binding | None, *, replace: bool) -> str:
    settings = get_settings()
    now = now_ms()
    token_hash = sha256_hex(token)
    item = binding_store.get_token(token_hash, now)
    if item is not None and item.get("claimedBy") is not None:
        if binding_store.claimed_by_event(item, msg.event_id, existing):
            # A retry after a crash between this event's claim and its dedupe record: it did pair.
            observability.logger().info("claim already made by this event")
            notify_events.claimed(str(item["tenantId"]), existing, None, item.get("tokenId"), msg.event_id)
            rx.notify(msg, settings.pairing_success_text)
            return "claimed"
        item = None  # used by another message
    tenant = tenant_store.get(str(item["tenantId"])) if item else None
    if item is None or item.get("channel") != msg.channel or tenant is None or tenant.disabled:
        observability.count("PairingFailures", channel=msg.channel, reason="invalid_token")
        rx.notify(msg, settings.pairing_invalid_text)
        return "claim_invalid"
    agent_id = item.get("agentId")
    override = item.get("sessionKey")
    session_key = override or rx.session_key(msg, agent_id, thread=False)
    binding = Binding(
        binding_id=new_binding_id(),
        tenant_id=tenant.tenant_id,
        channel=msg.channel,
        scope=msg.scope,
        route_key=msg.route_key,
        session_key=session_key,
        chat_id=msg.chat_id,
        topic_id=msg.topic_id,
        agent_id=agent_id,
        session_override=bool(override),
        created_at_ms=now,
        last_seen_at_ms=None,
        display=rx.display(msg, topic_id=msg.topic_id, claim=True),
    )
    try:
        binding = binding_store.claim(
            token_hash=token_hash, channel=msg.channel, binding=binding, existing=existing, now_ms=now,
            event_id=msg.event_id, keep_claimed_sec=settings.dedupe_ttl_sec, replace=replace,
        )
    except binding_store.ClaimRefusedError as exc:
        observability.count("PairingFailures", channel=msg.channel, reason="refused")
        observability.logger().info("claim refused", extra={"reason": exc.reason})
        rx.notify(msg, settings.pairing_invalid_text)
        return "claim_refused"
    observability.count("Paired", channel=msg.channel)
    _TENANT_OF_ROUTE.put(binding.route_key, tenant.tenant_id)  # the chat's first message reads it in its batch
    notify_events.claimed(tenant, binding, existing if replace else None, item.get("tokenId"), msg.event_id)
    observability.log_keys(tenant_id=tenant.tenant_id, route_key=binding.route_key)
    rx.notify(msg, settings.pairing_success_text)
    return "claimed"


# --- bot control commands ---------------------------------------------------------------------
def _control(rx: Receiver, msg: InboundMessage, cmd: Command, binding: Binding | None, exact: Binding | None) -> str:
    settings = get_settings()
    if cmd.name == "bot_help":
        rx.notify(msg, settings.bot_help_text)
        return "cmd_help"
    if cmd.name == "bot_status":
        if binding is None:
            rx.notify(msg, "Status: not paired. " + settings.unpaired_hint_text)
        else:
            session_key, _ = _session_for(rx, msg, binding)
            rx.notify(
                msg, f"Status: paired.\nSession: {session_key}\nRoute: {binding.route_key}"
            )
        return "cmd_status"
    if cmd.name == "bot_sessions":
        return _sessions_command(rx, msg, binding)
    if not msg.is_private and not rx.is_chat_admin(msg):
        rx.notify(msg, "Only chat administrators can do that.")
        return "cmd_denied"
    if cmd.name == "bot_use":
        return _use_command(rx, msg, cmd, binding)
    if cmd.name == "bot_unpair":
        if binding is None:
            rx.notify(msg, "This chat is not paired.")
            return "cmd_unpair_noop"
        if binding_store.unbind(binding):
            notify_events.binding_removed(binding.tenant_id, binding, notify_events.BY_CHAT_COMMAND)
        observability.count("Unpaired", channel=msg.channel)
        rx.notify(msg, "This chat is no longer paired. Messages here are not forwarded anymore.")
        return "cmd_unpaired"
    token = find_token(cmd.args)
    if token is None:
        rx.notify(msg, "Usage: /bot_switch <pairing token from your dashboard>")
        return "cmd_switch_usage"
    return _claim(rx, msg, token, exact, replace=True)


def _sessions_command(rx: Receiver, msg: InboundMessage, binding: Binding | None) -> str:
    if binding is None:
        rx.notify(msg, "Sessions: none, this chat is not paired.")
        return "cmd_sessions"
    try:
        rx.notify(msg, sessions.listing(sessions.offers(rx, msg, binding)))
    except sessions.NotHereError:
        rx.notify(msg, USE_IN_CHAT_TEXT)
    return "cmd_sessions"


USE_IN_CHAT_TEXT = "This chat's session was set by your dashboard: send this in the chat itself, not in a topic."


def _use_command(rx: Receiver, msg: InboundMessage, cmd: Command, binding: Binding | None) -> str:
    """`/bot_use <number | name>`: switch the chat's binding to one of the sessions it may use (the whole
    chat: its threads and topics follow, under the new key)."""
    if binding is None:
        rx.notify(msg, "This chat is not paired.")
        return "cmd_use_unpaired"
    try:
        offered = sessions.offers(rx, msg, binding)
    except sessions.NotHereError:
        rx.notify(msg, USE_IN_CHAT_TEXT)
        return "cmd_use_refused"
    if not cmd.args:
        rx.notify(msg, "Usage: /bot_use <number or name>\n" + sessions.listing(offered))
        return "cmd_use_usage"
    offer = sessions.pick(offered, cmd.args)
    if offer is None:
        rx.notify(msg, f"{cmd.args[:200]} is not a session this chat can use.\n" + sessions.listing(offered))
        return "cmd_use_refused"
    if offer.current:
        rx.notify(msg, f"This chat already uses {offer.session_key}.")
        return "cmd_use_current"
    try:
        sessions.use(binding, offer)
    except binding_store.SwitchRefusedError as exc:
        observability.logger().info("session switch refused", extra={"reason": exc.reason})
        text = (
            f"{offer.session_key} is in use by another chat." if exc.reason == "in_use"
            else "This chat's pairing changed meanwhile; nothing was switched. Send /bot_sessions to see it now."
        )
        rx.notify(msg, text)
        return "cmd_use_refused"
    observability.count("SessionSwitched", channel=msg.channel)
    rx.notify(
        msg,
        f"This chat now uses {offer.session_key}. Its messages go there from now on; "
        f"{binding.session_key} no longer reaches this chat.",
    )
    return "cmd_use_switched"
