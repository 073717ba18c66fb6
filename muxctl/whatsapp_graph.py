"""A WhatsApp Cloud (Graph) API stand-in on 127.0.0.1 that applies Meta's documented rules to what the mux sends
and records it: `muxctl dev whatsapp`, and the tests' fake (tests/fakes/whatsapp_server.py).

Served (an optional version segment first, e.g. `/v23.0/…`, as in MUX_WHATSAPP_API_BASE_URL):

* `POST /<phone-number-id>/messages` — the bearer must be the access token (else 401 #190, when one is set);
  `messaging_product: "whatsapp"`; exactly one of `to` / `recipient` (a business-scoped user id); groups only by
  `to` with `recipient_type: group`; `type` one of text, image, video, audio, document, sticker, template,
  reaction, with its object; text `body` non-blank and ≤ 4096 characters; media by `link` (http(s)) or `id`,
  not both; captions ≤ 1024 characters and only on image, video, document; templates with `name` and
  `language.code`; `context.message_id` a string. A read receipt (`status: read` + `message_id`, optionally
  `typing_indicator: {type: text}`) answers `{"success": true}`. A non-template message to a recipient in
  `closed_windows` answers #131047, as Meta does once the 24-hour window has passed. Violations answer 400 #100
  with Meta's error shape; scripted failures (`fail`) answer what they are given.
  Success: `{messaging_product, contacts: [{input, wa_id | user_id}], messages: [{id: "wamid.…"}]}`.
* `GET /<media-id>` — `{messaging_product, url, mime_type, sha256, file_size, id}` for media in `media`
  (bearer checked; unknown id → 400 #100); the `url` serves the bytes at `GET /_media/<id>` (bearer checked).
* `GET /_fake/calls` — every recorded call (for `muxctl` and scripts).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from muxctl.devservers import BoundServer, StandInHandler

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
CAPTION_TYPES = ("image", "video", "document")
MESSAGE_TYPES = ("text", "template", "reaction", *MEDIA_TYPES)

Printer = Callable[[str], None]


def graph_error(code: int, message: str, details: str | None = None, *, trace: str = "AfakeTRACE") -> dict[str, Any]:
    """An error body as the Graph API sends it."""
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error["fbtrace_id"] = trace
    return {"error": error}


def window_closed_error() -> dict[str, Any]:
    return graph_error(131047, "(#131047) Re-engagement message",
                       "Message failed to send because more than 24 hours have passed since the customer last "
                       "replied to this number.")


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Call:
    """One request the stand-in answered."""

    method: str
    path: str
    phone_number_id: str | None
    body: dict[str, Any]
    token: str | None
    status: int
    answer: dict[str, Any]
    at: float

    @property
    def ok(self) -> bool:
        return self.status // 100 == 2


class FakeGraph(BoundServer):
    def __init__(self, port: int = 0, *, access_token: str | None = None, printer: Printer | None = None) -> None:
        self.access_token = access_token
        self.printer = printer
        self.closed_windows: set[str] = set()  # recipients ("447700900123", a BSUID, a group id) past 24 h
        self.media: dict[str, tuple[bytes, str]] = {}
        self.numbers: dict[str, str] = {}  # phone number id → display_phone_number, as Meta formats it
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._script: deque[tuple[int, dict[str, Any], float]] = deque()
        self._ids = itertools.count(1)
        super().__init__(port, _handler(self), "fake-whatsapp")

    # --- lifecycle ----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """What MUX_WHATSAPP_API_BASE_URL is set to (with a version segment, like Meta's)."""
        return f"{self.url}/v23.0"

    # --- scripting and inspection ---------------------------------------------------------------
    def fail(self, error: dict[str, Any], *, status: int = 400, times: int = 1) -> None:
        """The next `times` message posts answer `error` with `status` (after the bearer check)."""
        with self._lock:
            self._script.extend([(status, error, 0.0)] * times)

    def hang(self, seconds: float) -> None:
        """The next message post is acted on (recorded as sent) but answered only after `seconds`."""
        with self._lock:
            self._script.append((200, {}, seconds))

    def add_media(self, media_id: str, data: bytes, mime_type: str = "image/jpeg") -> None:
        self.media[media_id] = (data, mime_type)

    def calls(self, path_suffix: str | None = "/messages") -> list[Call]:
        with self._lock:
            return [c for c in self._calls if path_suffix is None or c.path.endswith(path_suffix)]

    def sent(self) -> list[dict[str, Any]]:
        """Bodies of the message posts answered with success (sends and read receipts)."""
        return [c.body for c in self.calls() if c.ok]

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._script.clear()

    # --- the rules ------------------------------------------------------------------------------
    def new_wamid(self) -> str:
        raw = f"HBgMfake{next(self._ids):012d}{time.time_ns()}".encode()
        return "wamid." + base64.b64encode(raw).decode("ascii")

    def check_message(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """Meta's request rules; None when the message is acceptable."""

        def bad(details: str) -> tuple[int, dict[str, Any]]:
            return 400, graph_error(100, "(#100) Invalid parameter", details)

        if body.get("messaging_product") != "whatsapp":
            return bad("messaging_product must be 'whatsapp'")
        if body.get("status") == "read":
            if not isinstance(body.get("message_id"), str) or not body["message_id"].startswith("wamid."):
                return bad("message_id must be the id of a message received from the user")
            typing = body.get("typing_indicator")
            if typing is not None and (not isinstance(typing, dict) or typing.get("type") != "text"):
                return bad("typing_indicator.type must be 'text'")
            return None
        has_to, has_recipient = "to" in body, "recipient" in body
        if has_to == has_recipient:
            return bad("exactly one of 'to' or 'recipient' is required")
        kind_of_recipient = body.get("recipient_type", "individual")
        if kind_of_recipient not in ("individual", "group"):
            return bad("recipient_type must be 'individual' or 'group'")
        if kind_of_recipient == "group" and not has_to:
            return bad("a group is addressed by 'to' (the group id)")
        target = body.get("to") if has_to else body.get("recipient")
        if not isinstance(target, str) or not target.strip():
            return bad("the recipient must be a non-empty string")
        kind = body.get("type", "text")
        if kind not in MESSAGE_TYPES:
            return bad(f"unsupported message type {kind!r}")
        obj = body.get(kind)
        if not isinstance(obj, dict):
            return bad(f"the '{kind}' object is required for type {kind}")
        context = body.get("context")
        if context is not None and (not isinstance(context, dict) or not isinstance(context.get("message_id"), str)):
            return bad("context.message_id must be a string")
        if kind == "text":
            text = obj.get("body")
            if not isinstance(text, str) or not text.strip():
                return bad("text.body is required")
            if _units(text) > TEXT_LIMIT:
                return bad(f"text.body is longer than {TEXT_LIMIT} characters")
        elif kind in MEDIA_TYPES:
            if ("link" in obj) == ("id" in obj):
                return bad(f"{kind} needs exactly one of 'link' or 'id'")
            link = obj.get("link")
            if link is not None and (not isinstance(link, str) or urlsplit(link).scheme not in ("http", "https")):
                return bad(f"{kind}.link must be an http(s) URL")
            if "caption" in obj:
                if kind not in CAPTION_TYPES:
                    return bad(f"{kind} messages take no caption")
                if not isinstance(obj["caption"], str) or _units(obj["caption"]) > CAPTION_LIMIT:
                    return bad(f"caption is longer than {CAPTION_LIMIT} characters")
        elif kind == "template":
            language = obj.get("language")
            if not isinstance(obj.get("name"), str) or not isinstance(language, dict) or not language.get("code"):
                return bad("template.name and template.language.code are required")
        if kind != "template" and target.lstrip("+") in self.closed_windows:
            return 400, window_closed_error()
        return None

    def answer_message(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if body.get("status") == "read":
            return 200, {"success": True}
        if "recipient" in body:
            contact: dict[str, Any] = {"input": body["recipient"], "user_id": body["recipient"]}
        else:
            contact = {"input": body["to"], "wa_id": str(body["to"]).lstrip("+")}
        answer: dict[str, Any] = {"messaging_product": "whatsapp", "messages": [{"id": self.new_wamid()}]}
        if body.get("recipient_type") != "group":
            answer["contacts"] = [contact]
        return 200, answer

    def authorized(self, header: str | None) -> tuple[bool, str | None]:
        scheme, _, token = (header or "").strip().partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        if self.access_token is None:
            return True, token or None
        return bool(token) and hmac.compare_digest(token, self.access_token), token or None

    def record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)
        if self.printer is not None:
            self.printer(describe(call))

    def next_script(self) -> tuple[int, dict[str, Any], float] | None:
        with self._lock:
            return self._script.popleft() if self._script else None


def describe(call: Call) -> str:
    """One line per call for `muxctl dev whatsapp`."""
    stamp = time.strftime("%H:%M:%S", time.localtime(call.at))
    body = call.body
    verdict = "" if call.ok else f"  -> {call.status} {json.dumps(call.answer.get('error', {}).get('message'))}"
    if call.method == "GET":
        return f"{stamp} GET {call.path}{verdict}"
    who = body.get("to") or body.get("recipient")
    if body.get("status") == "read":
        what = f"read + typing on {body.get('message_id')}" if body.get("typing_indicator") else "read receipt"
        return f"{stamp} from {call.phone_number_id} to {who or '-'}: {what}{verdict}"
    kind = body.get("type", "text")
    obj = body.get(kind) if isinstance(body.get(kind), dict) else {}
    if kind == "text":
        what = f"text {json.dumps(obj.get('body'), ensure_ascii=False)}"
    elif kind == "template":
        what = f"template {obj.get('name')} ({(obj.get('language') or {}).get('code')})"
    else:
        caption = f" caption={json.dumps(obj['caption'], ensure_ascii=False)}" if "caption" in obj else ""
        what = f"{kind} {obj.get('link') or obj.get('id')}{caption}"
    reply = f" (reply to {body['context']['message_id']})" if isinstance(body.get("context"), dict) else ""
    group = " [group]" if body.get("recipient_type") == "group" else ""
    return f"{stamp} from {call.phone_number_id} to {who}{group}: {what}{reply}{verdict}"


def _handler(fake: FakeGraph) -> type[BaseHTTPRequestHandler]:
    class Handler(StandInHandler):
        def _json(self, status: int, body: dict[str, Any]) -> None:
            self.write_answer(status, json.dumps(body, ensure_ascii=False).encode("utf-8"))

        def _segments(self) -> list[str]:
            parts = [p for p in urlsplit(self.path).path.split("/") if p]
            if parts and parts[0].startswith("v") and parts[0][1:].replace(".", "").isdigit():
                parts = parts[1:]
            return parts

        def _unauthorized(self) -> dict[str, Any]:
            return graph_error(190, "Invalid OAuth access token - Cannot parse access token")

        def do_GET(self) -> None:  # noqa: N802
            parts = self._segments()
            if parts == ["_fake", "calls"]:
                items = [{**asdict(c), "ok": c.ok} for c in fake.calls(None)]
                self._json(200, {"ok": True, "count": len(items), "items": items})
                return
            allowed, token = fake.authorized(self.headers.get("Authorization"))
            if len(parts) == 2 and parts[0] == "_media":
                media = fake.media.get(parts[1])
                status = 200 if allowed and media else (401 if not allowed else 404)
                fake.record(Call("GET", self.path, None, {}, token, status, {}, time.time()))
                if status == 200 and media is not None:
                    self.write_answer(200, media[0], media[1])
                else:
                    self._json(status, self._unauthorized() if status == 401 else graph_error(100, "not found"))
                return
            if len(parts) != 1:
                self._json(404, graph_error(100, "Unsupported get request."))
                return
            media_id = parts[0]
            media = fake.media.get(media_id)
            if not allowed:
                status, answer = 401, self._unauthorized()
            elif media_id in fake.numbers:
                status, answer = 200, {"display_phone_number": fake.numbers[media_id], "id": media_id}
            elif media is None:
                status, answer = 400, graph_error(100, "(#100) Invalid parameter",
                                                  f"Object with ID '{media_id}' does not exist")
            else:
                status, answer = 200, {
                    "messaging_product": "whatsapp",
                    "url": f"{fake.url}/_media/{media_id}",
                    "mime_type": media[1],
                    "sha256": base64.b64encode(hashlib.sha256(media[0]).digest()).decode("ascii"),
                    "file_size": str(len(media[0])),
                    "id": media_id,
                }
            fake.record(Call("GET", self.path, None, {}, token, status, answer, time.time()))
            self._json(status, answer)

        def do_POST(self) -> None:  # noqa: N802
            raw = self.read_body()
            parts = self._segments()
            if len(parts) != 2 or parts[1] != "messages":
                self._json(404, graph_error(100, "Unsupported post request."))
                return
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = None
            allowed, token = fake.authorized(self.headers.get("Authorization"))
            delay = 0.0
            if not allowed:
                status, answer = 401, self._unauthorized()
            elif not isinstance(body, dict):
                status, answer = 400, graph_error(100, "(#100) Invalid parameter", "the body must be a JSON object")
            else:
                refused = fake.check_message(body)
                scripted = fake.next_script() if refused is None else None
                if refused is not None:
                    status, answer = refused
                elif scripted is not None and scripted[2] == 0.0:
                    status, answer = scripted[0], scripted[1]
                else:
                    status, answer = fake.answer_message(body)
                    delay = scripted[2] if scripted is not None else 0.0
            fake.record(Call("POST", self.path, parts[0], body if isinstance(body, dict) else {}, token, status,
                             answer, time.time()))
            if delay:
                fake._released.wait(delay)
            self._json(status, answer)

    return Handler
