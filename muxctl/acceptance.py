"""The Minimum Acceptance Checks (docs/reference.md, acceptance checks) for one tenant, over HTTP against any mux.

Each check reports pass/fail/skip with a reason. Waits poll with a deadline; nothing sleeps blindly.
Simulation mode posts Telegram Updates, or signed WhatsApp webhook payloads, to the mux's webhook (needs the
webhook secret or the WhatsApp app secret); for Discord it runs the checks once per entry path — interactions
signed with an Ed25519 key whose public key is the mux's DISCORD_PUBLIC_KEY (`/pair`, `/ask`), and gateway
MESSAGE_CREATE dispatches signed with the relay secret (the token, then text, in a DM) — each row's id tagged
`/ix` or `/gw`, a path without its secret skipped. Observation reads a `muxctl dev openclaw` receiver's
GET /_mux/received (the tenant's OpenClaw stand-in) and, for Discord, a `muxctl dev discord` stand-in's
GET /_fake/calls (what the mux posted to Discord).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

import requests

from muxctl.client import MuxClient, Reply, describe_connection_error, origin
from muxctl.discord_events import (
    DEFAULT_APPLICATION_ID,
    build_interaction,
    build_message,
    post_interaction,
    post_message,
)
from muxctl.discord_events import snowflake as discord_id
from muxctl.errors import CliError
from muxctl.qr import terminal_qr
from muxctl.telegram import build_update, post_update
from muxctl.whatsapp import DEFAULT_PHONE_NUMBER_ID, build_payload, post_payload

Status = Literal["pass", "fail", "skip"]
ORDER = ["0", "1a", "1b", "2", "3", "4a", "4b", "!"]
# Discord's entry paths: the row-id tag and the label each path's rows carry.
DISCORD_ENTRIES = {"interactions": ("ix", "interactions"), "gateway": ("gw", "gateway relay")}
# Where an answer the mux gives Discord lands in the stand-in's record (bot-token posts, interaction replies).
DISCORD_MESSAGE_ROUTES = ("POST /channels/{channel}/messages", "POST /webhooks/{app}/{token}",
                          "PATCH /webhooks/{app}/{token}/messages/{message}")
T = TypeVar("T")
Waiter = Callable[[str, float, Callable[[], "T | None"]], "T | None"]


@dataclass
class CheckResult:
    id: str
    name: str
    status: Status
    detail: str
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ObserverError(Exception):
    """The observation endpoint could not be read."""


def poll(label: str, timeout: float, probe: Callable[[], T | None], interval: float = 0.2) -> T | None:
    """Call `probe` until it returns a value or the deadline passes (then None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def read_items(session: requests.Session, url: str, endpoint: str, timeout: float, *, who: str, what: str,
               params: dict[str, Any] | None = None, unreachable_hint: str = "") -> list[dict[str, Any]]:
    """The `items` list a local stand-in (`who`, at `url`) serves at `endpoint`: its record of what it got."""
    try:
        resp = session.get(endpoint, params=params, timeout=timeout)
    except requests.RequestException as exc:
        hint = f"; {unreachable_hint}" if unreachable_hint else ""
        raise ObserverError(f"cannot reach {who} at {origin(url)} ({describe_connection_error(exc)}){hint}") from None
    try:
        data = resp.json()
    except ValueError:
        data = None
    if resp.status_code != 200 or not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ObserverError(f"{origin(url)} does not serve {what} (HTTP {resp.status_code})")
    return list(data["items"])


@dataclass
class Observer:
    """Reads a `muxctl dev openclaw` receiver's record of what the mux delivered."""

    url: str
    timeout: float = 5.0
    _session: requests.Session = field(default_factory=requests.Session)

    def records(self, since: int = 0) -> list[dict[str, Any]]:
        endpoint = self.url.rstrip("/")
        if not endpoint.endswith("/_mux/received"):
            endpoint += "/_mux/received"
        return read_items(self._session, self.url, endpoint, self.timeout, who="the observer",
                          params={"since": since},
                          unreachable_hint="is the tenant's OpenClaw stand-in (`muxctl dev openclaw`) running?",
                          what="GET /_mux/received")


@dataclass
class DiscordRecord:
    """Reads a `muxctl dev discord` stand-in's record (GET /_fake/calls) of what the mux sent to Discord."""

    url: str
    timeout: float = 5.0
    _session: requests.Session = field(default_factory=requests.Session)

    def calls(self) -> list[dict[str, Any]]:
        root = self.url.rstrip("/")
        if root.endswith("/api/v10"):  # MUX_DISCORD_API_BASE_URL; the record is at the stand-in's root
            root = root[: -len("/api/v10")]
        return read_items(self._session, self.url, root + "/_fake/calls", self.timeout, who="the Discord stand-in",
                          unreachable_hint="is `muxctl dev discord` running?", what="GET /_fake/calls")


@dataclass
class AcceptanceRun:
    client: MuxClient
    tenant_id: str
    chat_id: int | None = None
    simulate: bool = False
    secret: str | None = None
    observe: str | None = None
    timeout: float = 30.0
    quiet_seconds: float = 5.0
    send_text: str | None = None
    channel: str = "telegram"
    wa_sender: str | None = None  # WhatsApp: the simulated user (a phone number or a BSUID)
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID  # WhatsApp: the business number the user writes to
    discord_key: Any = None  # Discord: the Ed25519 private key interactions are signed with
    relay_secret: str | None = None  # Discord: MUX_DISCORD_RELAY_SECRET, for gateway dispatches
    application_id: str = DEFAULT_APPLICATION_ID
    discord_user: str | None = None  # Discord: the simulated user (their DM with the bot is the chat)
    discord_api: str | None = None  # Discord: a `muxctl dev discord` stand-in whose record shows what was posted
    entry: str | None = None  # Discord: the entry path being checked ("interactions" | "gateway")
    discord_dm: str | None = None  # Discord: the simulated DM channel's id
    say: Callable[[str], None] = lambda _line: None
    wait: Callable[[str, float, Callable[[], Any]], Any] = poll
    results: list[CheckResult] = field(default_factory=list)
    binding: dict[str, Any] | None = None
    inbound_latency: float | None = None

    # --- plumbing -------------------------------------------------------------------------------
    def record(self, id_: str, name: str, status: Status, detail: str, started: float) -> CheckResult:
        if self.entry is not None and id_ != "!":
            tag, label = DISCORD_ENTRIES[self.entry]
            id_, name = f"{id_}/{tag}", f"{name} ({label})"
        result = CheckResult(id_, name, status, detail, round(time.monotonic() - started, 2))
        self.results.append(result)
        self.say(f"[{status.upper()}] {id_} {name}: {detail}")
        return result

    @property
    def route_key(self) -> str | None:
        if self.channel == "whatsapp":
            return f"whatsapp:{self.phone_number_id}:chat:{self.wa_sender}" if self.wa_sender else None
        if self.channel == "discord":
            return f"discord:default:dm:user:{self.discord_user}" if self.discord_user else None
        return f"telegram:default:chat:{self.chat_id}" if self.chat_id is not None else None

    def _simulate(self, text: str, *, pairing: bool = False) -> str:
        if self.channel == "discord":
            return self._simulate_discord(text, pairing=pairing)
        if self.channel == "whatsapp":
            assert self.wa_sender is not None and self.secret is not None
            payload = build_payload(text, sender=self.wa_sender, phone_number_id=self.phone_number_id,
                                    name="Muxctl Check")
            post_payload(self.client, payload, self.secret)
            return f"wa:{payload['entry'][0]['changes'][0]['value']['messages'][0]['id']}"
        assert self.chat_id is not None and self.secret is not None
        update = build_update(text, chat_id=self.chat_id, group=self.chat_id < 0, first_name="Muxctl Check")
        post_update(self.client, update, self.secret)
        return f"tg:{update['update_id']}"

    def _simulate_discord(self, text: str, *, pairing: bool) -> str:
        """`/pair token:` or `/ask prompt:` (interactions), else the token or text as a DM through the relay."""
        assert self.discord_user is not None and self.discord_dm is not None
        reply: Reply
        if self.entry == "interactions":
            payload = build_interaction("pair" if pairing else "ask", text, user_id=self.discord_user,
                                        channel_id=self.discord_dm, application_id=self.application_id)
            reply = post_interaction(self.client, payload, self.discord_key)
            event_id, what = f"dci:{payload['id']}", "interaction"
            hint = "is the mux's DISCORD_PUBLIC_KEY the public key of --discord-signing-key?"
        else:
            assert self.relay_secret is not None
            payload = build_message(text, user_id=self.discord_user, channel_id=self.discord_dm)
            reply = post_message(self.client, payload, self.relay_secret)
            event_id, what = f"dc:{payload['d']['id']}", "gateway event"
            hint = "is the mux's MUX_DISCORD_RELAY_SECRET the --relay-secret?"
        if not reply.ok:
            raise CliError(f"the mux refused the signed {what}: {reply.status} {reply.code or ''} "
                           f"{reply.error}".replace("  ", " ") + (f" ({hint})" if reply.status == 401 else ""))
        return event_id

    def _bindings(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = self.client.call("GET", "/v1/pairings", auth="tenant", params=params, what="GET /v1/pairings")
            items.extend(page.get("items") or [])
            cursor = page.get("nextCursor")
            if not cursor:
                return items

    # --- checks ---------------------------------------------------------------------------------
    def check_tenant(self) -> bool:
        started = time.monotonic()
        name = "tenant provisioned, key works"
        admin = self.client.request("GET", f"/v1/admin/tenants/{self.tenant_id}", auth="admin")
        if not admin.ok:
            self.record("0", name, "fail", f"GET /v1/admin/tenants/{self.tenant_id}: {admin.status} "
                        f"{admin.code}: {admin.error}", started)
            return False
        tenant = admin.body
        if tenant.get("disabled"):
            self.record("0", name, "fail", "the tenant is disabled (re-bootstrap to enable it)", started)
            return False
        if not tenant.get("inboundUrl"):
            self.record("0", name, "fail", "the tenant has no inbound URL", started)
            return False
        mine = self.client.request("GET", "/v1/tenant/inbound-target", auth="tenant")
        if mine.status == 401:
            self.record("0", name, "fail", "the tenant key is refused (401): wrong key or rotated", started)
            return False
        if not mine.ok:
            self.record("0", name, "fail", f"GET /v1/tenant/inbound-target: {mine.status} {mine.code}", started)
            return False
        if mine.body.get("inboundUrl") != tenant.get("inboundUrl"):
            self.record("0", name, "fail", "the tenant key belongs to another tenant (its inbound URL "
                        f"{mine.body.get('inboundUrl')!r} differs)", started)
            return False
        self.record("0", name, "pass", f"enabled, inbound {tenant['inboundUrl']}", started)
        return True

    def check_outbound_auth(self) -> None:
        started = time.monotonic()
        name = "outbound: auth and route lock"
        session_key = f"agent:main:{self.channel}:direct:muxctl-check-{secrets.token_hex(4)}"
        body = {"channel": self.channel, "sessionKey": session_key, "text": "muxctl acceptance check"}
        wrong = self.client.request(
            "POST", "/v1/mux/outbound/send", key="muxctl-wrong-" + secrets.token_urlsafe(24), json_body=body
        )
        if wrong.status != 401:
            self.record("1a", name, "fail", f"a wrong key got {wrong.status} {wrong.code}, expected 401", started)
            return
        right = self.client.request("POST", "/v1/mux/outbound/send", auth="tenant", json_body=body)
        if right.status == 403 and right.code == "ROUTE_NOT_BOUND":
            self.record("1a", name, "pass", "wrong key → 401; tenant key + unbound session → 403 ROUTE_NOT_BOUND",
                        started)
        elif right.status == 401:
            self.record("1a", name, "fail", "the tenant key is refused by POST /v1/mux/outbound/send (401)", started)
        else:
            self.record("1a", name, "fail", f"unbound session got {right.status} {right.code}, "
                        "expected 403 ROUTE_NOT_BOUND", started)

    def check_pairing(self) -> None:
        started = time.monotonic()
        name = f"pairing: token redeemed in {self.channel}"
        before = {b["bindingId"]: b for b in self._bindings()}
        if self.simulate and self.route_key:
            for binding in list(before.values()):
                if binding.get("routeKey") == self.route_key:
                    # A re-claim by the same tenant reuses the binding: start clean to prove the claim.
                    self.client.call("POST", "/v1/pairings/unbind", auth="tenant",
                                     json_body={"bindingId": binding["bindingId"]}, what="unbind (reset)")
                    before.pop(binding["bindingId"])
                    self.say(f"note: {self.route_key} was already bound ({binding['bindingId']}); unbound it first")
        reply = self.client.request("POST", "/v1/pairings/token", auth="tenant", json_body={"channel": self.channel})
        if not reply.ok:
            self.record("2", name, "fail", f"POST /v1/pairings/token: {reply.status} {reply.code}: {reply.error}",
                        started)
            return
        token = reply.body
        try:
            how = self._redeem(token)
        except CliError as exc:
            self.record("2", name, "fail", exc.message, started)
            return

        def found() -> dict[str, Any] | None:
            for binding in self._bindings():
                if self.route_key is not None:
                    if binding.get("routeKey") == self.route_key and binding["bindingId"] not in before:
                        return binding
                elif binding["bindingId"] not in before:
                    return binding
            return None

        binding = self.wait(f"waiting for the binding ({how})", self.timeout, found)
        if binding is None:
            target = self.route_key or "any chat"
            self.record("2", name, "fail", f"no new binding for {target} in GET /v1/pairings after "
                        f"{self.timeout:.0f} s ({how})", started)
            return
        self.binding = binding
        if self.chat_id is None and binding.get("routeKey", "").startswith("telegram:default:chat:"):
            rest = binding["routeKey"].split(":")[3]
            self.chat_id = int(rest) if rest.lstrip("-").isdigit() else None
        if self.discord_user is None and binding.get("routeKey", "").startswith("discord:default:dm:user:"):
            self.discord_user = binding["routeKey"].rsplit(":", 1)[1]
        wa_prefix = f"whatsapp:{self.phone_number_id}:chat:"
        if self.wa_sender is None and binding.get("routeKey", "").startswith(wa_prefix):
            self.wa_sender = binding["routeKey"].split(":", 3)[3]
        via = f" ({how})" if self.entry is not None else ""  # which entry path paired it
        self.record("2", name, "pass", f"{binding['bindingId']} {binding.get('routeKey')} → "
                    f"{', '.join(binding.get('sessionKeys') or [])}{via}", started)

    def _redeem(self, token: dict[str, Any]) -> str:
        """Redeem the token in the chat (simulated, or by the user): how, for the row's detail."""
        if self.simulate and self.channel == "discord":
            self._simulate(str(token["token"]), pairing=True)
            if self.entry == "interactions":
                return f"simulated `/pair token:<token>` from user {self.discord_user}"
            return f"simulated the token as a DM from user {self.discord_user} through the relay"
        if self.simulate and self.channel == "whatsapp":
            # WhatsApp has no /start: the user pairs by sending the token itself as a message.
            self._simulate(str(token["token"]))
            return f"simulated the token as a message from {self.wa_sender}"
        if self.simulate:
            assert self.chat_id is not None
            self._simulate(str(token.get("startCommand") or f"/start {token['token']}"))
            return f"simulated `/start <token>` from chat {self.chat_id}"
        self.say(f"Redeem the token in {self.channel} now (waiting up to {self.timeout:.0f} s):")
        if self.channel == "discord":
            self.say(f"  in Discord: /pair token:{token['token']}  (or send the token to the bot in a DM)")
        else:
            self.say(f"  send to the bot: {token.get('startCommand') or token['token']}")
        if token.get("deepLink"):
            self.say(f"  deep link: {token['deepLink']}")
            code = terminal_qr(str(token["deepLink"]))
            if code:
                self.say(code.rstrip("\n"))
        return "waited for the user"

    def check_outbound_send(self) -> None:
        started = time.monotonic()
        name = "outbound: message sent to the chat"
        if not self.send_text:
            self.record("1b", name, "skip", "pass --send-text to send a real message", started)
            return
        if self.binding is None:
            self.record("1b", name, "skip", "needs a binding (pairing did not complete)", started)
            return
        session_key = (self.binding.get("sessionKeys") or [None])[0]
        body = {"channel": self.channel, "sessionKey": session_key, "text": self.send_text}
        stand_in = DiscordRecord(self.discord_api) if self.channel == "discord" and self.discord_api else None
        try:
            baseline = len(stand_in.calls()) if stand_in else 0
        except ObserverError as exc:
            self.record("1b", name, "fail", str(exc), started)
            return
        reply = self.client.request("POST", "/v1/mux/outbound/send", auth="tenant", json_body=body)
        if not (reply.ok and reply.body.get("messageId")):
            self.record("1b", name, "fail", f"{reply.status} {reply.code}: {reply.error}", started)
            return
        detail = f"messageId {reply.body['messageId']} via {session_key}"
        if stand_in is not None:
            text = self.send_text

            def posted() -> dict[str, Any] | None:
                return next((c for c in stand_in.calls()[baseline:] if c.get("ok") and c.get("route") in
                             DISCORD_MESSAGE_ROUTES and (c.get("body") or {}).get("content") == text), None)

            try:
                call = self.wait("waiting for the message at the Discord stand-in", self.timeout, posted)
            except ObserverError as exc:
                self.record("1b", name, "fail", str(exc), started)
                return
            if call is None:
                self.record("1b", name, "fail", f"the mux answered {detail}, but no message with that text reached "
                            f"the Discord stand-in at {origin(stand_in.url)}", started)
                return
            detail += f"; Discord got {call['route']}"
        self.record("1b", name, "pass", detail, started)

    def _send_for_observation(self, text: str) -> str | None:
        """Simulate a message (returns its event id) or ask the user to write one (returns None)."""
        if self.simulate:
            return self._simulate(text)
        self.say(f"Send a message in the paired chat now (waiting up to {self.timeout:.0f} s).")
        return None

    def _matches(self, record: dict[str, Any], event_id: str | None) -> bool:
        envelope = record.get("envelope") or {}
        if event_id is not None:
            return record.get("eventId") == event_id
        channel_data = envelope.get("channelData") or {}
        return bool(self.binding) and channel_data.get("routeKey") == (self.binding or {}).get("routeKey")

    def check_inbound(self, observer: Observer | None) -> None:
        started = time.monotonic()
        name = "inbound: message reaches the tenant's OpenClaw"
        if self.binding is None:
            self.record("3", name, "skip", "needs a binding (pairing did not complete)", started)
            return
        if observer is None:
            self.record("3", name, "skip", "not observed (pass --observe URL of a `muxctl dev openclaw` receiver)",
                        started)
            return
        try:
            baseline = len(observer.records())
        except ObserverError as exc:
            self.record("3", name, "fail", str(exc), started)
            return
        text = f"muxctl check {secrets.token_hex(3)}"
        try:
            event_id = self._send_for_observation(text)
        except CliError as exc:
            self.record("3", name, "fail", exc.message, started)
            return
        sent = time.monotonic()

        def arrived() -> dict[str, Any] | None:
            for record in observer.records(baseline):
                if self._matches(record, event_id):
                    return record
            return None

        try:
            record = self.wait(f"waiting for {event_id or 'the message'} at the tenant's OpenClaw", self.timeout,
                               arrived)
        except ObserverError as exc:
            self.record("3", name, "fail", str(exc), started)
            return
        if record is None:
            self.record("3", name, "fail", f"no envelope for {event_id or self.binding.get('routeKey')} reached "
                        f"{origin(observer.url)} within {self.timeout:.0f} s (is the tenant's inbound URL right? "
                        "see `muxctl dlq list`)", started)
            return
        if not record.get("authorized", True):
            self.record("3", name, "fail", "the tenant's OpenClaw refused the mux's bearer (401): its "
                        "gateway.http.endpoints.mux.token is not the tenant key", started)
            return
        if int(record.get("status", 0)) // 100 != 2:
            self.record("3", name, "fail", f"the tenant's OpenClaw answered {record.get('status')} to "
                        f"{record.get('eventId')}: the mux will retry, then dead-letter it", started)
            return
        envelope = record.get("envelope") or {}
        problems = []
        if event_id is not None and envelope.get("body") != text:
            problems.append(f"body {envelope.get('body')!r} != {text!r}")
        if envelope.get("sessionKey") not in (self.binding.get("sessionKeys") or []):
            problems.append(f"sessionKey {envelope.get('sessionKey')!r} is not the binding's")
        for required in ("channel", "sessionKey", "to"):
            if not envelope.get(required):
                problems.append(f"envelope lacks {required}")
        if problems:
            self.record("3", name, "fail", "envelope arrived but " + "; ".join(problems), started)
            return
        self.inbound_latency = time.monotonic() - sent
        ms = self.inbound_latency * 1000
        self.record("3", name, "pass", f"{envelope.get('eventId')} delivered {ms:.0f} ms after the webhook "
                    f"(session {envelope.get('sessionKey')}, accountId {envelope.get('accountId')})", started)

    def check_unbind(self, observer: Observer | None) -> None:
        started = time.monotonic()
        name = "unbind: binding removed"
        if self.binding is None:
            self.record("4a", name, "skip", "needs a binding (pairing did not complete)", started)
            self.record("4b", "unbind: messages no longer forwarded", "skip", "needs a binding", started)
            return
        binding_id = self.binding["bindingId"]
        reply = self.client.request("POST", "/v1/pairings/unbind", auth="tenant", json_body={"bindingId": binding_id})
        if not reply.ok:
            self.record("4a", name, "fail", f"POST /v1/pairings/unbind: {reply.status} {reply.code}: {reply.error}",
                        started)
            return
        still = [b for b in self._bindings() if b.get("bindingId") == binding_id]
        if still:
            self.record("4a", name, "fail", f"{binding_id} is still listed by GET /v1/pairings", started)
            return
        self.record("4a", name, "pass", f"{binding_id} unbound and gone from GET /v1/pairings", started)
        self._check_not_forwarded(observer)

    def _check_not_forwarded(self, observer: Observer | None) -> None:
        started = time.monotonic()
        name = "unbind: messages no longer forwarded"
        if observer is None:
            self.record("4b", name, "skip", "not observed (pass --observe)", started)
            return
        if not self.simulate:
            self.say("Send another message in the chat now: it must NOT be forwarded.")
        try:
            baseline = len(observer.records())
            event_id = self._send_for_observation(f"muxctl check after unbind {secrets.token_hex(3)}")
            window = self.quiet_seconds
            leaked = self.wait(
                f"watching {window:.0f} s for a forward that must not happen", window,
                lambda: next((r for r in observer.records(baseline) if self._matches(r, event_id)), None),
            )
        except (ObserverError, CliError) as exc:
            self.record("4b", name, "fail", exc.message if isinstance(exc, CliError) else str(exc), started)
            return
        if leaked is not None:
            self.record("4b", name, "fail", f"{leaked.get('eventId')} was forwarded after unbind", started)
            return
        basis = f"; inbound took {self.inbound_latency * 1000:.0f} ms" if self.inbound_latency is not None else ""
        self.record("4b", name, "pass", f"not forwarded (waited {window:.1f} s{basis})", started)

    def entries(self) -> list[tuple[str | None, str | None]]:
        """The entry paths to check, each with the reason it is skipped (None: checked)."""
        if self.channel != "discord" or not self.simulate:
            return [(None, None)]
        return [
            ("interactions", None if self.discord_key is not None else
             "no --discord-signing-key (the private key of the mux's DISCORD_PUBLIC_KEY) to sign interactions"),
            ("gateway", None if self.relay_secret else
             "no --relay-secret (MUX_DISCORD_RELAY_SECRET) to sign gateway events"),
        ]

    def run(self) -> list[CheckResult]:
        observer = Observer(self.observe) if self.observe else None
        if self.check_tenant():
            self.check_outbound_auth()
            chosen_user = self.discord_user
            for entry, skipped in self.entries():
                self.entry, self.binding, self.inbound_latency = entry, None, None
                if skipped is not None:
                    for id_, name in (("1b", "outbound: message sent to the chat"),
                                      ("2", f"pairing: token redeemed in {self.channel}"),
                                      ("3", "inbound: message reaches the tenant's OpenClaw"),
                                      ("4a", "unbind: binding removed"),
                                      ("4b", "unbind: messages no longer forwarded")):
                        self.record(id_, name, "skip", skipped, time.monotonic())
                    continue
                if entry is not None:  # a fresh DM per path (the same user's when --user names one)
                    self.discord_user, self.discord_dm = chosen_user or discord_id(), discord_id()
                try:
                    self.check_pairing()
                    self.check_outbound_send()
                    self.check_inbound(observer)
                    self.check_unbind(observer)
                except CliError as exc:
                    self.record("!", "aborted", "fail", exc.message, time.monotonic())
            self.entry = None
        tags = [tag for tag, _ in DISCORD_ENTRIES.values()]

        def position(result: CheckResult) -> tuple[int, int]:
            base, _, tag = result.id.partition("/")
            return (ORDER.index(base) if base in ORDER else len(ORDER), tags.index(tag) + 1 if tag in tags else 0)

        self.results.sort(key=position)
        return self.results

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.status != "fail" for r in self.results)
