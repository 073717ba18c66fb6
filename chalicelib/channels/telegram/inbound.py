"""Telegram updates → the mux's view of a message: routes, session keys, text, media, OpenClaw envelope.

Forum supergroups: a message belongs to topic `message_thread_id` when `is_topic_message` is set, else to
the General topic (id 1). In ordinary groups `message_thread_id` marks a reply thread and is ignored for
routing. Private chats with topics (Bot API 9.x) keep one route per chat and get a session key per thread.

Validation: an update is checked completely before it is queued (`parse` raises `UnusableUpdateError`):
lenient about fields Telegram adds (`extra="ignore"`), strict about every value the mux reads (ids and
dates are ints, texts are strings …), and the whole payload must be JSON the queue can carry (bounded
nesting, no lone surrogates, finite numbers). The worker parses the same dict with the same function, so
a queued event always parses there.

What reaches OpenClaw (its handler wants a non-blank body or an attachment with content): text and
captions exactly as sent; media; location, venue, contact, poll and dice as a one-line text body with
the details in `channelData.telegram`; service messages (members joined/left, pins, title/photo changes,
topic events …) are not forwarded (`forwardable` is False). An edit is a new turn: OpenClaw dedupes on
`messageId` for 20 minutes, so each edit gets `<message id>:edit:<edit_date>`; the outbound side maps such
an id back to the Telegram message when the agent replies to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.channels.base import MAX_DEPTH as MAX_DEPTH
from chalicelib.channels.base import Command as Command
from chalicelib.channels.base import UnusableEventError
from chalicelib.channels.base import check_payload as check_payload
from chalicelib.channels.base import command as command
from chalicelib.channels.base import find_token as find_token
from chalicelib.channels.filenotes import describe_file

# Kept under its old name: the webhook, the worker and tests catch it.
UnusableUpdateError = UnusableEventError

HANDLED_UPDATES = ("message", "edited_message", "callback_query")
GENERAL_TOPIC = "1"
# Service messages: Telegram's notes about the chat itself. Acknowledged, never forwarded.
SERVICE_KEYS = (
    "new_chat_members", "left_chat_member", "new_chat_title", "new_chat_photo", "delete_chat_photo",
    "group_chat_created", "supergroup_chat_created", "channel_chat_created",
    "message_auto_delete_timer_changed", "migrate_to_chat_id", "migrate_from_chat_id", "pinned_message",
    "forum_topic_created", "forum_topic_edited", "forum_topic_closed", "forum_topic_reopened",
    "general_forum_topic_hidden", "general_forum_topic_unhidden", "video_chat_scheduled",
    "video_chat_started", "video_chat_ended", "video_chat_participants_invited", "write_access_allowed",
    "users_shared", "chat_shared", "proximity_alert_triggered", "boost_added", "chat_background_set",
    "giveaway_created", "giveaway_completed", "successful_payment", "refunded_payment",
    "connected_website", "passport_data",
)
# Content the mux does not unpack: forwarded as a one-line note so the agent knows something was sent.
_OTHER_CONTENT = {
    "story": "a story", "game": "a game", "invoice": "an invoice", "paid_media": "paid media",
    "giveaway": "a giveaway", "giveaway_winners": "giveaway winners", "checklist": "a checklist",
}


class _Tg(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=True)


class _User(_Tg):
    id: int


class _Chat(_Tg):
    id: int
    type: str = "private"
    is_forum: bool | None = None


class _File(_Tg):
    file_id: str
    file_unique_id: str | None = None
    file_size: int | None = None
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None
    emoji: str | None = None
    is_animated: bool | None = None
    is_video: bool | None = None


class _Location(_Tg):
    latitude: float
    longitude: float
    live_period: int | None = None


class _Venue(_Tg):
    location: _Location
    title: str
    address: str


class _Contact(_Tg):
    phone_number: str
    first_name: str
    last_name: str | None = None
    user_id: int | None = None


class _PollOption(_Tg):
    text: str


class _Poll(_Tg):
    question: str
    options: list[_PollOption]


class _Dice(_Tg):
    emoji: str
    value: int


class _Message(_Tg):
    message_id: int
    date: int
    chat: _Chat
    sender: _User | None = Field(None, alias="from")
    text: str | None = None
    caption: str | None = None
    message_thread_id: int | None = None
    is_topic_message: bool | None = None
    edit_date: int | None = None
    photo: list[_File] | None = None
    document: _File | None = None
    audio: _File | None = None
    video: _File | None = None
    voice: _File | None = None
    video_note: _File | None = None
    animation: _File | None = None
    sticker: _File | None = None
    location: _Location | None = None
    venue: _Venue | None = None
    contact: _Contact | None = None
    poll: _Poll | None = None
    dice: _Dice | None = None


class _CallbackQuery(_Tg):
    id: str
    sender: _User = Field(alias="from")
    data: str | None = None
    message: _Message | None = None


class _Update(_Tg):
    update_id: int
    message: _Message | None = None
    edited_message: _Message | None = None
    callback_query: _CallbackQuery | None = None


def route_key(chat_id: str, topic_id: str | None = None) -> str:
    """CONTRACT §4 route key of a Telegram chat, or of one forum topic of it."""
    base = f"telegram:default:chat:{chat_id}"
    return f"{base}:topic:{topic_id}" if topic_id is not None else base


@dataclass
class TelegramMessage:
    """One inbound Telegram event reduced to what routing, pairing and forwarding need."""

    update_id: int
    kind: str  # "message" | "callback"
    update: dict[str, Any]
    message: dict[str, Any]
    chat_id: str
    chat_type: str  # private | group | supergroup | channel
    is_forum: bool
    topic_id: str | None  # forum topic (General = "1"), None outside forums
    private_thread_id: str | None
    user_id: str | None
    text: str  # text, caption, or callback data, exactly as sent
    message_id: str
    timestamp_ms: int
    media: list[dict[str, Any]] = field(default_factory=list)
    callback: dict[str, Any] | None = None
    edit_date: int | None = None  # set on edited messages
    shared: dict[str, Any] | None = None  # location/venue/contact/poll/dice/other: {"kind", "summary", "data"}
    service: str | None = None  # the service key of a service message

    @property
    def event_id(self) -> str:
        return f"{'tgcb' if self.kind == 'callback' else 'tg'}:{self.update_id}"

    @property
    def turn_id(self) -> str:
        """The envelope's `messageId`: distinct per edit, so OpenClaw's dedupe keeps every edit."""
        return f"{self.message_id}:edit:{self.edit_date}" if self.edit_date is not None else self.message_id

    @property
    def has_content(self) -> bool:
        return bool(self.text.strip() or self.media or self.shared)

    @property
    def forwardable(self) -> bool:
        """Whether OpenClaw gets this event at all: callbacks with data (a game's callback has none, and
        OpenClaw refuses one without), and messages with something in them — not service messages, nor the
        position updates of a live location (each one is an edit)."""
        if self.kind == "callback":
            return bool(self.text.strip())
        if self.edit_date is not None and self.shared is not None and self.shared["kind"] == "location":
            return False
        return self.has_content

    @property
    def is_private(self) -> bool:
        return self.chat_type == "private"

    @property
    def chat_route(self) -> str:
        return route_key(self.chat_id)

    @property
    def route_key(self) -> str:
        """The most specific route of this message."""
        return route_key(self.chat_id, self.topic_id)

    def route_candidates(self) -> list[str]:
        """Binding lookup order: the topic route before its chat route."""
        return [self.route_key] if self.route_key == self.chat_route else [self.route_key, self.chat_route]

    @property
    def scope(self) -> str:
        return "topic" if self.topic_id is not None else "chat"

    @property
    def thread_id(self) -> str | None:
        return self.topic_id if self.topic_id is not None else self.private_thread_id

    def session_key(self, agent_id: str | None = None) -> str:
        """CONTRACT §5 session key for this message's route (and private thread)."""
        agent = agent_id or "main"
        if self.is_private:
            key = f"agent:{agent}:telegram:direct:{self.chat_id}"
            return key + (f":thread:{self.private_thread_id}" if self.private_thread_id else "")
        key = f"agent:{agent}:telegram:group:{self.chat_id}"
        return key + (f":topic:{self.topic_id}" if self.topic_id is not None else "")


