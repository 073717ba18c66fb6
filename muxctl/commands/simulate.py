"""`muxctl simulate telegram …`: post an authentic-looking Telegram Update to the mux's webhook."""

from __future__ import annotations

import json

import click

from muxctl.context import State, connection_options, pass_state
from muxctl.errors import UsageProblem
from muxctl.telegram import build_update, post_update


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
) -> None:
    """Post TEXT as a Telegram message from --chat to <url>/v1/webhooks/telegram."""
    if not secret:
        raise UsageProblem("no webhook secret: pass --secret or set MUX_TELEGRAM_WEBHOOK_SECRET")
    update = build_update(
        text, chat_id=chat_id, user_id=user_id, topic=topic, group=group, update_id=update_id,
        first_name=first_name, edited=edited,
    )
    status, answer = post_update(state.client(), update, secret)
    message = update.get("message") or update.get("edited_message") or {}
    event_id = f"tg:{update['update_id']}"
    data = {"ok": True, "eventId": event_id, "status": status, "answer": answer,
            "chatId": message["chat"]["id"], "update": update}

    def human() -> None:
        if print_update:
            click.echo(json.dumps(update, indent=2, ensure_ascii=False))
        click.echo(f"Sent {event_id} from chat {message['chat']['id']}: mux answered {status} "
                   f"{json.dumps(answer, ensure_ascii=False)}")

    state.emit(data, human)
