"""GET /health: 200 while the relay holds the gateway and can spool; 503 when disconnected too long or spool full."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from relay.deliver import Deliverer
from relay.gateway import GatewayState
from relay.spool import Spool


def report(state: GatewayState, spool: Spool, deliverer: Deliverer, grace_sec: float) -> tuple[int, dict[str, Any]]:
    now = time.monotonic()
    problems = []
    disconnected_for = None if state.connected else round(now - state.since, 3)
    if disconnected_for is not None and disconnected_for > grace_sec:
        problems.append(f"gateway disconnected for {disconnected_for:.0f} s (grace {grace_sec:g} s)")
    if spool.full:
        problems.append(f"spool full ({spool.depth} of {spool.max_events}): new gateway messages are being dropped")
    counters = deliverer.counters
    errors = [(at, text) for at, text in ((state.last_error_at, state.last_error),
                                          (counters.last_error_at, counters.last_error)) if text and at]
    last_error = max(errors)[1] if errors else None
    body = {
        "status": "unhealthy" if problems else "ok",
        "problems": problems,
        "connected": state.connected,
        "disconnectedForSec": disconnected_for,
        "sessionId": state.session_id,
        "botUserId": state.bot_user_id,
        "identified": state.ready_count,
        "resumed": state.resumed_count,
        "received": state.received,
        "skippedOwn": state.skipped_own,
        "dropped": state.dropped,
        "spoolDepth": spool.depth,
        "spoolMax": spool.max_events,
        "delivered": counters.delivered,
        "rejected": counters.rejected,
        "failedAttempts": counters.attempts_failed,
        "lastDeliveryAt": counters.last_delivery_at,
        "lastError": last_error,
    }
    return (503 if problems else 200), body


async def start(state: GatewayState, spool: Spool, deliverer: Deliverer, *, host: str, port: int,
                grace_sec: float) -> web.AppRunner:
    async def health(_request: web.Request) -> web.Response:
        status, body = report(state, spool, deliverer, grace_sec)
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
