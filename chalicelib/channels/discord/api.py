"""Discord REST API (v10) client: bot-token calls and interaction-webhook calls, Discord errors parsed and mapped.

Every call goes through chalicelib.egress (hard deadline, bounded answer). The bot token travels only in the
`Authorization: Bot …` header; interaction-webhook calls (`/interactions/…`, `/webhooks/<app>/<token>/…`) carry
the interaction token in the URL and no bot token, as Discord requires — egress errors never hold the URL and
no error raised here names the path, so neither token reaches a log.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from chalicelib.config import get_settings
from chalicelib.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderOutcomeUnknownError,
    ProviderRateLimitedError,
)

# Discord answers are a message, a channel or the command list (a few kB); anything larger is refused.
MAX_ANSWER_BYTES = 1_048_576
CALL_TIMEOUT_SEC = 15.0
# Discord error codes the mapping and the sender act on.
UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
MISSING_ACCESS = 50001
CANNOT_DM = 50007
INVALID_WEBHOOK_TOKEN = 50027
INVALID_FORM_BODY = 50035
# An interaction token that stopped working (expired after 15 minutes, or already gone): the bot token takes over.
INTERACTION_GONE = frozenset({UNKNOWN_WEBHOOK, UNKNOWN_INTERACTION, INVALID_WEBHOOK_TOKEN})


class DiscordApiError(Exception):
    """Discord answered an error (`code` is Discord's JSON error code, 0 when none), or could not be reached
    (`status` 0; `outcome_unknown` when the request had been sent: the message may be out)."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: Any = None,
        retry_after_sec: float | None = None,
        global_limit: bool = False,
        scope: str | None = None,
        bot_route: bool = True,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(f"{status} #{code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.retry_after_sec = retry_after_sec
        self.global_limit = global_limit
        self.scope = scope
        self.bot_route = bot_route
        self.outcome_unknown = outcome_unknown

    @property
    def interaction_gone(self) -> bool:
        """The interaction token no longer works (15 minutes passed, or Discord forgot the interaction)."""
        return not self.bot_route and (self.code in INTERACTION_GONE or self.status == 401)


@dataclass(frozen=True)
class File:
    """An attachment uploaded with a message (`files[n]`, referenced from `attachments[].id = n`)."""

    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


def _token() -> str:
    return get_settings().require("discord_bot_token")


def application_id() -> str:
    return get_settings().require("discord_application_id")


def _base() -> str:
    return get_settings().discord_api_base_url.rstrip("/")


def _seg(value: str) -> str:
    return quote(str(value), safe="")


def _multipart(payload: dict[str, Any], files: list[File]) -> tuple[bytes, str]:
    boundary = "mux" + secrets.token_hex(16)
    out = bytearray()
    out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"payload_json\"\r\n"
            "Content-Type: application/json\r\n\r\n").encode("ascii")
    out += json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\r\n"
    for index, item in enumerate(files):
        name = item.filename.replace("\\", "_").replace('"', "_").replace("\r", "_").replace("\n", "_")
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files[{index}]\"; "
                f"filename=\"{name}\"\r\nContent-Type: {item.content_type}\r\n\r\n").encode()
        out += item.data + b"\r\n"
    out += f"--{boundary}--\r\n".encode("ascii")
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _retry_after(body: Any, headers: Any) -> float | None:
    value = body.get("retry_after") if isinstance(body, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(min(value, 86_400))
    try:
        header = float(headers.get("Retry-After") or "")
    except (TypeError, ValueError):
        return None
    return header if math.isfinite(header) and 0 <= header <= 86_400 else None


def request(
    method: str,
    path: str,
    *,
    body: Any = None,
    files: list[File] | None = None,
    bot: bool = True,
    timeout: float = CALL_TIMEOUT_SEC,
) -> Any:
    """One call to `<MUX_DISCORD_API_BASE_URL><path>`: the JSON answer (None for 204). `bot` sends the bot
    token (not on interaction-webhook routes). Raises DiscordApiError."""
    from chalicelib import egress

    headers: dict[str, str] = {}
    if bot:
        headers["Authorization"] = f"Bot {_token()}"
    payload: bytes | None = None
    if files:
        payload, headers["Content-Type"] = _multipart(body if isinstance(body, dict) else {}, files)
    elif body is not None:
        headers["Content-Type"] = "application/json"
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    try:
        resp = egress.request(method, _base() + path, headers=headers, body=payload, timeout_s=timeout,
                              max_bytes=MAX_ANSWER_BYTES, guard=False)
    except egress.EgressError as exc:
        raise DiscordApiError(0, 0, f"Discord API unreachable: {exc}", bot_route=bot,
                              outcome_unknown=exc.sent) from None
    if resp.status_code == 204:
        return None
    try:
        data = json.loads(resp.content) if not resp.truncated and resp.content else None
    except ValueError:
        data = None
    if resp.status_code // 100 == 2:
        if data is None:
            raise DiscordApiError(resp.status_code, 0, "Discord answered success without a readable body",
                                  bot_route=bot)
        return data
    info = data if isinstance(data, dict) else {}
    code = info.get("code")
    global_limit = bool(info.get("global")) or str(resp.headers.get("X-RateLimit-Global", "")).lower() == "true"
    raise DiscordApiError(
        resp.status_code,
        code if isinstance(code, int) and not isinstance(code, bool) else 0,
        str(info.get("message") or f"HTTP {resp.status_code}")[:300],
        errors=info.get("errors"),
        retry_after_sec=_retry_after(info, resp.headers) if resp.status_code == 429 else None,
        global_limit=global_limit,
        scope=resp.headers.get("X-RateLimit-Scope"),
        bot_route=bot,
    )


# --- bot-token routes ---------------------------------------------------------------------------
def post_message(channel_id: str, body: dict[str, Any], files: list[File] | None = None, *,
                 timeout: float = CALL_TIMEOUT_SEC) -> dict[str, Any]:
    """`POST /channels/{id}/messages`: the message object Discord created."""
    answer: dict[str, Any] = request("POST", f"/channels/{_seg(channel_id)}/messages", body=body, files=files,
                                     timeout=timeout)
    return answer


def edit_message(channel_id: str, message_id: str, body: dict[str, Any], *,
                 timeout: float = CALL_TIMEOUT_SEC) -> dict[str, Any]:
    answer: dict[str, Any] = request("PATCH", f"/channels/{_seg(channel_id)}/messages/{_seg(message_id)}",
                                     body=body, timeout=timeout)
    return answer


def delete_message(channel_id: str, message_id: str, *, timeout: float = CALL_TIMEOUT_SEC) -> None:
    request("DELETE", f"/channels/{_seg(channel_id)}/messages/{_seg(message_id)}", timeout=timeout)


def add_reaction(channel_id: str, message_id: str, emoji: str, *, timeout: float = CALL_TIMEOUT_SEC) -> None:
    """`PUT …/reactions/{emoji}/@me`: a unicode emoji, or `name:id` for a custom one."""
    request("PUT", f"/channels/{_seg(channel_id)}/messages/{_seg(message_id)}/reactions/{_seg(emoji)}/@me",
            timeout=timeout)


def remove_reaction(channel_id: str, message_id: str, emoji: str, *, timeout: float = CALL_TIMEOUT_SEC) -> None:
    request("DELETE", f"/channels/{_seg(channel_id)}/messages/{_seg(message_id)}/reactions/{_seg(emoji)}/@me",
            timeout=timeout)


def trigger_typing(channel_id: str, *, timeout: float = 5.0) -> None:
    request("POST", f"/channels/{_seg(channel_id)}/typing", timeout=timeout)


def get_channel(channel_id: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """`GET /channels/{id}`: `type`, `guild_id` (absent for DMs), `parent_id` (a thread's channel)."""
    answer: dict[str, Any] = request("GET", f"/channels/{_seg(channel_id)}", timeout=timeout)
    return answer


def create_dm(user_id: str, *, timeout: float = 10.0) -> str:
    """`POST /users/@me/channels`: the id of the DM channel with `user_id` (Discord returns the existing one)."""
    answer = request("POST", "/users/@me/channels", body={"recipient_id": str(user_id)}, timeout=timeout)
    cid = answer.get("id") if isinstance(answer, dict) else None
    if not isinstance(cid, str) or not cid:
        raise DiscordApiError(200, 0, "DM channel creation answered no channel id")
    return cid


def get_me(*, timeout: float = 10.0) -> dict[str, Any]:
    answer: dict[str, Any] = request("GET", "/users/@me", timeout=timeout)
    return answer


def get_commands(app: str, *, timeout: float = 10.0) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = request("GET", f"/applications/{_seg(app)}/commands", timeout=timeout)
    return answer


def put_commands(app: str, commands: list[dict[str, Any]], *, timeout: float = 15.0) -> list[dict[str, Any]]:
    """`PUT /applications/{app}/commands`: overwrite the global command set."""
    answer: list[dict[str, Any]] = request("PUT", f"/applications/{_seg(app)}/commands", body=commands,
                                           timeout=timeout)
    return answer


# --- interaction routes (the interaction token is the credential) --------------------------------
def interaction_callback(interaction_id: str, token: str, body: dict[str, Any], *, timeout: float = 2.5) -> None:
    """`POST /interactions/{id}/{token}/callback` (within 3 s of the interaction)."""
    request("POST", f"/interactions/{_seg(interaction_id)}/{_seg(token)}/callback", body=body, bot=False,
            timeout=timeout)


def edit_original(app: str, token: str, body: dict[str, Any], files: list[File] | None = None, *,
                  timeout: float = CALL_TIMEOUT_SEC) -> dict[str, Any]:
    """`PATCH /webhooks/{app}/{token}/messages/@original`: replaces the deferred "thinking…" placeholder."""
    answer: dict[str, Any] = request("PATCH", f"/webhooks/{_seg(app)}/{_seg(token)}/messages/@original", body=body,
                                     files=files, bot=False, timeout=timeout)
    return answer


def get_original(app: str, token: str, *, timeout: float = 10.0) -> dict[str, Any]:
    answer: dict[str, Any] = request("GET", f"/webhooks/{_seg(app)}/{_seg(token)}/messages/@original", bot=False,
                                     timeout=timeout)
    return answer


def followup(app: str, token: str, body: dict[str, Any], files: list[File] | None = None, *,
             timeout: float = CALL_TIMEOUT_SEC) -> dict[str, Any]:
    """`POST /webhooks/{app}/{token}`: a followup message to the interaction."""
    answer: dict[str, Any] = request("POST", f"/webhooks/{_seg(app)}/{_seg(token)}", body=body, files=files,
                                     bot=False, timeout=timeout)
    return answer


# --- errors -------------------------------------------------------------------------------------
def provider_error(exc: DiscordApiError) -> ProviderError:
    """The CONTRACT §2 error for a failed Discord call."""
    details: dict[str, Any] = {"status": exc.status, "code": exc.code, "message": exc.message}
    if exc.errors is not None:
        details["errors"] = exc.errors
    if exc.outcome_unknown:
        return ProviderOutcomeUnknownError(
            "Discord did not answer in time: the message may or may not have been sent.", details=details)
    if exc.status == 0:
        return ProviderError(f"Discord could not be reached: {exc.message}", details=details)
    if exc.status == 429:
        seconds = exc.retry_after_sec if exc.retry_after_sec is not None else 1.0
        retry_ms = max(1, math.ceil(seconds * 1000))
        details["global"] = exc.global_limit
        if exc.scope:
            details["scope"] = exc.scope
        which = "global rate limit" if exc.global_limit else "rate limit"
        return ProviderRateLimitedError(f"Discord {which}: retry after {retry_ms / 1000:g} s.", details=details,
                                        retry_after_ms=retry_ms, http_status=429)
    if exc.status == 401 and exc.bot_route:
        return ProviderAuthError(
            "Discord refused the mux's bot token (reset or revoked): the operator must renew DISCORD_BOT_TOKEN.",
            details=details, http_status=401)
    if exc.code == CANNOT_DM:
        return ProviderError("Discord refused the message: this user does not accept direct messages from the bot.",
                             details=details, http_status=exc.status)
    if exc.code in (MISSING_ACCESS, UNKNOWN_CHANNEL):
        return ProviderError(f"Discord refused the message (#{exc.code} {exc.message}): the bot cannot see or "
                             "post in that channel.", details=details, http_status=exc.status)
    return ProviderError(f"Discord refused the call (#{exc.code}): {exc.message}", details=details,
                         http_status=exc.status)
