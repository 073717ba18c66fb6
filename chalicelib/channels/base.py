"""The interfaces every platform implements — outbound `Sender`, inbound `Receiver` — and their registries.

A platform plugs in by adding `chalicelib/channels/<channel>/outbound.py` exposing `SENDER` (an object that
satisfies :class:`Sender`) and listing the module in `_SENDER_MODULES`; the outbound route and service never
change. Senders get a :class:`Destination` that the service has already resolved from the session route and
checked against the route lock, so a sender never chooses where a message goes: it only maps the request onto
the platform API for that fixed destination.

Inbound, a platform adds `chalicelib/channels/<channel>/receiver.py` exposing `RECEIVER` (a :class:`Receiver`),
found by the channel's name: it parses a queued payload into one channel-neutral
:class:`InboundMessage` and does everything platform-specific for it (notices, acknowledgements, session keys,
media, the envelope); the inbound service (dedupe, claims, bot commands, forwarding) never names a platform.
"""

from __future__ import annotations

import importlib
import math
import re
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
    sender: Sender | None = _module_attr(module_name, "SENDER")
    return sender


def _module_attr(module_name: str, attr: str) -> Any:
    """`module_name.attr`, or None when the platform's package or module does not exist (yet); a failing
    import inside an existing module still raises."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise
        return None
    return getattr(module, attr)


def register(channel: str, sender: Sender | None) -> None:
    """Install (or with None, remove) a sender for `channel` ahead of the module registry (tests, plug-ins)."""
    if sender is None:
        _overrides.pop(channel, None)
    else:
        _overrides[channel] = sender


# --- inbound ----------------------------------------------------------------------------------
# A channel's receiver is found by name: `chalicelib/channels/<channel>/receiver.py` exposing RECEIVER, for the
# channels the API knows (models.CHANNELS); imported on first use.
_RECEIVER_MODULE = "chalicelib.channels.{channel}.receiver"
_receiver_overrides: dict[str, Receiver] = {}
# Platforms nest payloads a few levels (Telegram: reply_to_message → pinned_message …); real ones stay far below.
MAX_DEPTH = 64
_COMMAND = re.compile(r"^[/!](?P<name>[A-Za-z0-9_]+)(?:@(?P<bot>[A-Za-z0-9_]+))?(?:\s+(?P<args>.*))?$", re.S)
_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])(mpt_[A-Za-z0-9_-]{32})(?![A-Za-z0-9_-])")


class UnusableEventError(ValueError):
    """An authentic event the mux can never process; `reason` is low-cardinality (a metric dimension),
    `fields` names the offending fields (never their values: they may be anything)."""

    def __init__(self, reason: str, fields: list[str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fields = fields or []


def check_payload(value: Any) -> None:
    """Raise UnusableEventError unless `value` is JSON the queue carries unchanged: nesting ≤ MAX_DEPTH,
    strings encodable as UTF-8 (no lone surrogates), finite numbers."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise UnusableEventError("unserialisable") from None
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise UnusableEventError("unserialisable")
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise UnusableEventError("too_deep")
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for k, child in children:
                if isinstance(k, str):
                    stack.append((k, depth))
                stack.append((child, depth + 1))
        elif item is not None and not isinstance(item, bool | int):
            raise UnusableEventError("unserialisable")


@dataclass
class Command:
    name: str  # lower-case, without prefix
    bot: str | None
    args: str


def command(text: str) -> Command | None:
    """A `/name[@bot] args` or `!name args` command at the start of the text."""
    match = _COMMAND.match(text.strip())
    if not match:
        return None
    return Command(match["name"].lower(), match["bot"], (match["args"] or "").strip())


def find_token(text: str) -> str | None:
    """A pairing token (CONTRACT §6) anywhere in the text: `/start <token>`, `/bot_switch <token>`, bare."""
    match = _TOKEN.search(text)
    return match.group(1) if match else None


