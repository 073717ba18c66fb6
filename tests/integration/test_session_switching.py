"""Session switching from the chat (`/bot_sessions`, `/bot_use`, `/bot_status`) on Telegram and WhatsApp: what a
chat is offered, the switch itself (inbound and outbound follow at once), the rule that a chat never gets another
chat's session, group admins, threads, and racing switches."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.models import QueuedEvent
from chalicelib.storage import bindings
from tests.fakes.graph_inbound import FakeGraph
from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import drain, group_update, post_update, private_update
from tests.whatsapp_support import (
    ACCESS_TOKEN,
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    WA_ID,
    fixture,
    message_of,
    post_signed,
    text_body,
)

HEADER = "Sessions this chat can use (/bot_use <number or name>):"
ADMINS_ONLY = "Only chat administrators can do that."


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def token(client: Any, key: str, channel: str = "telegram", **body: Any) -> str:
    resp = client.http.post("/v1/pairings/token", headers=auth(key), body=json.dumps({"channel": channel, **body}))
    assert resp.status_code == 200, resp.body
    return str(json.loads(resp.body)["token"])


def send(client: Any, key: str, channel: str, session_key: str, text: str = "answer") -> tuple[int, dict[str, Any]]:
    resp = client.http.post("/v1/mux/outbound/send", headers=auth(key),
                            body=json.dumps({"channel": channel, "sessionKey": session_key, "text": text}))
    return resp.status_code, json.loads(resp.body)


def sessions_listed(client: Any, key: str) -> dict[str, dict[str, Any]]:
    resp = client.http.get("/v1/mux/sessions", headers=auth(key))
    assert resp.status_code == 200, resp.body
    return {i["sessionKey"]: i for i in json.loads(resp.body)["items"] if i["source"] == "seen"}


def texts_to(tg: FakeTelegram, chat_id: int) -> list[str]:
    return [b["text"] for b in tg.bodies("sendMessage") if b["chat_id"] == chat_id]


def tg_say(client: Any, sqs_event: Any, tg: FakeTelegram, chat: int, text: str, **kw: Any) -> str:
    """Send `text` from a private chat (or a group with `group=True`) and answer the bot's last reply there."""
    update = group_update(chat, text, **kw) if kw.pop("group", False) else private_update(chat, text, **kw)
    assert post_update(client, update).status_code == 200
    drain(sqs_event)
    return texts_to(tg, chat)[-1]


@pytest.fixture
def acme(make_tenant: Any, tg: FakeTelegram) -> Iterator[tuple[str, FakeOpenClaw]]:
    with FakeOpenClaw() as openclaw:
        _, key = make_tenant("acme", inbound_url=openclaw.url, agents=["support", "sales"])
        yield key, openclaw


# --- Telegram ---------------------------------------------------------------------------------
def test_list_then_use_by_number_and_by_name_inbound_and_outbound_follow_at_once(
    client: Any, sqs_event: Any, tg: FakeTelegram, acme: tuple[str, FakeOpenClaw]
) -> None:
    key, openclaw = acme
    chat = 7501
    tg_say(client, sqs_event, tg, chat, f"/start {token(client, key)}")
    main, support, sales = (f"agent:{a}:telegram:direct:{chat}" for a in ("main", "support", "sales"))
    assert tg_say(client, sqs_event, tg, chat, "/bot_sessions") == (
        f"{HEADER}\n1. main: {main} (current)\n2. support: {support}\n3. sales: {sales}")

    assert tg_say(client, sqs_event, tg, chat, "/bot_use 2") == (
        f"This chat now uses {support}. Its messages go there from now on; {main} no longer reaches this chat.")
    assert tg_say(client, sqs_event, tg, chat, "/bot_status") == (
        f"Status: paired.\nSession: {support}\nRoute: telegram:default:chat:{chat}")
    tg_say(client, sqs_event, tg, chat, "hello after the switch")
    assert [(e["body"], e["sessionKey"]) for e in openclaw.received] == [("hello after the switch", support)]
    assert send(client, key, "telegram", support, "from support")[0] == 200
    assert texts_to(tg, chat)[-1] == "from support"
    code, body = send(client, key, "telegram", main)
    assert (code, body["code"]) == (403, "ROUTE_NOT_BOUND")
    listed = sessions_listed(client, key)
    assert list(listed) == [support] and listed[support]["routeKey"] == f"telegram:default:chat:{chat}"
    assert listed[support]["bindingId"].startswith("bind_") and listed[support]["agentId"] == "support"

    assert tg_say(client, sqs_event, tg, chat, "/bot_use sales").startswith(f"This chat now uses {sales}.")
    assert tg_say(client, sqs_event, tg, chat, f"!bot_use {main}").startswith(f"This chat now uses {main}.")
    assert tg_say(client, sqs_event, tg, chat, "/bot_use main") == f"This chat already uses {main}."
    for old in (support, sales):
        assert send(client, key, "telegram", old)[0] == 403
    assert send(client, key, "telegram", main)[0] == 200
    assert list(sessions_listed(client, key)) == [main]
    assert tg_say(client, sqs_event, tg, chat, "/bot_use 9").startswith(
        f"9 is not a session this chat can use.\n{HEADER}\n1. main: {main} (current)")
    assert tg_say(client, sqs_event, tg, chat, "/bot_use").startswith(f"Usage: /bot_use <number or name>\n{HEADER}")
    assert [e["body"] for e in openclaw.received] == ["hello after the switch"]  # commands never forwarded


