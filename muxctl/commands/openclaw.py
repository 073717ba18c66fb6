"""`muxctl openclaw-config …`: validate or update a tenant's OpenClaw config (docs/reference.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from muxctl import lenient_json, openclaw_config, openclaw_config_jwt, served
from muxctl.client import require_http_url
from muxctl.commands.tenant import write_private
from muxctl.context import State, pass_state
from muxctl.errors import EXIT_FAILED, CliError, UsageProblem


def load_config(path: str) -> tuple[Any, str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageProblem(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return lenient_json.loads(text), text
    except lenient_json.LenientJsonError as exc:
        raise CliError(f"{path} is not valid JSON/JSON5: {exc}") from None


@click.group("openclaw-config")
def openclaw_group() -> None:
    """Check or update a tenant's OpenClaw config for the mux."""


@openclaw_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--key", help="The tenant key: the config's mux token must equal it.")
@click.option("--url", "base_url", help="The mux URL: the config's mux baseUrl must equal it.")
@served.channel_options
@click.option("--json", "json_output", is_flag=True, help="Machine-readable JSON on stdout.")
@click.option("--generation", type=click.Choice(openclaw_config_jwt.GENERATIONS), default="shared-key",
              show_default=True, help="OpenClaw's mux generation: shared-key (token) or jwt (registerKey, inboundUrl).")
@click.option("--register-key", help="jwt: the config's registerKey must equal it.")
@click.option("--inbound-url", help="jwt: the config's inboundUrl must equal it.")
@pass_state
def check(
    state: State,
    file: str,
    key: str | None,
    base_url: str | None,
    channels: str | None,
    all_channels: bool,
    json_output: bool,
    generation: str = "shared-key",
    register_key: str | None = None,
    inbound_url: str | None = None,
) -> None:
    """Validate an OpenClaw config (JSON or JSON5) against the mux contract and OpenClaw's own schema (every
    key OpenClaw would reject in the mux endpoint and the telegram/discord/whatsapp channels); exit 1 on any
    problem."""
    state.json_output = state.json_output or json_output
    config, _text = load_config(file)
    chosen = served.resolve(state, channels, all_channels, config)
    if generation == "jwt":
        problems = openclaw_config_jwt.check(config, register_key=register_key, base_url=base_url,
                                             inbound_url=inbound_url, channels=chosen)
    else:
        problems = openclaw_config.check(config, key=key, base_url=base_url, channels=chosen)
    data = {"ok": not problems, "file": file, "channels": list(chosen), "problems": [p.as_dict() for p in problems]}

    def human() -> None:
        if not problems:
            click.echo(f"{file}: OK — mux endpoint and {', '.join(chosen)} accounts are set up; "
                       "no key OpenClaw's schema rejects.")
            return
        click.echo(f"{file}: {len(problems)} problem(s)")
        for p in problems:
            click.echo(f"  ✗ {p.path}: {p.message}")
            click.echo(f"      fix: {p.fix}")

    state.emit(data, human)
    if problems:
        raise click.exceptions.Exit(EXIT_FAILED)


@openclaw_group.command("merge")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--key", help="Tenant key for gateway.http.endpoints.mux.token (default: the file's, or MUX_TENANT_KEY).")
@click.option(
    "--base-url",
    help="Mux URL for gateway.http.endpoints.mux.baseUrl (default: MUX_PUBLIC_URL, the file's, or --url).",
)
@served.channel_options
@click.option("--out", type=click.Path(dir_okay=False), help="Write the result here (may be FILE); default stdout.")
@click.option("--json", "json_output", is_flag=True, help="Print {config, changes} as JSON.")
@click.option("--generation", type=click.Choice(openclaw_config_jwt.GENERATIONS), default="shared-key",
              show_default=True, help="OpenClaw's mux generation: shared-key (token) or jwt (registerKey, inboundUrl; "
              "a shared-key token is removed).")
@click.option("--register-key", envvar="MUX_REGISTER_KEY", help="jwt: the mux register key (default: the file's).")
@click.option("--inbound-url", help="jwt: where the mux reaches this OpenClaw (default: the file's).")
@pass_state
def merge(
    state: State,
    file: str,
    key: str | None,
    base_url: str | None,
    channels: str | None,
    all_channels: bool,
    out: str | None,
    json_output: bool,
    generation: str = "shared-key",
    register_key: str | None = None,
    inbound_url: str | None = None,
) -> None:
    """Write the mux settings into an existing OpenClaw config, keeping everything else."""
    state.json_output = state.json_output or json_output
    config, text = load_config(file)
    if not isinstance(config, dict):
        raise CliError(f"{file}: the config must be a JSON object")
    existing = openclaw_config.get_path(config, "gateway", "http", "endpoints", "mux")
    existing = existing if isinstance(existing, dict) else {}
    url = require_http_url(base_url or os.environ.get("MUX_PUBLIC_URL") or existing.get("baseUrl") or state.url,
                           "--base-url/MUX_PUBLIC_URL")
    chosen = served.resolve(state, channels, all_channels, config)
    if generation == "jwt":
        register_key = register_key or existing.get("registerKey")
        inbound_url = inbound_url or existing.get("inboundUrl")
        if not register_key or not inbound_url:
            raise UsageProblem("--generation jwt needs --register-key (or MUX_REGISTER_KEY) and --inbound-url, "
                               "unless the file already has them")
        merged, changes = openclaw_config_jwt.merge(
            config, register_key=register_key, base_url=url,
            inbound_url=require_http_url(inbound_url, "--inbound-url"), channels=chosen,
        )
        problems = openclaw_config_jwt.check(merged, channels=chosen)
    else:
        key = key or state.key or existing.get("token")
        if not key:
            raise UsageProblem("no tenant key: pass --key or set MUX_TENANT_KEY")
        merged, changes = openclaw_config.merge(config, key=key, base_url=url, channels=chosen)
        problems = openclaw_config.check_schema(merged)
    for problem in problems:
        state.warn(f"{problem.path} {problem.message}; fix: {problem.fix}")
    if out:
        write_private(out, merged)
    if lenient_json.has_json5_features(text):
        state.warn(f"{file} uses JSON5 (comments, trailing commas…); the output is plain JSON without them")
    if state.json_output:
        state.emit({"ok": True, "config": merged, "changes": changes, "out": out})
        return
    if not out:
        click.echo(json.dumps(merged, indent=2, ensure_ascii=False))
    state.note(f"{len(changes)} change(s):" if changes else "Already up to date: no changes.")
    for change in changes:
        state.note(f"  - {change}")
    if out:
        state.note(f"wrote {out}")
