"""WhatsApp Cloud API webhooks → one queued payload per message, and each one → the mux's view and envelope.

A webhook POST carries `entry[].changes[].value` blocks, each with `messages` and/or `statuses`. `split` turns it
into one single-message payload per message (same shape, one entry/change/message, the sender's contact kept),
in order, so each is queued, deduped (`wa:<wamid>`) and retried on its own; statuses are only reported back.

Identity: a user is their phone number (`wa_id`, E.164 digits) and/or their business-scoped user id (BSUID,
`from_user_id` / `contacts[].user_id`, e.g. `US.5820…`), which is all there is when the user hides the number.
Routes name the business number the message came to: `whatsapp:<phoneNumberId>:chat:<waId | BSUID | groupId>`;
a direct message looks up both of the sender's routes, the phone number's first.

Validation as for Telegram: lenient about fields Meta adds, strict about every value the mux reads; a message
that can never be processed is reported (UnusableEventError) and the others of the POST still go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.channels import filenotes
from chalicelib.channels.base import UnusableEventError

# Media message types → (attachment type of CONTRACT §8, how a one-line body names it)
MEDIA_TYPES = {
    "image": ("image", "image"),
    "video": ("video", "video"),
    "document": ("document", "document"),
    "audio": ("audio", "audio"),
    "sticker": ("sticker", "sticker"),
}
# Meta's notes about the chat itself (number changed, user identity changed …): acknowledged, never forwarded.
SERVICE_TYPES = ("system", "ephemeral", "request_welcome")


class _Wa(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=True)


class _Metadata(_Wa):
    phone_number_id: str
    display_phone_number: str | None = None


class _Profile(_Wa):
    name: str | None = None
    username: str | None = None


class _Contact(_Wa):
    wa_id: str | None = None
    user_id: str | None = None
    profile: _Profile | None = None


class _Text(_Wa):
    body: str


class _Media(_Wa):
    id: str
    mime_type: str | None = None
    caption: str | None = None
    filename: str | None = None
    sha256: str | None = None
    voice: bool | None = None
    animated: bool | None = None


class _Reply(_Wa):
    id: str
    title: str
    description: str | None = None


class _Interactive(_Wa):
    type: str
    button_reply: _Reply | None = None
    list_reply: _Reply | None = None


class _Button(_Wa):
    text: str
    payload: str | None = None


class _Reaction(_Wa):
    message_id: str
    emoji: str | None = None


class _Location(BaseModel):
    model_config = ConfigDict(extra="ignore")  # coordinates come as JSON numbers, integral or not

    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class _ContactName(_Wa):
    formatted_name: str | None = None


class _ContactPhone(_Wa):
    phone: str | None = None


class _SharedContact(_Wa):
    name: _ContactName | None = None
    phones: list[_ContactPhone] | None = None


class _Context(_Wa):
    id: str | None = None
    sender: str | None = Field(None, alias="from")


class _Message(_Wa):
    id: str = Field(min_length=1)
    timestamp: str = Field(pattern=r"^[0-9]{1,12}$")
    type: str
    sender: str | None = Field(None, alias="from")
    from_user_id: str | None = None
    group_id: str | None = None
    context: _Context | None = None
    text: _Text | None = None
    image: _Media | None = None
    video: _Media | None = None
    document: _Media | None = None
    audio: _Media | None = None
    sticker: _Media | None = None
    interactive: _Interactive | None = None
    button: _Button | None = None
    reaction: _Reaction | None = None
    location: _Location | None = None
    contacts: list[_SharedContact] | None = None


class _Value(_Wa):
    metadata: _Metadata
    contacts: list[_Contact] | None = None


def route_key(phone_number_id: str, chat: str) -> str:
    """CONTRACT §4 route key of a WhatsApp chat (a user's number or BSUID, or a group id) on one business number."""
    return f"whatsapp:{phone_number_id}:chat:{chat}"


@dataclass
class WhatsAppMessage:
    """One inbound WhatsApp message reduced to what routing, pairing and forwarding need."""

    payload: dict[str, Any]  # the single-message webhook body (the envelope's `raw`)
    value: dict[str, Any]
    message: dict[str, Any]
    wamid: str
    type: str
    phone_number_id: str
    display_phone_number: str | None
    wa_id: str | None  # E.164 digits without "+"
    bsuid: str | None
    group_id: str | None
    text: str  # text, caption, reply title … exactly as sent
    timestamp_ms: int
    media: list[dict[str, Any]] = field(default_factory=list)
    summary: str | None = None  # location/contact/reaction …: a one-line body when there is no text
    extra: dict[str, Any] = field(default_factory=dict)  # interactive/button/reaction details for channelData
    service: bool = False
    profile_name: str | None = None

    @property
    def event_id(self) -> str:
        return f"wa:{self.wamid}"

    @property
    def is_group(self) -> bool:
        return self.group_id is not None

    @property
    def user(self) -> str:
        """The sender as CONTRACT §5/§8 spell it: `+<E164>`, or the BSUID when the number is hidden."""
        return f"+{self.wa_id}" if self.wa_id else str(self.bsuid)

    @property
    def chat_id(self) -> str:
        """The chat the route names: the group, else the user's number (digits), else their BSUID."""
        return self.group_id or self.wa_id or str(self.bsuid)

    def route_candidates(self) -> list[str]:
        if self.group_id is not None:
            return [route_key(self.phone_number_id, self.group_id)]
        ids = [i for i in (self.wa_id, self.bsuid) if i]
        return [route_key(self.phone_number_id, i) for i in ids]

    @property
    def has_content(self) -> bool:
        return bool(self.text.strip() or self.media or self.summary)

    def session_key(self, agent_id: str | None = None) -> str:
        """CONTRACT §5: `agent:<a>:whatsapp:direct:+<E164>` (BSUID when no number) or `…:group:<groupId>`."""
        agent = agent_id or "main"
        if self.group_id is not None:
            return f"agent:{agent}:whatsapp:group:{self.group_id}"
        return f"agent:{agent}:whatsapp:direct:{self.user}"


def _fields(exc: ValidationError) -> list[str]:
    return [".".join(str(p) for p in err.get("loc", ())) for err in exc.errors()[:5]]


def split(payload: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[UnusableEventError]]:
    """A webhook body → (one single-message payload per message, in order; the statuses; what is unusable)."""
    messages: list[dict[str, Any]] = []
    statuses: list[dict[str, Any]] = []
    unusable: list[UnusableEventError] = []
    entries = payload.get("entry")
    if not isinstance(entries, list):
        return messages, statuses, [UnusableEventError("invalid_fields", ["entry"])]
    for e_index, entry in enumerate(entries):
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            unusable.append(UnusableEventError("invalid_fields", [f"entry.{e_index}.changes"]))
            continue
        for c_index, change in enumerate(changes):
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                unusable.append(UnusableEventError("invalid_fields", [f"entry.{e_index}.changes.{c_index}.value"]))
                continue
            statuses.extend(s for s in value.get("statuses") or [] if isinstance(s, dict))
            items = value.get("messages") or []
            if not isinstance(items, list):
                unusable.append(UnusableEventError("invalid_fields", ["messages"]))
                continue
            for item in items:
                single = {
                    "object": payload.get("object"),
                    "entry": [{
                        "id": entry.get("id"),
                        "changes": [{
                            "field": change.get("field"),
                            "value": {
                                **{k: v for k, v in value.items() if k not in ("messages", "statuses", "contacts")},
                                "contacts": _contacts_of(value.get("contacts"), item),
                                "messages": [item],
                            },
                        }],
                    }],
                }
                try:
                    parse(single)
                except UnusableEventError as exc:
                    unusable.append(exc)
                    continue
                messages.append(single)
    return messages, statuses, unusable


def _contacts_of(contacts: Any, message: Any) -> list[Any]:
    """The contact entry of the message's sender (a POST may carry several senders' messages)."""
    if not isinstance(contacts, list) or not isinstance(message, dict):
        return []
    ids = {message.get("from"), message.get("from_user_id")} - {None}
    mine = [c for c in contacts if isinstance(c, dict) and ({c.get("wa_id"), c.get("user_id")} & ids)]
    return mine or contacts[:1]


def parse(payload: dict[str, Any]) -> WhatsAppMessage:
    """Parse a single-message payload (as `split` makes them). Raises UnusableEventError."""
    try:
        value = payload["entry"][0]["changes"][0]["value"]
        raw_message = value["messages"][0]
    except (KeyError, IndexError, TypeError):
        raise UnusableEventError("invalid_fields", ["entry.0.changes.0.value.messages.0"]) from None
    try:
        meta = _Value.model_validate(value)
        model = _Message.model_validate(raw_message)
    except ValidationError as exc:
        raise UnusableEventError("invalid_fields", _fields(exc)) from None
    contact = meta.contacts[0] if meta.contacts else None
    wa_id = model.sender or (contact.wa_id if contact else None)
    bsuid = model.from_user_id or (contact.user_id if contact else None)
    if not wa_id and not bsuid:
        raise UnusableEventError("no_sender", ["from", "from_user_id"])
    if wa_id is not None and not wa_id.isdigit():
        raise UnusableEventError("invalid_fields", ["from"])
    msg = WhatsAppMessage(
        payload=payload,
        value=value,
        message=raw_message,
        wamid=model.id,
        type=model.type,
        phone_number_id=meta.metadata.phone_number_id,
        display_phone_number=meta.metadata.display_phone_number,
        wa_id=wa_id,
        bsuid=bsuid,
        group_id=model.group_id or None,
        text="",
        timestamp_ms=int(model.timestamp) * 1000,
        profile_name=contact.profile.name if contact and contact.profile else None,
    )
    _content(msg, model)
    return msg


def _content(msg: WhatsAppMessage, model: _Message) -> None:
    if model.type in SERVICE_TYPES:
        msg.service = True
    elif model.type == "text" and model.text is not None:
        msg.text = model.text.body
    elif model.type in MEDIA_TYPES:
        media: _Media | None = getattr(model, model.type)
        if media is None:
            raise UnusableEventError("invalid_fields", [model.type])
        kind, label = MEDIA_TYPES[model.type]
        if model.type == "audio" and media.voice:
            kind, label = "voice", "voice message"
        msg.text = media.caption or ""
        msg.media.append({
            k: v for k, v in {
                "type": kind, "kind": label, "fileId": media.id, "mimeType": media.mime_type,
                "fileName": media.filename, "sha256": media.sha256,
            }.items() if v is not None
        })
    elif model.type == "interactive" and model.interactive is not None:
        reply = model.interactive.button_reply or model.interactive.list_reply
        if reply is not None:
            msg.text = reply.title
            msg.extra["interactive"] = {
                "type": model.interactive.type, "id": reply.id, "title": reply.title,
                **({"description": reply.description} if reply.description else {}),
            }
    elif model.type == "button" and model.button is not None:
        msg.text = model.button.text
        msg.extra["button"] = {"text": model.button.text, "payload": model.button.payload}
    elif model.type == "reaction" and model.reaction is not None:
        if model.reaction.emoji:  # an empty emoji removes a reaction: nothing for the agent
            msg.summary = f"[reaction: {model.reaction.emoji}]"
        msg.extra["reaction"] = {"messageId": model.reaction.message_id, "emoji": model.reaction.emoji or ""}
    elif model.type == "location" and model.location is not None:
        loc = model.location
        where = f"{loc.latitude}, {loc.longitude}"
        named = ", ".join(p for p in (loc.name, loc.address) if p)
        msg.summary = f"[location: {named} ({where})]" if named else f"[location: {where}]"
        msg.extra["location"] = msg.message.get("location")
    elif model.type == "contacts" and model.contacts:
        people = []
        for c in model.contacts:
            name = c.name.formatted_name if c.name and c.name.formatted_name else "contact"
            phones = ", ".join(p.phone for p in c.phones or [] if p.phone)
            people.append(f"{name}, {phones}" if phones else name)
        msg.summary = f"[contact: {'; '.join(people)}]"
        msg.extra["contacts"] = msg.message.get("contacts")


def envelope(
    msg: WhatsAppMessage,
    *,
    session_key: str,
    account_id: str,
    route_key: str,
    attachments: list[dict[str, Any]],
) -> dict[str, Any]:
    """The CONTRACT §8 envelope; `body` is the text/caption/reply title exactly as sent, or a one-line note."""
    whatsapp: dict[str, Any] = {
        "media": msg.media,
        "rawMessage": msg.message,
        "phoneNumberId": msg.phone_number_id,
        "type": msg.type,
        **msg.extra,
    }
    if msg.display_phone_number:
        whatsapp["displayPhoneNumber"] = msg.display_phone_number
    if msg.wa_id:
        whatsapp["waId"] = msg.wa_id
    if msg.bsuid:
        whatsapp["userId"] = msg.bsuid
    if msg.profile_name:
        whatsapp["profileName"] = msg.profile_name
    context = msg.message.get("context")
    channel_data: dict[str, Any] = {
        "accountId": account_id,
        "messageId": msg.wamid,
        "chatId": msg.chat_id,
        "routeKey": route_key,
        "whatsapp": whatsapp,
    }
    if isinstance(context, dict) and context.get("id"):
        whatsapp["context"] = context
        channel_data["replyToMessageId"] = context["id"]
    out: dict[str, Any] = {
        "eventId": msg.event_id,
        "channel": "whatsapp",
        "event": {"kind": "message", "raw": msg.payload},
        "raw": msg.payload,
        "sessionKey": session_key,
        "accountId": account_id,
        "body": filenotes.body(msg.text, msg.summary, attachments),
        "from": f"whatsapp:{msg.user}",
        "to": f"whatsapp:{msg.chat_id}",
        "chatType": "group" if msg.is_group else "direct",
        "messageId": msg.wamid,
        "timestampMs": msg.timestamp_ms,
        "channelData": channel_data,
    }
    if attachments:
        out["attachments"] = attachments
    return out