def test_another_chats_session_is_never_offered_nor_usable(
    client: Any, sqs_event: Any, tg: FakeTelegram, acme: tuple[str, FakeOpenClaw]
) -> None:
    key, _ = acme
    a, b, c = 7601, 7602, 7603
    for chat in (a, b):
        tg_say(client, sqs_event, tg, chat, f"/start {token(client, key)}")
    b_main = f"agent:main:telegram:direct:{b}"
    listing = tg_say(client, sqs_event, tg, a, "/bot_sessions")
    assert str(b) not in listing and listing.count("\n") == 3
    assert tg_say(client, sqs_event, tg, a, f"/bot_use {b_main}").startswith(
        f"{b_main} is not a session this chat can use.")
    assert send(client, key, "telegram", b_main)[0] == 200 and texts_to(tg, b)[-1] == "answer"

    # Not even once that chat is gone: OpenClaw may still answer it, and it would take its key back on re-pairing.
    bid = next(i["bindingId"] for i in sessions_listed(client, key).values() if i["routeKey"].endswith(f":{b}"))
    unbound = client.http.post("/v1/pairings/unbind", headers=auth(key), body=json.dumps({"bindingId": bid}))
    assert unbound.status_code == 200
    assert tg_say(client, sqs_event, tg, a, f"/bot_use {b_main}").startswith(
        f"{b_main} is not a session this chat can use.")

    # The dashboard handed A's own support key to chat C (a token's verbatim sessionKey): while it routes to C,
    # A is not offered it and cannot take it.
    a_support = f"agent:support:telegram:direct:{a}"
    tg_say(client, sqs_event, tg, c, f"/start {token(client, key, sessionKey=a_support)}")
    listing = tg_say(client, sqs_event, tg, a, "/bot_sessions")
    assert a_support not in listing and f"agent:sales:telegram:direct:{a}" in listing
    assert tg_say(client, sqs_event, tg, a, "/bot_use support").startswith(
        "support is not a session this chat can use.")
    assert send(client, key, "telegram", a_support)[0] == 200 and texts_to(tg, c)[-1] == "answer"


def test_in_groups_only_administrators_switch(
    client: Any, sqs_event: Any, tg: FakeTelegram, acme: tuple[str, FakeOpenClaw]
) -> None:
    key, _ = acme
    group = -1007700
    tg_say(client, sqs_event, tg, group, f"/start {token(client, key)}", group=True)
    main, support = (f"agent:{a}:telegram:group:{group}" for a in ("main", "support"))
    tg.chat_member_status = "member"
    assert tg_say(client, sqs_event, tg, group, "/bot_sessions", group=True).startswith(
        f"{HEADER}\n1. main: {main} (current)\n2. support: {support}")  # anyone may look
    assert tg_say(client, sqs_event, tg, group, "/bot_use 2", group=True) == ADMINS_ONLY
    assert send(client, key, "telegram", main)[0] == 200 and send(client, key, "telegram", support)[0] == 403
    tg.chat_member_status = "administrator"
    assert tg_say(client, sqs_event, tg, group, "/bot_use 2", group=True).startswith(f"This chat now uses {support}.")
    assert send(client, key, "telegram", support)[0] == 200 and send(client, key, "telegram", main)[0] == 403


