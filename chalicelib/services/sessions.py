"""Session switching from the chat (`/bot_sessions`, `/bot_use`): which sessions a chat may use, and the switch.

The rule (README, "Session switching"): a chat may only be pointed at its own derived session keys — the key the
channel derives for this chat's route (CONTRACT §5), one per agent the tenant offers (`main` plus the agents it
declared at bootstrap) — and only while that key does not route to another chat. Another chat's key is never
offered, even when that chat is gone: OpenClaw may still answer (or post proactively) to that conversation, and
the chat would take it back with its next pairing. The switch is one transaction (storage.bindings.switch_session).
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.channels.base import InboundMessage, Receiver
from chalicelib.clock import now_ms
from chalicelib.models import Binding
from chalicelib.storage import bindings as binding_store
from chalicelib.storage import tenants as tenant_store

DEFAULT_AGENT = "main"


@dataclass(frozen=True)
class Offer:
    """One session a chat may use: its number in `/bot_sessions`, the key, the agent it derives from (None
    for the current key when the dashboard set it verbatim) and whether the chat uses it now."""

    number: int
    session_key: str
    agent_id: str | None
    current: bool


class NotHereError(Exception):
    """The chat's keys cannot be derived from this message (a thread of a chat whose session the dashboard
    set verbatim): the command must be sent in the chat itself."""


def _derived(rx: Receiver, msg: InboundMessage, binding: Binding, agent: str) -> str:
    """The binding's own session key for `agent`. A derived key is `agent:<id>:<the chat's part>`: the agent
    segment is swapped, so a thread or topic of a chat binding names the chat, not itself. A key the dashboard
    set verbatim says nothing about the chat: the channel derives it from the message on the bound route."""
    if not binding.session_override:
        prefix = f"agent:{binding.agent_id or DEFAULT_AGENT}:"
        if binding.session_key.startswith(prefix):
            return f"agent:{agent}:{binding.session_key[len(prefix):]}"
    if msg.route_key != binding.route_key:
        raise NotHereError()
    return rx.session_key(msg, agent, thread=False)


def offers(rx: Receiver, msg: InboundMessage, binding: Binding) -> list[Offer]:
    """The numbered sessions this chat may use now: its derived key for each offered agent, unless it routes
    to another chat (a pairing token can hand any key to any chat); the current key is always listed."""
    tenant = tenant_store.get(binding.tenant_id)
    agents = [DEFAULT_AGENT, *(tenant.agents if tenant is not None else [])]
    if binding.agent_id and not binding.session_override:
        agents.append(binding.agent_id)
    keys: dict[str, str] = {}
    for agent in agents:
        keys.setdefault(_derived(rx, msg, binding, agent), agent)
    routes = binding_store.session_routes(binding.tenant_id, binding.channel, list(keys))
    out: list[Offer] = []
    if binding.session_key not in keys:  # set verbatim by a pairing token: listed first, as current
        out.append(Offer(1, binding.session_key, None, True))
    for key, agent_id in keys.items():
        route = routes.get(key)
        if key != binding.session_key and route is not None and route.get("bindingId") != binding.binding_id:
            continue  # routes to another chat: never offered
        out.append(Offer(len(out) + 1, key, agent_id, key == binding.session_key))
    return out


def listing(offered: list[Offer]) -> str:
    lines = ["Sessions this chat can use (/bot_use <number or name>):"]
    for o in offered:
        name = f"{o.agent_id}: " if o.agent_id else ""
        lines.append(f"{o.number}. {name}{o.session_key}" + (" (current)" if o.current else ""))
    return "\n".join(lines)


def pick(offered: list[Offer], arg: str) -> Offer | None:
    """The offer named by its number, its agent id or its full session key."""
    arg = arg.strip()
    if arg.isdigit():
        return next((o for o in offered if o.number == int(arg)), None)
    return next((o for o in offered if arg in (o.session_key, o.agent_id)), None)


def use(binding: Binding, offer: Offer) -> Binding:
    """Switch the chat's binding to `offer` (raises storage.bindings.SwitchRefusedError)."""
    return binding_store.switch_session(binding, offer.session_key, offer.agent_id, now_ms())
