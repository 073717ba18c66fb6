"""Discord sender (REST v10): raw bodies, text and media onto the bound channel, through an interaction while it lives.

Destination (CONTRACT §4, §7, DISCORD.md): the binding's route names it. A DM route
(`discord:default:dm:user:<userId>`) posts into `Binding.chat_id`, the DM channel; without one (or when the bot
cannot post there — a user-installed app's interaction in a DM the bot is not part of) the bot's own DM channel
with the user is opened (`POST /users/@me/channels`, cached per process) and used. A guild route
(`…:guild:<guildId>:channel:<channelId>`) posts into the bound channel, or the session's thread
(`Binding.topic_id`), or a `threadId` the request names when that is a thread of the bound channel.

Decisions worth knowing:

* **What OpenClaw sends** (src/channels/plugins/outbound/discord.ts and extensions/discord, commit 022295a):
  `text` + `raw.discord.send = {text, mediaUrl?, replyTo?}` (sendText / sendMedia), or a `raw.discord` the agent
  put in `channelData.raw.discord` (sendPayload; typically `{body: <Discord message body>}`), plus typing
  (`op: action`). No edits, reactions, deletes or polls go through the mux for Discord, so none are offered.
* **Raw body** `raw.discord.body`: posted as the message body, verbatim, to the resolved channel (a `channel_id`
  in it is dropped). Checked before any call the way Discord would refuse it (400 50035 / 50006): `content`
  over 2,000 characters, more than 10 embeds (or over 6,000 characters in them), or nothing to show answer
  400 INVALID_REQUEST — the request is wrong, not the platform, so no 502 and nothing is spent on a call
  Discord refuses.
* **Send / text mode** (`raw.discord.send` fields win over the top-level ones, as in the reference mux): the text
  split at 2,000 characters (channels/text.split_text, at most 20 messages); mentions limited to users
  (`allowed_mentions.parse = ["users"]`: an agent's text cannot ping @everyone or a role).
* **Media as attachments**, like OpenClaw's own Discord sender: each URL (at most 10) is fetched through
  chalicelib.egress with the SSRF guard, up to 10 MiB (Discord's upload limit for bots) and 15 s in total,
  and uploaded (`files[n]`) with the first text part as its caption. A file that cannot be fetched, or is too
  large, goes as an embed link instead (an image embed for image types), so Discord can still show it.
* **Replies** (`replyToId` / `replyTo`, and a raw body's `message_reference`) quote only messages the mux sent
  to or forwarded from this route for this tenant (Destination.owns), with `fail_if_not_exists: false`; any
  other reference is dropped (counted) and the message goes out unquoted.
* **Guild lock**: a guild route targets only the bound channel and its threads. A `threadId` or `to` naming
  another channel is checked with `GET /channels/{id}`; a channel of another guild (or another channel of the
  guild, or a DM) → 403 ROUTE_NOT_BOUND before anything is posted. A DM route cannot target any other channel.
* **Interactions** (DISCORD.md "Replies to an interaction"): when the route's latest-inbound pointer is
  `ix:<app>:<id>:<token>` forwarded less than 15 minutes ago (less a 30 s margin for the send) and the
  interaction happened in the target channel (`GET …/messages/@original` says where), the first part replaces
  the deferred "thinking…" placeholder (`PATCH …/@original`) — unless a send already did, seen by the
  placeholder being a message the mux recorded — and every further part is a followup; webhook messages carry
  no quote. Once Discord says the token is gone (401 50027, 10015, 10062) the bot token takes over.
* **Typing**: `POST /channels/{id}/typing`; skipped while an interaction placeholder already shows "thinking…".
* **Errors** (chalicelib/channels/discord/api.py): 429 → 502 PROVIDER_RATE_LIMITED with `retryAfterMs` (per-route
  and global buckets alike; a wait of up to 2 s is waited out once, in the send, while the send is young);
  401 on the bot token → 502 PROVIDER_AUTH; unanswered → 502 PROVIDER_OUTCOME_UNKNOWN; others → 502 PROVIDER_ERROR
  with Discord's code and errors.
"""

