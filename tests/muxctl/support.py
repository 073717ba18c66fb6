"""Helpers for the muxctl tests: run the CLI in-process (free ports and polling: tests/localstack.py)."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from muxctl.cli import cli

# Variables that would leak the developer's own mux settings into the tests.
CLEAN_ENV: dict[str, str | None] = {
    name: None
    for name in (
        "MUX_URL", "MUX_ADMIN_TOKEN", "MUX_TENANT_KEY", "MUX_PUBLIC_URL", "MUX_TELEGRAM_WEBHOOK_SECRET",
        "TELEGRAM_BOT_TOKEN", "MUX_TELEGRAM_API_BASE_URL", "MUX_INBOUND_QUEUE_URL", "MUX_DEAD_LETTER_QUEUE_URL",
        "MUX_OBSERVE_URL", "DISCORD_BOT_TOKEN", "DISCORD_APPLICATION_ID", "MUX_DISCORD_API_BASE_URL",
        "MUX_DISCORD_RELAY_SECRET", "MUXCTL_DISCORD_SIGNING_KEY",
    )
}
# `simulate` does not wait for outcomes unless a test asks (--wait): the suite polls for what it expects.
CLEAN_ENV["MUX_SIMULATE_WAIT"] = "0"


def run(args: list[str], env: dict[str, str | None] | None = None, input: str | None = None) -> Result:
    """Invoke muxctl in-process (stdout and stderr kept apart)."""
    return CliRunner().invoke(cli, args, env={**CLEAN_ENV, **(env or {})}, input=input, catch_exceptions=False)


def run_json(args: list[str], env: dict[str, str | None] | None = None, expect: int = 0) -> Any:
    result = run(["--json", *args], env)
    assert result.exit_code == expect, (result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout)

