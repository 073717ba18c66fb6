"""Runs the relay: the spool, the deliverer, /health and the gateway client, until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal

import aiohttp
import discord

from relay import health
from relay.config import RelaySettings
from relay.deliver import Deliverer
from relay.gateway import GatewayState, RelayClient, configure_library
from relay.spool import Spool, SpoolBusy

log = logging.getLogger("relay")


class FatalGatewayError(Exception):
    """Discord refused the bot's configuration; retrying cannot help."""


# Gateway close codes that no reconnect can fix (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
FATAL_CLOSE_CODES = {
    4004: "authentication failed (DISCORD_BOT_TOKEN)",
    4010: "invalid shard",
    4011: "sharding required (the relay holds one shard; bots in 2,500+ guilds need more)",
    4012: "invalid API version",
    4013: "invalid intents (MUX_RELAY_INTENTS)",
}


def _retry(settings: RelaySettings, state: GatewayState, failures: int, exc: BaseException) -> float:
    delay: float = min(settings.retry_max_delay_sec, settings.retry_base_delay_sec * 2.0 ** min(failures - 1, 30))
    delay *= random.uniform(0.5, 1.0)
    text = f"gateway start failed ({type(exc).__name__}: {exc}); retrying in {delay:.2f} s"
    state.note_error(text)
    state.set_connected(False)
    log.warning("%s", text)
    return delay


def _failures(state: GatewayState, sessions_before: int, failures: int) -> int:
    """Consecutive failed starts: a client that got READY or RESUMED held the gateway, so the count starts over."""
    return 1 if state.ready_count + state.resumed_count > sessions_before else failures + 1


async def _hold_gateway(settings: RelaySettings, spool: Spool, state: GatewayState, deliverer: Deliverer) -> None:
    """Keep a gateway client running; a failed start (Discord unreachable) is retried with backoff, forever."""
    failures = 0
    while True:
        client = RelayClient(settings, spool, state, deliverer.wake)
        sessions = state.ready_count + state.resumed_count
        try:
            await client.start(settings.bot_token)
            raise RuntimeError("the gateway client stopped")  # discord.py gave up; a fresh client takes over
        except discord.LoginFailure:
            raise FatalGatewayError("Discord rejected DISCORD_BOT_TOKEN (401 on login)") from None
        except discord.PrivilegedIntentsRequired:
            raise FatalGatewayError(
                "Discord refused the intents (close code 4014): enable the Message Content intent for the bot in the "
                "Developer Portal, or drop MESSAGE_CONTENT from MUX_RELAY_INTENTS") from None
        except discord.ConnectionClosed as exc:
            if exc.code in FATAL_CLOSE_CODES:
                raise FatalGatewayError(f"Discord closed the gateway with {exc.code}: {FATAL_CLOSE_CODES[exc.code]}"
                                        ) from None
            delay = _retry(settings, state, failures := _failures(state, sessions, failures), exc)
        except Exception as exc:  # Discord unreachable, or discord.py failing on a first connection: retried
            delay = _retry(settings, state, failures := _failures(state, sessions, failures), exc)
        finally:
            with contextlib.suppress(Exception):
                await client.suspend()
        await asyncio.sleep(delay)


async def serve(settings: RelaySettings) -> int:
    configure_library(settings)
    try:
        spool = Spool(settings.spool_dir, settings.spool_max_events)
    except (SpoolBusy, OSError) as exc:
        log.error("relay cannot start: %s", exc)
        return 2
    state = GatewayState()
    deliverer = Deliverer(
        spool,
        url=settings.webhook_url,
        secret=settings.relay_secret,
        base_delay=settings.retry_base_delay_sec,
        max_delay=settings.retry_max_delay_sec,
        timeout=settings.post_timeout_sec,
        concurrency=settings.concurrency,
    )
    if spool.depth:
        log.info("spool %s holds %d undelivered events; delivering them first", settings.spool_dir, spool.depth)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        runner = await health.start(state, spool, deliverer, host=settings.health_host, port=settings.health_port,
                                    grace_sec=settings.health_grace_sec)
    except OSError as exc:
        log.error("relay cannot start: /health on %s:%d: %s (MUX_RELAY_HEALTH_HOST / MUX_RELAY_HEALTH_PORT)",
                  settings.health_host, settings.health_port, exc)
        spool.close()
        return 2
    log.info("relay up: posting to %s, /health on %s:%d", settings.webhook_url, settings.health_host,
             settings.health_port)
    code = 0
    async with aiohttp.ClientSession() as session:
        delivering = asyncio.create_task(deliverer.run(session))
        gateway = asyncio.create_task(_hold_gateway(settings, spool, state, deliverer))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({gateway, stopping, delivering}, return_when=asyncio.FIRST_COMPLETED)
        if gateway.done() and not gateway.cancelled() and gateway.exception() is not None:
            log.error("relay stopping: %s", gateway.exception(), exc_info=gateway.exception())
            code = 2
        for task in (gateway, stopping, delivering):
            task.cancel()
        await asyncio.gather(gateway, stopping, delivering, return_exceptions=True)
    await runner.cleanup()
    spool.close()
    log.info("relay stopped (%d events left in the spool)", spool.depth)
    return code
