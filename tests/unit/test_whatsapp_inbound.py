"""WhatsApp inbound: signature and handshake checks, splitting a webhook into messages, identity, envelope."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.channels.base import UnusableEventError
from chalicelib.channels.whatsapp import inbound as wa
from chalicelib.channels.whatsapp import verify
from tests.whatsapp_support import BSUID, PHONE_NUMBER_ID, WA_ID, fixture, message_of

ROUTE = f"whatsapp:{PHONE_NUMBER_ID}:chat:"


@pytest.mark.parametrize(
    "name", ["signed_request.json", "signed_request_tampered.json", "signed_request_unicode.json",
             "signed_request_unicode_escaped.json"]
)
def test_signature_is_checked_over_the_exact_raw_bytes(name: str) -> None:
    case = fixture(name)
    raw = case["raw_body"].encode("utf-8")
    header = case["headers"]["X-Hub-Signature-256"]
    assert verify.signature_valid(raw, header, case["app_secret"]) is case["expected_valid"]


def test_signature_missing_or_malformed_is_refused() -> None:
    case = fixture("signed_request.json")
    raw = case["raw_body"].encode("utf-8")
    hexdigest = case["headers"]["X-Hub-Signature-256"].removeprefix("sha256=")
    for header in (None, "", hexdigest, "sha1=" + hexdigest, "sha256="):
        assert not verify.signature_valid(raw, header, case["app_secret"])
    assert not verify.signature_valid(raw, case["headers"]["X-Hub-Signature-256"], "another-secret")
    # Re-serialising the JSON changes the bytes: only the bytes as received verify.
    assert not verify.signature_valid(json.dumps(json.loads(raw)).encode(), case["headers"]["X-Hub-Signature-256"],
                                      case["app_secret"])


def test_handshake_echoes_the_challenge_only_for_subscribe_with_the_right_token() -> None:
    case = fixture("verify_get.json")
    q, expected = case["query"], case["configured_verify_token"]
    assert verify.handshake_challenge(q["hub.mode"], q["hub.verify_token"], q["hub.challenge"], expected) == \
        case["expected_response"]["body"]
    assert verify.handshake_challenge(q["hub.mode"], "wrong", q["hub.challenge"], expected) is None
    assert verify.handshake_challenge(None, q["hub.verify_token"], q["hub.challenge"], expected) is None
    assert verify.handshake_challenge("unsubscribe", q["hub.verify_token"], q["hub.challenge"], expected) is None
    assert verify.handshake_challenge(q["hub.mode"], None, q["hub.challenge"], expected) is None


def test_a_webhook_with_many_messages_splits_into_one_payload_each_in_order_statuses_apart() -> None:
    body = fixture("multiple_messages.json")
    singles, statuses, unusable = wa.split(body)
    assert unusable == []
    assert [wa.parse(s).text for s in singles] == ["one more thing", "also translate it to Spanish"]
    assert [wa.parse(s).event_id for s in singles] == [f"wa:{message_of(body, n)['id']}" for n in (0, 1)]
    assert [s["status"] for s in statuses] == ["read"]
    for single in singles:  # each is a webhook body of its own, the sender's contact kept
        value = single["entry"][0]["changes"][0]["value"]
        assert len(value["messages"]) == 1 and value["contacts"][0]["wa_id"] == WA_ID
        assert value["metadata"]["phone_number_id"] == PHONE_NUMBER_ID


def test_status_only_webhooks_hold_no_messages() -> None:
    for name in ("status.json", "status_failed_131047.json"):
        singles, statuses, unusable = wa.split(fixture(name))
        assert singles == [] and unusable == [] and len(statuses) == 1


def test_an_unusable_message_is_reported_and_the_others_still_go() -> None:
    body = fixture("multiple_messages.json")
    message_of(body, 0)["timestamp"] = 1781600600  # a number where Meta sends a string
    singles, _, unusable = wa.split(body)
    assert [wa.parse(s).text for s in singles] == ["also translate it to Spanish"]
    assert [(u.reason, u.fields) for u in unusable] == [("invalid_fields", ["timestamp"])]
    no_sender = fixture("text.json")
    del message_of(no_sender)["from"], message_of(no_sender)["from_user_id"]
    no_sender["entry"][0]["changes"][0]["value"]["contacts"] = []
    with pytest.raises(UnusableEventError, match="no_sender"):
        wa.parse(no_sender)


def test_identity_phone_number_first_then_bsuid_and_session_keys() -> None:
    msg = wa.parse(fixture("text.json"))
    assert msg.route_candidates() == [ROUTE + WA_ID, ROUTE + BSUID]
    assert msg.session_key() == f"agent:main:whatsapp:direct:+{WA_ID}"
    assert msg.session_key("ops") == f"agent:ops:whatsapp:direct:+{WA_ID}"
    legacy = wa.parse(fixture("text_legacy_no_bsuid.json"))
    assert legacy.route_candidates() == [ROUTE + WA_ID]
    hidden = wa.parse(fixture("text_username_no_phone.json"))
    assert hidden.wa_id is None and hidden.route_candidates() == [ROUTE + "US.58203317440219867531"]
    assert hidden.session_key() == "agent:main:whatsapp:direct:US.58203317440219867531"
    group = wa.parse(fixture("group_text.json"))
    gid = message_of(fixture("group_text.json"))["group_id"]
    assert group.is_group and group.route_candidates() == [ROUTE + gid]
    assert group.session_key() == f"agent:main:whatsapp:group:{gid}"


def envelope_of(name: str, attachments: list[dict[str, object]] | None = None) -> dict[str, object]:
    msg = wa.parse(fixture(name))
    return wa.envelope(msg, session_key=msg.session_key(), account_id="mux",
                       route_key=msg.route_candidates()[0], attachments=attachments or [])


def test_text_envelope_fields() -> None:
    env = envelope_of("text.json")
    assert env["channel"] == "whatsapp" and env["eventId"].startswith("wa:wamid.")  # type: ignore[union-attr]
    assert env["body"] == "Can you summarise the report I sent yesterday?"
    assert (env["from"], env["to"], env["chatType"]) == (f"whatsapp:+{WA_ID}", f"whatsapp:{WA_ID}", "direct")
    assert env["timestampMs"] == 1781600000 * 1000
    assert env["raw"] == fixture("text.json")  # a one-message webhook body is its own payload, unchanged
    assert env["event"] == {"kind": "message", "raw": fixture("text.json")}
    data = env["channelData"]
    assert isinstance(data, dict)
    assert (data["chatId"], data["routeKey"], data["whatsapp"]["phoneNumberId"]) == (
        WA_ID, ROUTE + WA_ID, PHONE_NUMBER_ID)
    hidden = envelope_of("text_username_no_phone.json")
    assert (hidden["from"], hidden["to"]) == ("whatsapp:US.58203317440219867531",
                                              "whatsapp:US.58203317440219867531")
    group = envelope_of("group_text.json")
    assert group["chatType"] == "group" and str(group["to"]).startswith("whatsapp:Y2Fwa")
    assert group["from"] == "whatsapp:+14155550142"


def test_interactive_reply_body_is_the_title_ids_in_channel_data_and_the_reply_is_referenced() -> None:
    env = envelope_of("interactive_button_reply.json")
    assert env["body"] == "Smart"
    data = env["channelData"]
    assert isinstance(data, dict)
    assert data["whatsapp"]["interactive"] == {"type": "button_reply", "id": "model:smart", "title": "Smart"}
    replied = message_of(fixture("interactive_button_reply.json"))["context"]["id"]
    assert data["replyToMessageId"] == replied and data["whatsapp"]["context"]["id"] == replied


def test_media_kinds_caption_and_one_line_body_without_content() -> None:
    image = wa.parse(fixture("image.json"))
    assert image.text == "What does this error dialog mean?"
    assert [(m["type"], m["fileId"], m["mimeType"]) for m in image.media] == [
        ("image", "1183746529304857", "image/jpeg")]
    voice = wa.parse(fixture("audio_voice.json"))
    assert [m["type"] for m in voice.media] == ["voice"] and voice.text == ""
    env = envelope_of("audio_voice.json", [{"type": "voice", "url": "http://x/v1/mux/files/whatsapp?id=1"}])
    assert env["body"] == "[voice]"
    doc = wa.parse(fixture("document.json"))
    assert doc.media[0]["fileName"] == "Q2-report.pdf" and doc.text == "Please summarise this"
    for kind in ("video", "sticker"):
        body = fixture("image.json")
        m = message_of(body)
        m["type"], m[kind] = kind, m.pop("image")
        assert [x["type"] for x in wa.parse(body).media] == [kind]


def test_location_contacts_and_reactions_become_text() -> None:
    body = fixture("text.json")
    m = message_of(body)
    m["type"] = "location"
    m["location"] = {"latitude": 51.5, "longitude": 0, "name": "Office", "address": "1 Main St"}
    assert wa.parse(body).summary == "[location: Office, 1 Main St (51.5, 0.0)]"
    m["type"] = "contacts"
    m["contacts"] = [{"name": {"formatted_name": "Ann Lee"}, "phones": [{"phone": "+1 555 0100"}]}]
    assert wa.parse(body).summary == "[contact: Ann Lee, +1 555 0100]"
    m["type"] = "reaction"
    m["reaction"] = {"message_id": "wamid.X", "emoji": "👍"}
    reacted = wa.parse(body)
    assert reacted.summary == "[reaction: 👍]" and reacted.extra["reaction"]["messageId"] == "wamid.X"
    m["reaction"] = {"message_id": "wamid.X", "emoji": ""}
    assert not wa.parse(body).has_content  # a removed reaction: nothing to forward


def test_the_services_name_no_platform() -> None:
    """Adding a channel touches its package, webhook route, settings and tests — never services/."""
    services = Path(__file__).parents[2] / "chalicelib" / "services"
    for path in sorted(services.glob("*.py")):
        code = "\n".join(line for line in path.read_text().lower().splitlines() if not line.strip().startswith("#"))
        for platform in ("chalicelib.channels.telegram", "chalicelib.channels.whatsapp", '"telegram"', '"whatsapp"',
                         '"discord"', "telegram_", "whatsapp_"):
            assert platform not in code, f"{path.name} names {platform}"
