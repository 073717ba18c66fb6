"""`muxctl tenant …`: provisioning (bootstrap), key rotation, listing, inspection, disable/enable, delete,
inbound target."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import click

from muxctl import openclaw_config, served
from muxctl.client import require_http_url
from muxctl.context import State, connection_options, pass_state, table
from muxctl.errors import UsageProblem
from muxctl.timefmt import when

KEY_WARNING = (
    "Store this tenant key in your secret store now: it is shown once and the mux keeps only a hash. "
    "It authenticates the control plane and the tenant's OpenClaw to the mux, and the mux to OpenClaw."
)


def new_key() -> str:
    return secrets.token_urlsafe(32)


def config_base_url(state: State, explicit: str | None) -> str:
    """The mux URL written into OpenClaw's config: --public-url/MUX_PUBLIC_URL, else --url."""
    return require_http_url(explicit or state.url, "--public-url/MUX_PUBLIC_URL").rstrip("/")


def write_private(path: str, data: Any) -> None:
    """Write JSON readable by the owner only (it holds the tenant key)."""
    target = Path(path)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def describe_tenant(tenant: dict[str, Any]) -> str:
    rows = [
        ("tenant", tenant.get("tenantId")),
        ("name", tenant.get("name")),
        ("status", "DISABLED" if tenant.get("disabled") else "enabled"),
        ("inbound URL", tenant.get("inboundUrl") or "(not set)"),
        ("inbound timeout", f"{tenant.get('inboundTimeoutMs')} ms"),
        ("events URL", tenant.get("eventsUrl") or "(none)"),
        ("agents", ", ".join(tenant.get("agents") or []) or "(main only)"),
        ("created", when(tenant.get("createdAtMs"))),
        ("updated", when(tenant.get("updatedAtMs"))),
    ]
    return "\n".join(f"{k + ':':<17}{v}" for k, v in rows)


