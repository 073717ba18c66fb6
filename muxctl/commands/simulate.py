"""`muxctl simulate telegram …`: post an authentic-looking Telegram Update to the mux's webhook and show what
it led to (the bot's reply in the chat, what reached the tenant) where the local fakes can tell."""

from __future__ import annotations

import json

import click

from muxctl import outcome
from muxctl.client import require_http_url
from muxctl.context import State, connection_options, pass_state
from muxctl.errors import UsageProblem
from muxctl.telegram import DEFAULT_API_BASE, build_update, post_update


@click.group()
def simulate() -> None:
    """Send platform events to the mux as if a user wrote in a chat."""


@simulate.command("telegram")
@click.argument("text")
@click.option("--chat", "chat_id", type=int, required=True, help="Chat id (a user id for a private chat).")
@click.option("--user", "user_id", type=int, help="Sender id (default: the chat id in private chats).")
@click.option("--group", is_flag=True, help="A supergroup message (positive ids get the -100 prefix).")
@click.option("--topic", type=click.IntRange(min=1), help="A forum-topic message (implies --group; 1 = General).")
@click.option("--edited", is_flag=True, help="Send as edited_message.")
@click.option("--update-id", type=int, help="Telegram update_id (default: unique, time-based).")
@click.option("--name", "first_name", default="Muxctl", show_default=True, help="Sender's first name.")
@click.option("--secret", envvar="MUX_TELEGRAM_WEBHOOK_SECRET", show_envvar=True,
              help="The webhook secret (X-Telegram-Bot-Api-Secret-Token).")
@click.option("--print-update", is_flag=True, help="Also print the Update that was sent.")
@click.option("--bot-api", "bot_api", envvar="MUX_TELEGRAM_API_BASE_URL", show_envvar=True,
              help="A fake Bot API recording the mux's calls (`muxctl dev telegram`), to show the bot's reply "
                   f"[default with a local mux: {outcome.DEFAULT_BOT_API}].")
@click.option("--observe", envvar="MUX_OBSERVE_URL", show_envvar=True,
              help="The tenant's OpenClaw stand-in (`muxctl dev openclaw`), to show what reached the tenant "
                   f"[default with a local mux: {outcome.DEFAULT_TENANT}].")
@click.option("--wait", type=click.FloatRange(0, 120), default=3.0, show_default=True, envvar="MUX_SIMULATE_WAIT",
              help="Seconds to wait for the bot's reply or the delivery (0: do not wait).")
@connection_options(admin=False, key=False)
@pass_state
def telegram_cmd(
    state: State,
    text: str,
    chat_id: int,
    user_id: int | None,
    group: bool,
    topic: int | None,
    edited: bool,
    update_id: int | None,
    first_name: str,
    secret: str | None,
    print_update: bool,
    bot_api: str | None,
    observe: str | None,
    wait: float,
) -> None:
    """Post TEXT as a Telegram message from --chat to <url>/v1/webhooks/telegram."""
    if not secret:
        raise UsageProblem("no webhook secret: pass --secret or set MUX_TELEGRAM_WEBHOOK_SECRET")
    update = build_update(
        text, chat_id=chat_id, user_id=user_id, topic=topic, group=group, update_id=update_id,
        first_name=first_name, edited=edited,
    )
    local = outcome.is_local(state.client().base_url)
    bot_api = require_http_url(bot_api, "--bot-api/MUX_TELEGRAM_API_BASE_URL") if bot_api else None
    observe = require_http_url(observe, "--observe/MUX_OBSERVE_URL") if observe else None
    if bot_api and bot_api.rstrip("/") == DEFAULT_API_BASE:
        bot_api = None  # the real Bot API keeps no record to read
    watch = outcome.Watch(
        (bot_api or (outcome.DEFAULT_BOT_API if local else None)) if wait > 0 else None,
        (observe or (outcome.DEFAULT_TENANT if local else None)) if wait > 0 else None,
        (bool(bot_api), bool(observe)),
    )
    status, answer = post_update(state.client(), update, secret)
    message = update.get("message") or update.get("edited_message") or {}
    chat = message["chat"]["id"]
    event_id = f"tg:{update['update_id']}"
    seen = watch.collect(event_id, chat, wait) if wait > 0 else outcome.Outcome(None, None, [])
    data = {"ok": True, "eventId": event_id, "status": status, "answer": answer, "chatId": chat,
            "update": update, **seen.as_dict()}

    def human() -> None:
        if print_update:
            click.echo(json.dumps(update, indent=2, ensure_ascii=False))
        click.echo(f"Sent {event_id} from chat {chat}; the mux's webhook accepted it ({status}).")
        if seen.bot_replies:
            for call in seen.bot_replies:
                click.echo(f"  bot in the chat: {outcome.describe_reply(call)}")
        elif seen.bot_replies is not None and not seen.tenant:
            click.echo(f"  bot in the chat: no reply (waited {seen.waited:.1f} s)")
        if seen.tenant:
            for record in seen.tenant:
                click.echo(f"  reached the tenant: {outcome.describe_delivery(record)}")
        elif seen.tenant is not None and seen.bot_replies:
            click.echo("  reached the tenant: nothing (the mux handled it in the chat: a token or a bot command)")
        elif seen.tenant is not None:
            click.echo(f"  reached the tenant: nothing at {seen_url(observe, local)} within {seen.waited:.1f} s "
                       "(not forwarded: an unpaired group chat or another tenant's chat, or still queued)")
        for note in seen.notes:
            click.echo(f"  ({note})")

    state.emit(data, human)


def seen_url(observe: str | None, local: bool) -> str:
    return (observe or (outcome.DEFAULT_TENANT if local else "")).rstrip("/")
