"""A multi-part send is one logical send (CONTRACT §7): a retry after a partial failure resumes at the first part
not delivered, the number of parts is capped, and an unknown platform outcome is answered and stored."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from chalicelib.channels.telegram import outbound as tg_outbound
from chalicelib.services import outbound
from chalicelib.storage import idempotency, table
from tests.fakes.pairing import bind_telegram, telegram_session_key
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import fixture

DM = "5123456789"
KEY = "tenant-one-key-0123456789abcdef"
SEND = "/v1/mux/outbound/send"
SESSION = telegram_session_key(DM)
PARTS = ["A" * 4000, "B" * 4000, "C" * 4000]  # one Telegram message each (split at the line breaks)


@pytest.fixture
def bound(make_tenant: Any, tg: FakeTelegram) -> None:
    make_tenant("t1", "http://127.0.0.1:9/v1/mux/inbound", KEY)
    bind_telegram("t1", DM)


def post(client: Any, data: dict[str, Any], idem: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    if idem is not None:
        headers["Idempotency-Key"] = idem
    resp = client.http.post(SEND, headers=headers, body=json.dumps(data))
    return resp.status_code, json.loads(resp.body), dict(resp.headers)


def three_parts() -> dict[str, Any]:
    return {"channel": "telegram", "sessionKey": SESSION, "text": "\n".join(PARTS), "requestId": "r-1"}


def texts(calls: list[Any]) -> list[str]:
    return [c.body["text"][0] for c in calls]


def test_a_retry_after_part_3_failed_sends_only_part_3(client: Any, bound: None, tg: FakeTelegram) -> None:
    tg.fail_nth("sendMessage", 3, error=fixture("error_429.json"))
    status, first, _ = post(client, three_parts(), "k-parts")
    assert (status, first["code"]) == (502, "PROVIDER_RATE_LIMITED")
    assert first["details"]["deliveredMessageIds"] == ["1000", "1001"]
    status, second, _ = post(client, three_parts(), "k-parts")
    assert status == 200
    assert second["providerMessageIds"] == ["1000", "1001", "1002"]
    assert texts(tg.delivered("sendMessage")) == ["A", "B", "C"]
    assert texts(tg.calls("sendMessage")) == ["A", "B", "C", "C"]  # the refused C, then C once
    # A third try replays the answer: nothing more reaches the chat.
    status, third, headers = post(client, three_parts(), "k-parts")
    assert (status, third, headers.get("Idempotent-Replayed")) == (200, second, "true")
    assert len(tg.calls("sendMessage")) == 4


def test_an_attempt_that_died_mid_send_is_resumed_once_its_lock_expires(
    client: Any, bound: None, tg: FakeTelegram
) -> None:
    """A Lambda killed after part 1 (its progress saved) and before part 2: the retry sends parts 2 and 3."""
    data = three_parts()
    long_ago = int(time.time() * 1000) - outbound.IDEMPOTENCY_LOCK_MS - 1000
    died = idempotency.claim(
        "t1",
        table.sha256_hex("k-died"),
        table.sha256_hex(outbound.canonical_json(data)),
        now_ms=long_ago,
        ttl_ms=600_000,
        lock_ms=outbound.IDEMPOTENCY_LOCK_MS,
    )
    assert isinstance(died, idempotency.Claim)
    assert idempotency.progress(died, ["990"])
    status, answer, _ = post(client, data, "k-died")
    assert status == 200
    assert answer["providerMessageIds"] == ["990", "1000", "1001"]
    assert texts(tg.calls("sendMessage")) == ["B", "C"]
    assert idempotency.progress(died, ["990", "x"]) is False  # the dead attempt cannot clobber the record


def test_too_many_parts_is_400_text_too_long_and_nothing_is_sent(
    client: Any, bound: None, tg: FakeTelegram
) -> None:
    lines = "\n".join(f"{i:03d} " + "z" * 4000 for i in range(21))  # 21 messages, only 86 KB
    huge = "word " * 200_000  # ≈ 1 MB, just under the body cap
    for text in (lines, huge):
        for idem in (None, f"k-long-{len(text)}"):
            status, answer, _ = post(client, {"channel": "telegram", "sessionKey": SESSION, "text": text}, idem)
            assert (status, answer["code"]) == (400, "TEXT_TOO_LONG")
            assert answer["details"]["maxParts"] == 20
    assert tg.calls() == []
    twenty = "\n".join(f"{i:03d} " + "z" * 4000 for i in range(20))
    assert post(client, {"channel": "telegram", "sessionKey": SESSION, "text": twenty}, None)[0] == 200
    assert len(tg.calls("sendMessage")) == 20


def test_a_hung_call_is_outcome_unknown_and_a_retry_replays_it(
    client: Any, bound: None, tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tg_outbound, "CALL_TIMEOUT_SEC", 0.3, raising=False)
    tg.hang("sendMessage", seconds=5)
    data = {"channel": "telegram", "sessionKey": SESSION, "text": "once", "requestId": "r-2"}
    status, first, _ = post(client, data, "k-hang")
    assert (status, first["ok"], first["code"]) == (502, False, "PROVIDER_OUTCOME_UNKNOWN")
    status, again, headers = post(client, data, "k-hang")
    assert (status, again, headers.get("Idempotent-Replayed")) == (502, first, "true")
    assert len(tg.calls("sendMessage")) == 1


def test_a_refused_connection_is_a_known_failure_and_the_key_is_released(
    client: Any, bound: None, tg: FakeTelegram, configure: Any
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    configure(MUX_TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{port}")
    status, answer, _ = post(client, {"channel": "telegram", "sessionKey": SESSION, "text": "x"}, "k-refused")
    assert (status, answer["code"]) == (502, "PROVIDER_ERROR")
    assert table.get(table.idempotency_key("t1", table.sha256_hex("k-refused"))) is None


def test_without_a_key_a_retry_resends_every_part(client: Any, bound: None, tg: FakeTelegram) -> None:
    """Documented behaviour: without an Idempotency-Key the mux keeps no progress (nothing to resume by)."""
    tg.fail_nth("sendMessage", 3, error=fixture("error_429.json"))
    assert post(client, three_parts(), None)[0] == 502
    assert post(client, three_parts(), None)[0] == 200
    assert texts(tg.delivered("sendMessage")) == ["A", "B", "A", "B", "C"]
