"""A fake Telegram Bot API on loopback: records every call, answers like Telegram, scriptable per method.

Usage::

    with FakeTelegram() as tg:
        monkeypatch.setenv("MUX_TELEGRAM_API_BASE_URL", tg.url)
        ...
        tg.fail("sendMessage", times=2, error=load("error_429.json"))   # fail twice, then the default
        tg.fail_nth("sendMessage", 3, error=load("error_429.json"))      # the 3rd call from now fails
        tg.hang("sendMessage", seconds=2)   # next call: acted on (recorded, message id used), answered late
        tg.script("sendPhoto", {"ok": True, "result": {...}})            # next answer(s), then the default
        tg.on("getChatMember", lambda body: {...result...})              # default result for a method
        tg.chat_member_status = "member"                                  # getChatMember status
        assert tg.calls("sendMessage")[0].body["chat_id"] == 42
        assert [c.body["text"] for c in tg.delivered("sendMessage")] == ["A", "B"]  # answered ok only

Answers: sends get a realistic Message (incrementing `message_id`, the request's chat, text/caption,
`message_thread_id` when given); editMessageText returns the edited Message (or `true` for inline edits);
sendChatAction / answerCallbackQuery / setMessageReaction / setWebhook / deleteMessage return `true`;
getChatMember returns a ChatMember with `chat_member_status`; getMe the bot; getFile a File whose bytes
are served at `/file/bot<token>/<file_path>` from `files` (404 when absent). Unknown methods answer `true`.
An error answer (`{"ok": false, "error_code": N, ...}`) is sent with HTTP status N, as Telegram does.

Each response goes out in one write with TCP_NODELAY, so loopback timings measure the caller, not Nagle.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BOT_USER = {"id": 7012345678, "is_bot": True, "first_name": "Mux Assistant", "username": "MuxAssistBot"}
SEND_METHODS = {
    "sendMessage",
    "sendPhoto",
    "sendDocument",
    "sendVideo",
    "sendAnimation",
    "sendAudio",
    "sendVoice",
    "sendSticker",
    "sendPoll",
}
TRUE_METHODS = {
    "sendChatAction",
    "answerCallbackQuery",
    "setMessageReaction",
    "setWebhook",
    "deleteWebhook",
    "deleteMessage",
    "setMyCommands",
}

Answer = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Call:
    method: str
    body: dict[str, Any]
    token: str
    at: float


class FakeTelegram:
    def __init__(self, *, first_message_id: int = 1000) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._scripts: dict[str, deque[Answer]] = defaultdict(deque)
        self._defaults: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self._message_ids = itertools.count(first_message_id)
        self.chat_member_status = "administrator"
        self.files: dict[str, bytes] = {}
        self._delivered: list[Call] = []
        self._released = threading.Event()  # set on close: hung answers stop waiting
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-telegram", daemon=True
        )
        self._thread.start()

    # --- lifecycle ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeTelegram:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- inspection ---------------------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def bodies(self, method: str | None = None) -> list[dict[str, Any]]:
        return [c.body for c in self.calls(method)]

    def delivered(self, method: str | None = None) -> list[Call]:
        """The calls answered with ok:true (a hung call counts once its late answer is sent)."""
        with self._lock:
            return [c for c in self._delivered if method is None or c.method == method]

    def reset(self) -> None:
        """Forget calls and scripts (defaults and counters stay)."""
        with self._lock:
            self._calls.clear()
            self._delivered.clear()
            self._scripts.clear()

    # --- scripting ----------------------------------------------------------------------------
    def script(self, method: str, *answers: Answer) -> None:
        """Queue full answers (Telegram JSON objects, or callables body → JSON) for the next calls of `method`;
        once used up, the method's default answers again."""
        with self._lock:
            self._scripts[method].extend(answers)

    def fail(self, method: str, *, times: int = 1, error: dict[str, Any] | None = None) -> None:
        """The next `times` calls of `method` fail with `error` (default: 500 Internal Server Error), then ok."""
        answer = error or {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        self.script(method, *([answer] * times))

    def fail_nth(self, method: str, nth: int, *, error: dict[str, Any] | None = None) -> None:
        """The `nth` call of `method` from now (1-based) fails with `error`; the ones before it answer as usual."""
        self.script(method, *([self._usual(method)] * (nth - 1)))
        self.fail(method, error=error)

    def hang(self, method: str, *, seconds: float, times: int = 1) -> None:
        """The next `times` calls of `method` are acted on at once but answered only after `seconds` (or at
        close): a client with a shorter timeout cannot know whether the call worked."""

        def late(body: dict[str, Any]) -> dict[str, Any]:
            answer = self._usual(method)(body)
            self._released.wait(seconds)
            return answer

        self.script(method, *([late] * times))

    def _usual(self, method: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def usual(body: dict[str, Any]) -> dict[str, Any]:
            if method in self._defaults:
                return {"ok": True, "result": self._defaults[method](body)}
            return {"ok": True, "result": self.default_result(method, body)}

        return usual

    def on(self, method: str, result: Callable[[dict[str, Any]], Any] | Any) -> None:
        """Default `result` for `method`: a value, or a callable body → value (wrapped in {"ok": true})."""
        self._defaults[method] = result if callable(result) else (lambda _body, value=result: value)

    # --- answers ------------------------------------------------------------------------------
    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            scripted = self._scripts[method].popleft() if self._scripts.get(method) else None
        if scripted is not None:
            return scripted(body) if callable(scripted) else scripted
        if method in self._defaults:
            return {"ok": True, "result": self._defaults[method](body)}
        return {"ok": True, "result": self.default_result(method, body)}

    def default_result(self, method: str, body: dict[str, Any]) -> Any:
        if method in SEND_METHODS:
            return self.message(body, method)
        if method == "editMessageText":
            if "chat_id" not in body:
                return True
            return {**self.message(body, method, new_id=False), "edit_date": int(time.time())}
        if method in TRUE_METHODS:
            return True
        if method == "getChatMember":
            user_id = body.get("user_id", 0)
            return {
                "user": {"id": user_id, "is_bot": False, "first_name": "User"},
                "status": self.chat_member_status,
            }
        if method == "getMe":
            return {**BOT_USER, "can_join_groups": True, "can_read_all_group_messages": False}
        if method == "getFile":
            file_id = str(body.get("file_id", ""))
            path = f"files/{file_id}"
            return {
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "file_size": len(self.files.get(path, b"")),
                "file_path": path,
            }
        return True

    def message(self, body: dict[str, Any], method: str = "sendMessage", *, new_id: bool = True) -> dict[str, Any]:
        """A Message as Telegram returns it for a send to `body['chat_id']`."""
        chat_id = body.get("chat_id")
        try:
            numeric = int(chat_id)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            numeric = None
        if numeric is not None and numeric > 0:
            chat: dict[str, Any] = {"id": numeric, "first_name": "Alice", "type": "private"}
        else:
            chat = {"id": numeric if numeric is not None else chat_id, "title": "Group", "type": "supergroup"}
        message_id = next(self._message_ids) if new_id else body.get("message_id", 0)
        msg: dict[str, Any] = {"message_id": message_id, "from": BOT_USER, "chat": chat, "date": int(time.time())}
        if body.get("message_thread_id") is not None:
            msg["message_thread_id"] = body["message_thread_id"]
            msg["is_topic_message"] = True
        if "text" in body:
            msg["text"] = body["text"]
        if "caption" in body:
            msg["caption"] = body["caption"]
        if method == "sendPhoto":
            msg["photo"] = [{"file_id": "AgACfake", "file_unique_id": "AQADfake", "width": 90, "height": 90}]
        elif method == "sendDocument":
            msg["document"] = {"file_id": "BQACfake", "file_unique_id": "AgADfake", "file_name": "file"}
        return msg


def _handler(fake: FakeTelegram) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
            head = (
                f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
                f"Content-Type: {content_type}\r\n"
                f"Content-Length: {len(payload)}\r\n"
                "Connection: keep-alive\r\n\r\n"
            ).encode("latin-1")
            self.wfile.write(head + payload)  # one write: no Nagle/delayed-ACK stall on loopback

        def do_GET(self) -> None:
            parts = self.path.split("?", 1)[0].split("/")
            # /file/bot<token>/<path...>
            if len(parts) >= 4 and parts[1] == "file" and parts[2].startswith("bot"):
                data = fake.files.get("/".join(parts[3:]))
                if data is None:
                    self._reply(404, b'{"ok":false,"error_code":404,"description":"Not Found"}')
                else:
                    self._reply(200, data, "application/octet-stream")
                return
            self._handle({})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = {"_unparsed": raw.decode("utf-8", "replace")}
            self._handle(body if isinstance(body, dict) else {"_body": body})

        def _handle(self, body: dict[str, Any]) -> None:
            parts = self.path.split("?", 1)[0].split("/")
            if len(parts) != 3 or not parts[1].startswith("bot"):
                self._reply(404, b'{"ok":false,"error_code":404,"description":"Not Found"}')
                return
            token, method = parts[1][3:], parts[2]
            with fake._lock:
                fake._calls.append(Call(method, body, token, time.time()))
            answer = fake._answer(method, body)
            status = 200 if answer.get("ok") else int(answer.get("error_code") or 400)
            if answer.get("ok"):
                with fake._lock:
                    fake._delivered.append(Call(method, body, token, time.time()))
            try:
                self._reply(status, json.dumps(answer).encode("utf-8"))
            except OSError:
                pass  # the client gave up waiting (a hung answer)

    return Handler