def update_kind(update: dict[str, Any]) -> str | None:
    for key in HANDLED_UPDATES:
        if isinstance(update.get(key), dict):
            return key
    return None


def parse(update: dict[str, Any]) -> TelegramMessage | None:
    """Parse a handled update; None for updates the mux ignores (or that carry no chat).

    Raises UnusableUpdateError when a value the mux reads has the wrong type (the update can never be
    processed). Call `check_payload` first for updates that come from outside.
    """
    try:
        parsed = _Update.model_validate(update)
    except ValidationError as exc:
        fields = [".".join(str(p) for p in err.get("loc", ())) for err in exc.errors()[:5]]
        raise UnusableUpdateError("invalid_fields", fields) from None
    kind = update_kind(update)
    if kind is None:
        return None
    callback: dict[str, Any] | None = None
    model: _Message | None
    if kind == "callback_query":
        assert parsed.callback_query is not None
        callback = update["callback_query"]
        model = parsed.callback_query.message
        message = callback.get("message") or {}
        user: _User | None = parsed.callback_query.sender
        text = parsed.callback_query.data or ""
    else:
        model = parsed.message if kind == "message" else parsed.edited_message
        message = update[kind]
        user = model.sender if model is not None else None
        text = (model.text if model.text is not None else model.caption) or "" if model is not None else ""
    if model is None:
        return None  # a callback from an inline message: no chat to route
    chat = model.chat
    chat_type = chat.type
    is_forum = bool(chat.is_forum)
    thread = model.message_thread_id
    topic_id: str | None = None
    private_thread: str | None = None
    if is_forum:
        topic_id = str(thread) if model.is_topic_message and thread else GENERAL_TOPIC
    elif chat_type == "private" and thread:
        private_thread = str(thread)
    edited = kind == "edited_message"
    date = model.edit_date if edited and model.edit_date is not None else model.date
    msg = TelegramMessage(
        update_id=parsed.update_id,
        kind="callback" if callback is not None else "message",
        update=update,
        message=message,
        chat_id=str(chat.id),
        chat_type=chat_type,
        is_forum=is_forum,
        topic_id=topic_id,
        private_thread_id=private_thread,
        user_id=str(user.id) if user is not None else None,
        text=text,
        message_id=str(model.message_id),
        timestamp_ms=date * 1000,
        media=_media(model) if callback is None else [],
        callback=callback,
        edit_date=(model.edit_date if model.edit_date is not None else model.date) if edited else None,
    )
    if callback is None:
        msg.shared = _shared(model, message)
        if not msg.has_content:
            msg.service = next((k for k in SERVICE_KEYS if message.get(k) is not None), None)
    return msg


