"""Local stand-ins for development and tests: a tenant's OpenClaw inbound endpoint and the Telegram
Bot API. Both are stdlib ThreadingHTTPServers on 127.0.0.1, usable in-process (start/stop) or from
`muxctl dev …`."""

from __future__ import annotations

import hmac
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

Printer = Callable[[str], None]


def _quiet(_line: str) -> None:
    return None


class StandInHandler(BaseHTTPRequestHandler):
    server_version = "muxctl-dev/0.1"
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # One segment per answer without waiting for delayed ACKs (see STACK-NOTES "Measuring").
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return None

    def write_answer(self, status: int, payload: bytes, content_type: str = "application/json",
                     headers: dict[str, str] | None = None) -> None:
        """The whole answer in one write: no Nagle/delayed-ACK stall on loopback."""
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = (
            f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n{extra}"
            "Connection: keep-alive\r\n\r\n"
        ).encode("latin-1")
        try:
            self.wfile.write(head + payload)
        except OSError:
            pass  # the client gave up waiting

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _block_until_interrupted(thread: threading.Thread, finish: Callable[[], None]) -> None:
    """Wait on a server thread until it ends or Ctrl-C (the `muxctl dev` commands), then `finish`."""
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        finish()


class _Server:
    """A ThreadingHTTPServer in a daemon thread."""

    handler: type[StandInHandler]

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> _Server:
        owner = self

        class Bound(self.handler):  # type: ignore[name-defined,misc]
            app = owner

        self._httpd = ThreadingHTTPServer((self.host, self.port), Bound)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Block until interrupted (the `muxctl dev` commands); starts the server if needed."""
        if self._httpd is None:
            self.start()
        assert self._thread is not None
        _block_until_interrupted(self._thread, self.stop)

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> _Server:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class BoundServer:
    """A stand-in bound on 127.0.0.1 when made (its port known at once) and served from a daemon thread;
    `_released` is set at close so answers held back on purpose (a scripted delay) end at once."""

    def __init__(self, port: int, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._thread_name = name

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                            name=self._thread_name, daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.start()
        assert self._thread is not None
        _block_until_interrupted(self._thread, self.close)

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the tenant's OpenClaw ----------------------------------------------------------------------
def summarize_envelope(envelope: dict[str, Any], status: int) -> str:
    body = envelope.get("body")
    text = body if isinstance(body, str) else ""
    if len(text) > 80:
        text = text[:77] + "..."
    attachments = envelope.get("attachments") or []
    extra = f" +{len(attachments)} attachment(s)" if attachments else ""
    return (
        f"{time.strftime('%H:%M:%S')} {envelope.get('eventId')} -> {status}  "
        f"session={envelope.get('sessionKey')} from={envelope.get('from')} to={envelope.get('to')}"
        f"{extra}  body={json.dumps(text, ensure_ascii=False)}"
    )


class _InboundHandler(StandInHandler):
    app: InboundReceiver

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        parts = urlsplit(self.path)
        if parts.path == "/_mux/received":
            since = int((parse_qs(parts.query).get("since") or ["0"])[0] or 0)
            items = self.app.received()[since:]
            self.send_json(200, {"ok": True, "count": len(items), "items": items})
        elif parts.path in ("/health", "/"):
            self.send_json(200, {"ok": True})
        else:
            self.send_json(404, {"ok": False, "error": "not found", "code": "NOT_FOUND"})

    def do_POST(self) -> None:  # noqa: N802
        raw = self.read_body()
        status, answer = self.app.handle(self.path, dict(self.headers.items()), raw)
        self.send_json(status, answer)


INBOUND_PATH = "/v1/mux/inbound"


class InboundReceiver(_Server):
    """What a tenant's OpenClaw looks like to the mux: `POST /v1/mux/inbound` judged by OpenClaw's
    own handler rules (muxctl.openclaw_inbound: bearer — the key when one is set, else any —, channel,
    sessionKey, to, a body or an attachment with content, the 20-minute messageId dedupe). `status` other
    than 2xx simulates an outage instead. Other paths are plain recorders (bearer checked when a key is set).
    Records every request it answered.

    `GET /_mux/received[?since=N]` lists the records: `{receivedAtMs, path, status, authorized, eventId,
    envelope, outcome}`; `outcome` says whether the agent got it ("delivered"), or why not ("duplicate",
    "dropped: …", the handler's error).
    """

    handler = _InboundHandler

    def __init__(
        self,
        port: int = 0,
        *,
        key: str | None = None,
        status: int = 202,
        record_file: str | Path | None = None,
        printer: Printer = _quiet,
        verbose: bool = False,
    ) -> None:
        super().__init__(port)
        self.key = key
        self.status = status
        self.record_file = Path(record_file) if record_file else None
        self.printer = printer
        self.verbose = verbose
        self._records: list[dict[str, Any]] = []
        from muxctl.openclaw_inbound import InboundHandler

        self.rules = InboundHandler(key)

    def received(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._records)

    def envelopes(self) -> list[dict[str, Any]]:
        return [r["envelope"] for r in self.received() if r["status"] // 100 == 2]

    def _plain(self, headers: dict[str, str], envelope: Any) -> tuple[bool, tuple[int, dict[str, Any], str]]:
        """Another path (not OpenClaw's handler): the bearer when a key is set, then `status`."""
        lower = {k.lower(): v for k, v in headers.items()}
        authorized = True
        if self.key is not None:
            scheme, _, token = (lower.get("authorization") or "").strip().partition(" ")
            authorized = scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), self.key)
        if not authorized:
            return False, (401, {"ok": False, "error": "Unauthorized", "code": "UNAUTHORIZED"}, "unauthorized")
        if not isinstance(envelope, dict):
            return True, (400, {"ok": False, "error": "invalid JSON", "code": "INVALID_JSON"}, "invalid JSON")
        return True, (202, {"ok": True}, "recorded")

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        try:
            envelope = json.loads(raw or b"{}")
        except ValueError:
            envelope = None
        if urlsplit(path).path == INBOUND_PATH:
            verdict = self.rules.handle("POST", headers, raw)
            authorized = verdict.status != 401
            status, answer, outcome = verdict.status, verdict.answer, verdict.note
        else:
            authorized, (status, answer, outcome) = self._plain(headers, envelope)
        if status // 100 == 2 and self.status // 100 != 2:
            status, answer, outcome = self.status, {"ok": False, "error": f"simulated {self.status}"}, "simulated"
        record = {
            "receivedAtMs": int(time.time() * 1000),
            "path": path,
            # Everything but the bearer (it is the tenant key).
            "headers": {k: v for k, v in headers.items() if k.lower() != "authorization"},
            "status": status,
            "authorized": authorized,
            "eventId": envelope.get("eventId") if isinstance(envelope, dict) else None,
            "envelope": envelope if isinstance(envelope, dict) else None,
            "outcome": outcome,
        }
        with self.lock:
            self._records.append(record)
            if self.record_file is not None and isinstance(envelope, dict) and authorized:
                with self.record_file.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(envelope, ensure_ascii=False) + "\n")
        if isinstance(envelope, dict):
            line = summarize_envelope(envelope, status)
            if not authorized:
                line += "  (REJECTED: wrong or missing bearer)"
            elif outcome != "delivered":
                line += f"  ({outcome})"
            self.printer(line)
            if self.verbose:
                self.printer(json.dumps(envelope, indent=2, ensure_ascii=False))
        else:
            self.printer(f"{time.strftime('%H:%M:%S')} {path}: body is not a JSON object -> {status}")
        return status, answer