def bootstrap(
    state: State, tenant_id: str, key: str, inbound_url: str, name: str | None, timeout_ms: int | None,
    *, events_url: str | None = None, agents: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Bootstrap (upsert) a tenant; `eventsUrl` and `agents` are sent only when given, so the mux keeps what
    it has (`events_url=""` removes the events URL)."""
    body: dict[str, Any] = {"tenantId": tenant_id, "apiKey": key, "inboundUrl": inbound_url}
    if name is not None:
        body["name"] = name
    if timeout_ms is not None:
        body["inboundTimeoutMs"] = timeout_ms
    if events_url is not None:
        body["eventsUrl"] = events_url or None
    if agents:
        body["agents"] = list(agents)
    return state.client().call(
        "POST", "/v1/admin/tenants/bootstrap", auth="admin", json_body=body, what="bootstrap"
    )


def show_result(
    state: State, tenant: dict[str, Any], key: str, config: dict[str, Any], out: str | None, verb: str
) -> None:
    if out:
        write_private(out, config)
    data = {"ok": True, "tenant": tenant, "tenantApiKey": key, "openclawConfig": config}
    if out:
        data["configFile"] = out

    def human() -> None:
        click.echo(f"Tenant {tenant.get('tenantId')} {verb}.")
        click.echo(describe_tenant(tenant))
        click.echo("")
        if out:
            click.echo(f"OpenClaw config written to {out} (mode 0600; it contains the tenant key).")
            click.echo("Merge it into the tenant's openclaw.json, e.g. `muxctl openclaw-config merge`.")
        else:
            click.echo("OpenClaw config for this tenant (docs/reference.md; merge it into its openclaw.json,")
            click.echo("e.g. with `muxctl openclaw-config merge`):")
            click.echo(json.dumps(config, indent=2, ensure_ascii=False))
        click.echo("")
        click.echo(f"Tenant key: {key}")
        click.secho(KEY_WARNING, err=True, fg="yellow")

    state.emit(data, human)


@click.group()
def tenant() -> None:
    """Provision tenants and manage their keys and inbound targets."""


@tenant.command("create")
@click.argument("tenant_id")
@click.option("--inbound-url", required=True, help="The tenant's OpenClaw inbound URL (…/v1/mux/inbound).")
@click.option("--name", help="Display name (default: the tenant id).")
@click.option("--timeout-ms", type=click.IntRange(100, 60000), help="Inbound delivery timeout (default 15000).")
@click.option("--key", "key", help="Use this tenant key instead of generating one (≥ 24 chars).")
@click.option("--events-url", help="Where the mux POSTs signed control-plane events (README: Control-plane events); "
              "an empty value removes it; omitted keeps the current one.")
@click.option("--agent", "agents", multiple=True, help="An agent id the tenant offers for session selection "
              "(repeatable; omitted keeps the current list).")
@click.option(
    "--public-url", envvar="MUX_PUBLIC_URL", show_envvar=True,
    help="Mux URL OpenClaw should use (default: --url).",
)
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write the OpenClaw config here.")
@served.channel_options
@connection_options(key=False)
@pass_state
def create(
    state: State,
    tenant_id: str,
    inbound_url: str,
    name: str | None,
    timeout_ms: int | None,
    key: str | None,
    events_url: str | None,
    agents: tuple[str, ...],
    public_url: str | None,
    out: str | None,
    channels: str | None,
    all_channels: bool,
) -> None:
    """Create a tenant: generate its key, register it, print its OpenClaw config.

    Re-running create for an existing tenant updates it; with a new key it rotates the key.
    """
    if key is not None and len(key) < openclaw_config.MIN_KEY_LENGTH:
        raise UsageProblem(f"--key must be at least {openclaw_config.MIN_KEY_LENGTH} characters")
    key = key or new_key()
    chosen = served.resolve(state, channels, all_channels)
    result = bootstrap(state, tenant_id, key, inbound_url, name, timeout_ms, events_url=events_url, agents=agents)
    config = openclaw_config.render(config_base_url(state, public_url), key, chosen)
    show_result(state, result, key, config, out, "created")


@tenant.command("rotate-key")
@click.argument("tenant_id")
@click.option("--key", "key", help="Use this new key instead of generating one.")
@click.option("--public-url", envvar="MUX_PUBLIC_URL", show_envvar=True, help="Mux URL for OpenClaw (default: --url).")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write the OpenClaw config here.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@served.channel_options
@connection_options(key=False)
@pass_state
def rotate_key(
    state: State,
    tenant_id: str,
    key: str | None,
    public_url: str | None,
    out: str | None,
    yes: bool,
    channels: str | None,
    all_channels: bool,
) -> None:
    """Give a tenant a new key. The old key stops working at once: deploy the new config right away."""
    current = state.client().call(
        "GET", f"/v1/admin/tenants/{tenant_id}", auth="admin", what=f"reading tenant {tenant_id}"
    )
    inbound_url = current.get("inboundUrl")
    if not inbound_url:
        raise UsageProblem(f"tenant {tenant_id} has no inbound URL; use `muxctl tenant create` with --inbound-url")
    if not yes and not state.json_output:
        click.confirm(
            f"Rotate the key of {tenant_id}? Its OpenClaw stops working until it gets the new key", abort=True
        )
    chosen = served.resolve(state, channels, all_channels)
    key = key or new_key()
    result = bootstrap(
        state, tenant_id, key, inbound_url, current.get("name"), current.get("inboundTimeoutMs")
    )
    config = openclaw_config.render(config_base_url(state, public_url), key, chosen)
    show_result(state, result, key, config, out, "has a new key (the old one no longer works)")


@tenant.command("show")
@click.argument("tenant_id")
@connection_options(key=False)
@pass_state
def show(state: State, tenant_id: str) -> None:
    """Show a tenant (never its key)."""
    result = state.client().call("GET", f"/v1/admin/tenants/{tenant_id}", auth="admin", what="show")
    state.emit(result, lambda: click.echo(describe_tenant(result)))


@tenant.command("disable")
@click.argument("tenant_id")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@connection_options(key=False)
@pass_state
def disable(state: State, tenant_id: str, yes: bool) -> None:
    """Disable a tenant: its key stops working and its chats stop forwarding."""
    if not yes and not state.json_output:
        click.confirm(f"Disable {tenant_id}? Its key stops working and nothing is forwarded", abort=True)
    result = state.client().call(
        "POST", f"/v1/admin/tenants/{tenant_id}/disable", auth="admin", what="disable"
    )
    state.emit(result, lambda: click.echo(f"Tenant {tenant_id} disabled.\n{describe_tenant(result)}"))


@tenant.command("enable")
@click.argument("tenant_id")
@connection_options(key=False)
@pass_state
def enable(state: State, tenant_id: str) -> None:
    """Enable a disabled tenant: its key works again and its chats forward again."""
    result = state.client().call("POST", f"/v1/admin/tenants/{tenant_id}/enable", auth="admin", what="enable")
    state.emit(result, lambda: click.echo(f"Tenant {tenant_id} enabled.\n{describe_tenant(result)}"))


@tenant.command("list")
@click.option("--status", type=click.Choice(["enabled", "disabled"]), help="Only tenants with this status.")
@click.option("--limit", type=click.IntRange(1, 200), help="Page size (default 50).")
@click.option("--all", "follow", is_flag=True, help="Follow nextCursor to list every tenant.")
@click.option("--cursor", help="Start at this page (a nextCursor printed before).")
@connection_options(key=False)
@pass_state
def list_cmd(state: State, status: str | None, limit: int | None, follow: bool, cursor: str | None) -> None:
    """List tenants (never their keys), enabled first, then by id."""
    items: list[dict[str, Any]] = []
    while True:
        params = {k: v for k, v in (("status", status), ("limit", limit), ("cursor", cursor)) if v}
        page = state.client().call("GET", "/v1/admin/tenants", auth="admin", params=params, what="list tenants")
        items.extend(page.get("items") or [])
        cursor = page.get("nextCursor")
        if not follow or not cursor:
            break

    def human() -> None:
        if not items:
            click.echo("No tenants." if not status else f"No {status} tenants.")
            return
        rows = [
            (i.get("tenantId"), i.get("name"), "DISABLED" if i.get("disabled") else "enabled",
             i.get("inboundUrl") or "(not set)", when(i.get("createdAtMs")))
            for i in items
        ]
        click.echo(table(rows, ["TENANT", "NAME", "STATUS", "INBOUND URL", "CREATED"]))
        if cursor:
            click.echo(f"(more: pass --all, or --cursor {cursor})")

    state.emit({"ok": True, "items": items, "nextCursor": cursor}, human)


@tenant.command("delete")
@click.argument("tenant_id")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@connection_options(key=False)
@pass_state
def delete(state: State, tenant_id: str, yes: bool) -> None:
    """Delete a tenant: its key, bindings, sessions and pairing tokens. Its queued messages are
    dead-lettered ("tenant deleted"). Cannot be undone."""
    if not yes and not state.json_output:
        click.confirm(
            f"Delete {tenant_id}? Its key, chats and pairing tokens are removed; this cannot be undone", abort=True
        )
    result = state.client().call("DELETE", f"/v1/admin/tenants/{tenant_id}", auth="admin", what="delete")
    removed = result.get("deleted") or {}

    def human() -> None:
        click.echo(
            f"Tenant {tenant_id} deleted: {removed.get('bindings', 0)} binding(s), {removed.get('sessions', 0)} "
            f"session route(s), {removed.get('pairingTokens', 0)} pairing token(s) removed. Messages still "
            "queued for it are dead-lettered (`muxctl dlq list`)."
        )

    state.emit(result, human)


@tenant.command("set-target")
@click.argument("inbound_url")
@click.option("--timeout-ms", type=click.IntRange(100, 60000), help="Inbound delivery timeout.")
@connection_options(admin=False)
@pass_state
def set_target(state: State, inbound_url: str, timeout_ms: int | None) -> None:
    """Point the tenant (identified by --key) at a new OpenClaw inbound URL."""
    body: dict[str, Any] = {"inboundUrl": inbound_url}
    if timeout_ms is not None:
        body["inboundTimeoutMs"] = timeout_ms
    result = state.client().call(
        "POST", "/v1/tenant/inbound-target", auth="tenant", json_body=body, what="set-target"
    )
    state.emit(
        result,
        lambda: click.echo(
            f"Inbound target: {result.get('inboundUrl')} (timeout {result.get('inboundTimeoutMs')} ms); "
            "effective on the next forward."
        ),
    )


@tenant.command("target")
@connection_options(admin=False)
@pass_state
def target(state: State) -> None:
    """Show the inbound target of the tenant identified by --key (also proves the key works)."""
    result = state.client().call("GET", "/v1/tenant/inbound-target", auth="tenant", what="target")
    state.emit(
        result,
        lambda: click.echo(
            f"Inbound target: {result.get('inboundUrl') or '(not set)'} "
            f"(timeout {result.get('inboundTimeoutMs')} ms)"
        ),
    )
