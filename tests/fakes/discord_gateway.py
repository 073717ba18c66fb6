"""A fake Discord gateway (websocket) plus the little REST the gateway relay needs, on 127.0.0.1.

Usage::

    with FakeGateway(token="bot-token") as gw:          # REST at gw.api_url, websocket at gw.ws_url
        env["MUX_DISCORD_API_BASE_URL"] = gw.api_url
        gw.wait_ready()                                  # a client has IDENTIFYed (or RESUMEd) and is connected
        frame = gw.message_create(channel_id="1", content="hi")   # dispatched with the next sequence number
        gw.drop(hold=True); gw.message_create(...); gw.release()   # abort the TCP stream (no close frame); what is
                                                         # dispatched before release() arrives only by RESUME
        gw.send_reconnect() / gw.invalidate_session(resumable=False)

It follows Discord's rules as the relay meets them: the gateway URL comes from ``GET /gateway/bot``; the connection
must carry ``v=10&encoding=json``, and ``compress=zlib-stream`` makes every frame part of one zlib stream per
connection, each ending in a Z_SYNC_FLUSH (``00 00 ff ff``); HELLO (op 10) first; IDENTIFY (op 2) with the bot token
(a wrong one closes with 4004) opens a new session answered by READY (session_id, ``resume_gateway_url``, the bot
user); RESUME (op 6) must name a known session and a sequence number the gateway has sent, is answered by replaying
every dispatch after it and RESUMED, otherwise by INVALID_SESSION (op 9, ``false``); HEARTBEAT (op 1) → ACK (op 11);
a client closing with 1000 or 1001 ends its session (it can no longer be resumed), any other close keeps it.
Dispatches for a session are kept while the client is away (as Discord buffers them for resuming), so an event
dispatched while the connection is down arrives on RESUME. Every IDENTIFY and RESUME is recorded.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

BOT_USER_ID = "1300000000000000001"


def _json(payload: Any, status: int = 200) -> web.Response:
    # Discord answers `Content-Type: application/json` with no charset (discord.py only decodes that exact value).
    return web.Response(body=json.dumps(payload).encode(), status=status, headers={"Content-Type": "application/json"})

APPLICATION_ID = "1300000000000000002"
BOT_USER = {"id": BOT_USER_ID, "username": "mux-relay-bot", "discriminator": "0", "global_name": None,
            "avatar": None, "bot": True, "flags": 0, "public_flags": 0, "verified": True, "mfa_enabled": False}


@dataclass
class Session:
    id: str
    sent: list[tuple[int, str]] = field(default_factory=list)  # (seq, frame text) of every dispatch
    seq: int = 0


@dataclass
class Connection:
    ws: web.WebSocketResponse
    path: str
    compress: Any | None
    session: Session | None = None


class FakeGateway:
    def __init__(self, token: str = "test-bot-token", heartbeat_interval_ms: int = 45000,
                 bot_user_id: str = BOT_USER_ID) -> None:
        self.token = token
        self.bot_user = BOT_USER | {"id": bot_user_id}
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.rest_calls: list[str] = []
        self.heartbeats = 0
        self.close_codes: list[int | None] = []
        self.sessions: dict[str, Session] = {}
        self._current: Connection | None = None
        self._session: Session | None = None
        self._ids = itertools.count()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-discord-gateway", daemon=True)
        self._lock = threading.Lock()
        self.port = 0
        self._gate: asyncio.Event | None = None  # cleared while drop(hold=True) keeps reconnecting clients waiting

    # ---- lifecycle ------------------------------------------------------------------------------------------------
    def __enter__(self) -> FakeGateway:
        self._thread.start()
        self._call(self._start())
        return self

    def __exit__(self, *_exc: object) -> None:
        self._call(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def resume_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/resume-gateway"

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v10/users/@me", self._me)
        app.router.add_get("/api/v10/oauth2/applications/@me", self._application)
        app.router.add_get("/api/v10/gateway/bot", self._gateway_bot)
        app.router.add_get("/gateway", self._websocket)
        app.router.add_get("/resume-gateway", self._websocket)
        self._gate = asyncio.Event()
        self._gate.set()
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    # ---- REST ---------------------------------------------------------------------------------------------------
    def _authorised(self, request: web.Request) -> bool:
        self.rest_calls.append(f"{request.method} {request.path}")
        return request.headers.get("Authorization") == f"Bot {self.token}"

    async def _me(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        return _json(self.bot_user)

    async def _application(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        return _json({
            "id": APPLICATION_ID, "name": "Mux", "description": "", "icon": None, "bot_public": True,
            "bot_require_code_grant": False, "owner": self.bot_user, "verify_key": "0" * 64, "flags": 0,
            "summary": "", "team": None, "interactions_endpoint_url": None,
        })

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        return _json({"url": self.ws_url, "shards": 1, "session_start_limit": {
            "total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1}})

    # ---- websocket ----------------------------------------------------------------------------------------------
    async def _send(self, conn: Connection, payload: dict[str, Any] | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        if conn.compress is None:
            await conn.ws.send_str(text)
        else:
            data = conn.compress.compress(text.encode("utf-8")) + conn.compress.flush(zlib.Z_SYNC_FLUSH)
            await conn.ws.send_bytes(data)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        if query.get("v") != "10" or query.get("encoding") != "json" or query.get("compress") not in (None,
                                                                                                         "zlib-stream"):
            return web.Response(status=400, text=f"unsupported gateway query {dict(query)}")
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        conn = Connection(ws, request.path, zlib.compressobj() if query.get("compress") else None)
        self.paths.append(request.path)
        assert self._gate is not None
        await self._gate.wait()
        hello = {"heartbeat_interval": self.heartbeat_interval_ms}
        await self._send(conn, {"op": 10, "s": None, "t": None, "d": hello})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            payload = json.loads(msg.data)
            op = payload.get("op")
            if op == 1:
                self.heartbeats += 1
                await self._send(conn, {"op": 11, "s": None, "t": None, "d": None})
            elif op == 2:
                await self._identify(conn, payload["d"])
            elif op == 6:
                await self._resume(conn, payload["d"])
        if self._current is conn:
            self._current = None
        self.close_codes.append(ws.close_code)
        if ws.close_code in (1000, 1001) and conn.session is not None:
            self.sessions.pop(conn.session.id, None)  # Discord ends a session its client closes with 1000/1001
        return ws

    async def _identify(self, conn: Connection, data: dict[str, Any]) -> None:
        recorded = {k: v for k, v in data.items() if k != "token"}
        self.identifies.append(recorded | {"token_ok": data.get("token") == self.token})
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        session = Session(secrets.token_hex(16))
        self.sessions[session.id] = session
        conn.session = session
        self._session = session
        self._current = conn
        await self._dispatch(session, "READY", {
            "v": 10, "user": self.bot_user, "guilds": [], "session_id": session.id,
            "resume_gateway_url": self.resume_url,
            "application": {"id": APPLICATION_ID, "flags": 0}, "private_channels": [], "relationships": [],
        })

    async def _resume(self, conn: Connection, data: dict[str, Any]) -> None:
        self.resumes.append({"session_id": data.get("session_id"), "seq": data.get("seq"), "path": conn.path,
                             "token_ok": data.get("token") == self.token})
        session = self.sessions.get(str(data.get("session_id")))
        seq = data.get("seq")
        if data.get("token") != self.token or session is None or not isinstance(seq, int) or seq > session.seq:
            await self._send(conn, {"op": 9, "s": None, "t": None, "d": False})
            return
        conn.session = session
        self._current = conn
        for sent_seq, frame in session.sent:
            if sent_seq > seq:
                await self._send(conn, frame)
        await self._dispatch(session, "RESUMED", {})

    async def _dispatch(self, session: Session, kind: str, data: Any, text: str | None = None) -> str:
        session.seq += 1
        frame = text if text is not None else json.dumps({"t": kind, "s": session.seq, "op": 0, "d": data},
                                                         separators=(",", ":"), ensure_ascii=False)
        session.sent.append((session.seq, frame))
        conn = self._current
        if conn is not None and conn.session is session and not conn.ws.closed:
            await self._send(conn, frame)
        return frame

    # ---- test controls (called from the test thread) -------------------------------------------------------------
    def connected(self) -> bool:
        conn = self._current
        return conn is not None and not conn.ws.closed and conn.session is not None

    def dispatch(self, kind: str, data: Any, *, frame: Callable[[int], str] | None = None) -> str:
        """Dispatch an event to the current session (kept for RESUME when no one is connected); returns the frame."""
        async def go() -> str:
            assert self._session is not None, "no session: nothing has IDENTIFYed"
            text = frame(self._session.seq + 1) if frame is not None else None
            return await self._dispatch(self._session, kind, data, text)
        return str(self._call(go()))

    def snowflake(self) -> str:
        """A fresh Discord id: milliseconds since Discord's epoch (2015) in the top bits, so its time is now."""
        return str(((int(time.time() * 1000) - 1_420_070_400_000) << 22) | (next(self._ids) & 0xFFF))

    def message_create(self, *, channel_id: str, content: str, author_id: str = "412345678901234567",
                       guild_id: str | None = None) -> str:
        """A MESSAGE_CREATE as Discord writes it (non-ASCII kept raw, Discord's key order); returns the frame text."""
        message_id = self.snowflake()
        data: dict[str, Any] = {
            "type": 0, "tts": False, "timestamp": "2026-06-16T08:53:50.000000+00:00", "pinned": False,
            "nonce": message_id, "mentions": [], "mention_roles": [], "mention_everyone": False,
            "id": message_id, "flags": 0, "embeds": [], "edited_timestamp": None, "content": content,
            "components": [], "channel_type": 1 if guild_id is None else 0, "channel_id": channel_id,
            "author": {"username": "carol.dev", "public_flags": 0, "id": author_id, "global_name": "Carol",
                       "discriminator": "0", "avatar": None},
            "attachments": [],
        }
        if guild_id is not None:
            data["guild_id"] = guild_id
            data["member"] = {"roles": [], "nick": None, "joined_at": "2025-11-02T18:04:11.512000+00:00",
                              "deaf": False, "mute": False, "flags": 0, "pending": False}
        return self.dispatch("MESSAGE_CREATE", data)

    def drop(self, hold: bool = False) -> None:
        """Abort the current connection's TCP stream (no close frame), as a network failure would. With `hold`, a
        reconnecting client gets no HELLO until `release()`, so what is dispatched meanwhile must come by RESUME."""
        async def go() -> None:
            if hold and self._gate is not None:
                self._gate.clear()
            conn = self._current
            self._current = None
            if conn is not None:
                transport = conn.ws._req.transport if conn.ws._req is not None else None  # noqa: SLF001
                if transport is not None:
                    transport.abort()
        self._call(go())

    def release(self) -> None:
        """Let held connections go on (HELLO is sent)."""
        async def go() -> None:
            if self._gate is not None:
                self._gate.set()
        self._call(go())

    def send_reconnect(self) -> None:
        """op 7 RECONNECT: the client must reconnect and RESUME."""
        async def go() -> None:
            conn = self._current
            if conn is not None:
                await self._send(conn, {"op": 7, "s": None, "t": None, "d": None})
        self._call(go())

    def invalidate_session(self, resumable: bool = False) -> None:
        """op 9 INVALID_SESSION: ``false`` forgets the session (the client must IDENTIFY anew)."""
        async def go() -> None:
            conn = self._current
            if conn is not None:
                if not resumable and conn.session is not None:
                    self.sessions.pop(conn.session.id, None)
                await self._send(conn, {"op": 9, "s": None, "t": None, "d": resumable})
        self._call(go())
