"""Which channels get mux accounts in a tenant's OpenClaw config: the ones this mux serves, or the operator's
choice (`--channels`, `--all-channels`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from muxctl import openclaw_config
from muxctl.context import State
from muxctl.errors import CliError, UsageProblem

F = TypeVar("F", bound=Callable[..., Any])


def parse_channels(value: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [n for n in names if n not in openclaw_config.CHANNELS]
    if unknown or not names:
        raise UsageProblem(f"--channels: unknown channel(s) {', '.join(unknown) or '(none)'}; "
                           f"choose from {', '.join(openclaw_config.CHANNELS)}")
    return names


def channel_options(f: F) -> F:
    f = click.option(
        "--all-channels", is_flag=True,
        help="Set up mux accounts for every channel (telegram, discord, whatsapp), also those this mux does "
             "not enable, so they are ready when it does.",
    )(f)
    return click.option(
        "--channels", default=None, metavar="LIST",
        help="Channels that get mux accounts (comma-separated; default: the channels the mux serves, read "
             "from GET /v1/admin/health with the admin token, else telegram).",
    )(f)


def from_mux(state: State) -> tuple[str, ...] | None:
    """The channels the mux says it serves (enabled there and implemented), or None when it cannot tell."""
    if not state.admin_token:
        return None
    try:
        health = state.client().call("GET", "/v1/admin/health", auth="admin", what="GET /v1/admin/health")
    except CliError:
        return None
    enabled = health.get("channels")
    if not isinstance(enabled, dict):
        return None
    return tuple(ch for ch in openclaw_config.IMPLEMENTED_CHANNELS if enabled.get(ch) is True)


def _configured(config: Any) -> tuple[str, ...]:
    """The implemented channels a config already sets up (under `channels`)."""
    present = config.get("channels") if isinstance(config, dict) else None
    if not isinstance(present, dict):
        return ()
    return tuple(ch for ch in openclaw_config.IMPLEMENTED_CHANNELS if ch in present)


def resolve(state: State, channels: str | None, all_channels: bool, config: Any = None) -> tuple[str, ...]:
    """--channels / --all-channels, else what the mux serves; when the mux cannot be asked, the implemented
    channels `config` already sets up (a file checked or merged offline), else every implemented channel."""
    if channels and all_channels:
        raise UsageProblem("give --channels or --all-channels, not both")
    if all_channels:
        return openclaw_config.CHANNELS
    if channels:
        return parse_channels(channels)
    served = from_mux(state)
    if served is None and _configured(config):
        state.note(f"channels: {', '.join(_configured(config))} (those the file sets up; the mux was not asked — "
                   "set the admin token, or pass --channels)")
        return _configured(config)
    if served is None:
        state.note(f"channels: {', '.join(openclaw_config.IMPLEMENTED_CHANNELS)} (what this mux version serves; "
                   "the mux was not asked — set the admin token, or pass --channels)")
        return openclaw_config.IMPLEMENTED_CHANNELS
    if not served:
        state.warn(f"the mux at {state.client().base_url} has no channel enabled; setting up "
                   f"{', '.join(openclaw_config.IMPLEMENTED_CHANNELS)} anyway (pass --channels to choose)")
        return openclaw_config.IMPLEMENTED_CHANNELS
    state.note(f"channels: {', '.join(served)} (served by the mux)")
    return served