def test_threads_follow_their_chat_and_a_dashboard_set_session_switches_from_the_chat_only(
    client: Any, sqs_event: Any, tg: FakeTelegram, acme: tuple[str, FakeOpenClaw]
) -> None:
    key, openclaw = acme
    chat = 7701
    tg_say(client, sqs_event, tg, chat, f"/start {token(client, key)}")
    tg_say(client, sqs_event, tg, chat, "in thread 5", thread=5)
    old_thread = f"agent:main:telegram:direct:{chat}:thread:5"
    assert openclaw.received[-1]["sessionKey"] == old_thread and send(client, key, "telegram", old_thread)[0] == 200
    # Sent inside the thread, the switch is the chat's (one binding): the thread's session follows.
    assert tg_say(client, sqs_event, tg, chat, "/bot_use support", thread=5).startswith(
        f"This chat now uses agent:support:telegram:direct:{chat}.")
    assert send(client, key, "telegram", old_thread)[0] == 403
    tg_say(client, sqs_event, tg, chat, "again in thread 5", thread=5)
    new_thread = f"agent:support:telegram:direct:{chat}:thread:5"
    assert openclaw.received[-1]["sessionKey"] == new_thread
    assert send(client, key, "telegram", new_thread)[0] == 200
    assert tg.bodies("sendMessage")[-1].get("message_thread_id") == 5

    # A session the dashboard set verbatim says nothing of the chat: the chat's own keys come from a message on
    # the bound route (a private chat's threads are on it) …
    other = 7702
    custom = "agent:support:help-desk"
    tg_say(client, sqs_event, tg, other, f"/start {token(client, key, sessionKey=custom)}")
    assert tg_say(client, sqs_event, tg, other, "/bot_sessions") == (
        f"{HEADER}\n1. {custom} (current)\n2. main: agent:main:telegram:direct:{other}\n"
        f"3. support: agent:support:telegram:direct:{other}\n4. sales: agent:sales:telegram:direct:{other}")
    assert tg_say(client, sqs_event, tg, other, "/bot_use 2", thread=3).startswith(
        f"This chat now uses agent:main:telegram:direct:{other}.")
    assert send(client, key, "telegram", custom)[0] == 403
    # … not from a forum topic under a chat-level binding (the topic is a route of its own).
    group = -1007703
    tg_say(client, sqs_event, tg, group, f"/start {token(client, key, sessionKey=custom)}", group=True)
    assert tg_say(client, sqs_event, tg, group, "/bot_use 2", group=True, topic=4).startswith(
        "This chat's session was set by your dashboard: send this in the chat itself")
    assert send(client, key, "telegram", custom)[0] == 200
    assert tg_say(client, sqs_event, tg, group, "/bot_use 2", group=True).startswith(
        f"This chat now uses agent:main:telegram:group:{group}.")


def _event(update: dict[str, Any]) -> QueuedEvent:
    chat = update["message"]["chat"]["id"]
    return QueuedEvent(eventId=f"tg:{update['update_id']}", channel="telegram",
                       routeKey=f"telegram:default:chat:{chat}", receivedAtMs=0, payload=update)


def _race(monkeypatch: pytest.MonkeyPatch, calls: list[Callable[[], Any]]) -> list[Any]:
    """Run `calls` at once with every switch held until all have read what they need, then committed one at a
    time (moto in-process does not serialise transactions as DynamoDB does)."""
    both_read = threading.Barrier(len(calls))
    commit = threading.Lock()
    original = bindings.table.transact

    def racing(ops: list[dict[str, Any]]) -> None:
        both_read.wait(5)
        with commit:
            original(ops)

    monkeypatch.setattr(bindings.table, "transact", racing)
    outcomes: list[Any] = []

    def run(call: Callable[[], Any]) -> None:
        try:
            outcomes.append(call())
        except bindings.SwitchRefusedError as exc:
            outcomes.append(exc.reason)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    monkeypatch.setattr(bindings.table, "transact", original)
    return outcomes


def test_two_chats_switching_to_one_free_session_at_once_exactly_one_wins(
    client: Any, sqs_event: Any, tg: FakeTelegram, acme: tuple[str, FakeOpenClaw], monkeypatch: pytest.MonkeyPatch
) -> None:
    key, _ = acme
    for chat in (7801, 7802):
        tg_say(client, sqs_event, tg, chat, f"/start {token(client, key)}")
    one, two = (bindings.get_route(f"telegram:default:chat:{c}") for c in (7801, 7802))
    assert one is not None and two is not None
    shared = "agent:support:shared"  # storage allows any key; the service only offers a chat its own
    outcomes = _race(monkeypatch, [lambda b=b: bindings.switch_session(b, shared, "support", 1) for b in (one, two)])
    assert sorted(o if isinstance(o, str) else "won" for o in outcomes) == ["in_use", "won"]
    winner = next(o for o in outcomes if not isinstance(o, str))
    loser = two if winner.binding_id == one.binding_id else one
    route = bindings.session_route("acme", "telegram", shared)
    assert route is not None and route["bindingId"] == winner.binding_id
    # The loser changed nothing: its route lock and session route are as they were.
    kept = bindings.get_route(loser.route_key)
    assert kept is not None and kept.session_key == loser.session_key
    assert send(client, key, "telegram", loser.session_key)[0] == 200
    assert send(client, key, "telegram", shared)[0] == 200 and tg.bodies("sendMessage")[-1]["chat_id"] == int(
        winner.chat_id)


