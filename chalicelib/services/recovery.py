"""Tenant outage recovery: while a tenant's OpenClaw is down one message probes it on a short cadence and
every other chat's head is parked; the first answer releases them all.

Per forward of one queue record (a `ForwardGate`):
* steady state: a first receive of a tenant this process has not seen failing reads nothing and writes
  nothing extra (no DynamoDB call per message on the healthy path);
* the tenant's health item (`storage.health`) is read only for a record received before, or for a tenant
  this process saw failing. No item → forward as usual. A probe due → one conditional write makes this
  record the tenant's only prober (its forward is the probe: a real attempt). Otherwise the record is
  parked: hidden for its retry window (`Settings.park_sec`), its receipt handle stored, not attempted and
  not charged; its chat stays closed behind it (FIFO: the group's head is in flight);
* a failed forward marks the tenant down. The failing prober hands the next probe, one probe interval
  away, to the parked head whose own backoff is most due (or keeps it itself), so a message that fails on
  its own cannot hold the whole tenant, and is parked. A record received again that failed while its
  tenant had no health item (a head released after a recovery that fails again) keeps its own backoff and
  marks nothing: one message's own failure does not park a tenant that answers the others;
* any answer from the tenant (delivered, or permanently refused) after reading its item deletes the item
  and releases every parked head at once (visibility 0): they are received again within the poll.

First contact: a tenant this process has not heard answer lately (`TRUSTED_FOR_MS`) gets one forward at a
time until it answers. Concurrent first receives of its other chats (parallel groups of a batch, concurrent
batches) wait for that one's outcome, at most `FIRST_CONTACT_WAIT_MS`: an answer lets them all go at once; a
failure has marked the tenant down by the time they wake, so they are parked instead of each failing on their
own. A tenant that answered lately is forwarded to in parallel as before, with no wait.

Budget: a probe is charged to its message like any attempt only when that message's own backoff step has
come (`Parked.due_ms`); a probe ahead of it is not charged, so a short probe cadence never dead-letters a
message earlier than its backoff would. A head that cannot be parked (item full, write failed) is tried
with the old backoff; a release that fails leaves the head to come back at its park's end, never lost.
"""

from __future__ import annotations

import threading

from chalicelib import observability
from chalicelib.clock import now_ms
from chalicelib.config import get_settings
from chalicelib.models import Binding, Tenant
from chalicelib.queue import change_visibility, set_visibility_batch
from chalicelib.services import notify_events
from chalicelib.storage import health

# Tenants this process saw failing (tenant id → when): only their forwards read the health item.
_suspects: dict[str, int] = {}
_suspects_lock = threading.Lock()
MAX_SUSPECTS = 10_000


class ParkedError(Exception):
    """The record was parked behind its tenant's outage: not attempted, not charged, already hidden."""


def _suspect(tenant_id: str) -> None:
    with _suspects_lock:
        if len(_suspects) >= MAX_SUSPECTS:
            _suspects.clear()  # a health read too many is the only cost
        _suspects[tenant_id] = now_ms()


def _forget(tenant_id: str) -> None:
    with _suspects_lock:
        _suspects.pop(tenant_id, None)


def _is_suspect(tenant_id: str) -> bool:
    with _suspects_lock:
        return tenant_id in _suspects


def reset() -> None:
    """Forget what this process knows (tests, and a fresh process)."""
    with _suspects_lock:
        _suspects.clear()
    _first_contact.clear()


PLAIN, PROBE = "plain", "probe"

TRUSTED_FOR_MS = 60_000  # a tenant that answered this long ago or less is forwarded to in parallel
FIRST_CONTACT_WAIT_MS = 1_000  # the longest a forward waits for another's first contact (OpenClaw answers 202 at once)


