"""`muxctl telegram …`: point the bot's webhook at the mux (the bot token is never printed)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import click

from muxctl.client import origin, require_http_url
from muxctl.context import State, pass_state
from muxctl.errors import UsageProblem
from muxctl.telegram import ALLOWED_UPDATES, DEFAULT_API_BASE, WEBHOOK_PATH, bot_api
from muxctl.timefmt import when

bot_token_option = click.option(
    "--bot-token", envvar="TELEGRAM_BOT_TOKEN", show_envvar=True, help="The bot's token (never printed)."
)
api_base_option = click.option(
    "--api-base", envvar="MUX_TELEGRAM_API_BASE_URL", show_envvar=True, default=DEFAULT_API_BASE,
    show_default=True, help="Bot API base URL (a fake such as `muxctl dev telegram` locally).",
)
TELEGRAM_WEBHOOK_PORTS = (443, 80, 88, 8443)  # the only ports setWebhook accepts
json_option = click.option("--json", "json_output", is_flag=True, help="Machine-readable JSON on stdout.")


def need_token(token: str | None) -> str:
    if not token:
        raise UsageProblem("no bot token: pass --bot-token or set TELEGRAM_BOT_TOKEN")
    return token


@click.group()
def telegram() -> None:
    """Telegram bot webhook setup."""


@telegram.command("set-webhook")
@bot_token_option
@click.option("--secret", envvar="MUX_TELEGRAM_WEBHOOK_SECRET", show_envvar=True,
              help="secret_token Telegram will send (must equal the mux's MUX_TELEGRAM_WEBHOOK_SECRET).")
@click.option("--public-url", envvar="MUX_PUBLIC_URL", show_envvar=True, help="The mux's public https URL.")
@api_base_option
@click.option("--max-connections", type=click.IntRange(1, 100), default=40, show_default=True)
@click.option("--drop-pending", is_flag=True, help="Drop updates Telegram queued while no webhook worked.")
@json_option
@pass_state
def set_webhook(
    state: State,
    bot_token: str | None,
    secret: str | None,
    public_url: str | None,
    api_base: str,
    max_connections: int,
    drop_pending: bool,
    json_output: bool,
) -> None:
    """Point the bot's webhook at <public-url>/v1/webhooks/telegram with the shared secret."""
    state.json_output = state.json_output or json_output
    token = need_token(bot_token)
    if not secret:
        raise UsageProblem("no webhook secret: pass --secret or set MUX_TELEGRAM_WEBHOOK_SECRET")
    if not public_url:
        raise UsageProblem("no public URL: pass --public-url or set MUX_PUBLIC_URL")
    public_url = require_http_url(public_url, "--public-url/MUX_PUBLIC_URL")
    parts = urlsplit(public_url)
    if parts.scheme != "https":
        raise UsageProblem(
            f"Telegram delivers webhooks only to https URLs, and {origin(public_url)} is http: put the mux "
            "behind TLS (a deployment, or a tunnel to the local stack) and pass that https URL as --public-url"
        )
    if parts.port not in (None, *TELEGRAM_WEBHOOK_PORTS):
        raise UsageProblem(
            f"Telegram delivers webhooks only to ports 443, 80, 88 or 8443, not {parts.port} ({origin(public_url)})"
        )
    url = public_url.rstrip("/") + WEBHOOK_PATH
    body: dict[str, Any] = {
        "url": url,
        "secret_token": secret,
        "allowed_updates": ALLOWED_UPDATES,
        "max_connections": max_connections,
        "drop_pending_updates": drop_pending,
    }
    result = bot_api(api_base, token, "setWebhook", body)
    state.emit(
        {"ok": True, "result": result, "url": url, "allowedUpdates": ALLOWED_UPDATES},
        f"Webhook set: {url} (allowed updates: {', '.join(ALLOWED_UPDATES)}; secret token set).",
    )


@telegram.command("webhook-info")
@bot_token_option
@api_base_option
@json_option
@pass_state
def webhook_info(state: State, bot_token: str | None, api_base: str, json_output: bool) -> None:
    """Show where Telegram delivers the bot's updates and the last delivery error."""
    state.json_output = state.json_output or json_output
    info = bot_api(api_base, need_token(bot_token), "getWebhookInfo")
    info = info if isinstance(info, dict) else {}

    def human() -> None:
        click.echo(f"url:              {info.get('url') or '(none: the bot has no webhook)'}")
        click.echo(f"pending updates:  {info.get('pending_update_count', 0)}")
        click.echo(f"allowed updates:  {', '.join(info.get('allowed_updates') or []) or '(all default)'}")
        if info.get("max_connections"):
            click.echo(f"max connections:  {info['max_connections']}")
        if info.get("last_error_message"):
            click.echo(f"last error:       {when(int(info.get('last_error_date') or 0) * 1000)} "
                       f"{info['last_error_message']}")
        if info.get("url") and not str(info["url"]).endswith(WEBHOOK_PATH):
            click.secho(f"warning: the webhook does not end in {WEBHOOK_PATH}", err=True, fg="yellow")

    state.emit({"ok": True, "result": info}, human)


@telegram.command("delete-webhook")
@bot_token_option
@api_base_option
@click.option("--drop-pending", is_flag=True, help="Also drop the updates Telegram has queued.")
@json_option
@pass_state
def delete_webhook(state: State, bot_token: str | None, api_base: str, drop_pending: bool, json_output: bool) -> None:
    """Remove the bot's webhook (Telegram stops delivering updates to the mux)."""
    state.json_output = state.json_output or json_output
    result = bot_api(api_base, need_token(bot_token), "deleteWebhook", {"drop_pending_updates": drop_pending})
    state.emit({"ok": True, "result": result}, "Webhook deleted.")