from __future__ import annotations

import mimetypes
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from chalicelib import observability
from chalicelib.channels.base import MAX_PARTS, Destination, SendPlan, SendResult
from chalicelib.channels.discord import api
from chalicelib.channels.sendfields import send_fields
from chalicelib.channels.text import split_text, utf16_len
from chalicelib.clock import now_ms
from chalicelib.config import Settings
from chalicelib.errors import ForbiddenError, InvalidInputError, ProviderError, TextTooLongError
from chalicelib.models import Binding, OutboundRequest
from chalicelib.storage import messages

TEXT_LIMIT = 2000
EMBED_LIMIT = 10
EMBED_CHARS_LIMIT = 6000  # over all the embeds of one message
ATTACHMENT_LIMIT = 10
MEDIA_MAX_BYTES = 10 * 1024 * 1024  # Discord's upload limit for a bot (attachment_size_limit)
MEDIA_BUDGET_SEC = 15.0  # every download of one send together (the API function has 30 s)
MEDIA_TIMEOUT_SEC = 10.0
INTERACTION_WINDOW_MS = 15 * 60 * 1000 - 30_000  # the token lives 15 minutes; the margin covers the send
INLINE_WAIT_SEC = 2.0  # a rate limit this short is waited out once
INLINE_WAIT_UNTIL_SEC = 15.0  # … while the send has been running for less than this
THREAD_TYPES = frozenset({10, 11, 12})
_IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp"})
_WEBHOOK_FIELDS = ("content", "embeds", "allowed_mentions", "components", "attachments", "poll", "flags", "tts")
_EDIT_FIELDS = ("content", "embeds", "allowed_mentions", "components", "attachments", "poll")
_COUNTED = frozenset({api.UNKNOWN_CHANNEL, api.MISSING_ACCESS, api.CANNOT_DM, api.INVALID_FORM_BODY, 50013})
_dm_channels: dict[str, str] = {}  # user id → the bot's DM channel with them (Discord returns the same one)

T = TypeVar("T")


# --- routes -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """A Discord route key, parsed: a DM with `user_id`, or guild `guild_id`'s channel `channel_id`."""

    kind: str  # "dm" | "guild"
    user_id: str | None = None
    guild_id: str | None = None
    channel_id: str | None = None
    thread_id: str | None = None


def parse_route(route_key: str) -> Route:
    parts = route_key.split(":")
    if len(parts) == 5 and parts[:4] == ["discord", "default", "dm", "user"] and parts[4]:
        return Route("dm", user_id=parts[4])
    if len(parts) in (6, 8) and parts[:3] == ["discord", "default", "guild"] and parts[4] == "channel" \
            and parts[3] and parts[5]:
        thread = parts[7] if len(parts) == 8 and parts[6] == "thread" and parts[7] else None
        if len(parts) == 8 and thread is None:
            raise ValueError(f"not a Discord route key: {route_key!r}")
        return Route("guild", guild_id=parts[3], channel_id=parts[5], thread_id=thread)
    raise ValueError(f"not a Discord route key: {route_key!r}")


def thread_route_key(guild_id: str, channel_id: str, thread_id: str) -> str:
    return f"discord:default:guild:{guild_id}:channel:{channel_id}:thread:{thread_id}"


def _snowflake(value: Any) -> str | None:
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    return text if text.isdigit() and 0 < len(text) <= 20 else None


