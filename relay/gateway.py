"""Holds the Discord gateway with discord.py and hands each raw MESSAGE_CREATE dispatch to the spool, untouched.

discord.py does the protocol (HELLO, IDENTIFY, heartbeats, zlib-stream, RESUME with session id + sequence from the
READY's ``resume_gateway_url``, op 7 RECONNECT, op 9 INVALID_SESSION). The relay reads the gateway's own text: with
``enable_debug_events`` the library calls ``dispatch("socket_raw_receive", text)`` synchronously for every frame,
*before* it advances its sequence number; the override below spools the frame right there (fsync'd), so an event the
library counts as received is on disk. The library's models are never used (no business logic): its parsers are
wrapped so a payload it cannot model is logged, never a dropped connection.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from relay.config import RelaySettings
from relay.spool import Spool, SpoolFull

log = logging.getLogger("relay.gateway")


class GatewayState:
    """What /health reports about the gateway side."""

    def __init__(self) -> None:
        self.connected = False
        self.since = time.monotonic()
        self.session_id: str | None = None
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
        for name, parser in list(self._connection.parsers.items()):
            self._connection.parsers[name] = _guarded(name, parser)

    async def setup_hook(self) -> None:
        # Discord asks clients to take the gateway URL from GET /gateway/bot rather than hard-code it.
        _shards, url, limit = await self.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        log.info("gateway %s (identify budget: %s of %s left)", url, limit.get("remaining"), limit.get("total"))

    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        if event == "socket_raw_receive" and args and isinstance(args[0], str):
            self._relay(args[0])
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
            self._state.ready_count += 1
            self._state.set_connected(True)
            log.info("gateway READY as bot user %s", self._state.bot_user_id)
        elif kind == "RESUMED":
            self._state.resumed_count += 1
            self._state.set_connected(True)
            log.info("gateway session RESUMED")
        elif kind == "MESSAGE_CREATE":
            self._message(raw, data)

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


def configure_endpoints(settings: RelaySettings) -> None:
    """Point discord.py's REST at MUX_DISCORD_API_BASE_URL (the gateway URL then comes from GET /gateway/bot)."""
    Route.BASE = settings.api_base_url
