"""The fake Telegram Bot API behaves like the real one where our code depends on it (it is shared by suites)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.fakes.telegram_server import FakeTelegram


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


def call(tg: FakeTelegram, method: str, body: dict[str, object]) -> requests.Response:
    return requests.post(f"{tg.url}/bot123:fake/{method}", json=body, timeout=5)


def test_sends_answer_a_message_in_the_requested_chat(tg: FakeTelegram) -> None:
    first = call(tg, "sendMessage", {"chat_id": -100123, "text": "a", "message_thread_id": 4}).json()
    second = call(tg, "sendPhoto", {"chat_id": 42, "photo": "https://x/p.png", "caption": "c"}).json()
    assert first["ok"] and first["result"]["chat"]["id"] == -100123
    assert first["result"]["message_thread_id"] == 4 and first["result"]["text"] == "a"
    assert second["result"]["message_id"] == first["result"]["message_id"] + 1
    assert second["result"]["chat"]["type"] == "private" and second["result"]["caption"] == "c"
    assert [(c.method, c.token) for c in tg.calls()] == [("sendMessage", "123:fake"), ("sendPhoto", "123:fake")]
    assert tg.bodies("sendPhoto") == [{"chat_id": 42, "photo": "https://x/p.png", "caption": "c"}]


def test_fail_n_times_then_ok_with_telegrams_http_status(tg: FakeTelegram) -> None:
    error = {"ok": False, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 3}}
    tg.fail("sendMessage", times=2, error=error)
    statuses = [call(tg, "sendMessage", {"chat_id": 1, "text": "x"}).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]


def test_scripted_callable_and_defaults(tg: FakeTelegram) -> None:
    tg.script("answerCallbackQuery", lambda body: {"ok": True, "result": body["callback_query_id"] == "q"})
    tg.on("getMe", {"id": 1, "is_bot": True, "username": "Other"})
    assert call(tg, "answerCallbackQuery", {"callback_query_id": "q"}).json()["result"] is True
    assert call(tg, "answerCallbackQuery", {"callback_query_id": "z"}).json()["result"] is True  # default
    assert call(tg, "getMe", {}).json()["result"]["username"] == "Other"


def test_get_chat_member_status_and_file_download(tg: FakeTelegram) -> None:
    tg.chat_member_status = "member"
    member = call(tg, "getChatMember", {"chat_id": -1, "user_id": 9}).json()["result"]
    assert (member["status"], member["user"]["id"]) == ("member", 9)
    tg.files["files/F1"] = b"\x89PNG"
    path = call(tg, "getFile", {"file_id": "F1"}).json()["result"]["file_path"]
    download = requests.get(f"{tg.url}/file/bot123:fake/{path}", timeout=5)
    assert (download.status_code, download.content) == (200, b"\x89PNG")
    assert requests.get(f"{tg.url}/file/bot123:fake/files/none", timeout=5).status_code == 404
