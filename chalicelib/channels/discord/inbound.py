"""Discord events → the mux's view and envelope: gateway MESSAGE_CREATE dispatches (from the relay) and
interactions (slash commands, buttons), both queued as received.

Two queued shapes, told apart by the dispatch's `t`/`d`: the relay's `{"op":0,"t":"MESSAGE_CREATE","d":{…}}`
(event id `dc:<message id>`) and an interaction object (`dci:<interaction id>`). Routes (CONTRACT §4): a DM or a
user-installed app's private channel (`context` 1/2) is the user's route `discord:default:dm:user:<userId>`; a
guild channel `discord:default:guild:<g>:channel:<c>`; a thread `…:channel:<parent>:thread:<t>`, looked up
after its parent route and bound at the parent (a session per thread). A gateway message names only the
channel it is in: whether that is a thread, and its parent, come from `channel_type` and a channel lookup the
caller supplies (the worker: the Bot API, cached).

Edits (MESSAGE_UPDATE) are not relayed (CONTRACT §9 relays MESSAGE_CREATE only), so they are not forwarded.
Validation as for the other channels: lenient about fields Discord adds, strict about every value the mux reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.channels import filenotes
from chalicelib.channels.base import UnusableEventError

SNOWFLAKE = r"^[0-9]{1,20}$"
DISCORD_EPOCH_MS = 1_420_070_400_000
# Interaction types and answers (Discord's numbers).
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
# Message types carrying what a user wrote: DEFAULT and REPLY. The rest (joins, pins, boosts, thread created,
# call, channel name/icon changes …) are notes about the chat: acknowledged, never forwarded.
USER_MESSAGE_TYPES = (0, 19)
THREAD_CHANNEL_TYPES = (10, 11, 12)
DM_CHANNEL_TYPES = (1, 3)
# Message flag IS_VOICE_MESSAGE.
VOICE_MESSAGE_FLAG = 1 << 13
# Slash commands the mux answers itself (CONTRACT §3.4) besides /pair and /ask; `/bot_switch` too, as text.
CONTROL_COMMANDS = ("bot_status", "bot_unpair", "bot_help", "bot_sessions", "bot_use", "bot_switch")
COMMANDS = ("pair", "ask", *CONTROL_COMMANDS)


class _Dc(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class _User(_Dc):
    id: str = Field(pattern=SNOWFLAKE)
    username: str | None = None
    global_name: str | None = None
    bot: bool | None = None


class _Member(_Dc):
    user: _User | None = None
    nick: str | None = None
    permissions: str | None = Field(None, pattern=r"^[0-9]{1,40}$")


class _Attachment(_Dc):
    id: str = Field(pattern=SNOWFLAKE)
    filename: str = "file"
    size: int | None = Field(None, ge=0)
    url: str
    content_type: str | None = None
    duration_secs: float | int | None = None


class _Sticker(_Dc):
    id: str
    name: str | None = None


class _Reference(_Dc):
    message_id: str | None = Field(None, pattern=SNOWFLAKE)


class _Message(_Dc):
    id: str = Field(pattern=SNOWFLAKE)
    channel_id: str = Field(pattern=SNOWFLAKE)
    guild_id: str | None = Field(None, pattern=SNOWFLAKE)
    author: _User
    content: str = ""
    type: int = 0
    timestamp: str | None = None
    channel_type: int | None = None
    flags: int | None = None
    webhook_id: str | None = None
    attachments: list[_Attachment] = Field(default_factory=list)
    sticker_items: list[_Sticker] | None = None
    message_reference: _Reference | None = None
    member: _Member | None = None


class _Channel(_Dc):
    id: str = Field(pattern=SNOWFLAKE)
    type: int | None = None
    name: str | None = None
    parent_id: str | None = Field(None, pattern=SNOWFLAKE)
    guild_id: str | None = Field(None, pattern=SNOWFLAKE)


class _Option(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a value is a string, number or boolean by the option's type

    name: str
    type: int
    value: str | int | float | bool | None = None


class _CommandData(_Dc):
    name: str
    options: list[_Option] | None = None


class _ComponentData(_Dc):
    custom_id: str
    component_type: int | None = None
    values: list[str] | None = None


class _ComponentMessage(_Dc):
    id: str = Field(pattern=SNOWFLAKE)


class _Interaction(_Dc):
    id: str = Field(pattern=SNOWFLAKE)
    application_id: str = Field(pattern=SNOWFLAKE)
    type: int
    token: str = Field(min_length=1, max_length=1000)
    data: dict[str, Any] | None = None
    guild_id: str | None = Field(None, pattern=SNOWFLAKE)
    channel_id: str | None = Field(None, pattern=SNOWFLAKE)
    channel: _Channel | None = None
    member: _Member | None = None
    user: _User | None = None
    context: int | None = None
    message: _ComponentMessage | None = None


def dm_route(user_id: str) -> str:
    return f"discord:default:dm:user:{user_id}"


def channel_route(guild_id: str, channel_id: str) -> str:
    return f"discord:default:guild:{guild_id}:channel:{channel_id}"


def thread_route(guild_id: str, parent_id: str, thread_id: str) -> str:
    return f"{channel_route(guild_id, parent_id)}:thread:{thread_id}"


@dataclass
class ChannelInfo:
    """What a channel lookup tells: its type, parent (threads) and name."""

    type: int | None
    parent_id: str | None
    name: str | None


ChannelLookup = Callable[[str], ChannelInfo]


@dataclass
class DiscordMessage:
    """One Discord event reduced to what routing, pairing and forwarding need."""

    payload: dict[str, Any]  # the queued payload, the envelope's `raw`
    source: str  # "gateway" | "interaction"
    event_id: str
    kind: str  # envelope kind: "message" | "callback" | "command"
    message_id: str  # the gateway message's id, or the interaction's
    user_id: str
    username: str | None
    global_name: str | None
    channel_id: str  # the channel (or thread) the event happened in
    guild_id: str | None
    thread_id: str | None = None
    parent_id: str | None = None
    channel_name: str | None = None
    text: str = ""
    timestamp_ms: int = 0
    media: list[dict[str, Any]] = field(default_factory=list)
    summary: str | None = None
    reply_to: str | None = None
    # interactions
    interaction_id: str | None = None
    application_id: str | None = None
    interaction_token: str | None = None
    interaction_type: int | None = None
    command_name: str | None = None
    command_args: str = ""
    custom_id: str | None = None
    values: list[str] | None = None
    context: int | None = None
    permissions: int | None = None  # the member's permissions in the channel (interactions in guilds only)
    component_message_id: str | None = None

    @property
    def is_dm(self) -> bool:
        return self.guild_id is None

    @property
    def raw_message(self) -> dict[str, Any]:
        raw: dict[str, Any] = self.payload["d"] if self.source == "gateway" else self.payload
        return raw

    def route_candidates(self) -> list[str]:
        if self.guild_id is None:
            return [dm_route(self.user_id)]
        if self.thread_id is not None and self.parent_id is not None:
            return [thread_route(self.guild_id, self.parent_id, self.thread_id),
                    channel_route(self.guild_id, self.parent_id)]
        return [channel_route(self.guild_id, self.channel_id)]

    @property
    def bind_route(self) -> str:
        """The route a claim binds: the user's DM route, or the channel (a thread's parent)."""
        return self.route_candidates()[-1]

    @property
    def post_channel(self) -> str:
        """Where the bound chat is posted into: the DM channel (the bot's own DM only, else unknown: the
        sender opens it), or the channel (a thread's parent)."""
        if self.guild_id is None:
            return self.channel_id if self.context in (None, 1) else ""
        return self.parent_id if self.thread_id is not None and self.parent_id else self.channel_id

    def session_key(self, agent_id: str | None, *, thread: bool) -> str:
        agent = agent_id or "main"
        if self.guild_id is None:
            return f"agent:{agent}:discord:direct:{self.user_id}"
        if thread and self.thread_id is not None:
            return f"agent:{agent}:discord:channel:{self.thread_id}"
        return f"agent:{agent}:discord:channel:{self.post_channel}"

    @property
    def has_content(self) -> bool:
        return bool(self.text.strip() or self.media or self.summary)

    @property
    def user_name(self) -> str | None:
        return self.global_name or self.username


def _fields(exc: ValidationError) -> list[str]:
    return [".".join(str(p) for p in err.get("loc", ())) for err in exc.errors()[:5]]


def snowflake_ms(snowflake: str) -> int:
    return (int(snowflake) >> 22) + DISCORD_EPOCH_MS


def is_dispatch(payload: dict[str, Any]) -> bool:
    return "t" in payload and "d" in payload


def parse(payload: dict[str, Any], channels: ChannelLookup | None = None) -> DiscordMessage | None:
    """A queued payload as a message; None for what the mux ignores (other dispatches, bots, service
    messages, pings). Raises UnusableEventError. Without `channels`, a gateway message in a guild is taken as
    in the channel it names (the webhook's view, enough to group it; the worker resolves threads)."""
    if is_dispatch(payload):
        return _gateway(payload, channels)
    return _interaction(payload)


def _gateway(payload: dict[str, Any], channels: ChannelLookup | None) -> DiscordMessage | None:
    if payload.get("t") != "MESSAGE_CREATE":
        return None
    data = payload.get("d")
    if not isinstance(data, dict):
        raise UnusableEventError("invalid_fields", ["d"])
    try:
        model = _Message.model_validate(data)
    except ValidationError as exc:
        raise UnusableEventError("invalid_fields", ["d." + f for f in _fields(exc)]) from None
    # Bots (this one included) and webhooks never reach an agent: bot loops.
    if model.author.bot or model.webhook_id is not None or model.type not in USER_MESSAGE_TYPES:
        return None
    msg = DiscordMessage(
        payload=payload, source="gateway", event_id=f"dc:{model.id}", kind="message", message_id=model.id,
        user_id=model.author.id, username=model.author.username, global_name=model.author.global_name,
        channel_id=model.channel_id, guild_id=model.guild_id, text=model.content,
        timestamp_ms=_timestamp_ms(model.timestamp, model.id),
        reply_to=model.message_reference.message_id if model.message_reference else None,
    )
    if model.guild_id is not None and channels is not None and (
        model.channel_type is None or model.channel_type in THREAD_CHANNEL_TYPES
    ):
        info = channels(model.channel_id)
        if info.type in THREAD_CHANNEL_TYPES and info.parent_id:
            msg.thread_id, msg.parent_id = model.channel_id, info.parent_id
        msg.channel_name = info.name
    for item in model.attachments:
        msg.media.append(_attachment(item, model, voice=bool((model.flags or 0) & VOICE_MESSAGE_FLAG)))
    if model.sticker_items:
        names = ", ".join(s.name or "sticker" for s in model.sticker_items)
        msg.summary = f"[sticker: {names}]"
    return msg


def _timestamp_ms(value: str | None, snowflake: str) -> int:
    if value:
        try:
            return int(datetime.fromisoformat(value).timestamp() * 1000)
        except ValueError:
            pass
    return snowflake_ms(snowflake)


def _attachment(item: _Attachment, message: _Message, *, voice: bool) -> dict[str, Any]:
    mime = item.content_type or ""
    kind = mime.split("/", 1)[0] if mime.startswith(("image/", "video/", "audio/")) else "document"
    if kind == "audio" and voice:
        kind = "voice"
    label = {"voice": "voice message"}.get(kind, kind)
    # The file proxy's id names the message so the bytes can be fetched again with a fresh CDN signature.
    out: dict[str, Any] = {
        "type": kind, "kind": label, "fileId": f"{message.channel_id}:{message.id}:{item.id}",
        "attachmentId": item.id, "url": item.url, "mimeType": item.content_type, "fileName": item.filename,
        "size": item.size,
    }
    return {k: v for k, v in out.items() if v is not None}


def _interaction(payload: dict[str, Any]) -> DiscordMessage | None:
    try:
        model = _Interaction.model_validate(payload)
    except ValidationError as exc:
        raise UnusableEventError("invalid_fields", _fields(exc)) from None
    if model.type == PING:
        return None
    if model.type not in (APPLICATION_COMMAND, MESSAGE_COMPONENT):
        raise UnusableEventError("unsupported_type", ["type"])
    user = model.member.user if model.member and model.member.user else model.user
    if user is None:
        raise UnusableEventError("no_sender", ["member.user", "user"])
    channel_id = model.channel.id if model.channel else model.channel_id
    if channel_id is None:
        raise UnusableEventError("invalid_fields", ["channel_id"])
    guild_id = model.guild_id or (model.channel.guild_id if model.channel else None)
    if model.context in (1, 2):  # the bot's DM, or a private channel of a user-installed app: the user's route
        guild_id = None
    msg = DiscordMessage(
        payload=payload, source="interaction", event_id=f"dci:{model.id}", kind="message", message_id=model.id,
        user_id=user.id, username=user.username, global_name=user.global_name, channel_id=channel_id,
        guild_id=guild_id, timestamp_ms=snowflake_ms(model.id), interaction_id=model.id,
        application_id=model.application_id, interaction_token=model.token, interaction_type=model.type,
        context=model.context, channel_name=model.channel.name if model.channel else None,
    )
    if guild_id is not None and model.channel is not None and model.channel.type in THREAD_CHANNEL_TYPES:
        if model.channel.parent_id is None:
            raise UnusableEventError("invalid_fields", ["channel.parent_id"])
        msg.thread_id, msg.parent_id = channel_id, model.channel.parent_id
    if guild_id is not None and model.member is not None and model.member.permissions is not None:
        msg.permissions = int(model.member.permissions)
    try:
        if model.type == APPLICATION_COMMAND:
            _command(msg, _CommandData.model_validate(model.data or {}))
        else:
            data = _ComponentData.model_validate(model.data or {})
            msg.kind, msg.custom_id, msg.values, msg.text = "callback", data.custom_id, data.values, data.custom_id
            msg.component_message_id = model.message.id if model.message else None
    except ValidationError as exc:
        raise UnusableEventError("invalid_fields", ["data." + f for f in _fields(exc)]) from None
    return msg


def _command(msg: DiscordMessage, data: _CommandData) -> None:
    name = data.name.lower()
    if name not in COMMANDS:
        raise UnusableEventError("unknown_command", ["data.name"])
    values = {o.name: o.value for o in data.options or []}
    msg.command_name = name
    if name == "ask":
        prompt = values.get("prompt")
        if not isinstance(prompt, str):
            raise UnusableEventError("invalid_fields", ["data.options.prompt"])
        msg.kind, msg.text = "command", prompt
    elif name == "pair":
        token = values.get("token")
        msg.command_args = token.strip() if isinstance(token, str) else ""
    else:
        msg.command_args = " ".join(str(v) for v in values.values() if v is not None and not isinstance(v, bool))


def ephemeral(payload: dict[str, Any]) -> bool:
    """Whether the deferred answer to an application command is private to its user (/pair and control)."""
    data = payload.get("data")
    return not (isinstance(data, dict) and str(data.get("name", "")).lower() == "ask")


def envelope(msg: DiscordMessage, *, session_key: str, account_id: str, route_key: str,
             attachments: list[dict[str, Any]]) -> dict[str, Any]:
    """The CONTRACT §8 envelope: `body` is the text, the /ask prompt or the button's custom_id exactly as sent."""
    discord: dict[str, Any] = {
        "media": [{k: v for k, v in m.items() if k != "url"} for m in msg.media],
        "rawMessage": msg.raw_message,
        "source": msg.source,
        "userId": msg.user_id,
    }
    for key, value in (("username", msg.username), ("globalName", msg.global_name),
                       ("channelName", msg.channel_name), ("parentId", msg.parent_id)):
        if value:
            discord[key] = value
    if msg.interaction_id is not None:
        discord.update(interactionId=msg.interaction_id, applicationId=msg.application_id,
                       interactionType=msg.interaction_type, context=msg.context)
        if msg.command_name:
            discord["commandName"] = msg.command_name
        if msg.custom_id is not None:
            discord["customId"] = msg.custom_id
            discord["componentMessageId"] = msg.component_message_id
            if msg.values is not None:
                discord["values"] = msg.values
    channel_data: dict[str, Any] = {
        "accountId": account_id,
        "messageId": msg.message_id,
        "channelId": msg.channel_id,
        "routeKey": route_key,
        "discord": discord,
    }
    if msg.guild_id is not None:
        channel_data["guildId"] = msg.guild_id
    if msg.thread_id is not None:
        channel_data["threadId"] = msg.thread_id
    if msg.reply_to is not None:
        channel_data["replyToMessageId"] = msg.reply_to
    out: dict[str, Any] = {
        "eventId": msg.event_id,
        "channel": "discord",
        "event": {"kind": msg.kind, "raw": msg.payload},
        "raw": msg.payload,
        "sessionKey": session_key,
        "accountId": account_id,
        "body": filenotes.body(msg.text, msg.summary, attachments),
        "from": f"discord:{msg.user_id}",
        "to": f"channel:{msg.channel_id}",
        "chatType": "direct" if msg.is_dm else "group",
        "messageId": msg.message_id,
        "timestampMs": msg.timestamp_ms,
        "channelData": channel_data,
    }
    if msg.thread_id is not None:
        out["threadId"] = msg.thread_id
    if attachments:
        out["attachments"] = attachments
    return out
