"""User-facing notices to a Discord chat (pairing results, hints, command answers), and the two Bot API reads
the inbound side needs (a channel's type/parent/name, a message's fresh attachment URL).

A notice answers where the event came from: an application command's deferred "thinking…" answer is edited
(PATCH `@original` with the interaction token, ephemeral when the deferred answer was), a button press gets an
ephemeral follow-up (its `@original` is the bot's message carrying the button, not to be overwritten), a
gateway message a reply in its channel with the bot token. Best effort, as for the other channels: a failed
notice is logged and counted, never retried. The interaction token is a secret: it is never logged.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from chalicelib import observability
from chalicelib.channels.discord.inbound import APPLICATION_COMMAND, ChannelInfo, DiscordMessage
from chalicelib.config import get_settings
from chalicelib.errors import ProviderError

TIMEOUT_S = 10.0
ANSWER_MAX_BYTES = 65_536
MESSAGE_MAX_CHARS = 2000
EPHEMERAL = 64
NO_MENTIONS: dict[str, list[str]] = {"parse": []}


def _api(path: str) -> str:
    return f"{get_settings().discord_api_base_url.rstrip('/')}{path}"


def _bot_headers() -> dict[str, str]:
    return {"Authorization": f"Bot {get_settings().require('discord_bot_token')}",
            "Content-Type": "application/json"}


def _call(method: str, url: str, body: dict[str, Any] | None, headers: dict[str, str]) -> Any:
    """One Discord REST call; the status and Discord's error code go into a ProviderError (never the URL:
    interaction URLs carry the token)."""
    from chalicelib import egress

    data = json.dumps(body).encode("utf-8") if body is not None else None
    try:
        resp = egress.request(method, url, headers=headers, body=data, timeout_s=TIMEOUT_S,
                              max_bytes=ANSWER_MAX_BYTES, guard=False)
    except egress.EgressError as exc:
        raise ProviderError("Discord could not be reached.", details={"error": type(exc).__name__}) from None
    if not 200 <= resp.status_code < 300:
        raise ProviderError("Discord refused the call.",
                            details={"status": resp.status_code, "code": _error_code(resp.content)})
    return json.loads(resp.content) if resp.content.strip() else None


def _error_code(content: bytes) -> int | None:
    try:
        code = json.loads(content)["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def send(msg: DiscordMessage, text: str) -> bool:
    content = text[:MESSAGE_MAX_CHARS]
    try:
        if msg.interaction_token is not None and msg.application_id is not None:
            hook = f"/webhooks/{msg.application_id}/{quote(msg.interaction_token, safe='')}"
            headers = {"Content-Type": "application/json"}
            if msg.interaction_type == APPLICATION_COMMAND:
                _call("PATCH", _api(f"{hook}/messages/@original"),
                      {"content": content, "allowed_mentions": NO_MENTIONS}, headers)
            else:
                _call("POST", _api(hook), {"content": content, "flags": EPHEMERAL, "allowed_mentions": NO_MENTIONS},
                      headers)
        else:
            _call("POST", _api(f"/channels/{msg.channel_id}/messages"), {
                "content": content, "allowed_mentions": NO_MENTIONS,
                "message_reference": {"message_id": msg.message_id, "fail_if_not_exists": False},
            }, _bot_headers())
    except ProviderError as exc:
        observability.count("NoticeFailures", channel="discord")
        details = exc.details if isinstance(exc.details, dict) else {}
        observability.logger().warning("notice not delivered", extra={
            "status": details.get("status"), "code": details.get("code"), "error": details.get("error")})
        return False
    return True


def channel_info(channel_id: str) -> ChannelInfo:
    """GET /channels/{id} (bot token): the channel's type, parent and name. Raises ProviderError."""
    found = _call("GET", _api(f"/channels/{channel_id}"), None, _bot_headers())
    if not isinstance(found, dict):
        raise ProviderError("Discord answered a channel lookup with something else.", details={})
    kind, parent, name = found.get("type"), found.get("parent_id"), found.get("name")
    return ChannelInfo(
        type=kind if isinstance(kind, int) and not isinstance(kind, bool) else None,
        parent_id=parent if isinstance(parent, str) and parent.isdigit() else None,
        name=name if isinstance(name, str) else None,
    )


def attachment_url(channel_id: str, message_id: str, attachment_id: str) -> str | None:
    """The attachment's current CDN URL, from GET /channels/{c}/messages/{m} (bot token): Discord signs CDN
    URLs with an expiry, so the one in the original message stops working after a day."""
    found = _call("GET", _api(f"/channels/{channel_id}/messages/{message_id}"), None, _bot_headers())
    items = found.get("attachments") if isinstance(found, dict) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("id") == attachment_id and isinstance(item.get("url"), str):
            return str(item["url"])
    return None
