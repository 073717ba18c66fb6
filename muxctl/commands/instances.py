"""`muxctl instances …` and `muxctl openclaw-config render`: runtime-JWT OpenClaw instances (CONTRACT §14) —
listing, admin pairing tokens, the mux's JWT signing keys, and each generation's OpenClaw config."""

from __future__ import annotations

import json
from typing import Any

import click

from muxctl import openclaw_config, openclaw_config_jwt, served
from muxctl.commands.tenant import config_base_url, write_private
from muxctl.context import State, connection_options, pass_state, table
from muxctl.errors import UsageProblem
from muxctl.timefmt import when

generation_option = click.option(
    "--generation", type=click.Choice(openclaw_config_jwt.GENERATIONS), default="shared-key", show_default=True,
    help="OpenClaw's mux generation: shared-key (gateway token) or jwt (registerKey + inboundUrl, 714b97af4 on).",
)


@click.group("instances")
def instances() -> None:
    """Runtime-JWT OpenClaw instances: list them, mint their pairing tokens, rotate the mux's signing key."""


@instances.command("list")
@click.option("--all", "follow", is_flag=True, help="Follow nextCursor through every tenant.")
@connection_options(key=False)
@pass_state
def list_cmd(state: State, follow: bool) -> None:
    """Registered runtime-JWT instances (tenants in mode jwt; the tenant id is the openclawId)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = state.client().call("GET", "/v1/admin/tenants", auth="admin", params=params, what="list tenants")
        items.extend(i for i in page.get("items") or [] if i.get("mode") == "jwt")
        cursor = page.get("nextCursor")
        if not follow or not cursor:
            break

    def human() -> None:
        if not items:
            click.echo("No runtime-JWT instances.")
            return
        rows = [(i.get("tenantId"), "DISABLED" if i.get("disabled") else "enabled", i.get("inboundUrl"),
                 when(i.get("updatedAtMs"))) for i in items]
        click.echo(table(rows, ["OPENCLAW ID", "STATUS", "INBOUND URL", "LAST REGISTERED"]))
        if cursor:
            click.echo("(more tenants: pass --all)")

    state.emit({"ok": True, "items": items, "nextCursor": cursor}, human)


@instances.command("pair")
@click.argument("openclaw_id")
@click.argument("channel", type=click.Choice(openclaw_config.CHANNELS))
@click.option("--session-key", help="Preferred session key for the chat that claims the token.")
@click.option("--ttl-sec", type=int, help="Token lifetime (clamped by the mux).")
@connection_options(key=False)
@pass_state
def pair(state: State, openclaw_id: str, channel: str, session_key: str | None, ttl_sec: int | None) -> None:
    """Mint a pairing token for an instance (POST /v1/admin/pairings/token)."""
    body: dict[str, Any] = {"openclawId": openclaw_id, "channel": channel}
    if session_key:
        body["sessionKey"] = session_key
    if ttl_sec is not None:
        body["ttlSec"] = ttl_sec
    result = state.client().call("POST", "/v1/admin/pairings/token", auth="admin", json_body=body, what="pair")

    def human() -> None:
        click.echo(f"token:    {result.get('token')}")
        click.echo(f"expires:  {when(result.get('expiresAtMs'))}")
        if result.get("startCommand"):
            click.echo(f"send:     {result['startCommand']}")
        if result.get("deepLink"):
            click.echo(f"link:     {result['deepLink']}")

    state.emit(result, human)


def _show_keys(state: State, result: dict[str, Any]) -> None:
    def human() -> None:
        rows = [(k.get("kid"), "yes" if k.get("signing") else "", when(k.get("activatesAtMs")),
                 when(k.get("retiresAtMs")) if k.get("retiresAtMs") else "-") for k in result.get("keys") or []]
        click.echo(table(rows, ["KID", "SIGNING", "SIGNS FROM", "TRUSTED UNTIL"]))

    state.emit(result, human)


@instances.command("signing-keys")
@connection_options(key=False)
@pass_state
def signing_keys(state: State) -> None:
    """The mux's JWT signing keys: which one signs, when each activates and stops being trusted."""
    _show_keys(state, state.client().call("GET", "/v1/admin/signing-keys", auth="admin", what="signing keys"))


@instances.command("rotate-signing-key")
@click.option("--activate-after-sec", type=click.IntRange(0, 86_400), default=600, show_default=True,
              help="The new key is published now and signs after this delay (OpenClaw refetches the JWKS at "
                   "most every 5 minutes; 0 = at once).")
@click.option("--retire-others", is_flag=True, help="Emergency: stop trusting older keys now (instances re-register).")
@connection_options(key=False)
@pass_state
def rotate(state: State, activate_after_sec: int, retire_others: bool) -> None:
    """Rotate the JWT signing key without downtime (the old key stays trusted until its tokens expire)."""
    body = {"activateAfterSec": activate_after_sec, "retireOthers": retire_others}
    _show_keys(state, state.client().call("POST", "/v1/admin/signing-keys/rotate", auth="admin", json_body=body,
                                          what="rotate signing key"))


@click.command("render")
@generation_option
@click.option("--key", "tenant_key", help="shared-key: the tenant key (gateway token).")
@click.option("--register-key", envvar="MUX_REGISTER_KEY", help="jwt: the mux's register key [env MUX_REGISTER_KEY].")
@click.option("--inbound-url", help="jwt: this OpenClaw's public …/v1/mux/inbound URL.")
@click.option("--public-url", envvar="MUX_PUBLIC_URL", help="Mux URL OpenClaw should use (default: --url).")
@served.channel_options
@click.option("--out", type=click.Path(dir_okay=False), help="Write the config here (owner-only); default stdout.")
@pass_state
def render(state: State, generation: str, tenant_key: str | None, register_key: str | None,
           inbound_url: str | None, public_url: str | None, channels: str | None, all_channels: bool,
           out: str | None) -> None:
    """Print the minimal OpenClaw config for one generation of OpenClaw's mux support."""
    names = served.resolve(state, channels, all_channels)
    base_url = config_base_url(state, public_url)
    if generation == "jwt":
        if not register_key or not inbound_url:
            raise UsageProblem("--generation jwt needs --register-key and --inbound-url")
        config = openclaw_config_jwt.render(base_url, register_key, inbound_url, names)
    else:
        key = tenant_key or state.key
        if not key:
            raise UsageProblem("--generation shared-key needs --key (or MUX_TENANT_KEY)")
        config = openclaw_config.render(base_url, key, names)
    if out:
        write_private(out, config)
        state.note(f"wrote {out}")
    else:
        click.echo(json.dumps(config, indent=2, ensure_ascii=False))
