"""`muxctl check tenant …`: the Minimum Acceptance Checks (docs/reference.md) against a running mux."""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from muxctl.acceptance import AcceptanceRun, poll
from muxctl.context import State, connection_options, is_tty, pass_state, table
from muxctl.discord import load_signing_key
from muxctl.discord_events import DEFAULT_APPLICATION_ID
from muxctl.errors import EXIT_FAILED, UsageProblem
from muxctl.whatsapp import DEFAULT_PHONE_NUMBER_ID

SYMBOL = {"pass": "PASS", "fail": "FAIL", "skip": "skip"}


def progress_wait(label: str, timeout: float, probe: Callable[[], Any]) -> Any:
    """`poll` with a progress bar on a terminal, a single line otherwise."""
    if not is_tty() or timeout <= 0:
        click.echo(f"… {label} (up to {timeout:.0f} s)", err=True)
        return poll(label, timeout, probe)
    steps = max(1, int(timeout * 10))
    start = time.monotonic()
    stderr = sys.stderr
    make_bar: Any = click.progressbar
    with make_bar(length=steps, label=label, file=stderr, show_eta=False, width=24) as bar:
        done = 0

        def tick() -> Any:
            nonlocal done
            value = probe()
            target = min(steps, int((time.monotonic() - start) * 10))
            bar.update(target - done)
            done = target
            return value

        return poll(label, timeout, tick)


@click.group()
def check() -> None:
    """Acceptance checks against a deployed or local mux."""


@check.command("tenant")
@click.argument("tenant_id")
@click.option("--channel", type=click.Choice(["telegram", "whatsapp", "discord"]), default="telegram",
              show_default=True, help="The channel to pair and chat in.")
@click.option("--chat", "chat_id", type=int, help="Telegram chat id to pair (simulated, or the user's real chat).")
@click.option("--from", "wa_sender",
              help="WhatsApp: the simulated user, a phone number or a BSUID (default: a random number).")
@click.option("--phone-number-id", envvar="WHATSAPP_PHONE_NUMBER_ID", show_envvar=True,
              default=DEFAULT_PHONE_NUMBER_ID, show_default=True,
              help="WhatsApp: the business number the user writes to.")
@click.option("--app-secret", envvar="WHATSAPP_APP_SECRET", show_envvar=True,
              help="WhatsApp: the app secret simulated webhooks are signed with.")
@click.option("--user", "discord_user",
              help="Discord: the simulated user's id (default: a random one per entry path); the chat is their DM.")
@click.option("--discord-signing-key", envvar="MUXCTL_DISCORD_SIGNING_KEY", show_envvar=True,
              help="Discord: the Ed25519 private key (hex or base64) whose public key is the mux's "
                   "DISCORD_PUBLIC_KEY, to sign simulated interactions (a local stack's test or dev key).")
@click.option("--relay-secret", envvar="MUX_DISCORD_RELAY_SECRET", show_envvar=True,
              help="Discord: the relay secret, to sign simulated gateway events as the relay does.")
@click.option("--application-id", envvar="DISCORD_APPLICATION_ID", show_envvar=True,
              default=DEFAULT_APPLICATION_ID, show_default=True, help="Discord: the application id.")
@click.option("--discord-api", metavar="URL", envvar="MUX_DISCORD_API_BASE_URL", show_envvar=True,
              help="Discord: a `muxctl dev discord` stand-in the mux posts to; the outbound check then looks for "
                   "its message there (ignored for discord.com).")
@click.option("--simulate", is_flag=True,
              help="Post the chat's messages to the mux webhook yourself (needs --secret); no real user needed.")
@click.option("--secret", envvar="MUX_TELEGRAM_WEBHOOK_SECRET", show_envvar=True, help="Telegram webhook secret.")
@click.option("--observe", metavar="URL",
              help="A `muxctl dev openclaw` receiver serving as the tenant's OpenClaw (reads /_mux/received).")
@click.option("--timeout", type=click.FloatRange(0.5, 3600), default=30.0, show_default=True,
              help="Seconds to wait for the pairing and for inbound delivery.")
@click.option("--quiet-seconds", type=click.FloatRange(0.5, 600), default=5.0, show_default=True,
              help="Seconds to watch that nothing is forwarded after unbind.")
