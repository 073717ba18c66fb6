"""muxctl: the operator CLI for openclaw-mux.

Everything goes through the mux's HTTP API (so it works against a deployed mux); `dlq --via sqs` talks
to SQS with boto3. Exit codes: 0 ok, 1 failed (or a check failed), 2 usage/missing configuration,
3 mux/platform unreachable, 4 refused credentials (401/403).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from muxctl import __version__
from muxctl.commands.check import check
from muxctl.commands.dev import dev
from muxctl.commands.discord import discord
from muxctl.commands.dlq import dlq
from muxctl.commands.instances import instances, render
from muxctl.commands.openclaw import openclaw_group
from muxctl.commands.pairing import bindings, pair, tokens
from muxctl.commands.simulate import simulate
from muxctl.commands.simulate_discord import discord_cmd as simulate_discord
from muxctl.commands.telegram import telegram
from muxctl.commands.tenant import tenant
from muxctl.commands.whatsapp import whatsapp
from muxctl.context import DEFAULT_URL, State, connection_options, pass_state
from muxctl.errors import EXIT_FAILED

EPILOG = """\b
Quick start (local stack):
  make run                                    # the mux on http://127.0.0.1:18891
  muxctl dev openclaw --port 18901            # a tenant's OpenClaw stand-in
  muxctl tenant create acme --inbound-url http://127.0.0.1:18901/v1/mux/inbound
  muxctl pair telegram --key <key>
  muxctl simulate telegram --chat 5123456789 "/start <token>"
  muxctl simulate telegram --chat 5123456789 hello
\b
Exit codes: 0 ok · 1 failed · 2 usage/missing config · 3 unreachable · 4 credentials refused.
"""


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog=EPILOG,
)
@click.option("--url", envvar="MUX_URL", show_envvar=True, default=DEFAULT_URL, show_default=True,
              help="Mux base URL.")
@click.option("--admin-token", envvar="MUX_ADMIN_TOKEN", show_envvar=True, help="Admin token (operator routes).")
@click.option("--key", envvar="MUX_TENANT_KEY", show_envvar=True, help="Tenant key (tenant routes).")
@click.option("--json", "json_output", is_flag=True, help="Machine-readable JSON on stdout.")
@click.option("--http-timeout", type=click.FloatRange(0.1, 300), default=15.0, show_default=True,
              envvar="MUX_HTTP_TIMEOUT", help="Seconds per HTTP request.")
@click.version_option(__version__, "--version", prog_name="muxctl")
@click.pass_context
def cli(
    ctx: click.Context, url: str, admin_token: str | None, key: str | None, json_output: bool, http_timeout: float
) -> None:
    """Operate openclaw-mux: tenants, OpenClaw configs, pairing, webhooks, dead letters, checks."""
    ctx.obj = State(url=url, admin_token=admin_token, key=key, json_output=json_output, http_timeout=http_timeout)


@cli.command("health")
@connection_options(key=False)
@pass_state
def health(state: State) -> None:
    """Is the mux up? With the admin token: dependencies, queue depths and channels."""
    client = state.client()
    basic = client.call("GET", "/health", what="GET /health")
    data = {"ok": bool(basic.get("ok")), "url": client.base_url}
    if state.admin_token:
        data["admin"] = client.call("GET", "/v1/admin/health", auth="admin", what="GET /v1/admin/health")

    def human() -> None:
        click.echo(f"{client.base_url}: up")
        admin = data.get("admin")
        if isinstance(admin, dict):
            for line in describe_health(admin):
                click.echo(line)
        else:
            click.echo("(pass --admin-token or set MUX_ADMIN_TOKEN for dependencies, queues and channels)")

    state.emit(data, human)


QUEUE_NAMES = {
    "inbound": "inbound queue", "deadLetter": "dead letters", "events": "events queue", "eventsDeadLetter": "events DLQ"
}


def flat(value: Any) -> str:
    """A readable one-line rendering of a JSON value (no Python reprs)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k} {flat(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(flat(v) for v in value) or "-"
    return "-" if value is None else str(value)


def describe_queue(queue: Any) -> str:
    if not isinstance(queue, dict):
        return flat(queue)
    if queue.get("configured") is False:
        return "not configured"
    if queue.get("ok") is False:
        return f"UNREACHABLE ({queue.get('error') or 'error'})"
    rest = {k: v for k, v in queue.items() if k not in ("configured", "ok", "visible", "inFlight")}
    line = f"{queue.get('visible', '?')} waiting, {queue.get('inFlight', '?')} in flight"
    return line + (f"; {flat(rest)}" if rest else "")


def describe_dependency(dep: Any) -> str:
    if not isinstance(dep, dict):
        return flat(dep)
    if dep.get("configured") is False:
        return "not configured"
    if dep.get("ok") is False:
        return f"FAILING ({dep.get('error') or 'error'})"
    state = "ok" if dep.get("ok") is True else "configured"
    rest = {k: v for k, v in dep.items() if k not in ("configured", "ok")}
    return state + (f" ({flat(rest)})" if rest else "")


def describe_health(admin: dict[str, Any]) -> list[str]:
    """`GET /v1/admin/health` as aligned lines; fields this version does not know are shown flattened."""
    rows: list[tuple[str, str]] = [("stage", flat(admin.get("stage")))]
    channels = admin.get("channels") or {}
    if isinstance(channels, dict):
        rows.append(("channels", ", ".join(f"{k} {'on' if v else 'off'}" for k, v in channels.items()) or "none"))
    for name, queue in (admin.get("queues") or {}).items():
        rows.append((QUEUE_NAMES.get(name, f"queue {name}"), describe_queue(queue)))
    for name, dep in (admin.get("dependencies") or {}).items():
        rows.append((name, describe_dependency(dep)))
    counters = admin.get("counters") or {}
    if isinstance(counters, dict):
        rows.append(("counters", ", ".join(f"{k} {v}" for k, v in sorted(counters.items())) or "none yet"))
    known = {"ok", "stage", "channels", "queues", "dependencies", "counters"}
    rows += [(k, flat(v)) for k, v in admin.items() if k not in known]
    width = max(len(k) for k, _ in rows) + 2
    return [f"{k + ':':<{width}}{v}" for k, v in rows]


for command in (
    tenant, openclaw_group, pair, tokens, bindings, telegram, whatsapp, discord, simulate, dev, dlq, check,
    instances,
):
    cli.add_command(command)
openclaw_group.add_command(render)
simulate.add_command(simulate_discord)


def main() -> None:
    try:
        cli.main(prog_name="muxctl")
    except KeyboardInterrupt:
        click.echo("muxctl: interrupted", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # pragma: no cover - a bug, but still one line for the operator
        click.echo(f"muxctl: unexpected error: {type(exc).__name__}: {exc} (set MUXCTL_DEBUG=1 for the traceback)",
                   err=True)
        import os

        if os.environ.get("MUXCTL_DEBUG"):
            raise
        sys.exit(EXIT_FAILED)
