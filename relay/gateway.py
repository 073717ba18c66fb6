"""Holds the Discord gateway with discord.py and hands each raw MESSAGE_CREATE dispatch to the spool, untouched.

discord.py does the protocol (HELLO, IDENTIFY, heartbeats, zlib-stream, RESUME with session id + sequence from the
READY's ``resume_gateway_url``, op 7 RECONNECT, op 9 INVALID_SESSION). The relay reads the gateway's own text: with
``enable_debug_events`` the library calls ``dispatch("socket_raw_receive", text)`` synchronously for every frame,
*before* it advances its sequence number; the override below spools the frame right there (fsync'd), so an event the
library counts as received is on disk. The library's models are never used (no business logic): its parsers are
wrapped so a payload it cannot model is logged, never a dropped connection.

The session outlives the process: ``session.json`` in the spool directory keeps the session id, the resume URL and
the sequence number of the last message handled; a stopping relay closes the websocket with code 4000 (1000 would
make Discord end the session), and the next start RESUMEs that session instead of IDENTIFYing, so Discord replays
what it sent while no relay was connected. Discord answers an expired session with INVALID_SESSION and the library
IDENTIFYs anew. The file is replaced atomically but not fsync'd: after a power loss an older sequence number only
means replayed messages, which the mux drops as duplicates.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import discord
import discord.client
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from relay.config import RelaySettings
from relay.spool import Spool, SpoolFull

log = logging.getLogger("relay.gateway")


@dataclass(frozen=True)
class SavedSession:
    session_id: str
    resume_url: str
    seq: int


class SessionFile:
    """session.json: the gateway session a restarted relay resumes (only with the bot token that opened it)."""

    def __init__(self, path: Path, token: str) -> None:
        self.path = path
        # A digest, not the token: tells whether the session is this bot's (a session never survives a token change).
        self._bot = hashlib.sha256(token.encode()).hexdigest()[:16]

    def load(self) -> SavedSession | None:
        try:
            data = json.loads(self.path.read_text())
            if data.get("bot") != self._bot:
                return None
            return SavedSession(str(data["session_id"]), str(data["resume_url"]), int(data["seq"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def save(self, session: SavedSession) -> None:
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"session_id": session.session_id, "resume_url": session.resume_url,
                                       "seq": session.seq, "bot": self._bot, "saved_at": time.time()}))
            os.replace(tmp, self.path)
        except OSError as exc:  # losing it costs a fresh IDENTIFY at the next start, nothing more
            log.warning("could not save the gateway session to %s: %s", self.path, exc)


class GatewayState:
    """What /health reports about the gateway side."""

    def __init__(self) -> None:
        self.connected = False
        self.since = time.monotonic()
        self.session_id: str | None = None
        self.resume_url: str | None = None
        self.bot_user_id: str | None = None
        self.ready_count = 0
        self.resumed_count = 0
        self.received = 0
        self.skipped_own = 0
        self.dropped = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None

    def note_error(self, text: str) -> None:
        self.last_error = text
        self.last_error_at = time.time()

    def set_connected(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            self.since = time.monotonic()


def _guarded(name: str, parser: Callable[[Any], None]) -> Callable[[Any], None]:
    def parse(data: Any) -> None:
        try:
            parser(data)
        except Exception:  # the relay never uses the models; a payload discord.py cannot model changes nothing
            log.warning("discord.py could not model a %s event; ignored (the raw event was already relayed)", name,
                        exc_info=True)

    return parse


class RelayWebSocket(DiscordWebSocket):
    """discord.py's websocket, except that a relay's first connection RESUMEs the session its predecessor saved."""

    @classmethod
    async def from_client(cls, client: discord.Client, /, **params: Any) -> Self:  # type: ignore[override]
        saved = client.take_saved_session() if isinstance(client, RelayClient) else None
        if saved is not None and not params.get("resume"):
            log.info("resuming the saved gateway session (sequence %d)", saved.seq)
            params.update(resume=True, session=saved.session_id, sequence=saved.seq, gateway=yarl.URL(saved.resume_url))
        return await super().from_client(client, **params)


class RelayClient(discord.Client):
    def __init__(self, settings: RelaySettings, spool: Spool, state: GatewayState, on_spooled: Callable[[], None]):
        intents = discord.Intents.none()
        intents.value = settings.intents
        super().__init__(
            intents=intents,
            enable_debug_events=True,
            max_messages=None,
            chunk_guilds_at_startup=False,
            member_cache_flags=discord.MemberCacheFlags.none(),
        )
        self._spool = spool
        self._state = state
        self._on_spooled = on_spooled
        self._session_file = SessionFile(settings.spool_dir / "session.json", settings.bot_token)
        self._saved = self._session_file.load()
        for name, parser in list(self._connection.parsers.items()):
            self._connection.parsers[name] = _guarded(name, parser)

    async def setup_hook(self) -> None:
        # Discord asks clients to take the gateway URL from GET /gateway/bot rather than hard-code it.
        _shards, url, limit = await self.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        log.info("gateway %s (identify budget: %s of %s left)", url, limit.get("remaining"), limit.get("total"))
        if self.user is not None:  # known from GET /users/@me before any READY (a resumed session has none)
            self._state.bot_user_id = str(self.user.id)

    def take_saved_session(self) -> SavedSession | None:
        saved, self._saved = self._saved, None
        if saved is not None:
            self._state.session_id, self._state.resume_url = saved.session_id, saved.resume_url
        return saved

    def _save(self, seq: Any) -> None:
        state = self._state
        if state.session_id and state.resume_url and isinstance(seq, int):
            self._session_file.save(SavedSession(state.session_id, state.resume_url, seq))

    async def suspend(self) -> None:
        """Stop, leaving the session resumable: save it, close with 4000 (not 1000, which ends it), release the rest."""
        ws = self.ws
        with contextlib.suppress(Exception):
            if ws is not None and ws.session_id and ws.sequence is not None:
                self._session_file.save(SavedSession(ws.session_id, str(ws.gateway), ws.sequence))
                if ws.open:
                    await ws.close(code=4000)
        await self.close()

    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        if event == "socket_raw_receive" and args and isinstance(args[0], str):
            try:
                self._relay(args[0])
            except Exception:  # never let the relay's own bug take the connection (and the sequence) down with it
                self._state.dropped += 1
                self._state.note_error("internal error while relaying a gateway frame (see the log)")
                log.exception("internal error while relaying a gateway frame; the frame was not spooled")
        elif event == "disconnect":
            self._state.set_connected(False)
        super().dispatch(event, *args, **kwargs)

    def _relay(self, raw: str) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            log.error("gateway sent a frame that is not JSON; ignored")
            return
        if not isinstance(frame, dict) or frame.get("op") != 0:
            return
        kind, data = frame.get("t"), frame.get("d")
        if not isinstance(data, dict):
            return
        if kind == "READY":
            user = data.get("user")
            self._state.bot_user_id = str(user.get("id")) if isinstance(user, dict) else None
            self._state.session_id = str(data.get("session_id"))
            self._state.resume_url = str(data.get("resume_gateway_url"))
            self._state.ready_count += 1
            self._state.set_connected(True)
            log.info("gateway READY as bot user %s", self._state.bot_user_id)
            self._save(frame.get("s"))
        elif kind == "RESUMED":
            self._state.resumed_count += 1
            self._state.set_connected(True)
            log.info("gateway session RESUMED")
            self._save(frame.get("s"))
        elif kind == "MESSAGE_CREATE":
            self._message(raw, data)
            self._save(frame.get("s"))

    def _message(self, raw: str, data: dict[str, Any]) -> None:
        self._state.received += 1
        author = data.get("author")
        author_id = str(author.get("id")) if isinstance(author, dict) else None
        if author_id is not None and author_id == self._state.bot_user_id:
            self._state.skipped_own += 1
            return
        channel, message = str(data.get("channel_id")), str(data.get("id"))
        try:
            self._spool.append(raw, channel, message)
        except (SpoolFull, OSError) as exc:
            # The gateway cannot be asked to resend: the loss is made loud (log, /health 503, counter), never silent.
            self._state.dropped += 1
            self._state.note_error(f"dropped message {message} (channel {channel}): {exc}")
            log.error("DROPPED gateway message %s (channel %s): %s", message, channel, exc)
            return
        self._on_spooled()


def configure_library(settings: RelaySettings) -> None:
    """Point discord.py's REST at MUX_DISCORD_API_BASE_URL (the gateway URL then comes from GET /gateway/bot), and
    have its client open connections through RelayWebSocket (discord.py offers no hook for the first connection)."""
    Route.BASE = settings.api_base_url
    setattr(discord.client, "DiscordWebSocket", RelayWebSocket)  # noqa: B010
