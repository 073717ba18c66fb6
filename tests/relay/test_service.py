"""The relay's gateway supervisor (relay.service._hold_gateway): how long it waits before a fresh client."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from relay import service
from relay.config import RelaySettings
from relay.gateway import GatewayState


class _Stop(Exception):
    pass


def test_the_backoff_starts_over_after_a_client_that_connected(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    settings = RelaySettings(bot_token="t", mux_public_url="http://127.0.0.1:9", relay_secret="s",
                             spool_dir=tmp_path, retry_base_delay_sec=1.0, retry_max_delay_sec=60.0)
    state = GatewayState()

    class ConnectsThenStops:
        """A client that reaches READY and later stops (as discord.py does after e.g. a close it cannot handle)."""

        def __init__(self, *_args: Any) -> None:
            pass

        async def start(self, _token: str) -> None:
            state.ready_count += 1
            raise RuntimeError("the gateway client stopped")

        async def suspend(self) -> None:
            pass

    class Deliverer:
        def wake(self) -> None:
            pass

    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 6:
            raise _Stop

    monkeypatch.setattr(service, "RelayClient", ConnectsThenStops)
    monkeypatch.setattr(service.asyncio, "sleep", sleep)
    with pytest.raises(_Stop):
        asyncio.run(service._hold_gateway(settings, None, state, Deliverer()))  # type: ignore[arg-type]
    # Each of these clients held the gateway: the next one starts after the base delay, not one that has doubled
    # with every stop over the relay's lifetime.
    assert len(delays) == 6 and max(delays) <= 1.0