# Telegram field → (attachment type of CONTRACT §8, how a one-line body names it)
_MEDIA_FIELDS = (
    ("photo", "image", "photo"),
    ("document", "document", "document"),
    ("audio", "audio", "audio"),
    ("video", "video", "video"),
    ("voice", "voice", "voice message"),
    ("video_note", "video", "video message"),
    ("animation", "video", "animation"),
    ("sticker", "sticker", "sticker"),
)


def _default_mime(key: str, item: _File) -> str | None:
    if item.mime_type:
        return item.mime_type
    if key == "photo":
        return "image/jpeg"
    if key == "video_note":
        return "video/mp4"
    if key == "sticker":
        return "video/webm" if item.is_video else "application/x-tgsticker" if item.is_animated else "image/webp"
    return None


def _media(model: _Message) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key, kind, label in _MEDIA_FIELDS:
        if key == "document" and model.animation is not None:
            continue  # Telegram sends an animation twice, as `animation` and as `document`
        value = getattr(model, key)
        if not value:
            continue
        item: _File = value[-1] if isinstance(value, list) else value  # photos: the largest size comes last
        out.append(
            {
                "type": kind,
                "kind": label,
                "fileId": item.file_id,
                "fileUniqueId": item.file_unique_id,
                "fileName": item.file_name,
                "mimeType": _default_mime(key, item),
                "size": item.file_size,
                "width": item.width,
                "height": item.height,
                "duration": item.duration,
                "emoji": item.emoji,
            }
        )
    return out


