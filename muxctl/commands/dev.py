"""`muxctl dev …`: local stand-ins for a tenant's OpenClaw, the Telegram Bot API, the WhatsApp Cloud API and Discord."""

from __future__ import annotations

import click

from muxctl.devservers import FakeTelegram, InboundReceiver
from muxctl.errors import UsageProblem


def _echo(line: str) -> None:
    click.echo(line)


@click.group()
def dev() -> None:
    """Local development servers (127.0.0.1 only)."""


@dev.command("openclaw")
@click.option("--port", type=click.IntRange(0, 65535), default=18901, show_default=True)
@click.option("--status", type=click.IntRange(100, 599), default=202, show_default=True,
              help="Status to answer (e.g. 503 to watch the mux retry).")
@click.option("--key", envvar="MUX_TENANT_KEY", show_envvar=True,
              help="Require this bearer (the tenant key); others get 401.")
@click.option("--record", "record_file", type=click.Path(dir_okay=False), help="Append each envelope as a JSON line.")
@click.option("--verbose", "-v", is_flag=True, help="Print each full envelope.")
def openclaw(port: int, status: int, key: str | None, record_file: str | None, verbose: bool) -> None:
    """A tenant's OpenClaw inbound endpoint: prints every envelope the mux forwards.

    Use http://127.0.0.1:PORT/v1/mux/inbound as the tenant's inbound URL. Received envelopes are also
    served at GET /_mux/received (for `muxctl check tenant --observe`).
    """
    receiver = InboundReceiver(port, key=key, status=status, record_file=record_file, printer=_echo, verbose=verbose)
    try:
        receiver.start()
    except OSError as exc:
        raise UsageProblem(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    click.echo(f"OpenClaw stand-in on {receiver.url}/v1/mux/inbound (answers {status}; "
               f"{'bearer checked' if key else 'bearer NOT checked: pass --key'}); Ctrl-C to stop.")
    click.echo(f"received envelopes: GET {receiver.url}/_mux/received")
    receiver.serve_forever()


@dev.command("telegram")
@click.option("--port", type=click.IntRange(0, 65535), default=18902, show_default=True)
@click.option("--bot-token", help="Answer 401 unless calls use this token (default: accept any).")
@click.option("--member-status", default="administrator", show_default=True,
              type=click.Choice(["creator", "administrator", "member", "restricted", "left", "kicked"]),
              help="What getChatMember answers (decides who may /bot_unpair in groups).")
def telegram(port: int, bot_token: str | None, member_status: str) -> None:
    """A stand-in for the Telegram Bot API that prints every call the mux makes."""
    fake = FakeTelegram(port, token=bot_token, member_status=member_status, printer=_echo)
    try:
        fake.start()
    except OSError as exc:
        raise UsageProblem(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    click.echo(f"Telegram Bot API stand-in on {fake.url} (recorded calls: GET {fake.url}/_fake/calls).")
    click.echo("Point the local stack at it:")
    click.echo(f"  MUX_TELEGRAM_API_BASE_URL={fake.url} TELEGRAM_BOT_TOKEN=123:local "
               "MUX_TELEGRAM_WEBHOOK_SECRET=local-secret make run")
    fake.serve_forever()


@dev.command("whatsapp")
@click.option("--port", type=click.IntRange(0, 65535), default=18904, show_default=True)
@click.option("--access-token", help="Answer 401 (#190) unless calls use this token (default: accept any).")
@click.option("--closed-window", "closed", multiple=True, metavar="USER",
              help="A user (number or BSUID) whose 24-hour window is closed: non-template messages get #131047.")
def whatsapp(port: int, access_token: str | None, closed: tuple[str, ...]) -> None:
    """A stand-in for the WhatsApp Cloud API that applies Meta's message rules and prints what the mux sends."""
    from muxctl.whatsapp_graph import FakeGraph

    try:
        fake = FakeGraph(port, access_token=access_token, printer=_echo)
    except OSError as exc:
        raise UsageProblem(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    fake.closed_windows.update(user.lstrip("+") for user in closed)
    click.echo(f"WhatsApp Cloud API stand-in on {fake.base_url} (recorded calls: GET {fake.url}/_fake/calls).")
    click.echo("Point the local stack at it:")
    click.echo(f"  MUX_WHATSAPP_API_BASE_URL={fake.base_url} WHATSAPP_ACCESS_TOKEN={access_token or 'local-token'} "
               "WHATSAPP_PHONE_NUMBER_ID=318765432109876 WHATSAPP_APP_SECRET=local-app-secret "
               "WHATSAPP_VERIFY_TOKEN=local-verify-token make run")
    fake.serve_forever()


@dev.command("discord")
@click.option("--port", type=click.IntRange(0, 65535), default=18905, show_default=True)
@click.option("--bot-token", help="Answer 401 unless calls use this bot token (default: accept any).")
@click.option("--application-id", default="1299938960998531079", show_default=True)
@click.option("--gateway-url", default="ws://127.0.0.1:18906/", show_default=True,
              help="What GET /gateway/bot answers (a local fake gateway for the relay).")
@click.option("--channel", "channels", multiple=True, metavar="ID:GUILD[:PARENT]",
              help="A guild channel the bot can see (with PARENT: a thread of that channel). Repeatable.")
@click.option("--dm", "dms", multiple=True, metavar="USER[:CHANNEL]", help="A user's DM channel. Repeatable.")
def discord(port: int, bot_token: str | None, application_id: str, gateway_url: str, channels: tuple[str, ...],
            dms: tuple[str, ...]) -> None:
    """A stand-in for Discord's REST API (v10) that applies Discord's rules and prints what the mux sends.

    The fixtures' guild channel and DM are there from the start; unknown interaction tokens are taken as
    fresh interactions (the mux answered them in its own webhook)."""
    from muxctl.discord_rest import FakeDiscord

    try:
        fake = FakeDiscord(port, bot_token=bot_token, application_id=application_id, gateway_url=gateway_url,
                           printer=_echo)
    except OSError as exc:
        raise UsageProblem(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    fake.accept_unknown_interactions = True
    fake.add_channel("1174109843095683076", guild_id="1174109840998531075", name="general")
    fake.add_dm("412345678901234567", "1320910480998531083")
    for spec in channels:
        cid, _, rest = spec.partition(":")
        guild, _, parent = rest.partition(":")
        if not (cid.isdigit() and guild.isdigit() and (not parent or parent.isdigit())):
            raise UsageProblem(f"--channel {spec!r}: expected ID:GUILD or ID:GUILD:PARENT (digits)")
        fake.add_channel(cid, guild_id=guild, type=11 if parent else 0, parent_id=parent or None)
    for spec in dms:
        user, _, cid = spec.partition(":")
        if not user.isdigit() or (cid and not cid.isdigit()):
            raise UsageProblem(f"--dm {spec!r}: expected USER or USER:CHANNEL (digits)")
        fake.add_dm(user, cid or None)
    click.echo(f"Discord REST stand-in on {fake.base_url} (recorded calls: GET {fake.url}/_fake/calls).")
    click.echo("Point the local stack at it:")
    click.echo(f"  MUX_DISCORD_API_BASE_URL={fake.base_url} DISCORD_BOT_TOKEN={bot_token or 'local-bot-token'} "
               f"DISCORD_APPLICATION_ID={application_id} DISCORD_PUBLIC_KEY=<hex public key> make run")
    fake.start()
    fake.serve_forever()