class _FirstContact:
    """Per process: when each tenant last answered, and the one forward in flight to each tenant that has not
    answered lately (waiters block on its Event, set when its record's handling ends)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answered: dict[str, int] = {}
        self._leads: dict[str, threading.Event] = {}

    def begin(self, tenant_id: str, now: int) -> tuple[threading.Event | None, bool]:
        """(event, leading): (None, False) for a tenant that answered lately; (a new event, True) when this
        forward is the tenant's first contact; (the lead's event, False) when another forward is."""
        with self._lock:
            answered = self._answered.get(tenant_id)
            if answered is not None and now - answered < TRUSTED_FOR_MS:
                return None, False
            lead = self._leads.get(tenant_id)
            if lead is not None:
                return lead, False
            if len(self._leads) >= MAX_SUSPECTS:
                return None, False  # bounded: beyond it, forwards simply go
            event = self._leads[tenant_id] = threading.Event()
            return event, True

    def answered(self, tenant_id: str, now: int) -> None:
        with self._lock:
            if len(self._answered) >= MAX_SUSPECTS and tenant_id not in self._answered:
                self._answered.clear()  # a first contact too many is the only cost
            self._answered[tenant_id] = now
            lead = self._leads.pop(tenant_id, None)
        if lead is not None:
            lead.set()

    def end(self, tenant_id: str, event: threading.Event) -> None:
        with self._lock:
            if self._leads.get(tenant_id) is event:
                del self._leads[tenant_id]
        event.set()

    def clear(self) -> None:
        with self._lock:
            self._answered.clear()
            leads, self._leads = list(self._leads.values()), {}
        for event in leads:
            event.set()


_first_contact = _FirstContact()


class ForwardGate:
    """Decides, for one queue record, whether its forward is tried, is the tenant's probe, or is parked."""

    def __init__(self, message_id: str, receipt_handle: str, *, retried: bool) -> None:
        self.message_id = message_id
        self.receipt_handle = receipt_handle
        self.retried = retried
        self.tenant_id: str | None = None
        self.mode = PLAIN
        self.early_probe = False  # a probe ahead of this message's own backoff: not charged
        self.forward_failed = False  # the tenant did not answer (set after the forward)
        self._seen_answering = False  # received again, and its tenant was not down when it was tried
        self._health: health.Health | None = None
        self._lead: threading.Event | None = None  # this forward is its tenant's first contact
        self.tenant: Tenant | None = None  # whose message this is, once the pipeline read it (for events)
        self.binding: Binding | None = None

    def forwarding(self, tenant: Tenant, binding: Binding) -> None:
        """The pipeline read the message's tenant and binding (no extra read: events reuse them)."""
        self.tenant, self.binding = tenant, binding

    # --- before and after the forward (called by the inbound pipeline) -------------------------------
    def before(self, tenant_id: str, timeout_ms: int) -> None:
        """Called right before the HTTP forward; raises ParkedError when the record is parked instead."""
        self.tenant_id = tenant_id
        if not self.retried and not _is_suspect(tenant_id) and not self._after_first_contact(tenant_id, timeout_ms):
            return
        now = now_ms()
        try:
            state = health.get(tenant_id, now)
        except Exception:  # noqa: BLE001 - without the health item the forward is simply tried
            observability.logger().warning("tenant health unavailable", exc_info=True)
            return
        if state is None:
            _forget(tenant_id)
            self._seen_answering = self.retried
            return
        _suspect(tenant_id)
        self._health = state
        mine = state.parked.get(self.message_id)
        if state.probe_at_ms <= now:
            hold = now + get_settings().probe_interval_sec * 1000 + timeout_ms
            try:
                won = health.take_probe(tenant_id, state.probe_at_ms, hold, self.message_id)
            except Exception:  # noqa: BLE001 - tried as usual
                observability.logger().warning("could not take the probe", exc_info=True)
                return
            if won:
                self.mode = PROBE
                self.early_probe = mine is not None and mine.due_ms > now
                observability.count("Probes")
                return
        if self._park(mine.due_ms if mine else now):
            raise ParkedError()

    def after(self, tenant_up: bool) -> None:
        """Called with whether the tenant answered (delivered, or refused for good)."""
        self.forward_failed = not tenant_up
        if tenant_up and self.tenant_id is not None:
            _first_contact.answered(self.tenant_id, now_ms())
            self._lead = None
            if self._health is not None:
                self._release(self.tenant_id)

    def close(self) -> None:
        """The record's handling ended (however): forwards waiting on this one's first contact go on, and find
        the tenant marked down if this forward failed (the worker marks it before closing)."""
        if self._lead is not None and self.tenant_id is not None:
            _first_contact.end(self.tenant_id, self._lead)
            self._lead = None

    def _after_first_contact(self, tenant_id: str, timeout_ms: int) -> bool:
        """A first receive of a tenant not known down: lead or await the tenant's first contact. True when the
        awaited one failed (the tenant is suspect now: the caller reads its health, and probes or parks)."""
        event, leading = _first_contact.begin(tenant_id, now_ms())
        if event is None:
            return False
        if leading:
            self._lead = event
            return False
        event.wait(min(timeout_ms, FIRST_CONTACT_WAIT_MS) / 1000)
        return _is_suspect(tenant_id)

    # --- after a failed forward (called by the worker) ----------------------------------------------
    def on_failure(self, attempt: int) -> bool:
        """The forward failed and `attempt` (charged) is within the budget: mark the tenant down and either
        park the record or make it the next probe. False → the caller backs off as before."""
        assert self.tenant_id is not None
        if self._seen_answering:
            # Retried while its tenant answers (released after a recovery, say): most likely this message's
            # own failure, so it keeps its own backoff and does not park the tenant's other chats.
            return False
        settings = get_settings()
        now = now_ms()
        interval = settings.probe_interval_sec
        own_due = now + settings.retry_delay_sec(attempt) * 1000
        try:
            state = health.mark_down(self.tenant_id, now, now + interval * 1000, reschedule=self.mode == PROBE)
        except Exception:  # noqa: BLE001 - the old backoff then applies
            observability.logger().warning("could not mark the tenant down", exc_info=True)
            return False
        _suspect(self.tenant_id)
        self._report_failing(state, now)
        if self.mode != PROBE and state.down_since_ms != now:
            return self._park(own_due)  # another record of this tenant holds the probe
        # This record drives the next probe: hand it to the most due parked head, or keep it.
        if self._hand_probe(state, own_due, interval):
            return self._park(own_due)
        if not self._store(own_due):
            return False
        try:
            change_visibility(self.receipt_handle, interval)
        except Exception:  # noqa: BLE001 - it then comes back at the queue's visibility timeout
            observability.logger().warning("could not schedule the probe", exc_info=True)
        return True

    def on_dead_lettered(self) -> None:
        """The record used its budget: forget it, and hand the probe on if it held it."""
        if self.tenant_id is None:
            return
        interval = get_settings().probe_interval_sec
        now = now_ms()
        try:
            health.unpark(self.tenant_id, self.message_id)
            if self.mode == PROBE:
                # Its probe hold must not outlive it: the next probe is one interval away, as after any failure.
                state = health.mark_down(self.tenant_id, now, now + interval * 1000, reschedule=True)
                self._report_failing(state, now)
                self._hand_probe(state, None, interval)
        except Exception:  # noqa: BLE001 - the parked heads then come back at their park's end
            observability.logger().warning("could not hand the probe on", exc_info=True)

    # --- internals ------------------------------------------------------------------------------------
    def _report_failing(self, state: health.Health, now: int) -> None:
        """delivery.failing once per outage, when it has lasted MUX_EVENTS_FAILING_AFTER_SEC (tenants with an
        eventsUrl only: one conditional write claims the report, so concurrent failures send one)."""
        tenant = self.tenant
        if tenant is None or not tenant.events_url or state.failing_reported_ms is not None:
            return
        if now - state.down_since_ms < get_settings().events_failing_after_sec * 1000:
            return
        try:
            if not health.report_failing(tenant.tenant_id, state.down_since_ms, now):
                return
        except Exception:  # noqa: BLE001 - reported by a later failure instead
            observability.logger().warning("could not record the failing report", exc_info=True)
            return
        notify_events.delivery_failing(tenant, state.down_since_ms)

    def _hand_probe(self, state: health.Health, own_due: int | None, interval: int) -> bool:
        others = sorted(
            ((mid, p) for mid, p in state.parked.items() if mid != self.message_id), key=lambda kv: kv[1].due_ms
        )
        for _mid, parked in others[:3]:
            if own_due is not None and parked.due_ms > own_due:
                break
            try:
                change_visibility(parked.handle, interval)
            except Exception:  # noqa: BLE001, S112 - a stale handle (the head came back meanwhile): next one
                continue
            return True
        return False

    def _store(self, due_ms: int) -> bool:
        assert self.tenant_id is not None
        try:
            return health.park(self.tenant_id, self.message_id, self.receipt_handle, due_ms)
        except Exception:  # noqa: BLE001 - not parked: tried or backed off as before
            observability.logger().warning("could not park", exc_info=True)
            return False

    def _park(self, due_ms: int) -> bool:
        # Hidden first, then recorded: a release that follows the record always wins over the hiding.
        try:
            change_visibility(self.receipt_handle, get_settings().park_sec)
        except Exception:  # noqa: BLE001 - not parked
            observability.logger().warning("could not hide a parked record", exc_info=True)
            return False
        if not self._store(due_ms):
            return False
        observability.count("Parked")
        return True

    def _release(self, tenant_id: str) -> None:
        try:
            old = health.clear(tenant_id)
        except Exception:  # noqa: BLE001 - the next probe releases them, or their park ends
            observability.logger().warning("could not clear tenant health", exc_info=True)
            return
        _forget(tenant_id)
        if old is None:
            return
        if old.failing_reported_ms is not None:  # only the releaser that deleted the item gets here
            notify_events.delivery_recovered(self.tenant or tenant_id, old.down_since_ms)
        handles = [(p.handle, 0) for mid, p in old.parked.items() if mid != self.message_id]
        failed = 0
        if handles:
            try:
                failed = set_visibility_batch(handles)
            except Exception:  # noqa: BLE001 - they come back at their park's end
                observability.logger().warning("could not release parked records", exc_info=True)
                failed = len(handles)
        observability.count("Released", len(handles) - failed)
        observability.logger().info(
            "tenant answers again", extra={"downForMs": now_ms() - old.down_since_ms, "released": len(handles)}
        )
