"""A Discord REST API (v10) stand-in on 127.0.0.1 that applies Discord's documented rules to what the mux sends
and records it: the tests' fake (tests/fakes/discord_server.py) and a local stand-in for `muxctl`.

Served under `/api/v10` (what MUX_DISCORD_API_BASE_URL is set to; a bare path works too):

* Bot routes need `Authorization: Bot <token>` (else 401 `{"message": "401: Unauthorized", "code": 0}`):
  `POST /channels/{id}/messages` (JSON, or multipart/form-data with `payload_json` + `files[n]`),
  `PATCH`/`DELETE /channels/{id}/messages/{mid}` (only the bot's own messages: else 403 50005),
  `PUT /channels/{id}/messages/{mid}/reactions/{emoji}/@me` (204), `POST /channels/{id}/typing` (204),
  `GET /channels/{id}` (guild_id, type, parent_id for threads), `POST /users/@me/channels` (DM create),
  `GET /users/@me`, `GET`/`PUT /applications/{app}/commands` (bulk overwrite), `GET /gateway/bot`.
* Interaction routes need no bot token (the token in the path is the credential):
  `POST /interactions/{id}/{token}/callback` (once, within 3 s of the interaction: else 404 10062 "Unknown
  interaction", a second answer 400 40060), `GET`/`PATCH`/`DELETE /webhooks/{app}/{token}/messages/@original`
  (or a followup's id) and `POST /webhooks/{app}/{token}` (followups) while the token is valid — 15 minutes
  from the interaction; after that (or an unknown token) 401 50027 "Invalid Webhook Token", as Discord answers.
* Message rules: some content (`content`, `embeds`, `attachments`/files, `components`, `sticker_ids`, `poll`)
  else 400 50006; `content` ≤ 2000 characters, ≤ 10 `embeds` (≤ 6000 characters over all of them; title ≤ 256,
  description ≤ 4096, ≤ 25 fields, field name/value ≤ 256/1024, footer ≤ 2048, author ≤ 256; image/thumbnail
  URLs http(s) or `attachment://`), ≤ 5 component rows,
  `nonce` ≤ 25 characters, `message_reference.message_id` a message of that channel (unless
  `fail_if_not_exists: false`), `allowed_mentions.parse` ⊆ users/roles/everyone (not
  naming a kind also listed by id), an attachment ≤ 10 MiB
  (413 40005) and each `attachments[].id` naming a sent `files[n]`; violations answer 400 50035 "Invalid Form
  Body" with Discord's nested `errors`. A message to the DM channel of a user in `dm_blocked` answers 403 50007
  (Discord creates the DM channel; it is the message that is refused).
* Rate limits: `throttle()` scripts 429s (per route, or global with `X-RateLimit-Global`), `limit()` sets a
  counting bucket per route and major parameter, `limit_global()` the bot's global one; 429 bodies
  `{message, retry_after (s, float), global}` and the
  `Retry-After` / `X-RateLimit-*` headers as Discord sends them.
* `GET /_fake/calls` — every recorded request (for scripts).
"""

from __future__ import annotations

import email.parser
import email.policy
import hmac
import itertools
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from muxctl.devservers import BoundServer, StandInHandler

CONTENT_LIMIT = 2000
EMBED_LIMIT = 10
EMBED_TOTAL_LIMIT = 6000
COMPONENT_ROWS_LIMIT = 5
NONCE_LIMIT = 25
ATTACHMENT_LIMIT = 10 * 1024 * 1024  # bytes; the fixtures' attachment_size_limit
INITIAL_RESPONSE_SEC = 3.0  # an interaction must be answered within 3 s
INTERACTION_TOKEN_SEC = 15 * 60.0  # the interaction token is valid for 15 minutes
DISCORD_EPOCH_MS = 1_420_070_400_000
EPHEMERAL = 1 << 6
CALLBACK_TYPES = frozenset({4, 5, 6, 7, 8, 9, 10, 12})
GUILD_TEXT, DM, GUILD_VOICE, GROUP_DM, GUILD_CATEGORY, GUILD_ANNOUNCEMENT = 0, 1, 2, 3, 4, 5
THREAD_TYPES = frozenset({10, 11, 12})
_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")

Printer = Callable[[str], None]


