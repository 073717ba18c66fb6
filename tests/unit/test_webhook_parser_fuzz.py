"""Hypothesis over the Telegram webhook parser: mutated updates are either refused as unusable (never an
exception), or queued as an event that parses in the worker into an envelope OpenClaw's handler accepts."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chalicelib.channels.telegram import inbound as tg
from chalicelib.models import QueuedEvent
from muxctl.openclaw_inbound import InboundHandler
from tests.inbound_support import fixture

KEY = "tenant-key-0123456789abcdefghijklmnop"
SEEDS = [fixture(name) for name in (
    "private_text.json", "group_text.json", "forum_topic_text.json", "photo.json", "document.json",
    "voice.json", "edited_message.json", "callback_query.json", "my_chat_member.json", "start_token.json",
)]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=2),  # lone surrogates
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def nested(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth):
        value = {"a": [value]}
    return value


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


@st.composite
def mutated_updates(draw: st.DrawFn) -> dict[str, Any]:
    update = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        targets = paths(update)
        if not targets:
            break  # everything was deleted
        path = draw(st.sampled_from(targets))
        parent: Any = update
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "deep", "add"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "deep":
            parent[path[-1]] = nested(draw(st.integers(30, 120)))
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(values)
        else:
            parent[path[-1]] = draw(values)
    return update


def queued(update: dict[str, Any]) -> QueuedEvent | None:
    """What the webhook does with an update: refuse it (None) or queue it."""
    try:
        tg.check_payload(update)
        msg = tg.parse(update)
    except tg.UnusableUpdateError:
        return None
    if msg is None:
        return None
    return QueuedEvent(eventId=msg.event_id, channel="telegram", routeKey=msg.route_key, receivedAtMs=1,
                       payload=update)


# derandomize: the suite stays deterministic (the same 300 cases each run); `make fuzz` may run more.
@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_updates())
def test_a_mutated_update_is_refused_or_queued_as_an_event_the_worker_parses(update: dict[str, Any]) -> None:
    queued_event = queued(update)
    event("queued" if queued_event is not None else "refused or ignored")
    if queued_event is None:
        return
    body = queued_event.model_dump_json()  # what goes onto the queue: must not raise
    again = QueuedEvent.model_validate_json(body)
    msg = tg.parse(again.payload)  # the worker's parse: must not raise
    assert msg is not None and (msg.event_id, msg.route_key) == (queued_event.eventId, queued_event.routeKey)
    event("forwardable" if msg.forwardable else "not forwarded")
    if not msg.forwardable:
        return
    attachments = [{"type": m["type"], "url": f"http://mux/f?id={m['fileId']}"} for m in msg.media]
    envelope = tg.envelope(msg, session_key=msg.session_key(), account_id="mux", route_key=msg.route_key,
                           attachments=attachments)
    raw = json.dumps(envelope, allow_nan=False).encode("utf-8")
    verdict = InboundHandler(KEY).handle("POST", {"Authorization": f"Bearer {KEY}"}, raw)
    assert verdict.status == 202, (verdict.answer, envelope["body"])
    assert verdict.turn is not None