@click.option("--send-text", help="Also send this text to the paired chat through the outbound API.")
@connection_options()
@pass_state
def tenant(
    state: State,
    tenant_id: str,
    channel: str,
    chat_id: int | None,
    wa_sender: str | None,
    phone_number_id: str,
    app_secret: str | None,
    discord_user: str | None,
    discord_signing_key: str | None,
    relay_secret: str | None,
    application_id: str,
    discord_api: str | None,
    simulate: bool,
    secret: str | None,
    observe: str | None,
    timeout: float,
    quiet_seconds: float,
    send_text: str | None,
) -> None:
    """Run outbound, pairing, inbound and unbind checks for TENANT_ID; exit 0 only if none fails.

    Needs the admin token and the tenant's key. With --simulate the chat is simulated through the
    webhook (a random private chat unless --chat); without it a real user redeems the printed token.
    Discord simulation checks each entry path it can sign for — interactions (--discord-signing-key) and
    gateway events (--relay-secret) — in its own rows (ids tagged /ix and /gw).
    """
    client = state.client()
    client.require("admin", "tenant")
    discord_key = None
    if channel == "discord":
        if simulate and not (discord_signing_key or relay_secret):
            raise UsageProblem("--simulate --channel discord needs a way to sign events: --discord-signing-key "
                               "(MUXCTL_DISCORD_SIGNING_KEY) for interactions and/or --relay-secret "
                               "(MUX_DISCORD_RELAY_SECRET) for gateway events")
        if discord_user is not None and not discord_user.isdigit():
            raise UsageProblem(f"--user {discord_user!r}: a Discord user id is digits")
        try:
            discord_key = load_signing_key(discord_signing_key) if discord_signing_key else None
        except UsageProblem as exc:
            raise UsageProblem(exc.message.replace("--signing-key", "--discord-signing-key")) from None
        if discord_api and "discord.com" in discord_api:
            discord_api = None  # the real API keeps no record to read
    elif channel == "whatsapp":
        if simulate and not app_secret:
            raise UsageProblem("--simulate --channel whatsapp needs the app secret: --app-secret or "
                               "WHATSAPP_APP_SECRET")
        if simulate and wa_sender is None:
            wa_sender = f"4477009{secrets.randbelow(10**5):05d}"
        secret = app_secret
    else:
        if simulate and not secret:
            raise UsageProblem("--simulate needs the webhook secret: --secret or MUX_TELEGRAM_WEBHOOK_SECRET")
        if simulate and chat_id is None:
            chat_id = 7_000_000_000 + secrets.randbelow(1_000_000_000)
    def say(line: str) -> None:
        click.echo(line, err=True)

    run = AcceptanceRun(
        client=client,
        tenant_id=tenant_id,
        chat_id=chat_id,
        simulate=simulate,
        secret=secret,
        observe=observe,
        timeout=timeout,
        quiet_seconds=quiet_seconds,
        send_text=send_text,
        channel=channel,
        wa_sender=wa_sender.lstrip("+") if wa_sender and wa_sender.lstrip("+").isdigit() else wa_sender,
        phone_number_id=phone_number_id,
        discord_key=discord_key,
        relay_secret=relay_secret if channel == "discord" else None,
        application_id=application_id,
        discord_user=discord_user if channel == "discord" else None,
        discord_api=discord_api if channel == "discord" else None,
        say=say,
        wait=progress_wait,
    )
    results = run.run()
    chat = {"whatsapp": run.wa_sender, "discord": run.discord_user}.get(channel, run.chat_id)
    data = {"ok": run.ok, "tenantId": tenant_id, "channel": channel, "chatId": chat,
            "checks": [r.as_dict() for r in results]}

    def human() -> None:
        rows = [(r.id, r.name, SYMBOL[r.status], f"{r.seconds:.1f}s", r.detail) for r in results]
        click.echo(table(rows, ["#", "CHECK", "RESULT", "TIME", "DETAIL"]))
        failed = sum(r.status == "fail" for r in results)
        skipped = sum(r.status == "skip" for r in results)
        verdict = "FAILED" if failed else "PASSED"
        click.echo(f"{verdict}: {sum(r.status == 'pass' for r in results)} passed, {failed} failed, "
                   f"{skipped} skipped")

    state.emit(data, human)
    if not run.ok:
        raise click.exceptions.Exit(EXIT_FAILED)