def error_body(code: int, message: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    """An error body as Discord sends it."""
    body: dict[str, Any] = {"message": message, "code": code}
    if errors is not None:
        body["errors"] = errors
    return body


def form_error(path: list[str | int], code: str, message: str) -> dict[str, Any]:
    """400 50035 "Invalid Form Body" naming the offending field the way Discord nests it."""
    leaf: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        leaf = {str(key): leaf}
    return error_body(50035, "Invalid Form Body", leaf)


def unauthorized() -> dict[str, Any]:
    return error_body(0, "401: Unauthorized")


def unknown_interaction() -> dict[str, Any]:
    return error_body(10062, "Unknown interaction")


def invalid_webhook_token() -> dict[str, Any]:
    return error_body(50027, "Invalid Webhook Token")


def rate_limited(retry_after: float, *, global_: bool = False) -> dict[str, Any]:
    return {"message": "You are being rate limited.", "retry_after": round(retry_after, 3), "global": global_}


class Refusal(Exception):  # noqa: N818 — an answer, not a failure of the stand-in
    """A request the rules refuse: the status, body and extra headers Discord answers."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


@dataclass(frozen=True)
class Upload:
    """One `files[n]` part of a multipart message."""

    name: str  # the form field, e.g. "files[0]"
    filename: str
    content_type: str
    size: int
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Call:
    """One request the stand-in answered."""

    method: str
    path: str
    route: str  # the route template, e.g. "POST /channels/{channel}/messages"
    params: dict[str, str]
    body: Any
    files: list[dict[str, Any]]
    token: str | None  # the bot token sent, if any
    status: int
    answer: Any
    at: float

    @property
    def ok(self) -> bool:
        return self.status // 100 == 2


@dataclass
class Interaction:
    id: str
    token: str
    application_id: str
    channel_id: str
    created: float  # time.time() of the interaction
    answered: int | None = None  # the callback type, once answered
    original: str | None = None  # the @original message id once there is one
    followups: list[str] = field(default_factory=list)


# (method, path template): the routes served; `{x}` is one path segment.
ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "/channels/{channel}/messages"),
    ("PATCH", "/channels/{channel}/messages/{message}"),
    ("DELETE", "/channels/{channel}/messages/{message}"),
    ("GET", "/channels/{channel}/messages/{message}"),
    ("PUT", "/channels/{channel}/messages/{message}/reactions/{emoji}/@me"),
    ("DELETE", "/channels/{channel}/messages/{message}/reactions/{emoji}/@me"),
    ("POST", "/channels/{channel}/typing"),
    ("GET", "/channels/{channel}"),
    ("POST", "/users/@me/channels"),
    ("GET", "/users/@me"),
    ("GET", "/applications/{app}/commands"),
    ("PUT", "/applications/{app}/commands"),
    ("GET", "/gateway/bot"),
    ("GET", "/gateway"),
    ("POST", "/interactions/{interaction}/{token}/callback"),
    ("GET", "/webhooks/{app}/{token}/messages/{message}"),
    ("PATCH", "/webhooks/{app}/{token}/messages/{message}"),
    ("DELETE", "/webhooks/{app}/{token}/messages/{message}"),
    ("POST", "/webhooks/{app}/{token}"),
)
_NO_BOT_TOKEN = ("/interactions/", "/webhooks/")  # template prefixes that need no Authorization (nor GET /gateway)
GLOBAL = "*"  # the global bucket's key in FakeDiscord._limits


def match_route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """(route template, its parameters) of a request path (`/api/v10` prefix allowed), or None."""
    parts = [p for p in urlsplit(path).path.split("/") if p]
    if parts and parts[0] == "api":
        parts = parts[1:]
    if parts and re.fullmatch(r"v\d+", parts[0]):
        parts = parts[1:]
    for route_method, template in ROUTES:
        if route_method != method:
            continue
        pattern = [p for p in template.split("/") if p]
        if len(pattern) != len(parts):
            continue
        params: dict[str, str] = {}
        for want, got in zip(pattern, parts, strict=True):
            if want.startswith("{"):
                params[want[1:-1]] = unquote(got)
            elif want != got:
                break
        else:
            return f"{method} {template}", params
    return None


def _major(route: str, params: dict[str, str]) -> str:
    """A rate-limit bucket: the route plus its major parameter (channel, webhook+token, interaction)."""
    for key in ("channel", "interaction"):
        if key in params:
            return f"{route}|{params[key]}"
    if "token" in params:
        return f"{route}|{params.get('app')}/{params['token']}"
    return route


class FakeDiscord(BoundServer):
    def __init__(
        self,
        port: int = 0,
        *,
        bot_token: str | None = None,
        application_id: str = "1299938960998531079",
        bot_name: str = "MuxAssist",
        gateway_url: str = "wss://gateway.discord.gg",
        printer: Printer | None = None,
    ) -> None:
        self.bot_token = bot_token
        self.application_id = application_id
        self.bot_name = bot_name
        self.gateway_url = gateway_url
        self.printer = printer
        self.clock: Callable[[], float] = time.time  # tests move it to age interaction tokens
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.reactions: dict[str, set[str]] = {}  # message id → emoji the bot reacted with
        self.dm_channels: dict[str, str] = {}  # user id → DM channel id
        self.dm_blocked: set[str] = set()  # users who accept no DMs from the bot
        self.commands: list[dict[str, Any]] = []
        self.interactions: dict[str, Interaction] = {}  # by token
        # `muxctl dev discord`: the mux answers interactions in its own webhook, so this stand-in never saw them;
        # an unknown token is then taken as a fresh interaction already answered "thinking…" (channel unknown).
        self.accept_unknown_interactions = False
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._script: deque[tuple[str | None, int, Any, dict[str, str], float, int]] = deque()
        self._limits: dict[str, tuple[int, float]] = {}  # route template → (requests, per seconds)
        self._windows: dict[str, tuple[float, int]] = {}  # bucket → (window end, used)
        self._ids = itertools.count(1)
        super().__init__(port, _handler(self), "fake-discord")

    # --- lifecycle ----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """What MUX_DISCORD_API_BASE_URL is set to (Discord's own is https://discord.com/api/v10)."""
        return f"{self.url}/api/v10"

    # --- world --------------------------------------------------------------------------------
    def snowflake(self) -> str:
        return str(((int(self.clock() * 1000) - DISCORD_EPOCH_MS) << 22) | (next(self._ids) & 0x3FFFFF))

    def bot_user(self) -> dict[str, Any]:
        return {"id": self.application_id, "username": self.bot_name, "global_name": None, "discriminator": "0",
                "avatar": None, "bot": True, "public_flags": 524288}

    def add_channel(self, channel_id: str, *, guild_id: str | None = None, type: int = GUILD_TEXT,  # noqa: A002
                    parent_id: str | None = None, name: str | None = None, accessible: bool = True) -> None:
        """A guild channel (or thread: type 11 with the parent channel's id) the bot can see."""
        channel: dict[str, Any] = {"id": channel_id, "type": type, "flags": 0, "last_message_id": None}
        if guild_id is not None:
            channel.update(guild_id=guild_id, name=name or f"channel-{channel_id[-4:]}", position=0,
                           parent_id=parent_id, nsfw=False, rate_limit_per_user=0, topic=None)
        if type in THREAD_TYPES:
            channel["thread_metadata"] = {"archived": False, "locked": False, "auto_archive_duration": 1440}
        channel["_accessible"] = accessible
        self.channels[channel_id] = channel

    def add_dm(self, user_id: str, channel_id: str | None = None) -> str:
        """The DM channel between the bot and `user_id` (created when absent); its id."""
        with self._lock:
            existing = self.dm_channels.get(user_id)
            if existing is not None:
                return existing
            cid = channel_id or self.snowflake()
            self.dm_channels[user_id] = cid
            self.channels[cid] = {"id": cid, "type": DM, "flags": 0, "last_message_id": None,
                                  "recipients": [_user(user_id)], "_accessible": True}
            return cid

    def add_message(self, channel_id: str, content: str = "hello", *, author_id: str = "412345678901234567",
                    message_id: str | None = None) -> str:
        """A message someone else wrote in the channel (what the bot may reply or react to); its id."""
        mid = message_id or self.snowflake()
        self.messages[mid] = {"id": mid, "channel_id": channel_id, "content": content, "author": _user(author_id),
                              "type": 0, "embeds": [], "attachments": [], "components": []}
        return mid

    def new_interaction(self, channel_id: str, *, interaction_id: str | None = None, token: str | None = None,
                        age: float = 0.0) -> Interaction:
        """An interaction Discord sent `age` seconds ago, not yet answered (its token is the credential)."""
        ix = Interaction(interaction_id or self.snowflake(), token or f"fake-ix-token-{next(self._ids):06d}",
                         self.application_id, channel_id, self.clock() - age)
        with self._lock:
            self.interactions[ix.token] = ix
        return ix

    def acknowledge(self, ix: Interaction, callback_type: int = 5) -> None:
        """Mark `ix` answered the way the mux's webhook answers (type 5: deferred, "thinking…" placeholder)."""
        with self._lock:
            self._answer_interaction(ix, {"type": callback_type})

    # --- scripting and inspection ---------------------------------------------------------------
    def fail(self, error: dict[str, Any], *, status: int = 400, times: int = 1, route: str | None = None,
             headers: dict[str, str] | None = None) -> None:
        """The next `times` requests to `route` (a template such as "POST /channels/{channel}/messages"; None:
        any request but a GET) answer `error` with `status`, after the auth check."""
        with self._lock:
            self._script.extend([(route, status, error, dict(headers or {}), 0.0, 0)] * times)

    def hang(self, seconds: float, *, route: str | None = None) -> None:
        """The next request to `route` is acted on (recorded as done) but answered only after `seconds`."""
        with self._lock:
            self._script.append((route, 200, None, {}, seconds, 0))

    def throttle(self, retry_after: float, *, route: str | None = None, global_: bool = False,
                 times: int = 1, scope: str = "user") -> None:
        """The next `times` requests to `route` answer 429 as Discord does: per-route (`X-RateLimit-*` for the
        route's bucket) or global (`X-RateLimit-Global: true`, scope global)."""
        headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
        if global_:
            headers.update({"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"})
        else:
            reset_at = self.clock() + retry_after
            headers.update({
                "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{reset_at:.3f}", "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                "X-RateLimit-Bucket": "c6a2f3a5bd4e6c9b8a7f6e5d4c3b2a19", "X-RateLimit-Scope": scope,
            })
        with self._lock:
            self._script.extend([(route, 429, rate_limited(retry_after, global_=global_), headers, 0.0, 1)] * times)

    def limit(self, route: str, requests: int, per_seconds: float) -> None:
        """A counting bucket: at most `requests` to `route` per major parameter (channel, interaction) in
        `per_seconds`; more answer 429 with the time left. Every answer on the route carries the headers."""
        with self._lock:
            self._limits[route] = (requests, per_seconds)

    def limit_global(self, requests: int, per_seconds: float = 1.0) -> None:
        """Discord's global limit (50 requests a second per bot): bot-token requests beyond it answer 429 with
        `global: true` and `X-RateLimit-Global`, whatever the route."""
        with self._lock:
            self._limits[GLOBAL] = (requests, per_seconds)

    def calls(self, route: str | None = None) -> list[Call]:
        """Recorded requests, optionally only those matching a route template."""
        with self._lock:
            return [c for c in self._calls if route is None or c.route == route]

    def sent(self) -> list[dict[str, Any]]:
        """Messages created with success (bot-token posts and interaction followups and @original edits), as
        the stand-in stored them, in order."""
        wanted = ("POST /channels/{channel}/messages", "POST /webhooks/{app}/{token}",
                  "PATCH /webhooks/{app}/{token}/messages/{message}")
        return [c.answer for c in self.calls() if c.ok and c.route in wanted and isinstance(c.answer, dict)]

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._script.clear()
            self._windows.clear()

    def record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)
        if self.printer is not None:
            self.printer(describe(call))

    # --- auth, scripts, limits ------------------------------------------------------------------
    def authorized(self, header: str | None) -> tuple[bool, str | None]:
        scheme, _, token = (header or "").strip().partition(" ")
        token = token.strip() if scheme == "Bot" else ""
        if not token:
            return False, None
        if self.bot_token is None:
            return True, token
        return hmac.compare_digest(token.encode(), self.bot_token.encode()), token

    def scripted(self, route: str, method: str) -> tuple[int, Any, dict[str, str], float, int] | None:
        with self._lock:
            for index, (want, status, body, headers, delay, kind) in enumerate(self._script):
                if want == route or (want is None and method != "GET"):
                    del self._script[index]
                    return status, body, headers, delay, kind
        return None

    def bucket(self, route: str, params: dict[str, str], *, bot: bool = True) -> dict[str, str] | None:
        """Count the request in its buckets (the global one for bot-token calls, then the route's): the
        X-RateLimit headers, or raise Refusal(429) when one is spent."""
        with self._lock:
            if bot and GLOBAL in self._limits:
                requests, per = self._limits[GLOBAL]
                now = self.clock()
                end, used = self._windows.get(GLOBAL, (now + per, 0))
                if now >= end:
                    end, used = now + per, 0
                if used >= requests:
                    left = end - now
                    raise Refusal(429, rate_limited(left, global_=True), {
                        "Retry-After": str(max(1, math.ceil(left))), "X-RateLimit-Global": "true",
                        "X-RateLimit-Scope": "global"})
                self._windows[GLOBAL] = (end, used + 1)
            if route not in self._limits:
                return None
            requests, per = self._limits[route]
            key = _major(route, params)
            now = self.clock()
            end, used = self._windows.get(key, (now + per, 0))
            if now >= end:
                end, used = now + per, 0
            bucket_id = format(abs(hash(route)) & 0xFFFFFFFFFFFF, "012x")
            left = end - now
            headers = {"X-RateLimit-Limit": str(requests), "X-RateLimit-Reset": f"{end:.3f}",
                       "X-RateLimit-Reset-After": f"{left:.3f}", "X-RateLimit-Bucket": bucket_id}
            if used >= requests:
                headers.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Scope": "user",
                                "Retry-After": str(max(1, math.ceil(left)))})
                raise Refusal(429, rate_limited(left), headers)
            self._windows[key] = (end, used + 1)
            headers["X-RateLimit-Remaining"] = str(requests - used - 1)
            return headers

    # --- the rules ------------------------------------------------------------------------------
    def channel(self, channel_id: str) -> dict[str, Any]:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise Refusal(404, error_body(10003, "Unknown Channel"))
        if not channel.get("_accessible", True):
            raise Refusal(403, error_body(50001, "Missing Access"))
        return channel

    def check_message(self, body: Any, uploads: list[Upload], *, channel_id: str | None,
                      editing: bool = False) -> None:
        """Discord's rules for a message body (create, or with `editing` a partial edit); raise Refusal."""
        if not isinstance(body, dict):
            raise Refusal(400, error_body(50109, "The request body contains invalid JSON."))
        content = body.get("content")
        if content is not None:
            if not isinstance(content, str):
                raise Refusal(400, form_error(["content"], "BASE_TYPE_STRING", "Must be a string."))
            if len(content) > CONTENT_LIMIT:
                raise Refusal(400, form_error(["content"], "BASE_TYPE_MAX_LENGTH",
                                              f"Must be {CONTENT_LIMIT} or fewer in length."))
        embeds = body.get("embeds")
        if embeds is not None:
            if not isinstance(embeds, list):
                raise Refusal(400, form_error(["embeds"], "BASE_TYPE_LIST", "Must be an array."))
            if len(embeds) > EMBED_LIMIT:
                raise Refusal(400, form_error(["embeds"], "BASE_TYPE_MAX_LENGTH",
                                              f"Must be {EMBED_LIMIT} or fewer in length."))
            # Discord's 6000 is the sum over every embed of the message, not a per-embed allowance.
            if sum(_check_embed(index, embed) for index, embed in enumerate(embeds)) > EMBED_TOTAL_LIMIT:
                raise Refusal(400, form_error(["embeds"], "MAX_EMBED_SIZE_EXCEEDED",
                                              f"Embed size exceeds maximum size of {EMBED_TOTAL_LIMIT}"))
        components = body.get("components")
        if components is not None and (not isinstance(components, list) or len(components) > COMPONENT_ROWS_LIMIT):
            raise Refusal(400, form_error(["components"], "BASE_TYPE_MAX_LENGTH",
                                          f"Must be {COMPONENT_ROWS_LIMIT} or fewer in length."))
        nonce = body.get("nonce")
        if nonce is not None and (not isinstance(nonce, str | int) or len(str(nonce)) > NONCE_LIMIT):
            raise Refusal(400, form_error(["nonce"], "BASE_TYPE_MAX_LENGTH",
                                          f"Must be {NONCE_LIMIT} or fewer in length."))
        mentions = body.get("allowed_mentions")
        if mentions is not None:
            parse = mentions.get("parse", []) if isinstance(mentions, dict) else None
            if not isinstance(parse, list) or any(p not in ("users", "roles", "everyone") for p in parse):
                raise Refusal(400, form_error(["allowed_mentions", "parse"], "BASE_TYPE_CHOICES",
                                              "Value must be one of ('users', 'roles', 'everyone')."))
            for kind in ("users", "roles"):
                if kind in parse and mentions.get(kind):
                    raise Refusal(400, form_error(["allowed_mentions"], "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                                                  f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.'))
        for upload in uploads:
            if upload.size > ATTACHMENT_LIMIT:
                raise Refusal(413, error_body(40005, "Request entity too large"))
        attachments = body.get("attachments")
        if attachments is not None:
            if not isinstance(attachments, list):
                raise Refusal(400, form_error(["attachments"], "BASE_TYPE_LIST", "Must be an array."))
            names = {u.name for u in uploads}
            for index, item in enumerate(attachments):
                ref = item.get("id") if isinstance(item, dict) else None
                if ref is None or (f"files[{ref}]" not in names and str(ref) not in self._attachment_ids()):
                    raise Refusal(400, form_error(["attachments", index, "id"], "ATTACHMENT_NOT_FOUND",
                                                  "Unknown attachment."))
        reference = body.get("message_reference")
        if reference is not None and not editing:
            self._check_reference(reference, channel_id)
        if not editing:
            has_any = (bool(content) or bool(embeds) or bool(uploads) or bool(components)
                       or bool(body.get("sticker_ids")) or body.get("poll") is not None)
            if not has_any:
                raise Refusal(400, error_body(50006, "Cannot send an empty message"))

    def _attachment_ids(self) -> set[str]:
        return {str(a.get("id")) for m in self.messages.values() for a in m.get("attachments", [])}

    def _check_reference(self, reference: Any, channel_id: str | None) -> None:
        if not isinstance(reference, dict) or not isinstance(reference.get("message_id"), str | int):
            raise Refusal(400, form_error(["message_reference", "message_id"], "BASE_TYPE_REQUIRED",
                                          "This field is required"))
        target = self.messages.get(str(reference["message_id"]))
        ref_channel = str(reference.get("channel_id") or channel_id)
        known = target is not None and target["channel_id"] == ref_channel
        if not known and reference.get("fail_if_not_exists", True):
            raise Refusal(400, form_error(["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                                          "Unknown message"))

    def create_message(self, channel_id: str, body: dict[str, Any], uploads: list[Upload], *,
                       webhook_id: str | None = None) -> dict[str, Any]:
        """Store a message the bot (or an interaction webhook) sent; the message object Discord answers."""
        mid = self.snowflake()
        reference = body.get("message_reference")
        target = self.messages.get(str(reference.get("message_id"))) if isinstance(reference, dict) else None
        message: dict[str, Any] = {
            "type": 19 if target is not None else 0,
            "content": body.get("content") or "",
            "mentions": [], "mention_roles": [],
            "attachments": [
                {"id": self.snowflake(), "filename": u.filename, "size": u.size, "content_type": u.content_type,
                 "url": f"{self.url}/attachments/{channel_id}/{u.filename}"} for u in uploads
            ],
            "embeds": list(body.get("embeds") or []),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime(self.clock())),
            "edited_timestamp": None,
            "flags": int(body.get("flags") or 0),
            "components": list(body.get("components") or []),
            "id": mid, "channel_id": channel_id, "author": self.bot_user(),
            "pinned": False, "mention_everyone": False, "tts": bool(body.get("tts")),
        }
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        if webhook_id is not None:
            message["webhook_id"] = webhook_id
            message["application_id"] = self.application_id
        if target is not None:
            message["message_reference"] = {"type": 0, "channel_id": target["channel_id"], "message_id": target["id"]}
            message["referenced_message"] = dict(target)
        with self._lock:
            self.messages[mid] = message
        channel = self.channels.get(channel_id)
        if channel is not None:
            channel["last_message_id"] = mid
        return message

    def edit_message(self, message: dict[str, Any], body: dict[str, Any], uploads: list[Upload]) -> dict[str, Any]:
        for key in ("content", "embeds", "components", "flags", "allowed_mentions"):
            if key in body:
                message[key] = body[key] if body[key] is not None else ([] if key in ("embeds", "components") else "")
        if uploads:
            message["attachments"] = [*message.get("attachments", []), *(
                {"id": self.snowflake(), "filename": u.filename, "size": u.size, "content_type": u.content_type}
                for u in uploads)]
        message["edited_timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime(self.clock()))
        return message

    def interaction(self, token: str, app: str) -> Interaction:
        """The interaction whose token is valid (≤ 15 minutes old) for webhook calls; Refusal(401) otherwise."""
        ix = self.interactions.get(token)
        if ix is None and self.accept_unknown_interactions and app == self.application_id:
            ix = Interaction(self.snowflake(), token, app, "", self.clock())
            with self._lock:
                self.interactions[token] = ix
                self._answer_interaction(ix, {"type": 5})
        if ix is None or ix.application_id != app or self.clock() - ix.created > INTERACTION_TOKEN_SEC:
            raise Refusal(401, invalid_webhook_token())
        return ix

    def _answer_interaction(self, ix: Interaction, body: dict[str, Any]) -> None:
        kind = body["type"]
        ix.answered = kind
        if kind in (4, 5):
            data = body.get("data") if isinstance(body.get("data"), dict) else {}
            placeholder = {"content": data.get("content") or "", "flags": int(data.get("flags") or 0),
                           "embeds": data.get("embeds") or [], "components": data.get("components") or []}
            if kind == 5:
                placeholder["flags"] |= 1 << 7  # LOADING: "<bot> is thinking…"
            mid = self.snowflake()
            self.messages[mid] = {**placeholder, "id": mid, "channel_id": ix.channel_id, "type": 20,
                                  "author": self.bot_user(), "webhook_id": ix.application_id, "attachments": []}
            ix.original = mid

    # --- request handling -----------------------------------------------------------------------
    def handle(self, method: str, path: str, route: str, params: dict[str, str], body: Any,
               uploads: list[Upload]) -> tuple[int, Any]:
        """Apply the route's rules; (status, answer) — or raise Refusal."""
        app = params.get("app")
        if route == "GET /users/@me":
            return 200, self.bot_user()
        if route == "GET /gateway":
            return 200, {"url": self.gateway_url}
        if route == "GET /gateway/bot":
            return 200, {"url": self.gateway_url, "shards": 1,
                         "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000,
                                                 "max_concurrency": 1}}
        if route.endswith("/applications/{app}/commands"):
            if app != self.application_id:
                raise Refusal(403, error_body(50001, "Missing Access"))
            if method == "GET":
                return 200, list(self.commands)
            self.commands = self.put_commands(body)
            return 200, list(self.commands)
        if route == "POST /users/@me/channels":
            recipient = body.get("recipient_id") if isinstance(body, dict) else None
            if not isinstance(recipient, str | int) or not str(recipient).isdigit():
                raise Refusal(400, form_error(["recipient_id"], "NUMBER_TYPE_COERCE",
                                              f"Value \"{recipient}\" is not snowflake."))
            cid = self.add_dm(str(recipient))
            return 200, _public(self.channels[cid])
        if route == "GET /channels/{channel}":
            return 200, _public(self.channel(params["channel"]))
        if route == "POST /channels/{channel}/typing":
            self.channel(params["channel"])
            return 204, None
        if route == "POST /channels/{channel}/messages":
            channel = self.channel(params["channel"])
            self.check_message(body, uploads, channel_id=params["channel"])
            if channel["type"] == DM and any(r["id"] in self.dm_blocked for r in channel.get("recipients", [])):
                raise Refusal(403, error_body(50007, "Cannot send messages to this user"))
            return 200, self.create_message(params["channel"], body, uploads)
        if route.startswith(("PATCH /channels/", "DELETE /channels/", "GET /channels/")) and "message" in params \
                and "emoji" not in params:
            self.channel(params["channel"])
            message = self.messages.get(params["message"])
            if message is None or message["channel_id"] != params["channel"]:
                raise Refusal(404, error_body(10008, "Unknown Message"))
            if method == "GET":
                return 200, message
            own = message["author"]["id"] == self.application_id
            if method == "PATCH":
                if not own:
                    raise Refusal(403, error_body(50005, "Cannot edit a message authored by another user"))
                self.check_message(body, uploads, channel_id=params["channel"], editing=True)
                return 200, self.edit_message(message, body, uploads)
            if not own:  # the bot would need Manage Messages; the mux never deletes another's message
                raise Refusal(403, error_body(50013, "Missing Permissions"))
            with self._lock:
                del self.messages[params["message"]]
            return 204, None
        if "emoji" in params:
            self.channel(params["channel"])
            message = self.messages.get(params["message"])
            if message is None or message["channel_id"] != params["channel"]:
                raise Refusal(404, error_body(10008, "Unknown Message"))
            emoji = params["emoji"]
            if not emoji or (":" in emoji and not emoji.rsplit(":", 1)[1].isdigit()):
                raise Refusal(400, error_body(10014, "Unknown Emoji"))
            mine = self.reactions.setdefault(params["message"], set())
            (mine.add if method == "PUT" else mine.discard)(emoji)
            return 204, None
        if route == "POST /interactions/{interaction}/{token}/callback":
            with self._lock:
                ix = self.interactions.get(params["token"])
                fresh = ix is not None and ix.id == params["interaction"] \
                    and self.clock() - ix.created <= INITIAL_RESPONSE_SEC
                if ix is None or not fresh:
                    raise Refusal(404, unknown_interaction())
                if ix.answered is not None:
                    raise Refusal(400, error_body(40060, "Interaction has already been acknowledged."))
                if not isinstance(body, dict) or body.get("type") not in CALLBACK_TYPES:
                    raise Refusal(400, form_error(["type"], "BASE_TYPE_CHOICES", "Value must be one of "
                                                  f"{sorted(CALLBACK_TYPES)}."))
                if body["type"] == 4:
                    self.check_message(body.get("data"), uploads, channel_id=ix.channel_id)
                self._answer_interaction(ix, body)
            return 204, None
        if route == "POST /webhooks/{app}/{token}":
            ix = self.interaction(params["token"], str(app))
            if ix.answered is None:
                raise Refusal(404, error_body(10015, "Unknown Webhook"))
            self.check_message(body, uploads, channel_id=ix.channel_id)
            message = self.create_message(ix.channel_id, body, uploads, webhook_id=ix.application_id)
            ix.followups.append(message["id"])
            return 200, message
        if route.startswith(("GET /webhooks/", "PATCH /webhooks/", "DELETE /webhooks/")):
            ix = self.interaction(params["token"], str(app))
            target = ix.original if params["message"] == "@original" else params["message"]
            if target is None or (target != ix.original and target not in ix.followups) \
                    or target not in self.messages:
                raise Refusal(404, error_body(10008, "Unknown Message"))
            message = self.messages[target]
            if method == "GET":
                return 200, message
            if method == "DELETE":
                with self._lock:
                    del self.messages[target]
                return 204, None
            self.check_message(body, uploads, channel_id=ix.channel_id, editing=True)
            if "content" in body or "embeds" in body or uploads:
                message["flags"] = int(message.get("flags") or 0) & ~(1 << 7)  # no longer "thinking…"
            return 200, self.edit_message(message, body, uploads)
        raise Refusal(404, error_body(0, "404: Not Found"))

    def put_commands(self, body: Any) -> list[dict[str, Any]]:
        """Validate a bulk overwrite of the global commands; the stored set with ids, as Discord answers."""
        if not isinstance(body, list):
            raise Refusal(400, error_body(50035, "Invalid Form Body",
                                          {"_errors": [{"code": "BASE_TYPE_LIST", "message": "Must be an array."}]}))
        if len(body) > 100:
            raise Refusal(400, form_error([], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length."))
        seen: set[tuple[int, str]] = set()
        existing = {(int(c.get("type", 1)), c["name"]): c for c in self.commands}
        out: list[dict[str, Any]] = []
        for index, command in enumerate(body):
            if not isinstance(command, dict):
                raise Refusal(400, form_error([index], "DICT_TYPE_CONVERT", "Only dictionaries may be used."))
            _check_command(index, command)
            key = (int(command.get("type", 1)), command["name"])
            if key in seen:
                raise Refusal(400, form_error([index, "name"], "APPLICATION_COMMANDS_DUPLICATE_NAME",
                                              f"Application command names must be unique ({command['name']})"))
            seen.add(key)
            previous = existing.get(key)
            stored = {
                "id": previous["id"] if previous else self.snowflake(),
                "application_id": self.application_id,
                "version": self.snowflake(),
                "default_member_permissions": command.get("default_member_permissions"),
                "type": key[0], "name": command["name"], "description": command.get("description", ""),
                "options": command.get("options", []),
                "integration_types": command.get("integration_types", [0]),
                "contexts": command.get("contexts"),
                "nsfw": bool(command.get("nsfw", False)),
            }
            out.append(stored)
        return out


def _check_embed(index: int, embed: Any) -> int:
    """Discord's rules for one embed (raise Refusal); its characters toward the message's 6000."""
    if not isinstance(embed, dict):
        raise Refusal(400, form_error(["embeds", index], "DICT_TYPE_CONVERT", "Only dictionaries may be used."))
    limits = {"title": 256, "description": 4096}
    total = 0
    for key, limit in limits.items():
        value = embed.get(key)
        if value is not None:
            if not isinstance(value, str) or len(value) > limit:
                raise Refusal(400, form_error(["embeds", index, key], "BASE_TYPE_MAX_LENGTH",
                                              f"Must be {limit} or fewer in length."))
            total += len(value)
    fields = embed.get("fields") or []
    if not isinstance(fields, list) or len(fields) > 25:
        raise Refusal(400, form_error(["embeds", index, "fields"], "BASE_TYPE_MAX_LENGTH",
                                      "Must be 25 or fewer in length."))
    nested: list[tuple[list[str | int], Any, int]] = []
    for f_index, item in enumerate(fields):
        if isinstance(item, dict):
            nested += [(["fields", f_index, "name"], item.get("name", ""), 256),
                       (["fields", f_index, "value"], item.get("value", ""), 1024)]
    for part, key, limit in (("footer", "text", 2048), ("author", "name", 256)):
        value = embed.get(part)
        if isinstance(value, dict):
            nested.append(([part, key], value.get(key, ""), limit))
    for path, value, limit in nested:
        if len(str(value)) > limit:
            raise Refusal(400, form_error(["embeds", index, *path], "BASE_TYPE_MAX_LENGTH",
                                          f"Must be {limit} or fewer in length."))
        total += len(str(value))
    for part in ("image", "thumbnail"):
        value = embed.get(part)
        if value is None:
            continue
        url = value.get("url") if isinstance(value, dict) else None
        scheme = urlsplit(url).scheme if isinstance(url, str) else ""
        if scheme not in ("http", "https", "attachment"):
            raise Refusal(400, form_error(["embeds", index, part, "url"], "URL_TYPE_INVALID_SCHEME",
                                          f"Scheme \"{scheme}\" is not supported. Scheme must be one of "
                                          "('http', 'https', 'attachment')."))
    return total


def _check_command(index: int, command: dict[str, Any]) -> None:
    name = command.get("name")
    kind = command.get("type", 1)
    if not isinstance(name, str) or not _COMMAND_NAME.match(name) or (kind == 1 and name != name.lower()):
        raise Refusal(400, form_error([index, "name"], "APPLICATION_COMMAND_INVALID_NAME",
                                      "Command name is invalid"))
    description = command.get("description")
    if kind == 1 and (not isinstance(description, str) or not 1 <= len(description) <= 100):
        raise Refusal(400, form_error([index, "description"], "BASE_TYPE_BAD_LENGTH",
                                      "Must be between 1 and 100 in length."))
    options = command.get("options", [])
    if not isinstance(options, list) or len(options) > 25:
        raise Refusal(400, form_error([index, "options"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."))
    optional_seen = False
    for o_index, option in enumerate(options):
        if not isinstance(option, dict) or not isinstance(option.get("name"), str) \
                or not _COMMAND_NAME.match(option["name"]) or option["name"] != option["name"].lower():
            raise Refusal(400, form_error([index, "options", o_index, "name"], "APPLICATION_COMMAND_INVALID_NAME",
                                          "Command name is invalid"))
        if not isinstance(option.get("description"), str) or not 1 <= len(option["description"]) <= 100:
            raise Refusal(400, form_error([index, "options", o_index, "description"], "BASE_TYPE_BAD_LENGTH",
                                          "Must be between 1 and 100 in length."))
        if option.get("type") not in range(1, 12):
            raise Refusal(400, form_error([index, "options", o_index, "type"], "BASE_TYPE_CHOICES",
                                          "Value must be one of (1, …, 11)."))
        if option.get("required"):
            if optional_seen:
                raise Refusal(400, form_error([index, "options"], "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                                              "Required options must be placed before non-required options"))
        else:
            optional_seen = True
    for key, allowed in (("integration_types", {0, 1}), ("contexts", {0, 1, 2})):
        value = command.get(key)
        if value is not None and (not isinstance(value, list) or any(v not in allowed for v in value)):
            raise Refusal(400, form_error([index, key, 0], "BASE_TYPE_CHOICES",
                                          f"Value must be one of {tuple(sorted(allowed))}."))


def _user(user_id: str) -> dict[str, Any]:
    return {"id": user_id, "username": f"user{user_id[-4:]}", "global_name": None, "discriminator": "0",
            "avatar": None, "public_flags": 0}


def _public(channel: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in channel.items() if not k.startswith("_")}


def parse_multipart(content_type: str, raw: bytes) -> tuple[Any, list[Upload]]:
    """(payload_json parsed, files[n] parts) of a multipart/form-data message; Refusal on a malformed body."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    if not message.is_multipart():
        raise Refusal(400, error_body(50109, "The request body contains invalid JSON."))
    payload: Any = {}
    uploads: list[Upload] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if name == "payload_json":
            try:
                payload = json.loads(data)
            except ValueError:
                raise Refusal(400, error_body(50109, "The request body contains invalid JSON.")) from None
        elif isinstance(name, str) and re.fullmatch(r"files\[\d+\]", name):
            filename = part.get_param("filename", header="content-disposition")
            uploads.append(Upload(name, str(filename or "file"), part.get_content_type(), len(data), data))
    return payload, uploads


def describe(call: Call) -> str:
    """One line per call for a console."""
    stamp = time.strftime("%H:%M:%S", time.localtime(call.at))
    verdict = "" if call.ok else f"  -> {call.status} {json.dumps((call.answer or {}).get('message'))}"
    body = call.body if isinstance(call.body, dict) else {}
    what = ""
    if "content" in body:
        what = f" {json.dumps(body['content'], ensure_ascii=False)[:120]}"
    if call.files:
        what += f" +{len(call.files)} file(s)"
    return f"{stamp} {call.route}{what}{verdict}"


def _handler(fake: FakeDiscord) -> type[BaseHTTPRequestHandler]:
    class Handler(StandInHandler):
        def _reply(self, status: int, answer: Any, headers: dict[str, str] | None = None) -> None:
            payload = b"" if status == 204 else json.dumps(answer, ensure_ascii=False).encode("utf-8")
            self.write_answer(status, payload, headers=headers)

        def _serve(self, method: str) -> None:
            raw = self.read_body()
            if method == "GET" and urlsplit(self.path).path == "/_fake/calls":
                items = [{**asdict(c), "ok": c.ok} for c in fake.calls()]
                self._reply(200, {"ok": True, "count": len(items), "items": items})
                return
            matched = match_route(method, self.path)
            if matched is None:  # recorded too: a call the mux should not make is worth seeing
                answer = error_body(0, "404: Not Found")
                fake.record(Call(method, self.path, f"{method} ?", {}, None, [], None, 404, answer, time.time()))
                self._reply(404, answer)
                return
            route, params = matched
            allowed, token = fake.authorized(self.headers.get("Authorization"))
            bot_route = route != "GET /gateway" and not route.split(" ", 1)[1].startswith(_NO_BOT_TOKEN)
            body: Any = None
            uploads: list[Upload] = []
            headers: dict[str, str] = {}
            delay = 0.0
            try:
                if bot_route and not allowed:
                    raise Refusal(401, unauthorized())
                content_type = self.headers.get("Content-Type") or ""
                if content_type.startswith("multipart/form-data"):
                    body, uploads = parse_multipart(content_type, raw)
                elif raw:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        raise Refusal(400, error_body(50109, "The request body contains invalid JSON.")) from None
                limit_headers = fake.bucket(route, params, bot=bot_route)
                headers.update(limit_headers or {})
                script = fake.scripted(route, method)
                if script is not None and script[3] == 0.0:
                    raise Refusal(script[0], script[1], {**headers, **script[2]})
                delay = script[3] if script is not None else 0.0
                status, answer = fake.handle(method, self.path, route, params, body, uploads)
            except Refusal as refusal:
                status, answer = refusal.status, refusal.body
                headers.update(refusal.headers)
            files = [{"name": u.name, "filename": u.filename, "content_type": u.content_type, "size": u.size}
                     for u in uploads]
            fake.record(Call(method, self.path, route, params, body, files, token if bot_route else None, status,
                             answer, time.time()))
            if delay:
                fake._released.wait(delay)
            self._reply(status, answer, headers)

        def do_GET(self) -> None:  # noqa: N802
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def do_PATCH(self) -> None:  # noqa: N802
            self._serve("PATCH")

        def do_PUT(self) -> None:  # noqa: N802
            self._serve("PUT")

        def do_DELETE(self) -> None:  # noqa: N802
            self._serve("DELETE")

    return Handler