def parse_target(value: Any) -> tuple[str, str] | None:
    """OpenClaw's Discord `to` spellings as ("channel" | "user", id): `channel:<id>`, `user:<id>`,
    `discord:channel:<id>`, `discord:user:<id>`, `discord:<id>` (a user), `<@id>`, `<#id>`, bare digits (a
    channel). None for anything else (ignored)."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    text = str(value).strip()
    lowered = text.lower()
    for prefix, kind in (("discord:channel:", "channel"), ("discord:user:", "user"), ("channel:", "channel"),
                         ("user:", "user"), ("discord:", "user")):
        if lowered.startswith(prefix):
            ident = _snowflake(text[len(prefix):])
            return (kind, ident) if ident else None
    if text.startswith("<@") and text.endswith(">"):
        ident = _snowflake(text[2:-1].lstrip("!"))
        return ("user", ident) if ident else None
    if text.startswith("<#") and text.endswith(">"):
        ident = _snowflake(text[2:-1])
        return ("channel", ident) if ident else None
    ident = _snowflake(text)
    return ("channel", ident) if ident else None


def _not_bound(message: str) -> ForbiddenError:
    return ForbiddenError(message, code="ROUTE_NOT_BOUND")


# --- request parsing --------------------------------------------------------------------------
def _raw_discord(request: OutboundRequest) -> dict[str, Any] | None:
    value = (request.raw or {}).get("discord")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInputError("raw.discord must be an object {body} or {send}.", details={"fields": ["raw.discord"]})
    return value


def _raw_body(request: OutboundRequest) -> dict[str, Any] | None:
    raw = _raw_discord(request) or {}
    body = raw.get("body")
    if body is None:
        return None
    fields = {"fields": ["raw.discord.body"]}
    if not isinstance(body, dict):
        raise InvalidInputError("raw.discord.body must be a Discord message object.", details=fields)
    content = body.get("content")
    if content is not None and not isinstance(content, str):
        raise InvalidInputError("raw.discord.body.content must be a string.", details=fields)
    if isinstance(content, str) and len(content) > TEXT_LIMIT:
        raise InvalidInputError(
            f"raw.discord.body.content has {len(content)} characters; Discord takes at most {TEXT_LIMIT} in one "
            "message (it answers 50035). Send text instead to have it split.",
            details={"fields": ["raw.discord.body.content"], "limit": TEXT_LIMIT},
        )
    embeds = body.get("embeds")
    if embeds is not None and (not isinstance(embeds, list) or len(embeds) > EMBED_LIMIT):
        raise InvalidInputError(f"raw.discord.body.embeds must be a list of at most {EMBED_LIMIT} embeds.",
                                details={"fields": ["raw.discord.body.embeds"]})
    chars = sum(_embed_chars(e) for e in embeds or [])
    if chars > EMBED_CHARS_LIMIT:
        raise InvalidInputError(
            f"raw.discord.body.embeds hold {chars} characters; Discord takes at most {EMBED_CHARS_LIMIT} over all "
            "the embeds of a message (it answers 50035).",
            details={"fields": ["raw.discord.body.embeds"], "limit": EMBED_CHARS_LIMIT},
        )
    if not (content or embeds or body.get("components") or body.get("sticker_ids") or body.get("poll")):
        raise InvalidInputError("raw.discord.body has nothing to show: give content, embeds, components, "
                                "sticker_ids or a poll.", details=fields)
    return body


def _embed_chars(embed: Any) -> int:
    """An embed's characters toward Discord's per-message total: title, description, field names and values,
    footer text, author name."""
    if not isinstance(embed, dict):
        return 0
    texts = [embed.get("title"), embed.get("description")]
    fields = embed.get("fields")
    for item in fields if isinstance(fields, list) else []:
        if isinstance(item, dict):
            texts += [item.get("name"), item.get("value")]
    for part, key in (("footer", "text"), ("author", "name")):
        value = embed.get(part)
        if isinstance(value, dict):
            texts.append(value.get(key))
    return sum(len(t) for t in texts if isinstance(t, str))


@dataclass(frozen=True)
class SendFields:
    text: str
    media: list[str]
    reply_to: str | None


def _send_fields(request: OutboundRequest) -> SendFields:
    """Text, media links and the message replied to: `raw.discord.send` first, then the top-level fields."""
    read = send_fields(request, _raw_discord(request) or {}, channel="discord",
                       shape="{text, mediaUrl?, replyTo?}", media_error="Media links must be absolute http(s) URLs.")
    send, urls = read.send, read.media
    if len(urls) > ATTACHMENT_LIMIT:
        raise InvalidInputError(f"At most {ATTACHMENT_LIMIT} media per Discord message.",
                                details={"fields": ["mediaUrls"], "limit": ATTACHMENT_LIMIT})
    reply = send.get("replyTo") if send.get("replyTo") not in (None, "") else request.replyToId
    return SendFields(read.text, urls, _snowflake(reply) if reply not in (None, "") else None)


@dataclass
class Message:
    """One Discord message of a send: its body, and (the first only) the media to attach."""

    body: dict[str, Any]
    media: list[str] = field(default_factory=list)


def _messages(request: OutboundRequest) -> list[Message]:
    """The messages of a send, in order. Pure: a retry plans the same parts."""
    body = _raw_body(request)
    if body is not None:
        return [Message({k: v for k, v in body.items() if k != "channel_id"})]
    fields = _send_fields(request)
    chunks = split_text(fields.text, TEXT_LIMIT) if fields.text.strip() else []
    mentions = {"parse": ["users"]}
    out = [Message({"content": chunk, "allowed_mentions": mentions}) for chunk in chunks]
    if fields.media:
        if out:
            out[0].media = fields.media
        else:
            out = [Message({"allowed_mentions": mentions}, fields.media)]
    return out


def _too_long(count: int) -> TextTooLongError:
    return TextTooLongError(
        f"This send would take {count} Discord messages; at most {MAX_PARTS} per request "
        f"(text up to about {MAX_PARTS * TEXT_LIMIT:,} characters). Split it into several requests.",
        details={"fields": ["text"], "parts": count, "maxParts": MAX_PARTS},
    )


# --- media --------------------------------------------------------------------------------------
def _filename(url: str, content_type: str | None, index: int) -> str:
    name = unquote(posixpath.basename(urlsplit(url).path)).strip()
    name = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)[:100].strip("._") or f"file{index}"
    if not posixpath.splitext(name)[1] and content_type:
        name += mimetypes.guess_extension(content_type.split(";")[0].strip()) or ""
    return name


def _is_image(url: str, content_type: str | None = None) -> bool:
    if content_type and content_type.startswith("image/"):
        return True
    return posixpath.splitext(urlsplit(url).path)[1].lower() in _IMAGE_EXTENSIONS


def _fetch(url: str, timeout: float) -> tuple[bytes, str | None] | None:
    """The bytes at a tenant-supplied URL (SSRF guard on), or None when unavailable or over the cap."""
    from chalicelib import egress

    if timeout <= 0.5:
        return None
    got = egress.fetch(url, timeout_s=timeout, max_bytes=MEDIA_MAX_BYTES, guard=True)
    return got if got is not None and got[0] else None


def attachments(urls: list[str]) -> tuple[list[api.File], list[dict[str, Any]], list[dict[str, Any]]]:
    """(files to upload, their `attachments` entries, embeds for the media that could not be fetched)."""
    deadline = time.monotonic() + MEDIA_BUDGET_SEC
    files: list[api.File] = []
    entries: list[dict[str, Any]] = []
    embeds: list[dict[str, Any]] = []
    for url in urls:
        fetched = _fetch(url, min(MEDIA_TIMEOUT_SEC, deadline - time.monotonic()))
        if fetched is None:
            observability.count("DiscordMediaAsLink")
            name = _filename(url, None, len(embeds))
            embeds.append({"image": {"url": url}} if _is_image(url) else {"title": name, "url": url})
            continue
        data, content_type = fetched
        name = _filename(url, content_type, len(files))
        entries.append({"id": len(files), "filename": name})
        files.append(api.File(name, data, (content_type or "application/octet-stream").split(";")[0].strip()))
    return files, entries, embeds


# --- the send -----------------------------------------------------------------------------------
@dataclass
class _Interaction:
    app: str
    token: str
    original_free: bool  # the deferred placeholder has not been replaced yet


class _Send:
    """One send's calls: the channel (resolved and lock-checked once), the interaction in use, error mapping."""

    def __init__(self, destination: Destination, request: OutboundRequest | None) -> None:
        self.destination = destination
        self.binding: Binding = destination.binding
        self.route = parse_route(self.binding.route_key)
        self.request = request
        self.started = time.monotonic()
        self.channel_id: str | None = None
        self._interaction: _Interaction | None = None
        self._interaction_checked = False
        self.requested_thread, self.requested_to = self._requested()

    # --- where ---------------------------------------------------------------------------------
    def _requested(self) -> tuple[str | None, tuple[str, str] | None]:
        """The thread and `to` the request names (checked statically here, against Discord when posting)."""
        request = self.request
        if request is None:
            return None, None
        thread: str | None = None
        if request.threadId not in (None, ""):
            thread = _snowflake(request.threadId)
            if thread is None:
                raise InvalidInputError("threadId must be a Discord channel id.", details={"fields": ["threadId"]})
        target = parse_target(request.to)
        if target is not None and target[0] == "user":
            if self.route.kind == "guild":
                raise _not_bound("This sessionKey is bound to a guild channel; it cannot send direct messages.")
            if target[1] != self.route.user_id:
                raise _not_bound("This sessionKey is bound to a DM with another user.")
            target = None
        if thread is not None and thread in self._bound():
            thread = None
        return thread, target

    def _bound(self) -> set[str]:
        """The channels this session posts into without asking Discord: the bound one, the session's thread."""
        return {c for c in (self.binding.chat_id, self.route.channel_id, self.binding.topic_id) if c}

    def _override_thread(self) -> str | None:
        """A thread of the bound channel the request names, for a session of the whole channel (a session of
        one thread keeps posting into its thread)."""
        return self.requested_thread if self.binding.topic_id is None else None

    def posts_into(self) -> str | None:
        """The thread route a send into a thread of the bound channel lands in (another tenant may own it)."""
        thread = self._override_thread()
        if self.route.kind != "guild" or thread is None:
            return None
        assert self.route.guild_id is not None and self.route.channel_id is not None
        return thread_route_key(self.route.guild_id, self.route.channel_id, thread)

    def channel(self) -> str:
        if self.channel_id is None:
            self.channel_id = self._dm_channel() if self.route.kind == "dm" else self._guild_channel()
        return self.channel_id

    def _dm_channel(self) -> str:
        assert self.route.user_id is not None
        chat = _snowflake(self.binding.chat_id)
        channel = chat if chat is not None and chat != self.route.user_id else self._open_dm()
        named = [self.requested_thread, self.requested_to[1] if self.requested_to is not None else None]
        if any(n is not None and n not in {channel, chat} for n in named):
            raise _not_bound("This sessionKey is bound to a DM; it cannot post into another channel.")
        return channel

    def _open_dm(self) -> str:
        assert self.route.user_id is not None
        user = self.route.user_id
        if user not in _dm_channels:
            _dm_channels[user] = self._call(lambda: api.create_dm(user))
        return _dm_channels[user]

    def _guild_channel(self) -> str:
        assert self.route.channel_id is not None
        base = _snowflake(self.binding.topic_id) or _snowflake(self.binding.chat_id) or self.route.channel_id
        if self.requested_thread is not None:
            self._check_in_lock(self.requested_thread, thread_only=True)
        named = self.requested_to[1] if self.requested_to is not None else None
        if named is not None and named not in self._bound() and named != self.requested_thread:
            self._check_in_lock(named, thread_only=False)
        return self._override_thread() or base

    def _check_in_lock(self, channel_id: str, *, thread_only: bool) -> None:
        """A channel the request names must be the bound channel or one of its threads, in the bound guild."""
        try:
            info = api.get_channel(channel_id, timeout=api.CALL_TIMEOUT_SEC)
        except api.DiscordApiError as exc:
            if exc.status in (403, 404):
                raise _not_bound("That channel is not one the bot can reach in the bound guild.") from None
            raise api.provider_error(exc) from None
        guild = str(info.get("guild_id") or "")
        if guild != self.route.guild_id:
            observability.count("DiscordGuildLockRefused")
            raise _not_bound("That channel belongs to another guild (or is a DM) than the one bound to this "
                             "sessionKey.")
        is_thread = info.get("type") in THREAD_TYPES and str(info.get("parent_id") or "") == self.route.channel_id
        if not is_thread and (thread_only or str(info.get("id") or channel_id) != self.route.channel_id):
            raise _not_bound("Only the bound channel and its threads can be posted into with this sessionKey.")

    # --- the interaction ----------------------------------------------------------------------
    def interaction(self) -> _Interaction | None:
        """The interaction to answer through, when the route's newest forwarded event is a live one in the
        target channel."""
        if self._interaction_checked:
            return self._interaction
        self._interaction_checked = True
        now = now_ms()
        pointer = messages.latest_inbound_at(self.binding.route_key, self.binding.tenant_id, now)
        if pointer is None or not pointer[0].startswith("ix:") or now - pointer[1] >= INTERACTION_WINDOW_MS:
            return None
        pieces = pointer[0].split(":", 3)
        if len(pieces) != 4 or not all(pieces[1:]):
            return None
        app, token = pieces[1], pieces[3]
        try:
            original = api.get_original(app, token)
        except api.DiscordApiError as exc:
            observability.count("DiscordInteractionUnusable", reason="gone" if exc.interaction_gone else "error")
            return None
        if str(original.get("channel_id") or "") != self.channel():
            return None  # the interaction was in another channel (a thread of the bound channel, say)
        owns = self.destination.owns
        mine = bool(original.get("id")) and owns is not None and owns(str(original["id"]))
        self._interaction = _Interaction(app, token, original_free=not mine)
        return self._interaction

    def fresh_interaction(self) -> bool:
        """Whether the route's newest event is an interaction younger than its token (no Discord call)."""
        now = now_ms()
        pointer = messages.latest_inbound_at(self.binding.route_key, self.binding.tenant_id, now)
        return pointer is not None and pointer[0].startswith("ix:") and now - pointer[1] < INTERACTION_WINDOW_MS

    # --- calls ----------------------------------------------------------------------------------
    def _call(self, fn: Callable[[], T]) -> T:
        """One call, a short rate limit waited out once; Discord's errors mapped (api.provider_error)."""
        try:
            return fn()
        except api.DiscordApiError as exc:
            wait = exc.retry_after_sec
            young = time.monotonic() - self.started < INLINE_WAIT_UNTIL_SEC
            if exc.status != 429 or wait is None or wait > INLINE_WAIT_SEC or not young:
                raise
            observability.count("DiscordRateLimitWaited", scope="global" if exc.global_limit else "route")
            time.sleep(wait)
            return fn()

    def deliver(self, message: Message) -> str:
        """Post one message (through the interaction while it lives); its Discord message id."""
        try:
            return self._deliver(message)
        except api.DiscordApiError as exc:
            reason = str(exc.code) if exc.code in _COUNTED else ("429" if exc.status == 429 else "other")
            observability.count("DiscordApiErrors", reason=reason)
            raise api.provider_error(exc) from None

    def _deliver(self, message: Message) -> str:
        channel = self.channel()
        body = dict(message.body)
        files: list[api.File] = []
        if message.media:
            files, entries, embeds = attachments(message.media)
            if entries:
                body["attachments"] = [*(body.get("attachments") or []), *entries]
            if embeds:
                body["embeds"] = [*(body.get("embeds") or []), *embeds][:EMBED_LIMIT]
        ix = self.interaction()
        if ix is not None:
            try:
                if ix.original_free:
                    answer = self._call(lambda: api.edit_original(
                        ix.app, ix.token, {k: v for k, v in body.items() if k in _EDIT_FIELDS}, files or None))
                    ix.original_free = False
                else:
                    answer = self._call(lambda: api.followup(
                        ix.app, ix.token, {k: v for k, v in body.items() if k in _WEBHOOK_FIELDS}, files or None))
                return _message_id(answer)
            except api.DiscordApiError as exc:
                if not exc.interaction_gone:
                    raise
                observability.count("DiscordInteractionExpired")
                self._interaction = None  # the bot token from here on
        self._lock_reference(body)
        try:
            answer = self._call(lambda: api.post_message(channel, body, files or None))
        except api.DiscordApiError as exc:
            if self.route.kind != "dm" or exc.code not in (api.MISSING_ACCESS, api.UNKNOWN_CHANNEL):
                raise
            # Not a channel the bot is in (a user-installed app's DM): the bot's own DM with the user.
            opened = self._open_dm()
            if opened == channel:
                raise
            self.channel_id = channel = opened
            answer = self._call(lambda: api.post_message(channel, body, files or None))
        return _message_id(answer)

    def _lock_reference(self, body: dict[str, Any]) -> None:
        """A reply quotes only a message the mux sent to or forwarded from this route for this tenant, and only
        as a reply in the target channel (never a forward from elsewhere)."""
        reference = body.pop("message_reference", None)
        if reference is None:
            return
        target = _snowflake(reference.get("message_id")) if isinstance(reference, dict) else None
        owns = self.destination.owns
        if target is None or owns is None or not owns(target):
            observability.count("DiscordForeignReplyDropped")
            return
        body["message_reference"] = {"message_id": target, "fail_if_not_exists": False}

    def typing(self) -> None:
        if self.fresh_interaction():
            observability.count("DiscordTypingSkipped", reason="interaction")
            return  # the deferred answer already shows "<bot> is thinking…"
        try:
            channel = self.channel()
            self._call(lambda: api.trigger_typing(channel))
        except api.DiscordApiError as exc:
            raise api.provider_error(exc) from None


