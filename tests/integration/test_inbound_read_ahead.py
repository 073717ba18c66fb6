"""The inbound worker's one BatchGetItem names the tenant item from the tenant the route named when this container
last forwarded from it (services/inbound.py `_TENANT_OF_ROUTE`). These tests make that name stale, or change the
tenant behind it, right after a forward that learnt it, and check the next message still obeys the table at once:
the route moved to another tenant, the tenant's inbound target changed, the tenant disabled or deleted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.storage import bindings
from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.pairing import bind_telegram
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import drain, post_update, private_update

DM = 5123456789


class GetItems:
    """DynamoDB GetItem calls made by the service's client."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, model: Any, **_: Any) -> None:
        if model.name == "GetItem":
            self.count += 1

    def take(self) -> int:
        count, self.count = self.count, 0
        return count


@pytest.fixture
def gets(aws_env: Any) -> Iterator[GetItems]:
    from chalicelib import aws

    counter = GetItems()
    aws._client("dynamodb").meta.events.register("before-call.*.*", counter, unique_id="read-ahead-gets")
    yield counter


@pytest.fixture
def other() -> Iterator[FakeOpenClaw]:
    with FakeOpenClaw() as fake:
        yield fake


@pytest.fixture
def warm(client: Any, make_tenant: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, sqs_event: Any) -> Any:
    """Tenant t1 bound to DM and one message forwarded (the container knows which tenant the route names)."""
    make_tenant("t1", openclaw.url)
    binding = bind_telegram("t1", DM)
    post_update(client, private_update(DM, "warm-up"))
    drain(sqs_event)
    assert len(openclaw.received) == 1
    return binding


def texts(fake: FakeOpenClaw) -> list[str]:
    return [str(envelope.get("body")) for envelope in fake.received]


def test_a_warm_route_reads_its_tenant_in_the_first_batch(
    client: Any, warm: Any, openclaw: FakeOpenClaw, sqs_event: Any, gets: GetItems
) -> None:
    gets.take()
    post_update(client, private_update(DM, "hello"))
    drain(sqs_event)
    assert texts(openclaw)[-1] == "hello"
    assert gets.take() == 0


def test_a_route_moved_to_another_tenant_forwards_to_that_tenant(
    client: Any, warm: Any, make_tenant: Any, openclaw: FakeOpenClaw, other: FakeOpenClaw, sqs_event: Any,
    gets: GetItems,
) -> None:
    make_tenant("t2", other.url)
    assert bindings.unbind(warm)
    bind_telegram("t2", DM)
    gets.take()
    post_update(client, private_update(DM, "for t2"))
    drain(sqs_event)
    assert texts(other) == ["for t2"]
    assert len(openclaw.received) == 1  # nothing more for t1, whose tenant item the stale hint named
    assert gets.take() == 1  # the stale name cost one read of the right tenant
    post_update(client, private_update(DM, "again for t2"))
    drain(sqs_event)
    assert texts(other) == ["for t2", "again for t2"]
    assert gets.take() == 0  # and the next message names it up front


def test_the_tenant_is_read_for_each_message_not_remembered(
    client: Any, warm: Any, make_tenant: Any, openclaw: FakeOpenClaw, other: FakeOpenClaw, sqs_event: Any
) -> None:
    make_tenant("t1", other.url)  # bootstrap again: the inbound target moves
    post_update(client, private_update(DM, "to the new target"))
    drain(sqs_event)
    assert texts(other) == ["to the new target"]
    assert len(openclaw.received) == 1


def test_a_tenant_disabled_after_a_forward_gets_nothing_more(
    client: Any, warm: Any, admin_headers: dict[str, str], openclaw: FakeOpenClaw, sqs_event: Any
) -> None:
    resp = client.http.post("/v1/admin/tenants/t1/disable", headers=admin_headers)
    assert resp.status_code == 200, resp.body
    post_update(client, private_update(DM, "while disabled"))
    results = drain(sqs_event)
    assert results and results[0]["batchItemFailures"]  # retried later, not forwarded
    assert len(openclaw.received) == 1


def test_a_tenant_deleted_after_a_forward_gets_nothing_more(
    client: Any, warm: Any, admin_headers: dict[str, str], openclaw: FakeOpenClaw, sqs_event: Any
) -> None:
    resp = client.http.delete("/v1/admin/tenants/t1", headers=admin_headers)
    assert resp.status_code == 200, resp.body
    post_update(client, private_update(DM, "after the delete"))
    drain(sqs_event)
    assert len(openclaw.received) == 1


def test_a_route_lock_outliving_its_tenant_is_not_forwarded(
    client: Any, warm: Any, openclaw: FakeOpenClaw, sqs_event: Any
) -> None:
    from chalicelib.storage import table

    # A claim racing the delete can leave the route lock behind: the tenant item named in the batch is absent.
    table.delete(table.tenant_key("t1"))
    post_update(client, private_update(DM, "orphaned route"))
    results = drain(sqs_event)
    assert results and results[0]["batchItemFailures"] == []  # dead-lettered (tenant deleted), not retried
    assert len(openclaw.received) == 1


def test_a_chat_paired_in_this_container_reads_its_tenant_in_its_first_batch(
    client: Any, make_tenant: Any, tg: FakeTelegram, openclaw: FakeOpenClaw, sqs_event: Any, gets: GetItems
) -> None:
    import json

    _, key = make_tenant("t1", openclaw.url)
    minted = client.http.post("/v1/pairings/token", headers={"Authorization": f"Bearer {key}"},
                              body=json.dumps({"channel": "telegram"}))
    assert minted.status_code == 200, minted.body
    post_update(client, private_update(DM, minted.json_body["startCommand"]))
    drain(sqs_event)
    paired = client.http.get("/v1/pairings", headers={"Authorization": f"Bearer {key}"}).json_body["items"]
    assert [b["routeKey"] for b in paired] == [f"telegram:default:chat:{DM}"]
    gets.take()
    post_update(client, private_update(DM, "first"))
    drain(sqs_event)
    assert texts(openclaw) == ["first"]
    assert gets.take() == 0  # the claim taught the container which tenant the route names
