"""Telegram updates → OpenClaw envelopes its handler accepts: every message kind, edits, service messages,
and updates that can never be processed (refused before they are queued)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from chalicelib.channels.telegram import inbound as tg
from muxctl.openclaw_inbound import InboundHandler
from tests.inbound_support import fixture

KEY = "tenant-key-0123456789abcdefghijklmnop"


def message_update(**fields: Any) -> dict[str, Any]:
    """A private-chat message update with `fields` instead of its text."""
    update = copy.deepcopy(fixture("private_text.json"))
    update["message"].pop("text", None)
    update["message"].pop("entities", None)
    update["message"].update(fields)
    return update


def envelope_of(update: dict[str, Any], attachments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    msg = tg.parse(update)
    assert msg is not None
    return tg.envelope(msg, session_key="agent:main:telegram:direct:1", account_id="mux",
                       route_key=msg.route_key, attachments=attachments or [])


def accepted(envelope: dict[str, Any]) -> dict[str, Any]:
    """What OpenClaw's handler makes of the envelope: the agent's turn (fails if refused or dropped)."""
    verdict = InboundHandler(KEY).handle("POST", {"Authorization": f"Bearer {KEY}"}, json.dumps(envelope).encode())
    assert verdict.status == 202, verdict.answer
    assert verdict.turn is not None, verdict.note
    return verdict.turn


LOCATION = {"latitude": 52.520008, "longitude": 13.404954}
SHARED = [
    ({"location": LOCATION}, "location", "[location: 52.520008, 13.404954]"),
    ({"location": {**LOCATION, "live_period": 900}}, "location", "[live location: 52.520008, 13.404954]"),
    ({"venue": {"location": LOCATION, "title": "Fernsehturm", "address": "Panoramastr. 1A"}, "location": LOCATION},
     "venue", "[venue: Fernsehturm, Panoramastr. 1A]"),
    ({"contact": {"phone_number": "+4930123456", "first_name": "Bea", "last_name": "Ko"}}, "contact",
     "[contact: Bea Ko, +4930123456]"),
    ({"poll": {"id": "5", "question": "Lunch?", "options": [{"text": "Pizza", "voter_count": 0},
                                                          {"text": "Soup", "voter_count": 0}],
               "total_voter_count": 0, "is_closed": False, "is_anonymous": True, "type": "regular",
               "allows_multiple_answers": False}}, "poll", "[poll: Lunch? — Pizza / Soup]"),
    ({"dice": {"emoji": "🎲", "value": 4}}, "dice", "[dice 🎲: 4]"),
    ({"story": {"chat": {"id": 1, "type": "private"}, "id": 7}}, "story", "[a story]"),
]


@pytest.mark.parametrize(("fields", "kind", "body"), SHARED, ids=[s[1] + str(i) for i, s in enumerate(SHARED)])
def test_shared_content_becomes_a_one_line_body_with_details_in_channel_data(
    fields: dict[str, Any], kind: str, body: str
) -> None:
    env = envelope_of(message_update(**fields))
    assert env["body"] == body
    assert env["channelData"]["telegram"][kind] == fields[kind]
    assert accepted(env)["body"] == body


SERVICE = [
    {"new_chat_members": [{"id": 9, "is_bot": False, "first_name": "Cy"}]},
    {"left_chat_member": {"id": 9, "is_bot": False, "first_name": "Cy"}},
    {"pinned_message": {"message_id": 3, "date": 1, "chat": {"id": 1, "type": "private"}, "text": "pinned"}},
    {"new_chat_title": "Ops"},
    {"new_chat_photo": [{"file_id": "p", "file_unique_id": "u", "width": 1, "height": 1}]},
    {"delete_chat_photo": True},
    {"forum_topic_created": {"name": "Topic", "icon_color": 1}},
    {"forum_topic_closed": {}},
    {"migrate_to_chat_id": -1001},
    {"video_chat_started": {}},
]


@pytest.mark.parametrize("fields", SERVICE, ids=[next(iter(s)) for s in SERVICE])
def test_service_messages_are_not_forwardable(fields: dict[str, Any]) -> None:
    msg = tg.parse(message_update(**fields))
    assert msg is not None and not msg.forwardable
    assert msg.service == next(iter(fields))


def test_a_pinned_message_service_note_does_not_count_its_text_as_content() -> None:
    msg = tg.parse(message_update(**SERVICE[2]))
    assert msg is not None and msg.text == "" and not msg.forwardable


def test_an_edit_is_a_new_turn_with_the_original_id_and_edit_date_in_channel_data() -> None:
    update = fixture("edited_message.json")
    raw = update["edited_message"]
    env = envelope_of(update)
    assert env["messageId"] == f"{raw['message_id']}:edit:{raw['edit_date']}"
    assert env["channelData"]["messageId"] == env["messageId"]
    assert env["channelData"]["originalMessageId"] == str(raw["message_id"])
    assert env["channelData"]["editDate"] == raw["edit_date"]
    assert env["timestampMs"] == raw["edit_date"] * 1000
    # OpenClaw keeps the original and every edit (its dedupe keys on messageId for 20 minutes).
    handler = InboundHandler(KEY)
    original = copy.deepcopy(update)
    original["message"] = original.pop("edited_message")
    del original["message"]["edit_date"]
    second = copy.deepcopy(update)
    second["edited_message"]["edit_date"] += 30
    turns = []
    for u in (original, update, second, update):
        verdict = handler.handle("POST", {"Authorization": f"Bearer {KEY}"}, json.dumps(envelope_of(u)).encode())
        assert verdict.status == 202
        turns.append(verdict.turn)
    assert [t is not None for t in turns] == [True, True, True, False]  # the last is a true duplicate


def test_an_edited_live_location_is_a_position_update_not_a_turn() -> None:
    update = fixture("edited_message.json")
    del update["edited_message"]["text"]
    update["edited_message"]["location"] = {**LOCATION, "live_period": 900}
    msg = tg.parse(update)
    assert msg is not None and not msg.forwardable


def test_media_kinds_and_their_defaults() -> None:
    sticker = {"file_id": "s", "file_unique_id": "su", "width": 512, "height": 512, "emoji": "😀",
               "is_animated": False, "is_video": False, "type": "regular"}
    msg = tg.parse(message_update(sticker=sticker))
    assert msg is not None
    assert [(m["type"], m["mimeType"], m["emoji"]) for m in msg.media] == [("sticker", "image/webp", "😀")]
    note = {"file_id": "n", "file_unique_id": "nu", "length": 240, "duration": 3}
    msg = tg.parse(message_update(video_note=note))
    assert msg is not None and [(m["type"], m["mimeType"]) for m in msg.media] == [("video", "video/mp4")]
    # Telegram sends an animation as `animation` and again as `document`: one attachment, not two.
    gif = {"file_id": "g", "file_unique_id": "gu", "file_name": "cat.mp4", "mime_type": "video/mp4",
           "width": 1, "height": 1, "duration": 1}
    msg = tg.parse(message_update(animation=gif, document=dict(gif)))
    assert msg is not None and [m["kind"] for m in msg.media] == ["animation"]


def test_a_file_without_content_and_without_text_gets_a_body_naming_it() -> None:
    update = fixture("document.json")
    del update["message"]["caption"]
    doc = update["message"]["document"]
    attachment = {"type": "document", "url": "http://mux/v1/mux/files/telegram?id=x", "size": doc["file_size"]}
    env = envelope_of(update, [attachment])
    assert env["body"] == "[document: Q2-report.pdf, 482.1 KB]"
    assert accepted(env)["body"] == env["body"]
    # Inlined, a PDF is still named in the body: OpenClaw hands the agent only images, so the turn would be empty.
    inlined = envelope_of(update, [{**attachment, "content": "JVBERi0xLjQK", "mimeType": "application/pdf"}])
    assert inlined["body"] == "[document: Q2-report.pdf, 482.1 KB]"
    assert accepted(inlined)["body"] == inlined["body"]
    # An inlined image needs no words: the agent gets the image itself.
    image = envelope_of(update, [{**attachment, "content": "iVBORw0KGgo=", "mimeType": "image/png"}])
    assert image["body"] == ""
    # A caption stays the body, exactly as sent.
    update["message"]["caption"] = "  see  this "
    assert envelope_of(update, [attachment])["body"] == "  see  this "


def test_callback_envelope_is_accepted_by_openclaws_callback_path() -> None:
    env = envelope_of(fixture("callback_query.json"))
    turn = accepted(env)
    assert turn["body"] == fixture("callback_query.json")["callback_query"]["data"]


DEEP: Any = 1
for _ in range(900):
    DEEP = [DEEP]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda u: u["message"].__setitem__("date", [1]), "invalid_fields"),
        (lambda u: u["message"]["chat"].__setitem__("id", "5123456789"), "invalid_fields"),
        (lambda u: u["message"].__setitem__("text", 42), "invalid_fields"),
        (lambda u: u.__setitem__("update_id", 1.5), "invalid_fields"),
        (lambda u: u["message"]["from"].__setitem__("id", True), "invalid_fields"),
        (lambda u: u["message"].__setitem__("photo", [{"file_id": 7}]), "invalid_fields"),
        (lambda u: u["message"].__setitem__("location", {"latitude": "north", "longitude": 1}), "invalid_fields"),
        (lambda u: u["message"].__setitem__("reply_markup", DEEP), "too_deep"),
        (lambda u: u["message"].__setitem__("text", "hi \ud800"), "unserialisable"),
        (lambda u: u["message"].__setitem__("x\udfff", 1), "unserialisable"),
        (lambda u: u["message"].__setitem__("extra", float("nan")), "unserialisable"),
    ],
    ids=["date-list", "chat-id-str", "text-int", "update-id-float", "user-id-bool", "file-id-int",
         "latitude-str", "900-deep", "lone-surrogate", "surrogate-key", "nan"],
)
def test_updates_that_can_never_be_processed_are_refused_with_a_reason(mutate: Any, reason: str) -> None:
    update = fixture("private_text.json")
    mutate(update)
    with pytest.raises(tg.UnusableUpdateError) as caught:
        tg.check_payload(update)
        tg.parse(update)
    assert caught.value.reason == reason
    assert "5123456789" not in str(caught.value) and "north" not in " ".join(caught.value.fields)


def test_fields_telegram_adds_are_ignored_and_values_we_do_not_read_are_not_judged() -> None:
    update = fixture("private_text.json")
    update["message"]["brand_new_field"] = {"anything": [1, "x", None]}
    update["message"]["entities"] = "not even a list"
    update["business_connection_id"] = 5
    msg = tg.parse(update)
    assert msg is not None and msg.text == fixture("private_text.json")["message"]["text"]


def test_a_callback_without_data_is_not_forwardable() -> None:
    """A game's callback carries `game_short_name`, no `data`; OpenClaw refuses such an envelope (found by
    the hypothesis test)."""
    update = fixture("callback_query.json")
    del update["callback_query"]["data"]
    update["callback_query"]["game_short_name"] = "tetris"
    msg = tg.parse(update)
    assert msg is not None and msg.kind == "callback" and not msg.forwardable
    update["callback_query"]["data"] = "  "
    msg = tg.parse(update)
    assert msg is not None and not msg.forwardable
