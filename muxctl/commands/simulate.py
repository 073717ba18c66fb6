"""`muxctl simulate telegram …`: post an authentic-looking Telegram Update to the mux's webhook and show what
it led to (the bot's reply in the chat, what reached the tenant) where the local fakes can tell."""

from __future__ import annotations

import json
import time
from typing import Any

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
@outcome.watch_options("the bot's reply")
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


DEFAULT_GRAPH_API = "http://127.0.0.1:18904"  # `muxctl dev whatsapp`


@simulate.command("whatsapp")
@click.argument("text")
@click.option("--from", "sender", required=True,
              help="The user: a phone number (e.g. 447700900123) or a business-scoped user id (US.5820…) for a "
                   "user who shares no number.")
@click.option("--bsuid", help="The user's business-scoped id as well (with a phone number in --from).")
@click.option("--group", "group_id", help="A group message: the group id.")
@click.option("--phone-number-id", envvar="WHATSAPP_PHONE_NUMBER_ID", show_envvar=True,
              default="318765432109876", show_default=True, help="The business number the message is sent to.")
@click.option("--name", default="Muxctl Test", show_default=True, help="The user's profile name.")
@click.option("--app-secret", envvar="WHATSAPP_APP_SECRET", show_envvar=True,
              help="The app secret the webhook is signed with (X-Hub-Signature-256).")
@click.option("--print-payload", is_flag=True, help="Also print the payload that was sent.")
@click.option("--graph-api", envvar="MUX_WHATSAPP_API_BASE_URL", show_envvar=True,
              help="The Cloud API stand-in (`muxctl dev whatsapp`), to show what the mux sent back "
                   f"[default with a local mux: {DEFAULT_GRAPH_API}].")
@outcome.watch_options()
@connection_options(admin=False, key=False)
@pass_state
def whatsapp_cmd(
    state: State,
    text: str,
    sender: str,
    bsuid: str | None,
    group_id: str | None,
    phone_number_id: str,
    name: str,
    app_secret: str | None,
    print_payload: bool,
    graph_api: str | None,
    observe: str | None,
    wait: float,
) -> None:
    """Post TEXT as a WhatsApp message from --from to <url>/v1/webhooks/whatsapp, signed like Meta signs it."""
    from muxctl.whatsapp import build_payload, post_payload

    if not app_secret:
        raise UsageProblem("no app secret: pass --app-secret or set WHATSAPP_APP_SECRET")
    payload = build_payload(text, sender=sender, phone_number_id=phone_number_id, name=name, bsuid=bsuid,
                            group_id=group_id)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    event_id = f"wa:{message['id']}"
    local = outcome.is_local(state.client().base_url)
    graph = require_http_url(graph_api, "--graph-api/MUX_WHATSAPP_API_BASE_URL") if graph_api else None
    if graph and "graph.facebook.com" in graph:
        graph = None  # the real Cloud API keeps no record to read
    observe = require_http_url(observe, "--observe/MUX_OBSERVE_URL") if observe else None
    graph_root = (graph or (DEFAULT_GRAPH_API if local else "")).rstrip("/")
    if graph_root.rsplit("/", 1)[-1].startswith("v") and graph_root.rsplit("/", 1)[-1][1:2].isdigit():
        graph_root = graph_root.rsplit("/", 1)[0]  # the stand-in's record is at its root, not under /v23.0
    watch = _WhatsAppWatch(graph_root if wait > 0 and graph_root else None,
                           (observe or (outcome.DEFAULT_TENANT if local else None)) if wait > 0 else None)
    status, answer = post_payload(state.client(), payload, app_secret)
    seen = watch.collect(event_id, group_id or sender.lstrip("+"), wait)
    data = {"ok": True, "eventId": event_id, "status": status, "answer": answer, "payload": payload, **seen}

    def human() -> None:
        if print_payload:
            click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        click.echo(f"Sent {event_id} from {sender} to number {phone_number_id}; the mux's webhook accepted it "
                   f"({status}).")
        outcome.echo_seen(seen, _describe_wa)

    state.emit(data, human)


def _describe_wa(body: dict[str, Any]) -> str:
    kind = body.get("type", "text")
    obj = body.get(kind) if isinstance(body.get(kind), dict) else {}
    if kind == "text":
        return f"replied {json.dumps(obj.get('body'), ensure_ascii=False)}"
    return f"sent {kind} {obj.get('link') or obj.get('name') or ''}".rstrip()


class _WhatsAppWatch:
    """Baselines of the Cloud API stand-in's calls and the tenant stand-in's records, taken before the post."""

    def __init__(self, graph: str | None, tenant: str | None) -> None:
        import requests

        from muxctl.acceptance import Observer, ObserverError

        self._requests = requests
        self.notes: list[str] = []
        self.graph = graph
        self.graph_base = 0
        self.tenant: Observer | None = None
        self.tenant_base = 0
        if graph:
            try:
                self.graph_base = len(self._graph_calls())
            except Exception:  # noqa: BLE001 - any failure means: not observed
                self.graph = None
                self.notes.append(f"the mux's replies are not observed (no `muxctl dev whatsapp` at {graph}; "
                                  "pass --graph-api URL)")
        if tenant:
            self.tenant = Observer(tenant)
            try:
                self.tenant_base = len(self.tenant.records())
            except ObserverError:
                self.tenant = None
                self.notes.append(f"the tenant side is not observed (no `muxctl dev openclaw` at {tenant}; "
                                  "pass --observe URL)")

    def _graph_calls(self) -> list[dict[str, Any]]:
        resp = self._requests.get(f"{self.graph}/_fake/calls", timeout=5)
        items = resp.json()["items"]
        return list(items)

    def collect(self, event_id: str, chat: str, wait: float) -> dict[str, Any]:
        started = time.monotonic()
        replies: list[dict[str, Any]] = []
        delivered: list[dict[str, Any]] = []
        while wait > 0:
            if self.graph:
                replies = [c["body"] for c in self._graph_calls()[self.graph_base:]
                           if c.get("method") == "POST" and c.get("status", 0) // 100 == 2
                           and c["body"].get("status") != "read"
                           and str(c["body"].get("to") or c["body"].get("recipient") or "").lstrip("+") == chat]
            if self.tenant is not None:
                delivered = [r for r in self.tenant.records(self.tenant_base) if r.get("eventId") == event_id]
            if replies or delivered or time.monotonic() - started >= wait or (not self.graph and not self.tenant):
                break
            time.sleep(0.1)
        return {"botReplies": replies if self.graph else None,
                "tenant": delivered if self.tenant is not None else None,
                "notes": self.notes, "waited": time.monotonic() - started}