def _shared(model: _Message, message: dict[str, Any]) -> dict[str, Any] | None:
    """Non-file content as a one-line summary plus its details (the message's own object)."""
    summary: str | None = None
    kind = ""
    if model.venue is not None:
        kind, summary = "venue", f"[venue: {model.venue.title}, {model.venue.address}]"
    elif model.location is not None:
        where = f"{model.location.latitude}, {model.location.longitude}"
        kind = "location"
        summary = f"[live location: {where}]" if model.location.live_period else f"[location: {where}]"
    elif model.contact is not None:
        c = model.contact
        name = " ".join(p for p in (c.first_name, c.last_name) if p)
        kind, summary = "contact", f"[contact: {name}, {c.phone_number}]"
    elif model.poll is not None:
        options = " / ".join(o.text for o in model.poll.options)
        kind, summary = "poll", f"[poll: {model.poll.question} — {options}]"
    elif model.dice is not None:
        kind, summary = "dice", f"[dice {model.dice.emoji}: {model.dice.value}]"
    else:
        for key, label in _OTHER_CONTENT.items():
            if message.get(key) is not None:
                kind, summary = key, f"[{label}]"
                break
    if summary is None:
        return None
    return {"kind": kind, "summary": summary, "data": message.get(kind)}


def addressed_to_other_bot(cmd: Command, bot_username: str | None) -> bool:
    return bool(cmd.bot and bot_username and cmd.bot.lower() != bot_username.lower())


def envelope(
    msg: TelegramMessage,
    *,
    session_key: str,
    account_id: str,
    route_key: str,
    attachments: list[dict[str, Any]],
) -> dict[str, Any]:
    """The CONTRACT §8 envelope; `body` is the text/caption exactly as sent — or, when there is none, a
    one-line note of what was sent that OpenClaw would otherwise never see (shared content, a file that
    could not be inlined)."""
    telegram: dict[str, Any] = {"media": msg.media, "rawMessage": msg.message, "updateId": msg.update_id}
    if msg.callback is not None:
        telegram.update(
            callbackData=msg.text,
            callbackQueryId=str(msg.callback.get("id", "")),
            callbackMessageId=msg.message.get("message_id"),
        )
    if msg.shared is not None:
        telegram[msg.shared["kind"]] = msg.shared["data"]
    channel_data: dict[str, Any] = {
        "accountId": account_id,
        "messageId": msg.turn_id,
        "chatId": msg.chat_id,
        "routeKey": route_key,
        "telegram": telegram,
    }
    if msg.topic_id is not None:
        channel_data["topicId"] = msg.topic_id
    if msg.edit_date is not None:
        channel_data["originalMessageId"] = msg.message_id
        channel_data["editDate"] = msg.edit_date
    out: dict[str, Any] = {
        "eventId": msg.event_id,
        "channel": "telegram",
        "event": {"kind": msg.kind, "raw": msg.update},
        "raw": msg.update,
        "sessionKey": session_key,
        "accountId": account_id,
        "body": _body(msg, attachments),
        "from": f"telegram:{msg.user_id}" if msg.user_id else f"telegram:{msg.chat_id}",
        "to": f"telegram:{msg.chat_id}",
        "chatType": "direct" if msg.is_private else "group",
        "messageId": msg.turn_id,
        "timestampMs": msg.timestamp_ms,
        "channelData": channel_data,
    }
    thread = msg.thread_id
    if thread is not None:
        out["threadId"] = int(thread)
    if attachments:
        out["attachments"] = attachments
    return out


def _body(msg: TelegramMessage, attachments: list[dict[str, Any]]) -> str:
    if msg.kind == "callback" or msg.text.strip():
        return msg.text
    if msg.shared is not None:
        return str(msg.shared["summary"])
    # OpenClaw passes the agent only images (by MIME type) among the attachments: a caption-less file of any
    # other kind (or one over the inline cap) would be an empty turn, so the body names what was sent.
    unseen = [m for m, a in zip(msg.media, attachments, strict=False)
              if not a.get("content") or not str(a.get("mimeType") or "").startswith("image/")]
    if unseen:
        return " ".join(describe_file(m) for m in unseen)
    return msg.text
