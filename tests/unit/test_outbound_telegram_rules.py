"""Telegram sender rules without I/O: text splitting, media type guess, route lock on raw bodies, validation."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.channels.base import Destination, SendResult
from chalicelib.channels.telegram import outbound as tg
from chalicelib.errors import InvalidInputError
from chalicelib.models import Binding, OutboundRequest


def _dest(chat_id: str = "-1001", topic_id: str | None = None) -> Destination:
    return Destination(
        binding=Binding(
            binding_id="bind_x",
            tenant_id="t1",
            channel="telegram",
            scope="topic" if topic_id else "chat",
            route_key=tg.route_key(chat_id, topic_id),
            session_key="agent:main:telegram:group:-1001",
            chat_id=chat_id,
            topic_id=topic_id,
            created_at_ms=1,
        )
    )


def _lock(method: str, body: dict[str, Any], *, topic: str | None = None, thread: Any = None) -> dict[str, Any]:
    return tg._Calls(_dest(topic_id=topic))._lock(method, body, thread)


# --- splitting ----------------------------------------------------------------------------------
def test_short_text_is_one_chunk() -> None:
    assert tg.split_text("hello") == ["hello"]


def test_split_prefers_line_breaks_and_keeps_every_word() -> None:
    text = "\n".join(f"line {i} " + "x" * 90 for i in range(100))
    chunks = tg.split_text(text, 4096)
    assert len(chunks) > 1
    assert all(tg.utf16_len(c) <= 4096 for c in chunks)
    assert all(c.startswith("line ") for c in chunks)  # every cut fell on a line break
    assert "\n".join(chunks) == text


def test_split_falls_back_to_spaces_then_hard_cut() -> None:
    words = " ".join(["word"] * 2000)  # 9999 chars, no newline
    chunks = tg.split_text(words, 4096)
    assert all(len(c) <= 4096 for c in chunks)
    assert " ".join(chunks) == words
    blob = "y" * 9000
    assert tg.split_text(blob, 4096) == ["y" * 4096, "y" * 4096, "y" * 808]


def test_split_counts_utf16_units_like_telegram() -> None:
    emoji = "😀" * 3000  # 2 UTF-16 units each
    chunks = tg.split_text(emoji, 4096)
    assert [len(c) for c in chunks] == [2048, 952]
    assert "".join(chunks) == emoji


def test_whitespace_only_chunks_are_dropped() -> None:
    assert tg.split_text("a" * 10 + "\n" + " " * 5, 10) == ["a" * 10]


# --- media ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "image"),
    [
        ("https://cdn.example/cat.JPG", True),
        ("https://cdn.example/p.png?sig=1", True),
        ("https://cdn.example/render", True),
        ("https://cdn.example/report.pdf", False),
        ("https://cdn.example/a.zip#x", False),
    ],
)
def test_media_method_guess(url: str, image: bool) -> None:
    assert tg._is_image(url) is image


# --- route lock on raw bodies ----------------------------------------------------------------------
def test_forged_chat_id_is_overwritten() -> None:
    assert _lock("sendMessage", {"chat_id": 999, "text": "hi"})["chat_id"] == -1001


def test_no_field_reaches_another_chat() -> None:
    body = {
        "text": "x",
        "business_connection_id": "bc1",
        "reply_parameters": {"message_id": 3, "chat_id": -100999, "quote": "q"},
    }
    assert _lock("sendMessage", body) == {
        "chat_id": -1001,
        "text": "x",
        "reply_parameters": {"message_id": 3, "quote": "q"},
    }


def test_topic_binding_forces_its_thread() -> None:
    out = _lock("sendMessage", {"chat_id": 1, "text": "x", "message_thread_id": 77}, topic="42")
    assert out["message_thread_id"] == 42


def test_general_topic_is_omitted_on_sends_but_kept_for_typing() -> None:
    assert "message_thread_id" not in _lock("sendMessage", {"text": "x", "message_thread_id": 1}, topic="1")
    assert "message_thread_id" not in _lock("sendPhoto", {"photo": "u"}, topic="1")
    assert _lock("sendChatAction", {"action": "typing"}, topic="1")["message_thread_id"] == 1


def test_unthreaded_binding_takes_callers_thread_unless_body_has_one() -> None:
    assert _lock("sendMessage", {"text": "x"}, thread="7")["message_thread_id"] == 7
    assert _lock("sendMessage", {"text": "x", "message_thread_id": 9}, thread="7")["message_thread_id"] == 9
    assert "message_thread_id" not in _lock("sendMessage", {"text": "x"}, thread="not-a-number")


def test_edits_and_reactions_take_no_thread_but_keep_the_chat() -> None:
    for method in ("editMessageText", "setMessageReaction", "deleteMessage"):
        out = _lock(method, {"message_id": 5, "message_thread_id": 42, "chat_id": 3}, topic="42")
        assert out == {"message_id": 5, "chat_id": -1001}


def test_answer_callback_query_passes_through() -> None:
    body = {"callback_query_id": "abc", "text": "done"}
    assert _lock("answerCallbackQuery", body, topic="42") == body


def test_inline_edit_has_no_chat() -> None:
    out = _lock("editMessageText", {"inline_message_id": "AAA", "text": "x", "chat_id": 5})
    assert out == {"inline_message_id": "AAA", "text": "x"}


def test_message_methods_name_the_messages_they_act_on() -> None:
    body = {"message_id": "59", "inline_message_id": "AAA", "text": "x"}
    assert tg._acts_on("editMessageText", body) == ["59"]
    assert body == {"message_id": 59, "text": "x"}  # what is checked is what is sent
    assert tg._acts_on("editMessageText", {"inline_message_id": "AAA"}) == ["inline:AAA"]
    assert tg._acts_on("deleteMessage", {"message_id": "5x"}) == ["5x"]  # never a recorded id
    assert tg._acts_on("answerCallbackQuery", {"callback_query_id": "q1"}) == ["cbq:q1"]
    assert tg._acts_on("sendMessage", {"text": "x"}) == []


def test_inbound_refs_use_the_same_spelling() -> None:
    assert tg.inbound_refs({"message_id": 1030}, {"id": "4567"}) == ["1030", "cbq:4567"]
    assert tg.inbound_refs({"message_id": 7}, None) == ["7"]


# --- validation ---------------------------------------------------------------------------------
def _req(**kw: Any) -> OutboundRequest:
    return OutboundRequest.model_validate({"channel": "telegram", "sessionKey": "s", **kw})


def test_unsupported_raw_method() -> None:
    with pytest.raises(InvalidInputError) as err:
        tg.SENDER.validate(_req(raw={"telegram": {"method": "banChatMember", "body": {"user_id": 1}}}))
    assert err.value.code == "UNSUPPORTED_METHOD"


@pytest.mark.parametrize(
    "raw",
    [{"telegram": "sendMessage"}, {"telegram": {"body": {}}}, {"telegram": {"method": "sendMessage", "body": []}}],
)
def test_malformed_raw_is_invalid_request(raw: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError) as err:
        tg.SENDER.validate(_req(raw=raw))
    assert err.value.code == "INVALID_REQUEST"


def test_empty_send_is_invalid() -> None:
    with pytest.raises(InvalidInputError) as err:
        tg.SENDER.validate(_req(text="   "))
    assert err.value.code == "INVALID_REQUEST"


def test_send_result_body_shape() -> None:
    assert SendResult(["5", "6"], chat_id="-1").body() == {
        "ok": True,
        "messageId": "5",
        "providerMessageIds": ["5", "6"],
        "chatId": "-1",
    }
    with pytest.raises(ValueError):
        SendResult([""], chat_id="-1").body()
