"""What a dashboard shows over HTTP: display fields on bindings (captured at claim, refreshed on activity), the
channel filter, the token's SVG QR code, the sessions list and the agents a tenant declares at bootstrap."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import drain, group_update, post_update, private_update

SVG_NS = "{http://www.w3.org/2000/svg}"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def token_answer(client: Any, key: str, query: str = "", **body: Any) -> tuple[int, dict[str, Any]]:
    resp = client.http.post(
        f"/v1/pairings/token{query}", headers=auth(key), body=json.dumps({"channel": "telegram", **body})
    )
    return resp.status_code, json.loads(resp.body)


def new_token(client: Any, key: str, **body: Any) -> dict[str, Any]:
    code, data = token_answer(client, key, **body)
    assert code == 200, data
    return data


def pairings(client: Any, key: str, query: str = "") -> dict[str, Any]:
    resp = client.http.get(f"/v1/pairings{query}", headers=auth(key))
    assert resp.status_code == 200, resp.body
    data: dict[str, Any] = json.loads(resp.body)
    return data


def test_bindings_carry_display_fields_refreshed_on_activity(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw
) -> None:
    _, key = make_tenant("acme", inbound_url=openclaw.url)
    private = new_token(client, key)
    post_update(client, private_update(5123456789, private["startCommand"]))
    group = new_token(client, key)
    post_update(client, group_update(-4987654321, group["startCommand"]))
    drain(sqs_event)
    items = {i["routeKey"]: i for i in pairings(client, key)["items"]}
    fields = ("displayName", "chatTitle", "chatType", "topicName", "userName", "userHandle")
    assert {k: items["telegram:default:chat:5123456789"][k] for k in fields} == {
        "displayName": "Alice Ng", "chatTitle": None, "chatType": "private", "topicName": None,
        "userName": "Alice Ng", "userHandle": "alice_ng",
    }
    assert {k: items["telegram:default:chat:-4987654321"][k] for k in fields} == {
        "displayName": "Family Chat", "chatTitle": "Family Chat", "chatType": "group", "topicName": None,
        "userName": "Bob", "userHandle": "bobk",  # the user who paired the group
    }

    # The group was renamed; the next forwarded message (first activity since the claim) refreshes the
    # title, and someone else speaking does not make them the group's "user".
    renamed = group_update(-4987654321, "hello", user_id=6999)
    renamed["message"]["chat"]["title"] = "Family Chat 2026"
    renamed["message"]["from"] = {"id": 6999, "is_bot": False, "first_name": "Carol"}
    post_update(client, renamed)
    drain(sqs_event)
    assert openclaw.bodies() == ["hello"]
    item = {i["routeKey"]: i for i in pairings(client, key)["items"]}["telegram:default:chat:-4987654321"]
    assert (item["displayName"], item["chatTitle"], item["userName"]) == ("Family Chat 2026", "Family Chat 2026", "Bob")
    assert item["lastSeenAtMs"] is not None


def test_pairings_filter_by_channel_with_pagination(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram
) -> None:
    _, key = make_tenant("acme")
    for chat in (7301, 7302, 7303):  # one at a time: newest first is by claim time
        post_update(client, private_update(chat, new_token(client, key)["startCommand"]))
        drain(sqs_event)
    first = pairings(client, key, "?channel=telegram&limit=2")
    assert [i["routeKey"][-4:] for i in first["items"]] == ["7303", "7302"] and first["nextCursor"]
    second = pairings(client, key, f"?channel=telegram&limit=2&cursor={first['nextCursor']}")
    assert [i["routeKey"][-4:] for i in second["items"]] == ["7301"]
    assert pairings(client, key, "?channel=discord")["items"] == []
    resp = client.http.get("/v1/pairings?channel=sms", headers=auth(key))
    assert resp.status_code == 400 and json.loads(resp.body)["details"]["fields"] == ["channel"]


def test_token_answer_includes_an_svg_qr_code_of_the_deep_link_on_request(
    client: Any, make_tenant: Any, tg: FakeTelegram, configure: Any
) -> None:
    _, key = make_tenant("acme")
    assert new_token(client, key)["qrSvg"] is None
    code, token = token_answer(client, key, "?qr=svg")
    assert code == 200
    svg = token["qrSvg"]
    assert svg.startswith("<svg")
    root = ET.fromstring(svg)  # well-formed, standalone SVG
    assert root.tag == f"{SVG_NS}svg"
    assert int(root.attrib["width"]) >= 100 and root.find(f"{SVG_NS}path") is not None
    code, body = token_answer(client, key, "?qr=png")
    assert code == 400 and body["details"]["fields"] == ["qr"]
    configure(MUX_TELEGRAM_BOT_USERNAME=None)  # no deep link, nothing to encode
    code, token = token_answer(client, key, "?qr=svg")
    assert code == 200 and token["deepLink"] is None and token["qrSvg"] is None


def test_qr_library_is_not_imported_at_cold_start() -> None:
    code = "import sys, app; assert 'segno' not in sys.modules, 'segno imported by app'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(Path(__file__).resolve().parents[2]))


def test_bootstrap_agents_are_stored_kept_and_cleared(client: Any, make_tenant: Any, admin_headers: Any) -> None:
    def bootstrap(**extra: Any) -> Any:
        body = {"tenantId": "acme", "apiKey": "k" * 32, "inboundUrl": "http://127.0.0.1:9/v1/mux/inbound", **extra}
        return client.http.post("/v1/admin/tenants/bootstrap", headers=admin_headers, body=json.dumps(body))

    resp = bootstrap(agents=["main", "support", "support"])
    assert resp.status_code == 200 and json.loads(resp.body)["agents"] == ["main", "support"]
    assert json.loads(bootstrap().body)["agents"] == ["main", "support"]  # omitted: kept
    got = client.http.get("/v1/admin/tenants/acme", headers=admin_headers)
    assert json.loads(got.body)["agents"] == ["main", "support"]
    assert json.loads(bootstrap(agents=[]).body)["agents"] == []
    for bad in (["has space"], "main", ["x" * 65], ["a"] * 51):
        resp = bootstrap(agents=bad)
        assert resp.status_code == 400 and json.loads(resp.body)["code"] == "INVALID_REQUEST", bad


def test_sessions_list_seen_and_declared_and_tokens_are_validated_against_it(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram
) -> None:
    _, key = make_tenant("acme")
    post_update(client, private_update(7401, new_token(client, key)["startCommand"]))
    drain(sqs_event)
    seen_key = "agent:main:telegram:direct:7401"
    # No agents declared: any session key or agent id is accepted (as before).
    assert token_answer(client, key, sessionKey="agent:anything:x")[0] == 200

    make_tenant("acme", api_key=key, agents=["support", "sales"])
    resp = client.http.get("/v1/mux/sessions", headers=auth(key))
    assert resp.status_code == 200
    items = json.loads(resp.body)["items"]
    bid = pairings(client, key)["items"][0]["bindingId"]
    assert items == [
        {"sessionKey": seen_key, "channel": "telegram", "routeKey": "telegram:default:chat:7401",
         "lastSeenAtMs": None, "agentId": "main", "source": "seen", "bindingId": bid},
        {"sessionKey": "agent:support:main", "channel": None, "routeKey": None, "lastSeenAtMs": None,
         "agentId": "support", "source": "declared", "bindingId": None},
        {"sessionKey": "agent:sales:main", "channel": None, "routeKey": None, "lastSeenAtMs": None,
         "agentId": "sales", "source": "declared", "bindingId": None},
    ]

    code, body = token_answer(client, key, agentId="billing")
    assert code == 400 and body["code"] == "UNKNOWN_AGENT" and body["details"]["fields"] == ["agentId"]
    code, body = token_answer(client, key, sessionKey="agent:billing:telegram:direct:1")
    assert code == 400 and body["code"] == "UNKNOWN_SESSION" and body["details"]["fields"] == ["sessionKey"]
    assert token_answer(client, key, sessionKey=seen_key)[0] == 200  # a session the mux has seen
    assert token_answer(client, key, sessionKey="agent:sales:main")[0] == 200  # a declared agent's

    # A token carrying a declared agent pairs the chat into that agent's sessions.
    post_update(client, private_update(7402, new_token(client, key, agentId="support")["startCommand"]))
    drain(sqs_event)
    listed = json.loads(client.http.get("/v1/mux/sessions", headers=auth(key)).body)["items"]
    sessions = {i["sessionKey"]: i for i in listed}
    assert sessions["agent:support:telegram:direct:7402"]["source"] == "seen"
    assert sessions["agent:support:telegram:direct:7402"]["agentId"] == "support"
