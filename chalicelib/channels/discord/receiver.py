"""Discord's inbound side on the channel-neutral interface: gateway messages and interactions → InboundMessage,
notices, attachments, envelope.

Decisions: slash commands map onto the pipeline's commands (`/pair token:` is a claim with that token, even a
malformed one, so it gets the invalid notice; `/ask` is a command the pipeline forwards when bound and answers
with the unpaired hint when not; `/bot_*` are the control commands). Chat administrators are those whose
interaction `member.permissions` carry ADMINISTRATOR, MANAGE_GUILD or MANAGE_CHANNELS; a gateway message does
not carry the author's permissions (computing them takes the guild's roles and the channel's overwrites), so
guild-wide control commands typed as text are refused and answered as slash commands. Attachments are Discord
CDN links, fetched through egress (only from Discord's CDN hosts or the configured API's host) and inlined up to
MUX_INBOUND_MEDIA_MAX_BYTES; the file proxy re-reads the message for a freshly signed URL.
"""

from __future__ import annotations

import base64
import threading
from typing import Any
from urllib.parse import urlsplit

from chalicelib import observability
from chalicelib.channels.base import Command, InboundMessage, PairingHint, command, find_token
from chalicelib.channels.discord import inbound as dc
from chalicelib.config import Settings, get_settings

# OpenClaw 022 (src/gateway/chat-attachments.ts): decoded bytes per attachment, 0 < size ≤ this.
OPENCLAW_ATTACHMENT_MAX_BYTES = 5_000_000
MEDIA_TIMEOUT_S = 15.0
CDN_HOSTS = frozenset({"cdn.discordapp.com", "media.discordapp.net"})
# Permission bits (Discord's numbers): who may unpair a guild channel.
ADMINISTRATOR, MANAGE_CHANNELS, MANAGE_GUILD = 1 << 3, 1 << 4, 1 << 5
ADMIN_PERMISSIONS = ADMINISTRATOR | MANAGE_CHANNELS | MANAGE_GUILD
CHANNEL_CACHE_MAX = 4096

_channels: dict[str, dc.ChannelInfo] = {}
_channels_lock = threading.Lock()


def _native(msg: InboundMessage) -> dc.DiscordMessage:
    native: dc.DiscordMessage = msg.native
    return native


def channel_info(channel_id: str) -> dc.ChannelInfo:
    """A channel's type, parent and name, cached per process (a thread's parent never changes). Raises
    DiscordApiError when Discord cannot say now (the worker retries the message)."""
    from chalicelib.channels.discord import api, notices

    with _channels_lock:
        found = _channels.get(channel_id)
    if found is not None:
        return found
    try:
        info = notices.channel_info(channel_id)
    except api.DiscordApiError as exc:
        if exc.status == 0 or exc.status == 429 or exc.status >= 500:
            raise  # Discord is unreachable or busy: the worker retries the message
        # The bot cannot read the channel (it was deleted, or access was removed since): a channel of its own.
        observability.logger().warning("discord channel lookup refused", extra={"status": exc.status,
                                                                                "code": exc.code})
        return dc.ChannelInfo(type=None, parent_id=None, name=None)
    with _channels_lock:
        if len(_channels) >= CHANNEL_CACHE_MAX:
            _channels.clear()
        _channels[channel_id] = info
    return info


def file_url(file_id: str) -> str:
    from urllib.parse import quote

    return f"{get_settings().base_url}/v1/mux/files/discord?id={quote(file_id, safe='')}"


