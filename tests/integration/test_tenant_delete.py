"""DELETE /v1/admin/tenants/{id}: everything naming the tenant goes, and its queued messages are dead-lettered
("tenant deleted") by the worker, never forwarded elsewhere — even after the route is bound to another tenant."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3

from chalicelib.models import QueuedEvent
from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import dlq_messages, drain, group_update, post_update, private_update


def new_token(client: Any, key: str) -> dict[str, Any]:
    response = client.http.post(
        "/v1/pairings/token", headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        body=json.dumps({"channel": "telegram"}),
    )
    assert response.status_code == 200, response.body
    return dict(response.json_body)


def claim_now(update: dict[str, Any], route_key: str) -> str:
    """Run the worker's pipeline on one update at once (as a later invocation would), bypassing the queue."""
    from chalicelib.services import inbound

    event = QueuedEvent(eventId=f"tg:{update['update_id']}", channel="telegram", routeKey=route_key,
                        receivedAtMs=int(time.time() * 1000), payload=update)
    return inbound.process(event, 1)


def table_items(table_name: str) -> list[dict[str, Any]]:
    return list(boto3.client("dynamodb").scan(TableName=table_name)["Items"])


def bearers(openclaw: FakeOpenClaw) -> list[str]:
    return [h.get("authorization", h.get("Authorization", "")) for h in openclaw.headers]


def test_delete_removes_everything_and_dead_letters_queued_messages(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw,
    admin_headers: dict[str, str], aws_env: Any,
) -> None:
    _, key_a = make_tenant("gone", inbound_url=openclaw.url)
    post_update(client, private_update(501, new_token(client, key_a)["startCommand"]))
    post_update(client, private_update(501, "delivered to gone"))
    drain(sqs_event)
    assert openclaw.bodies() == ["delivered to gone"]
    new_token(client, key_a)  # left unclaimed
    post_update(client, private_update(501, "queued before the delete"))  # not drained yet

    response = client.http.delete("/v1/admin/tenants/gone", headers=admin_headers)
    assert response.status_code == 200, response.body
    # Tokens: the unclaimed one and the claimed one (kept after a claim so a crashed claim's retry succeeds).
    assert response.json_body["deleted"] == {"bindings": 1, "sessions": 1, "pairingTokens": 2}
    # Left to their TTL: dedupe records (a redelivered update must stay a duplicate), the deletion markers and
    # message records (48 h; they name the deleted tenant, so no later tenant of the chat may act on those messages).
    kept = {"routegone", "event", "message"}
    leftovers = [i for i in table_items(aws_env.table_name)
                 if i.get("tenantId", {}).get("S") == "gone" and i.get("type", {}).get("S") not in kept]
    assert leftovers == []
    assert client.http.get("/v1/pairings", headers={"Authorization": f"Bearer {key_a}"}).status_code == 401
    again = client.http.delete("/v1/admin/tenants/gone", headers=admin_headers)
    assert again.status_code == 404 and again.json_body["code"] == "TENANT_NOT_FOUND"

    # Another tenant binds the same chat before the queued message comes up.
    _, key_b = make_tenant("heir", inbound_url=openclaw.url)
    start_b = private_update(501, new_token(client, key_b)["startCommand"])
    assert claim_now(start_b, "telegram:default:chat:501") == "claimed"

    drain(sqs_event)
    assert openclaw.bodies() == ["delivered to gone"]  # not forwarded to the new owner
    dead = dlq_messages()
    assert len(dead) == 1
    assert dead[0]["MessageAttributes"]["muxReason"]["StringValue"] == "tenant deleted"
    assert json.loads(dead[0]["Body"])["payload"]["message"]["text"] == "queued before the delete"

    post_update(client, private_update(501, "for the heir"))
    drain(sqs_event)
    assert openclaw.bodies() == ["delivered to gone", "for the heir"]
    assert bearers(openclaw)[-1] == f"Bearer {key_b}"


def test_unbound_route_of_a_deleted_tenant_dead_letters_instead_of_dropping(
    client: Any, make_tenant: Any, sqs_event: Any, tg: FakeTelegram, openclaw: FakeOpenClaw,
    admin_headers: dict[str, str],
) -> None:
    """Group chatter in a chat left unbound would be ignored silently: the deleted tenant's is dead-lettered."""
    _, key = make_tenant("grp", inbound_url=openclaw.url)
    post_update(client, group_update(-100777, new_token(client, key)["startCommand"]))
    drain(sqs_event)
    post_update(client, group_update(-100777, "chatter queued before the delete"))
    assert client.http.delete("/v1/admin/tenants/grp", headers=admin_headers).status_code == 200
    drain(sqs_event)
    assert openclaw.bodies() == []
    reasons = [m["MessageAttributes"]["muxReason"]["StringValue"] for m in dlq_messages()]
    assert reasons == ["tenant deleted"]
    # What arrives after the delete is ordinary unpaired chatter: ignored, not dead-lettered.
    post_update(client, group_update(-100777, "after the delete"))
    drain(sqs_event)
    assert len(dlq_messages()) == 1
