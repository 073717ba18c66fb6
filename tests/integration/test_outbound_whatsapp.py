"""POST /v1/mux/outbound/send and typing for WhatsApp against the fake Graph API on loopback (moto for AWS).

Every test asserts what the fake Cloud API received (or that it received nothing) and the mux's answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.channels.whatsapp.outbound import inbound_items
from chalicelib.storage import messages, table
from tests.fakes.whatsapp_binding import bind_whatsapp, whatsapp_route_key, whatsapp_session_key
from tests.fakes.whatsapp_server import ACCESS_TOKEN, PHONE_NUMBER_ID, FakeWhatsApp, load

WA_ID = "447700900123"
BSUID = "US.58203317440219867531"
GROUP = "Y2FwaV9ncm91cDoxNTU1MTIzMDA0MjoxMjAzNjM0MDk5ODg3NzY2NTUZD"
OTHER_NUMBER = "318700000000002"
KEY_1 = "tenant-one-key-0123456789abcdef"
KEY_2 = "tenant-two-key-0123456789abcdef"
SEND = "/v1/mux/outbound/send"
TYPING = "/v1/mux/outbound/typing"


@pytest.fixture
def wa(configure: Any) -> Iterator[FakeWhatsApp]:
    with FakeWhatsApp() as fake:
        configure(**fake.env())
        yield fake


@pytest.fixture
def tenants(make_tenant: Any, wa: FakeWhatsApp) -> None:
    make_tenant("t1", "http://127.0.0.1:9/v1/mux/inbound", KEY_1)
    make_tenant("t2", "http://127.0.0.1:9/v1/mux/inbound", KEY_2)


def post(client: Any, body: dict[str, Any], *, key: str = KEY_1, path: str = SEND,
         idem: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    if idem:
        headers["Idempotency-Key"] = idem
    resp = client.http.post(path, headers=headers, body=json.dumps(body))
    return resp.status_code, json.loads(resp.body)


def send(session_key: str, **fields: Any) -> dict[str, Any]:
    return {"channel": "whatsapp", "sessionKey": session_key, **fields}


def remember_inbound(route: str, wamid: str, tenant_id: str = "t1") -> None:
    """What the inbound pipeline writes when it forwards `wamid` from `route`."""
    table.batch_put(inbound_items(route, wamid, tenant_id, int(time.time() * 1000)))


# --- text -----------------------------------------------------------------------------------------
def test_text_goes_to_the_bound_number_and_user_as_meta_expects(client: Any, tenants: None, wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", WA_ID)
    status, answer = post(client, send(whatsapp_session_key(WA_ID), text="Here is a short summary", to="+10000000"))
    assert status == 200, answer
    calls = wa.calls()
    assert len(calls) == 1
    assert calls[0].phone_number_id == PHONE_NUMBER_ID and calls[0].token == ACCESS_TOKEN
    expected = load("send_text_request.json")
    expected["text"]["body"] = "Here is a short summary"
    assert calls[0].body == expected
    wamid = calls[0].answer["messages"][0]["id"]
    assert answer == {"ok": True, "messageId": wamid, "providerMessageIds": [wamid], "toJid": WA_ID}


def test_long_text_is_split_at_4096_and_each_part_is_accepted(client: Any, tenants: None, wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", WA_ID)
    text = "x" * 3000 + "\n" + "y" * 3000 + "\n" + "z" * 4096 + " end"
    status, answer = post(client, send(whatsapp_session_key(WA_ID), text=text))
    assert status == 200, answer
    bodies = [b["text"]["body"] for b in wa.sent()]
    assert all(len(b) <= 4096 for b in bodies)
    assert bodies == ["x" * 3000, "y" * 3000, "z" * 4096, " end"]
    assert len(answer["providerMessageIds"]) == 4 and answer["messageId"] == answer["providerMessageIds"][0]


def test_text_over_the_part_cap_is_refused_before_anything_is_sent(client: Any, tenants: None,
                                                                     wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", WA_ID)
    status, answer = post(client, send(whatsapp_session_key(WA_ID), text="y" * (4096 * 20 + 1)))
    assert (status, answer["code"]) == (400, "TEXT_TOO_LONG")
    assert wa.calls() == []


# --- media ----------------------------------------------------------------------------------------
def test_media_by_link_first_carries_the_caption(client: Any, tenants: None, wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", WA_ID)
    urls = ["https://assets.example.com/charts/q2-revenue.png", "https://assets.example.com/r/Q2%20report.pdf",
            "https://assets.example.com/a/clip.mp4", "https://assets.example.com/a/note.ogg"]
    status, answer = post(client, send(whatsapp_session_key(WA_ID), text="Q2 revenue by region",
                                       mediaUrl=urls[0], mediaUrls=urls[1:]))
    assert status == 200, answer
    sent = wa.sent()
    assert sent[0] == load("send_image_request.json")
    assert sent[1]["document"] == {"link": urls[1], "filename": "Q2 report.pdf"}
    assert sent[2]["video"] == {"link": urls[2]} and sent[3]["audio"] == {"link": urls[3]}
    assert len(sent) == 4 and len(answer["providerMessageIds"]) == 4


def test_audio_takes_no_caption_so_the_text_follows(client: Any, tenants: None, wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", WA_ID)
    raw = {"whatsapp": {"send": {"mediaUrl": "https://x.example/v.mp3", "text": "listen"}}}
    status, _ = post(client, send(whatsapp_session_key(WA_ID), text="ignored", raw=raw))
    assert status == 200
    sent = wa.sent()
    assert [b["type"] for b in sent] == ["audio", "text"] and "caption" not in sent[0]["audio"]
    assert sent[1]["text"]["body"] == "listen"


def test_raw_whatsapp_send_wins_over_the_top_level_fields(client: Any, tenants: None, wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", WA_ID)
    raw = {"whatsapp": {"send": {"text": "raw text", "mediaUrls": ["https://x.example/a.jpg"]}}}
    status, _ = post(client, send(whatsapp_session_key(WA_ID), text="top text",
                                  mediaUrl="https://x.example/top.png", raw=raw))
    assert status == 200
    assert wa.sent() == [{"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+" + WA_ID,
                          "type": "image", "image": {"link": "https://x.example/a.jpg", "caption": "raw text"}}]


def test_a_media_link_that_is_not_http_is_refused(client: Any, tenants: None, wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", WA_ID)
    status, answer = post(client, send(whatsapp_session_key(WA_ID), mediaUrl="file:///etc/passwd"))
    assert (status, answer["code"]) == (400, "INVALID_REQUEST")
    assert wa.calls() == []


# --- reply context --------------------------------------------------------------------------------
def test_reply_to_a_forwarded_message_carries_context(client: Any, tenants: None, wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", WA_ID)
    inbound = "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhggQzVGNDEyQTk3RTQ5OEIwQzFEMkQ0AA=="
    remember_inbound(whatsapp_route_key(WA_ID), inbound)
    status, _ = post(client, send(whatsapp_session_key(WA_ID), text="a\n" + "b" * 4095, replyToId=inbound))
    assert status == 200
    sent = wa.sent()
    assert sent[0]["context"] == {"message_id": inbound} and "context" not in sent[1]


def test_reply_to_another_chats_message_goes_out_without_context(client: Any, tenants: None,
                                                                  wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", WA_ID)
    bind_whatsapp("t2", "14155550142")
    foreign = "wamid.OTHERCHAT"
    remember_inbound(whatsapp_route_key("14155550142"), foreign, "t2")
    status, _ = post(client, send(whatsapp_session_key(WA_ID), text="hi", replyToId=foreign))
    assert status == 200
    assert "context" not in wa.sent()[0]


def test_a_sent_message_can_be_replied_to_later(client: Any, tenants: None, wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", WA_ID)
    _, first = post(client, send(whatsapp_session_key(WA_ID), text="one"))
    post(client, send(whatsapp_session_key(WA_ID), text="two", replyToId=first["messageId"]))
    assert wa.sent()[1]["context"] == {"message_id": first["messageId"]}


# --- recipients -----------------------------------------------------------------------------------
def test_bsuid_only_user_is_addressed_by_recipient(client: Any, tenants: None, wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", BSUID)
    text = "Yes - I'm the assistant. How can I help?"
    status, answer = post(client, send(whatsapp_session_key(BSUID), text=text))
    assert status == 200, answer
    expected = load("send_text_request_bsuid.json")
    assert wa.sent() == [{**expected, "text": {"preview_url": False, "body": text}}]
    assert answer["toJid"] == BSUID and answer["messageId"].startswith("wamid.")


def test_group_send_addresses_the_group(client: Any, tenants: None, wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", GROUP, group=True)
    text = "Booked: Room 4B, 15:00-16:00."
    status, answer = post(client, send(whatsapp_session_key(GROUP, group=True), text=text))
    assert status == 200, answer
    expected = load("send_group_text_request.json")
    assert wa.sent() == [{**expected, "text": {"preview_url": False, "body": text}}]
    assert answer["toJid"] == GROUP


def test_replies_leave_from_the_number_the_route_names(client: Any, tenants: None, wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", WA_ID, phone_number_id=OTHER_NUMBER, session_key="agent:main:whatsapp:direct:+1-other")
    bind_whatsapp("t1", "14155550142")
    post(client, send("agent:main:whatsapp:direct:+1-other", text="from the second number"))
    post(client, send(whatsapp_session_key("14155550142"), text="from the first"))
    assert [c.phone_number_id for c in wa.calls()] == [OTHER_NUMBER, PHONE_NUMBER_ID]


# --- templates ------------------------------------------------------------------------------------
def test_template_reopens_a_closed_window(client: Any, tenants: None, wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", WA_ID)
    wa.closed_windows.add(WA_ID)
    status, answer = post(client, send(whatsapp_session_key(WA_ID), text="hello again"))
    assert (status, answer["code"]) == (502, "WINDOW_CLOSED")
    assert "template" in answer["error"] and answer["details"]["code"] == 131047
    template = {"name": "follow_up", "language": "en_GB",
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "Dana"}]}]}
    status, answer = post(client, send(whatsapp_session_key(WA_ID), raw={"whatsapp": {"template": template}}))
    assert status == 200, answer
    assert wa.sent() == [{"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+" + WA_ID,
                          "type": "template", "template": {**template, "language": {"code": "en_GB"}}}]


def test_template_with_text_or_without_name_is_refused(client: Any, tenants: None, wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", WA_ID)
    for raw in ({"template": {"name": "x"}, "send": {"text": "hi"}}, {"template": {"language": "en"}}):
        status, answer = post(client, send(whatsapp_session_key(WA_ID), raw={"whatsapp": raw}))
        assert (status, answer["code"]) == (400, "INVALID_REQUEST"), raw
    assert wa.calls() == []


# --- typing ---------------------------------------------------------------------------------------
def test_typing_marks_the_newest_forwarded_message_read_with_the_indicator(client: Any, tenants: None,
                                                                            wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", WA_ID)
    route = whatsapp_route_key(WA_ID)
    remember_inbound(route, "wamid.OLDER")
    newest = load("typing_request.json")["message_id"]
    remember_inbound(route, newest)
    status, answer = post(client, {"channel": "whatsapp", "sessionKey": whatsapp_session_key(WA_ID)}, path=TYPING)
    assert (status, answer) == (200, {"ok": True})
    status, _ = post(client, send(whatsapp_session_key(WA_ID), op="action", action="typing"))
    assert status == 200
    assert wa.sent() == [load("typing_request.json")] * 2
    assert wa.calls()[0].answer == load("typing_ok.json")


def test_typing_with_nothing_forwarded_calls_nothing(client: Any, tenants: None, wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", WA_ID)
    remember_inbound(whatsapp_route_key(WA_ID), "wamid.OF-ANOTHER-TENANT", "t2")
    status, answer = post(client, {"channel": "whatsapp", "sessionKey": whatsapp_session_key(WA_ID)}, path=TYPING)
    assert (status, answer) == (200, {"ok": True})
    assert wa.calls() == []


# --- error mapping --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fixture", "status", "code", "retry_ms"),
    [
        ("error_130429.json", 429, "PROVIDER_RATE_LIMITED", 1000),
        ("error_131056.json", 400, "PROVIDER_RATE_LIMITED", 6000),
        ("error_190_token.json", 401, "PROVIDER_AUTH", None),
        ("error.json", 400, "WINDOW_CLOSED", None),
    ],
)
def test_graph_errors_are_mapped(client: Any, tenants: None, wa: FakeWhatsApp, fixture: str, status: int,
                                 code: str, retry_ms: int | None) -> None:
    bind_whatsapp("t1", WA_ID)
    wa.fail(load(fixture), status=status)
    got, answer = post(client, send(whatsapp_session_key(WA_ID), text="hi"))
    assert (got, answer["code"]) == (502, code), answer
    assert answer.get("retryAfterMs") == retry_ms
    assert answer["details"]["code"] == load(fixture)["error"]["code"]
    assert ACCESS_TOKEN not in json.dumps(answer)


def test_unanswered_send_is_outcome_unknown_and_replayed(client: Any, tenants: None, wa: FakeWhatsApp,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.channels.whatsapp import outbound as wa_outbound

    monkeypatch.setattr(wa_outbound, "CALL_TIMEOUT_SEC", 0.3)
    bind_whatsapp("t1", WA_ID)
    wa.hang(2.0)
    status, answer = post(client, send(whatsapp_session_key(WA_ID), text="hi"), idem="k-1")
    assert (status, answer["code"]) == (502, "PROVIDER_OUTCOME_UNKNOWN")
    again, replay = post(client, send(whatsapp_session_key(WA_ID), text="hi"), idem="k-1")
    assert (again, replay) == (status, answer)
    assert len(wa.calls()) == 1


# --- route lock -----------------------------------------------------------------------------------
def test_a_tenant_cannot_send_to_a_route_bound_to_another(client: Any, tenants: None, wa: FakeWhatsApp) -> None:
    bind_whatsapp("t2", WA_ID)
    status, answer = post(client, send(whatsapp_session_key(WA_ID), text="hi", to="+" + WA_ID))
    assert (status, answer["code"]) == (403, "ROUTE_NOT_BOUND")
    status, answer = post(client, {"channel": "whatsapp", "sessionKey": whatsapp_session_key(WA_ID)}, path=TYPING)
    assert (status, answer["code"]) == (403, "ROUTE_NOT_BOUND")
    assert wa.calls() == []


def test_sent_messages_are_recorded_for_the_route(client: Any, tenants: None, wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", WA_ID)
    _, answer = post(client, send(whatsapp_session_key(WA_ID), text="hi"))
    now = int(time.time() * 1000)
    assert messages.owns(whatsapp_route_key(WA_ID), answer["messageId"], "t1", now)
    assert not messages.owns(whatsapp_route_key(WA_ID), answer["messageId"], "t2", now)


def test_whatsapp_disabled_is_channel_disabled(client: Any, make_tenant: Any, configure: Any) -> None:
    make_tenant("t1", "http://127.0.0.1:9/v1/mux/inbound", KEY_1)
    status, answer = post(client, send(whatsapp_session_key(WA_ID), text="hi"))
    assert (status, answer["code"]) == (400, "CHANNEL_DISABLED")


def test_the_latest_inbound_pointer_is_not_a_message_to_reply_to(client: Any, tenants: None,
                                                                 wa: FakeWhatsApp) -> None:
    bind_whatsapp("t1", WA_ID)
    remember_inbound(whatsapp_route_key(WA_ID), "wamid.REAL")
    post(client, send(whatsapp_session_key(WA_ID), text="hi", replyToId=messages.LATEST_INBOUND_REF))
    assert "context" not in wa.sent()[0]