def _message_id(answer: Any) -> str:
    mid = answer.get("id") if isinstance(answer, dict) else None
    if not isinstance(mid, str) or not mid:
        raise ProviderError("Discord accepted the message but answered no message id.",
                            details={"answer": answer if isinstance(answer, dict) else None})
    return mid


class DiscordSender:
    channel = "discord"

    def enabled(self, settings: Settings) -> bool:
        return settings.discord_enabled

    def validate(self, request: OutboundRequest) -> None:
        parts = _messages(request)
        if not parts:
            raise InvalidInputError(
                "Nothing to send: give text, mediaUrl/mediaUrls, raw.discord.send or raw.discord.body.",
                details={"fields": ["text"]},
            )
        if _raw_body(request) is None:
            units = utf16_len(_send_fields(request).text)
            if units > MAX_PARTS * TEXT_LIMIT:
                raise _too_long(-(-units // TEXT_LIMIT))
        if len(parts) > MAX_PARTS:
            raise _too_long(len(parts))

    def plan(self, destination: Destination, request: OutboundRequest) -> SendPlan:
        send = _Send(destination, request)
        planned = _messages(request)
        reply_to = _send_fields(request).reply_to if _raw_body(request) is None else None
        if reply_to is not None and planned:
            planned[0].body["message_reference"] = {"message_id": reply_to}

        def part(message: Message) -> Callable[[], str]:
            return lambda: send.deliver(message)

        def result(ids: list[str]) -> SendResult:
            return SendResult(message_ids=ids, channel_id=send.channel_id or _static_channel(send))

        return SendPlan(parts=[part(m) for m in planned], result=result, posts_into=send.posts_into())

    def typing(self, destination: Destination, request: OutboundRequest | None = None) -> None:
        _Send(destination, request).typing()


def _static_channel(send: _Send) -> str:
    """The channel a send went to, when no part ran in this attempt (all delivered by an earlier one)."""
    return send._override_thread() or send.binding.topic_id or send.binding.chat_id


SENDER = DiscordSender()
