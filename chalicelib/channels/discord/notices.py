"""User-facing notices to a Discord chat (pairing results, hints, command answers), and the two Bot API reads
the inbound side needs (a channel's type/parent/name, a message's fresh attachment URL).

A notice answers where the event came from: an application command's deferred "thinking…" answer is edited
(PATCH `@original` with the interaction token, ephemeral when the deferred answer was), a button press gets an
ephemeral follow-up (its `@original` is the bot's message carrying the button, not to be overwritten), a
gateway message a reply in its channel with the bot token. Best effort, as for the other channels: a failed
notice is logged and counted, never retried. The interaction token is a secret: it is never logged.
"""

from __future__ import annotations

from chalicelib import observability
from chalicelib.channels.discord import api
from chalicelib.channels.discord.inbound import APPLICATION_COMMAND, ChannelInfo, DiscordMessage

TIMEOUT_S = 10.0
MESSAGE_MAX_CHARS = 2000
EPHEMERAL = 64
NO_MENTIONS: dict[str, list[str]] = {"parse": []}


def send(msg: DiscordMessage, text: str) -> bool:
    content = text[:MESSAGE_MAX_CHARS]
    try:
        if msg.interaction_token is not None and msg.application_id is not None:
            if msg.interaction_type == APPLICATION_COMMAND:
                api.edit_original(msg.application_id, msg.interaction_token,
                                  {"content": content, "allowed_mentions": NO_MENTIONS}, timeout=TIMEOUT_S)
            else:
                api.followup(msg.application_id, msg.interaction_token,
                             {"content": content, "flags": EPHEMERAL, "allowed_mentions": NO_MENTIONS},
                             timeout=TIMEOUT_S)
        else:
            api.post_message(msg.channel_id, {
                "content": content, "allowed_mentions": NO_MENTIONS,
                "message_reference": {"message_id": msg.message_id, "fail_if_not_exists": False},
            }, timeout=TIMEOUT_S)
    except api.DiscordApiError as exc:
        observability.count("NoticeFailures", channel="discord")
        observability.logger().warning("notice not delivered", extra={"status": exc.status, "code": exc.code})
        return False
    return True


def channel_info(channel_id: str) -> ChannelInfo:
    """GET /channels/{id} (bot token): the channel's type, parent and name. Raises DiscordApiError."""
    found = api.get_channel(channel_id, timeout=TIMEOUT_S)
    kind, parent, name = found.get("type"), found.get("parent_id"), found.get("name")
    return ChannelInfo(
        type=kind if isinstance(kind, int) and not isinstance(kind, bool) else None,
        parent_id=parent if isinstance(parent, str) and parent.isdigit() else None,
        name=name if isinstance(name, str) else None,
    )


def attachment_url(channel_id: str, message_id: str, attachment_id: str) -> str | None:
    """The attachment's current CDN URL, from GET /channels/{c}/messages/{m} (bot token): Discord signs CDN
    URLs with an expiry, so the one in the original message stops working after a day. Raises DiscordApiError."""
    found = api.request("GET", f"/channels/{channel_id}/messages/{message_id}", timeout=TIMEOUT_S)
    items = found.get("attachments") if isinstance(found, dict) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("id") == attachment_id and isinstance(item.get("url"), str):
            return str(item["url"])
    return None
