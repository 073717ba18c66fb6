"""The outbound sender interface every platform implements, and the registry that finds a channel's sender.

A platform plugs in by adding `chalicelib/channels/<channel>/outbound.py` exposing `SENDER` (an object that
satisfies :class:`Sender`) and listing the module in `_SENDER_MODULES`; the outbound route and service never
change. Senders get a :class:`Destination` that the service has already resolved from the session route and
checked against the route lock, so a sender never chooses where a message goes: it only maps the request onto
the platform API for that fixed destination.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.config import Settings
from chalicelib.models import Binding, OutboundRequest

# channel → module exposing SENDER; imported on first use (cold start only pays for the channel it serves).
_SENDER_MODULES: dict[str, str] = {
    "telegram": "chalicelib.channels.telegram.outbound",
    "discord": "chalicelib.channels.discord.outbound",
    "whatsapp": "chalicelib.channels.whatsapp.outbound",
}
_overrides: dict[str, Sender] = {}

# Platform calls one send may make. The API function has 30 s (API Gateway answers at 29 s) and the calls of
# a send are sequential: at a normal 0.2–1 s per call, 20 calls fit with room for a slow one and the
# bookkeeping writes (two per part), where a 1 MB text (≈ 256 Telegram messages) never could. It is also
# Telegram's limit of 20 messages a minute in one group: a longer send would be rate limited midway anyway.
MAX_PARTS = 20


@dataclass(frozen=True)
class Destination:
    """Where a send goes: the tenant's bound route, plus a hook to persist a platform-announced move.

    `relocate(new_chat_id, new_route_key)` moves the binding (e.g. a Telegram group upgraded to a supergroup)
    and returns the updated binding; the sender then retries on the new chat. `owns(ref)`: whether the mux sent
    that message to (or forwarded it from) this route for this tenant; None answers no.
    """

    binding: Binding
    relocate: Callable[[str, str], Binding] | None = None
    owns: Callable[[str], bool] | None = None

    @property
    def chat_id(self) -> str:
        return self.binding.chat_id

    @property
    def topic_id(self) -> str | None:
        return self.binding.topic_id


@dataclass
class SendResult:
    """Provider message ids in send order (the first is the answer's `messageId`) and the destination id."""

    message_ids: list[str]
    chat_id: str | None = None
    channel_id: str | None = None
    to_jid: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """CONTRACT §7 success body; only the destination key that applies to the platform is present."""
        if not self.message_ids or not all(isinstance(m, str) and m for m in self.message_ids):
            raise ValueError("a successful send needs at least one non-empty provider message id")
        out: dict[str, Any] = {"ok": True, "messageId": self.message_ids[0], "providerMessageIds": self.message_ids}
        for key, value in (("chatId", self.chat_id), ("channelId", self.channel_id), ("toJid", self.to_jid)):
            if value is not None:
                out[key] = value
        out.update(self.extra)
        return out


@dataclass
class SendPlan:
    """One logical send as the platform calls it takes, planned without I/O so the service can check the route
    lock first and resume an interrupted send at the first part not delivered.

    `parts` run in order, each returning the provider message id of what it delivered; they must come out the
    same for the same request (a retry skips the parts already delivered). `result` builds the answer from
    every part's id. `acts_on`: references of existing messages the call acts on (edit, react, delete, answer
    a callback); each must be one the mux sent to or forwarded from this tenant's route. `posts_into`: the
    route key of a more specific route (a topic of a bound chat) the parts post into; another tenant's binding
    there refuses the send. `new_messages`: the parts create messages (their ids are recorded for later edits).
    """

    parts: list[Callable[[], str]]
    result: Callable[[list[str]], SendResult]
    acts_on: list[str] = field(default_factory=list)
    posts_into: str | None = None
    new_messages: bool = True


class Sender(Protocol):
    """One platform's outbound side."""

    channel: str

    def enabled(self, settings: Settings) -> bool:
        """Whether the platform is configured (else the route answers 400 CHANNEL_DISABLED)."""
        ...

    def validate(self, request: OutboundRequest) -> None:
        """Reject what can never be sent (400 UNSUPPORTED_METHOD, INVALID_REQUEST …) before any I/O."""
        ...

    def plan(self, destination: Destination, request: OutboundRequest) -> SendPlan:
        """The platform calls that deliver a send request to the bound destination (no I/O yet); running a
        part raises ProviderError on a platform failure (ProviderOutcomeUnknownError when it may be out)."""
        ...

    def typing(self, destination: Destination, request: OutboundRequest | None = None) -> None:
        """Show a typing indicator on the bound destination."""
        ...


def sender_for(channel: str) -> Sender | None:
    """The sender of `channel`, or None when no sender module exists for it (yet)."""
    if channel in _overrides:
        return _overrides[channel]
    module_name = _SENDER_MODULES.get(channel)
    if module_name is None:
        return None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # The platform's package or module does not exist (yet); a failing import inside it still raises.
        if exc.name is None or not module_name.startswith(exc.name):
            raise
        return None
    sender: Sender = module.SENDER
    return sender


def register(channel: str, sender: Sender | None) -> None:
    """Install (or with None, remove) a sender for `channel` ahead of the module registry (tests, plug-ins)."""
    if sender is None:
        _overrides.pop(channel, None)
    else:
        _overrides[channel] = sender