# --- the Telegram Bot API -----------------------------------------------------------------------
BOT_USER = {"id": 7012345678, "is_bot": True, "first_name": "Mux Local", "username": "MuxLocalBot"}
TRUE_METHODS = {
    "sendChatAction",
    "answerCallbackQuery",
    "setMessageReaction",
    "setWebhook",
    "deleteWebhook",
    "setMyCommands",
    "deleteMyCommands",
    "deleteMessage",
    "leaveChat",
}


def _parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    if "json" in content_type:
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    if "x-www-form-urlencoded" in content_type:
        return {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    if "multipart/form-data" in content_type:
        return {"_multipart": True, "_bytes": len(raw)}
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _as_int(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def describe_call(method: str, body: dict[str, Any]) -> str:
    chat = body.get("chat_id")
    thread = f" topic {body['message_thread_id']}" if body.get("message_thread_id") else ""
    if method in ("sendMessage", "editMessageText"):
        return f"{method} to chat {chat}{thread}: {json.dumps(body.get('text'), ensure_ascii=False)}"
    if method in ("sendPhoto", "sendDocument"):
        media = body.get("photo") or body.get("document")
        return f"{method} to chat {chat}{thread}: {media} caption={json.dumps(body.get('caption'))}"
    if method == "sendChatAction":
        return f"{method} to chat {chat}{thread}: {body.get('action')}"
    if method == "setWebhook":
        return f"{method}: {body.get('url')} allowed_updates={body.get('allowed_updates')}"
    return f"{method} {json.dumps({k: v for k, v in body.items() if k != 'secret_token'}, ensure_ascii=False)}"


class _TelegramHandler(StandInHandler):
    app: FakeTelegram

    def _split(self) -> tuple[str, str] | None:
        path = urlsplit(self.path).path
        if not path.startswith("/bot") or path.count("/") != 2:
            return None
        token, _, method = path[len("/bot") :].partition("/")
        return token, method

    def do_GET(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        if path == "/_fake/calls":
            calls = self.app.calls()
            self.send_json(200, {"ok": True, "count": len(calls), "items": calls})
        elif path.startswith("/file/bot"):
            data = b"muxctl fake telegram file\n"
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif self._split() is not None:
            token, method = self._split()  # type: ignore[misc]
            status, answer = self.app.handle(token, method, {})
            self.send_json(status, answer)
        else:
            self.send_json(404, {"ok": False, "error_code": 404, "description": "Not Found"})

    def do_POST(self) -> None:  # noqa: N802
        raw = self.read_body()
        parts = self._split()
        if parts is None:
            self.send_json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        body = _parse_body(self.headers.get("Content-Type") or "", raw)
        status, answer = self.app.handle(parts[0], parts[1], body)
        self.send_json(status, answer)


class FakeTelegram(_Server):
    """The Bot API as the mux uses it: `POST /bot<token>/<method>`, realistic `{"ok":true,"result":…}`
    answers, every call recorded (`GET /_fake/calls`). Tokens are not printed."""

    handler = _TelegramHandler

    def __init__(
        self,
        port: int = 0,
        *,
        token: str | None = None,
        member_status: str = "administrator",
        printer: Printer = _quiet,
    ) -> None:
        super().__init__(port)
        self.token = token
        self.member_status = member_status
        self.printer = printer
        self._calls: list[dict[str, Any]] = []
        self._next_message_id = 5000
        self.webhook: dict[str, Any] = {"url": "", "allowed_updates": []}

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in self._calls if method is None or c["method"] == method]

    def _message(self, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
        with self.lock:
            self._next_message_id += 1
            message_id = self._next_message_id
        chat_id = _as_int(body.get("chat_id"))
        chat: dict[str, Any] = {"id": chat_id}
        chat["type"] = "private" if isinstance(chat_id, int) and chat_id > 0 else "supergroup"
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": BOT_USER,
            "chat": chat,
            "date": int(time.time()),
        }
        if body.get("message_thread_id"):
            message["message_thread_id"] = _as_int(body["message_thread_id"])
            message["is_topic_message"] = True
        message.update(extra)
        return message

    def result_for(self, method: str, body: dict[str, Any]) -> tuple[int, Any]:
        if method in TRUE_METHODS:
            if method == "setWebhook":
                with self.lock:
                    self.webhook = {"url": body.get("url", ""), "allowed_updates": body.get("allowed_updates", [])}
            elif method == "deleteWebhook":
                with self.lock:
                    self.webhook = {"url": "", "allowed_updates": []}
            return 200, True
        if method == "sendMessage":
            return 200, self._message(body, text=body.get("text", ""))
        if method == "editMessageText":
            message = self._message(body, text=body.get("text", ""), edit_date=int(time.time()))
            if body.get("message_id"):
                message["message_id"] = _as_int(body["message_id"])
            return 200, message
        if method == "sendPhoto":
            photo = [{"file_id": "AgACAgFake", "file_unique_id": "AQADFake", "width": 90, "height": 90}]
            return 200, self._message(body, photo=photo, caption=body.get("caption"))
        if method == "sendDocument":
            document = {"file_id": "BQACAgFake", "file_unique_id": "AgADFake", "file_name": "file.bin"}
            return 200, self._message(body, document=document, caption=body.get("caption"))
        if method == "getMe":
            return 200, {**BOT_USER, "can_join_groups": True, "can_read_all_group_messages": False}
        if method == "getChatMember":
            user = {"id": _as_int(body.get("user_id")), "is_bot": False, "first_name": "Member"}
            return 200, {"status": self.member_status, "user": user, "can_be_edited": False}
        if method == "getWebhookInfo":
            with self.lock:
                hook = dict(self.webhook)
            return 200, {**hook, "has_custom_certificate": False, "pending_update_count": 0}
        if method == "getFile":
            file_id = str(body.get("file_id", ""))
            return 200, {
                "file_id": file_id, "file_unique_id": "fake", "file_size": 26, "file_path": "documents/file_1.bin"
            }
        return 404, None

    def handle(self, token: str, method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.token is not None and not hmac.compare_digest(token, self.token):
            self.printer(f"{time.strftime('%H:%M:%S')} {method}: 401 Unauthorized (wrong bot token)")
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        status, result = self.result_for(method, body)
        with self.lock:
            self._calls.append({"atMs": int(time.time() * 1000), "method": method, "body": body, "status": status})
        if status != 200:
            self.printer(f"{time.strftime('%H:%M:%S')} {method}: 404 (not implemented by the fake)")
            return status, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
        self.printer(f"{time.strftime('%H:%M:%S')} {describe_call(method, body)}")
        return 200, {"ok": True, "result": result}
