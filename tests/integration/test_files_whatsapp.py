"""GET /v1/mux/files/whatsapp?id=<mediaId>: Meta's media fetched with the access token, served only to the tenant
bound to the chat the media came from (fake Graph API on loopback, moto for AWS)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.storage import bindings, events
from tests.fakes.whatsapp_binding import bind_whatsapp, whatsapp_route_key
from tests.fakes.whatsapp_server import ACCESS_TOKEN, FakeWhatsApp

WA_ID = "447700900123"
MEDIA_ID = "1183746529304857"
IMAGE = b"\xff\xd8\xff\xe0fake-jpeg-bytes" * 100
KEY_1 = "tenant-one-key-0123456789abcdef"
KEY_2 = "tenant-two-key-0123456789abcdef"


@pytest.fixture
def wa(configure: Any) -> Iterator[FakeWhatsApp]:
    with FakeWhatsApp() as fake:
        configure(**fake.env())
        fake.add_media(MEDIA_ID, IMAGE, "image/jpeg")
        yield fake


@pytest.fixture
def bound(make_tenant: Any, wa: FakeWhatsApp) -> Any:
    make_tenant("t1", "http://127.0.0.1:9/v1/mux/inbound", KEY_1)
    make_tenant("t2", "http://127.0.0.1:9/v1/mux/inbound", KEY_2)
    binding = bind_whatsapp("t1", WA_ID)
    # What the inbound pipeline records when it forwards a message with this media.
    events.record_files("whatsapp", [{"fileId": MEDIA_ID, "mimeType": "image/jpeg", "fileName": None}], "t1",
                        whatsapp_route_key(WA_ID), int(time.time() * 1000), 86_400)
    return binding


def get(client: Any, key: str, media_id: str | None = MEDIA_ID) -> Any:
    path = "/v1/mux/files/whatsapp" + (f"?id={media_id}" if media_id is not None else "")
    return client.http.get(path, headers={"Authorization": f"Bearer {key}", "Accept": "*/*"})


def test_the_bound_tenant_gets_the_bytes_fetched_with_the_access_token(client: Any, bound: Any,
                                                                        wa: FakeWhatsApp) -> None:
    got = get(client, KEY_1)
    assert got.status_code == 200, got.body
    assert got.body == IMAGE and got.headers["Content-Type"] == "image/jpeg"
    lookups = wa.calls(None)
    assert [c.path.split("?")[0] for c in lookups] == [f"/v23.0/{MEDIA_ID}", f"/_media/{MEDIA_ID}"]
    assert all(c.token == ACCESS_TOKEN for c in lookups)


def test_other_tenants_and_unknown_ids_get_404_without_a_graph_call(client: Any, bound: Any,
                                                                     wa: FakeWhatsApp) -> None:
    for key, media_id in ((KEY_2, MEDIA_ID), (KEY_1, "999")):
        got = get(client, key, media_id)
        assert (got.status_code, json.loads(got.body)["code"]) == (404, "FILE_NOT_FOUND")
    assert get(client, KEY_1, None).status_code == 400
    assert wa.calls(None) == []


def test_after_unbind_the_former_tenant_no_longer_gets_the_file(client: Any, bound: Any, wa: FakeWhatsApp) -> None:
    resp = client.http.post("/v1/pairings/unbind", headers={"Authorization": f"Bearer {KEY_1}",
                                                             "Content-Type": "application/json"},
                            body=json.dumps({"bindingId": bound.binding_id}))
    assert resp.status_code == 200 and bindings.get_route(whatsapp_route_key(WA_ID)) is None
    got = get(client, KEY_1)
    assert (got.status_code, json.loads(got.body)["code"]) == (404, "FILE_NOT_FOUND")
    assert wa.calls(None) == []


def test_media_meta_no_longer_has_is_a_502(client: Any, bound: Any, wa: FakeWhatsApp) -> None:
    wa.media.clear()
    got = get(client, KEY_1)
    assert (got.status_code, json.loads(got.body)["code"]) == (502, "PROVIDER_ERROR")
