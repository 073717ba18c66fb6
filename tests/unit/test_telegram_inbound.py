"""Telegram update parsing: routes, scopes, session keys, commands, tokens, envelope fields."""

from __future__ import annotations

import pytest

from chalicelib.channels.telegram import inbound as tg
from tests.inbound_support import fixture


def test_private_message_routes_and_session_key() -> None:
    msg = tg.parse(fixture("private_text.json"))
    assert msg is not None
    assert msg.route_candidates() == ["telegram:default:chat:5123456789"]
    assert msg.scope == "chat" and msg.is_private
    assert msg.session_key() == "agent:main:telegram:direct:5123456789"
    assert msg.session_key("ops") == "agent:ops:telegram:direct:5123456789"


def test_forum_topic_route_comes_before_its_chat_route() -> None:
    msg = tg.parse(fixture("forum_topic_text.json"))
    assert msg is not None
    assert msg.route_candidates() == [
        "telegram:default:chat:-1002233445566:topic:42",
        "telegram:default:chat:-1002233445566",
    ]
    assert msg.scope == "topic" and msg.thread_id == "42"
    assert msg.session_key() == "agent:main:telegram:group:-1002233445566:topic:42"


def test_forum_message_without_thread_is_the_general_topic() -> None:
    msg = tg.parse(fixture("forum_general_topic_text.json"))
    assert msg is not None
    assert msg.topic_id == "1"
    assert msg.route_key.endswith(":topic:1")


def test_reply_thread_in_a_plain_group_is_not_a_topic() -> None:
    update = fixture("group_reply_to_bot.json")
    update["message"]["message_thread_id"] = 77  # reply threads carry it without is_topic_message
    msg = tg.parse(update)
    assert msg is not None
    assert msg.topic_id is None and msg.route_key == f"telegram:default:chat:{update['message']['chat']['id']}"
    assert msg.session_key().endswith(f"group:{update['message']['chat']['id']}")


def test_private_thread_gets_its_own_session_key() -> None:
    update = fixture("private_text.json")
    update["message"]["message_thread_id"] = 12
    msg = tg.parse(update)
    assert msg is not None
    assert msg.route_key == "telegram:default:chat:5123456789"
    assert msg.session_key() == "agent:main:telegram:direct:5123456789:thread:12"


def test_callback_and_edited_message_event_ids_and_texts() -> None:
    cb = tg.parse(fixture("callback_query.json"))
    assert cb is not None and cb.kind == "callback" and cb.event_id.startswith("tgcb:")
    assert cb.text == fixture("callback_query.json")["callback_query"]["data"]
    edited = tg.parse(fixture("edited_message.json"))
    raw = fixture("edited_message.json")["edited_message"]
    assert edited is not None and edited.kind == "message"
    assert edited.timestamp_ms == raw["edit_date"] * 1000


def test_unhandled_updates_are_ignored() -> None:
    assert tg.parse(fixture("my_chat_member.json")) is None
    assert tg.parse({"update_id": 1, "poll": {}}) is None


def test_media_is_described_with_the_largest_photo_and_caption_as_body() -> None:
    update = fixture("photo.json")
    msg = tg.parse(update)
    assert msg is not None
    assert msg.text == update["message"].get("caption", "")
    assert msg.media[0]["fileId"] == update["message"]["photo"][-1]["file_id"]
    for name, kind in (("document.json", "document"), ("voice.json", "voice")):
        parsed = tg.parse(fixture(name))
        assert parsed is not None and parsed.media[0]["type"] == kind


@pytest.mark.parametrize(
    ("text", "name", "bot", "args"),
    [
        ("/start mpt_x", "start", None, "mpt_x"),
        ("/start@MuxAssistBot mpt_x", "start", "MuxAssistBot", "mpt_x"),
        ("!bot_status", "bot_status", None, ""),
        ("/BOT_HELP@MuxAssistBot", "bot_help", "MuxAssistBot", ""),
    ],
)
def test_commands(text: str, name: str, bot: str | None, args: str) -> None:
    cmd = tg.command(text)
    assert cmd is not None and (cmd.name, cmd.bot, cmd.args) == (name, bot, args)


def test_not_commands_and_other_bots() -> None:
    assert tg.command("hello /start") is None
    cmd = tg.command("/start@OtherBot")
    assert cmd is not None and tg.addressed_to_other_bot(cmd, "MuxAssistBot")
    assert not tg.addressed_to_other_bot(cmd, None)


def test_token_is_found_in_start_commands_and_anywhere_in_text() -> None:
    token = "mpt_" + "A" * 30 + "-_"
    assert tg.find_token(f"/start {token}") == token
    assert tg.find_token(f"please pair {token} thanks") == token
    assert tg.find_token(f"x{token}") is None  # glued to other characters: not a token
    assert tg.find_token("mpt_short") is None