def _allowed(url: str) -> bool:
    """Discord's CDN, or the host of the configured Discord API (a stand-in in tests): never a URL that the
    payload could point anywhere."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname in CDN_HOSTS:
        return True
    api = urlsplit(get_settings().discord_api_base_url)
    return (parts.scheme, parts.netloc) == (api.scheme, api.netloc)


def fetch(url: str, max_bytes: int, *, timeout: float = MEDIA_TIMEOUT_S) -> tuple[bytes, str | None] | None:
    """The bytes behind a Discord attachment URL, or None when unavailable or over `max_bytes`."""
    from chalicelib import egress

    if not _allowed(url):
        return None
    return egress.fetch(url, timeout_s=timeout, max_bytes=max_bytes, guard=False)


def download(file_id: str, max_bytes: int, *, timeout: float) -> tuple[bytes, str | None] | None:
    """The file proxy's read: `<channel>:<message>:<attachment>` → the message's current URL → the bytes."""
    from chalicelib.channels.discord import api, notices

    parts = file_id.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    try:
        url = notices.attachment_url(*parts)
    except api.DiscordApiError:
        return None
    return fetch(url, max_bytes, timeout=timeout) if url else None


def attachments(native: dc.DiscordMessage, settings: Settings) -> list[dict[str, Any]]:
    """One attachment per file, in order; content inline up to the cap (the size Discord states is checked
    first, so a big file is never fetched)."""
    out: list[dict[str, Any]] = []
    cap = min(settings.inbound_media_max_bytes, OPENCLAW_ATTACHMENT_MAX_BYTES)
    for item in native.media:
        attachment: dict[str, Any] = {
            "type": item["type"], "mimeType": item.get("mimeType"), "fileName": item.get("fileName"),
            "size": item.get("size"), "url": file_url(item["fileId"]),
        }
        size = item.get("size")
        fetched = None
        if cap > 0 and not (isinstance(size, int) and size > cap):
            fetched = fetch(str(item["url"]), cap)
        if fetched is None or not fetched[0]:
            reason = "over_cap" if cap <= 0 or (isinstance(size, int) and size > cap) else "unavailable"
            observability.count("MediaInlineSkipped", channel="discord", reason=reason)
        else:
            attachment["content"] = base64.b64encode(fetched[0]).decode("ascii")
            attachment["size"] = len(fetched[0])
        out.append({k: v for k, v in attachment.items() if v is not None})
    return out


def typing_ref(native: dc.DiscordMessage) -> str:
    """The route's latest-inbound pointer for the sender (DISCORD.md): an application command answers through
    its interaction token; a gateway message, and a button press (whose `@original` is the bot's own message
    with the button), through the bot token."""
    if native.interaction_type == dc.APPLICATION_COMMAND:
        return f"ix:{native.application_id}:{native.interaction_id}:{native.interaction_token}"
    return f"msg:{native.component_message_id or native.message_id}"


class DiscordReceiver:
    channel = "discord"

    def enabled(self, settings: Settings) -> bool:
        return settings.discord_enabled

    def pairing_hint(self, token: str, settings: Settings) -> PairingHint:
        return PairingHint(instructions=f"Use /pair token:{token} or send it to the bot in a DM.")

    def parse(self, payload: dict[str, Any]) -> InboundMessage | None:
        native = dc.parse(payload, channels=channel_info)
        if native is None:
            return None
        cmd: Command | None = None
        token: str | None = None
        text = native.text
        if native.source == "gateway":
            cmd, token = command(text), find_token(text)
        elif native.command_name == "pair":
            token = native.command_args  # whatever was typed: a malformed one gets the invalid notice
        elif native.command_name == "ask":
            cmd = Command("ask", None, text)
        elif native.command_name is not None:
            cmd = Command(native.command_name, None, native.command_args)
        return InboundMessage(
            channel=self.channel,
            event_id=native.event_id,
            kind="callback" if native.kind == "callback" else "message",
            route_candidates=native.route_candidates(),
            claim_route=native.bind_route,
            scope="dm" if native.is_dm else "channel",
            chat_id=native.post_channel,
            topic_id=None,
            is_private=native.is_dm,
            text=text,
            forwardable=native.has_content,
            native=native,
            thread_id=native.thread_id,
            command=cmd,
            token=token,
            media=native.media,
            refs=[native.message_id],
            typing_ref=typing_ref(native),
        )

    def notify(self, msg: InboundMessage, text: str) -> bool:
        from chalicelib.channels.discord import notices

        return notices.send(_native(msg), text)

    def acknowledge(self, msg: InboundMessage) -> None:
        """A button press was answered in the webhook (DEFERRED_UPDATE_MESSAGE): nothing left to do."""

    def is_chat_admin(self, msg: InboundMessage) -> bool:
        permissions = _native(msg).permissions
        return permissions is not None and bool(permissions & ADMIN_PERMISSIONS)

    def session_key(self, msg: InboundMessage, agent_id: str | None, *, thread: bool) -> str:
        return _native(msg).session_key(agent_id, thread=thread)

    def envelope(self, msg: InboundMessage, *, session_key: str, account_id: str, route_key: str,
                 settings: Settings) -> dict[str, Any]:
        native = _native(msg)
        return dc.envelope(native, session_key=session_key, account_id=account_id, route_key=route_key,
                           attachments=attachments(native, settings))

    def download(self, file_id: str, max_bytes: int, *, timeout: float) -> tuple[bytes, str | None] | None:
        return download(file_id, max_bytes, timeout=timeout)

    def display(self, msg: InboundMessage, *, topic_id: str | None, claim: bool) -> dict[str, str]:
        native = _native(msg)
        out = {"chatType": "private" if native.is_dm else "channel"}
        if not native.is_dm:
            title = native.channel_name if native.thread_id is None else None
            if title is None and claim:
                title = _name_of(native.post_channel)
            if title:
                out["chatTitle"] = f"#{title}"[:256]
            if not claim:
                return out
        name = (native.user_name or "").strip()[:256]
        if name:
            out["userName"] = name
        if native.username:
            out["userHandle"] = native.username[:256]
        return out


def _name_of(channel_id: str) -> str | None:
    from chalicelib.channels.discord import api

    try:
        return channel_info(channel_id).name
    except api.DiscordApiError:
        return None  # a name is nice to have: the claim goes on without it


RECEIVER = DiscordReceiver()