def test_two_switches_of_one_chat_at_once_exactly_one_wins(
    client: Any, sqs_event: Any, tg: FakeTelegram, acme: tuple[str, FakeOpenClaw], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.services import inbound

    key, _ = acme
    chat = 7901
    tg_say(client, sqs_event, tg, chat, f"/start {token(client, key)}")
    events = [_event(private_update(chat, f"/bot_use {n}")) for n in ("support", "sales")]
    outcomes = _race(monkeypatch, [lambda e=e: inbound.process(e, 1) for e in events])
    assert sorted(outcomes) == ["cmd_use_refused", "cmd_use_switched"]
    assert texts_to(tg, chat)[-2:].count(
        "This chat's pairing changed meanwhile; nothing was switched. Send /bot_sessions to see it now.") == 1
    now = bindings.get_route(f"telegram:default:chat:{chat}")
    assert now is not None and now.session_key in {f"agent:{a}:telegram:direct:{chat}" for a in ("support", "sales")}
    live = [a for a in ("main", "support", "sales") if send(client, key, "telegram",
                                                             f"agent:{a}:telegram:direct:{chat}")[0] == 200]
    assert live == [now.agent_id]


# --- WhatsApp ---------------------------------------------------------------------------------
@pytest.fixture
def graph(configure: Callable[..., None]) -> Iterator[FakeGraph]:
    with FakeGraph(ACCESS_TOKEN) as fake:
        configure(
            WHATSAPP_ACCESS_TOKEN=ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
            WHATSAPP_APP_SECRET=APP_SECRET, WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN, MUX_WHATSAPP_API_BASE_URL=fake.url,
        )
        yield fake


def wa_say(client: Any, sqs_event: Any, graph: FakeGraph, text: str, to: str, name: str = "text.json") -> str:
    assert post_signed(client, text_body(text, name=name)).status_code == 200
    drain(sqs_event)
    return graph.texts_to(to)[-1]


def test_whatsapp_list_use_inbound_outbound_and_groups_refused(
    client: Any, sqs_event: Any, graph: FakeGraph, make_tenant: Any
) -> None:
    with FakeOpenClaw() as openclaw:
        _, key = make_tenant("acme", inbound_url=openclaw.url, agents=["support"])
        me = f"+{WA_ID}"
        wa_say(client, sqs_event, graph, token(client, key, "whatsapp"), me)
        main, support = (f"agent:{a}:whatsapp:direct:{me}" for a in ("main", "support"))
        assert wa_say(client, sqs_event, graph, "/bot_sessions", me) == (
            f"{HEADER}\n1. main: {main} (current)\n2. support: {support}")
        assert wa_say(client, sqs_event, graph, "/bot_use 2", me).startswith(f"This chat now uses {support}.")
        wa_say(client, sqs_event, graph, "hi there", me)
        assert [(e["body"], e["sessionKey"]) for e in openclaw.received] == [("hi there", support)]
        assert send(client, key, "whatsapp", support, "from support")[0] == 200
        assert graph.texts_to(me)[-1] == "from support"
        code, body = send(client, key, "whatsapp", main)
        assert (code, body["code"]) == (403, "ROUTE_NOT_BOUND")
        assert wa_say(client, sqs_event, graph, "/bot_use main", me).startswith(f"This chat now uses {main}.")
        assert send(client, key, "whatsapp", support)[0] == 403

        # The Cloud API does not say who administers a group: a switch there is refused (use the dashboard).
        gid = message_of(fixture("group_text.json"))["group_id"]
        wa_say(client, sqs_event, graph, token(client, key, "whatsapp"), gid, name="group_text.json")
        assert wa_say(client, sqs_event, graph, "/bot_use support", gid, name="group_text.json") == ADMINS_ONLY
        assert send(client, key, "whatsapp", f"agent:main:whatsapp:group:{gid}")[0] == 200
