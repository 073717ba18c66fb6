"""What a simulated chat message led to: the bot's replies in the chat (read from a fake Bot API's record,
`muxctl dev telegram`) and what reached the tenant (an OpenClaw stand-in's record, `muxctl dev openclaw`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
import requests

from muxctl.acceptance import Observer, ObserverError, read_items
from muxctl.client import origin

DEFAULT_BOT_API = "http://127.0.0.1:18902"  # `muxctl dev telegram`
DEFAULT_TENANT = "http://127.0.0.1:18901"  # `muxctl dev openclaw`
REPLY_METHODS = ("sendMessage", "editMessageText", "sendPhoto", "sendDocument")


def is_local(url: str) -> bool:
    return (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")


@dataclass
class BotApiRecord:
    """Reads a fake Bot API's `GET /_fake/calls` (every call the mux made)."""

    url: str
    timeout: float = 5.0
    _session: requests.Session = field(default_factory=requests.Session)

    def calls(self) -> list[dict[str, Any]]:
        endpoint = self.url.rstrip("/") + "/_fake/calls"
        return read_items(self._session, self.url, endpoint, self.timeout, who="the fake Bot API",
                          what="GET /_fake/calls")


@dataclass
class Outcome:
    bot_replies: list[dict[str, Any]] | None  # None: not observed
    tenant: list[dict[str, Any]] | None  # records of this event at the tenant's stand-in; None: not observed
    notes: list[str]
    waited: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"botReplies": self.bot_replies, "tenant": self.tenant, "notes": self.notes}


def describe_reply(call: dict[str, Any]) -> str:
    body = call.get("body") or {}
    method = call.get("method")
    text = body.get("text") if method in ("sendMessage", "editMessageText") else body.get("caption")
    verb = {"sendMessage": "replied", "editMessageText": "edited a message to", "sendPhoto": "sent a photo",
            "sendDocument": "sent a file"}.get(str(method), str(method))
    return f"{verb} {json.dumps(text, ensure_ascii=False)}" if text is not None else verb


def describe_delivery(record: dict[str, Any]) -> str:
    status = int(record.get("status") or 0)
    envelope = record.get("envelope") or {}
    raw_body = envelope.get("body")
    body = raw_body if isinstance(raw_body, str) else ""
    if len(body) > 60:
        body = body[:57] + "..."
    meaning = "accepted" if status // 100 == 2 else (
        "refused: wrong or missing bearer, the mux retries" if status == 401 else
        "refused permanently, the mux dead-letters it" if status in (400, 413, 415, 422) else
        "failed, the mux retries")
    return (f"{status} ({meaning}); session {envelope.get('sessionKey')}, "
            f"body {json.dumps(body, ensure_ascii=False)}")


class Watch:
    """Baselines taken before the update is posted, so only what it caused is reported."""

    def __init__(self, bot_api: str | None, tenant: str | None, explicit: tuple[bool, bool]) -> None:
        self.notes: list[str] = []
        self.bot: BotApiRecord | None = None
        self.tenant: Observer | None = None
        self.bot_base = 0
        self.tenant_base = 0
        if bot_api:
            self.bot = BotApiRecord(bot_api)
            try:
                self.bot_base = len(self.bot.calls())
            except ObserverError as exc:
                self.bot = None
                self.notes.append(f"bot replies not observed: {exc}" if explicit[0] else
                                  f"bot replies not observed (no fake Bot API at {origin(bot_api)}; "
                                  "pass --bot-api URL of `muxctl dev telegram`)")
        if tenant:
            self.tenant = Observer(tenant)
            try:
                self.tenant_base = len(self.tenant.records())
            except ObserverError as exc:
                self.tenant = None
                self.notes.append(f"the tenant side is not observed: {exc}" if explicit[1] else
                                  f"the tenant side is not observed (no `muxctl dev openclaw` at {origin(tenant)}; "
                                  "pass --observe URL)")

    def collect(self, event_id: str, chat_id: int, wait: float) -> Outcome:
        """Poll until the bot replied in the chat or the event reached the tenant, or `wait` seconds pass."""
        started = time.monotonic()
        deadline = started + wait
        replies: list[dict[str, Any]] = []
        delivered: list[dict[str, Any]] = []
        while True:
            if self.bot is not None:
                replies = [c for c in self.bot.calls()[self.bot_base:]
                           if c.get("method") in REPLY_METHODS
                           and str((c.get("body") or {}).get("chat_id")) == str(chat_id)]
            if self.tenant is not None:
                delivered = [r for r in self.tenant.records(self.tenant_base) if r.get("eventId") == event_id]
            if replies or delivered or time.monotonic() >= deadline or (self.bot is None and self.tenant is None):
                break
            time.sleep(0.1)
        return Outcome(
            bot_replies=replies if self.bot is not None else None,
            tenant=delivered if self.tenant is not None else None,
            notes=self.notes,
            waited=time.monotonic() - started,
        )


_Command = TypeVar("_Command", bound=Callable[..., Any])


def watch_options(reply: str = "the mux's reply") -> Callable[[_Command], _Command]:
    """`--observe` and `--wait`, as every `muxctl simulate` command takes them; `reply` names what it waits for."""

    def decorate(command: _Command) -> _Command:
        command = click.option(
            "--wait", type=click.FloatRange(0, 120), default=3.0, show_default=True, envvar="MUX_SIMULATE_WAIT",
            help=f"Seconds to wait for {reply} or the delivery (0: do not wait).")(command)
        command = click.option(
            "--observe", envvar="MUX_OBSERVE_URL", show_envvar=True,
            help="The tenant's OpenClaw stand-in (`muxctl dev openclaw`), to show what reached the tenant "
                 f"[default with a local mux: {DEFAULT_TENANT}].")(command)
        return command

    return decorate


def echo_seen(seen: dict[str, Any], describe_reply: Callable[[dict[str, Any]], str]) -> None:
    """The lines after a simulate command's "Sent …": the mux's replies in the chat, what reached the tenant,
    and why a side was not observed."""
    for body in seen["botReplies"] or []:
        click.echo(f"  mux in the chat: {describe_reply(body)}")
    for record in seen["tenant"] or []:
        click.echo(f"  reached the tenant: {describe_delivery(record)}")
    if seen["tenant"] == [] and not seen["botReplies"]:
        click.echo(f"  reached the tenant: nothing within {seen['waited']:.1f} s (not forwarded, or still queued)")
    for note in seen["notes"]:
        click.echo(f"  ({note})")