@dataclass
class InboundMessage:
    """One inbound platform event, channel-neutral: what dedupe, routing, pairing and forwarding need.

    `kind` is "message" (content a user sent) or "callback" (a press on a button of a message the bot sent,
    which the platform wants acknowledged). `route_candidates` are the routes a binding may sit on, most
    specific first; `route_key` is the one a claim binds (`claim_route`, else the most specific one).
    `thread_id`: a thread inside a chat-scoped route that gets its own session key (and session route) under
    the chat's binding. `command` is already None when addressed to another bot. `refs`: message references
    the tenant may act on once forwarded (edit, react, reply). `native` is the channel's own parsed form, for
    the receiver's use only.
    """

    channel: str
    event_id: str
    kind: str
    route_candidates: list[str]
    scope: str
    chat_id: str
    topic_id: str | None
    is_private: bool
    text: str
    forwardable: bool
    native: Any
    thread_id: str | None = None
    command: Command | None = None
    token: str | None = None
    media: list[dict[str, Any]] = field(default_factory=list)  # each with "fileId" (the file proxy's id)
    refs: list[str] = field(default_factory=list)
    service: bool = False  # a platform note about the chat itself (not forwarded)
    # The reference a typing indicator names on this route once forwarded (WhatsApp: the newest message).
    typing_ref: str | None = None
    # The route a claim binds when it is not the most specific one (a Discord thread binds its parent channel).
    claim_route: str | None = None

    @property
    def route_key(self) -> str:
        return self.claim_route or self.route_candidates[0]


@dataclass(frozen=True)
class PairingHint:
    """How a user pairs a chat with a token (CONTRACT §3.3 token answer fields)."""

    start_command: str | None = None
    deep_link: str | None = None
    instructions: str | None = None


class Receiver(Protocol):
    """One platform's inbound side (the webhook route verifies and enqueues; this runs in the worker)."""

    channel: str

    def enabled(self, settings: Settings) -> bool:
        """Whether the platform is configured (else pairing tokens answer 400 CHANNEL_DISABLED)."""
        ...

    def pairing_hint(self, token: str, settings: Settings) -> PairingHint:
        """What the token answer tells the user to do with the token."""
        ...

    def parse(self, payload: dict[str, Any]) -> InboundMessage | None:
        """The queued payload as a message; None for what the mux ignores. Raises UnusableEventError."""
        ...

    def notify(self, msg: InboundMessage, text: str) -> bool:
        """Send a user-facing notice (pairing result, hint, command answer) to the message's chat; best effort."""
        ...

    def acknowledge(self, msg: InboundMessage) -> None:
        """Acknowledge a callback to the platform (Telegram's callback answer); best effort."""
        ...

    def is_chat_admin(self, msg: InboundMessage) -> bool:
        """Whether the sender administers the (group) chat; False when the platform cannot tell."""
        ...

    def session_key(self, msg: InboundMessage, agent_id: str | None, *, thread: bool) -> str:
        """CONTRACT §5 session key of the message's route (with `thread`, of its thread too)."""
        ...

    def envelope(self, msg: InboundMessage, *, session_key: str, account_id: str, route_key: str,
                 settings: Settings) -> dict[str, Any]:
        """The CONTRACT §8 envelope, media fetched and inlined up to the cap."""
        ...

    def download(self, file_id: str, max_bytes: int, *, timeout: float) -> tuple[bytes, str | None] | None:
        """An inbound file's bytes and content type (for the file proxy), or None when the platform does not
        provide it or it exceeds `max_bytes`."""
        ...

    def display(self, msg: InboundMessage, *, topic_id: str | None, claim: bool) -> dict[str, str]:
        """What a human recognises the chat by (`chatType`, `chatTitle`, `topicName`, `userName`,
        `userHandle`, `displayName`), as far as the message tells; absent ones are left out so a refresh never
        erases a name. In a group the user is the one who paired it: taken at the claim only (`claim`)."""
        ...


def receiver_for(channel: str) -> Receiver | None:
    """The receiver of `channel`, or None when no receiver module exists for it (yet)."""
    if channel in _receiver_overrides:
        return _receiver_overrides[channel]
    from chalicelib.models import CHANNELS

    if channel not in CHANNELS:
        return None
    receiver: Receiver | None = _module_attr(_RECEIVER_MODULE.format(channel=channel), "RECEIVER")
    return receiver


def register_receiver(channel: str, receiver: Receiver | None) -> None:
    """Install (or with None, remove) a receiver for `channel` ahead of the module registry (tests, plug-ins)."""
    if receiver is None:
        _receiver_overrides.pop(channel, None)
    else:
        _receiver_overrides[channel] = receiver
