"""Every Telegram message kind over real HTTP against the local stack, with a fake Telegram that serves
getFile and the files' bytes and a fake OpenClaw that applies OpenClaw's own handler rules: each kind is
forwarded in a form the handler accepts (and reaches the agent), or — service messages — acknowledged and
not forwarded; nothing is dead-lettered."""

from __future__ import annotations

import base64
import copy
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import BOT_TOKEN, SECRET, fixture, group_update, private_update
from tests.localstack import LocalStack, wait_until

ADMIN = "e2e-admin-token-kinds-0123456789"
KEY = "e2e-tenant-key-kinds-0123456789abcdefgh"
CHAT = 5123400001
GROUP = -1005123400002
CAP = 50_000
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
_ids = itertools.count(700_000_000)


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeTelegram, FakeOpenClaw]]:
    with FakeTelegram() as tg, FakeOpenClaw(KEY) as openclaw:
        yield tg, openclaw


@pytest.fixture(scope="module")
def stack(fakes: tuple[FakeTelegram, FakeOpenClaw]) -> Iterator[LocalStack]:
    tg, openclaw = fakes
    env = {
        "MUX_ADMIN_TOKEN": ADMIN,
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "MUX_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "MUX_TELEGRAM_API_BASE_URL": tg.url,
        "MUX_TELEGRAM_BOT_USERNAME": "MuxAssistBot",
        "MUX_INBOUND_MEDIA_MAX_BYTES": str(CAP),
    }
    with LocalStack(env) as running:
        boot = requests.post(
            running.url + "/v1/admin/tenants/bootstrap",
            json={"tenantId": "kinds", "apiKey": KEY, "inboundUrl": openclaw.url, "inboundTimeoutMs": 5000},
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=10,
        )
        assert boot.status_code == 200, boot.text
        webhook(running, private_update(CHAT, _token(running)["startCommand"]))
        webhook(running, group_update(GROUP, _token(running)["token"]))
        wait_until(lambda: len(tenant(running, "GET", "/v1/pairings").json()["items"]) == 2, what="two pairings")
        yield running


def _token(stack: LocalStack) -> dict[str, Any]:
    resp = tenant(stack, "POST", "/v1/pairings/token", {"channel": "telegram"})
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def tenant(stack: LocalStack, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, stack.url + path, json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)


def webhook(stack: LocalStack, update: dict[str, Any] | str) -> requests.Response:
    resp = requests.post(
        stack.url + "/v1/webhooks/telegram",
        data=update if isinstance(update, str) else json.dumps(update),
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return resp


def message(chat: int = CHAT, **fields: Any) -> dict[str, Any]:
    update = private_update(chat, "") if chat > 0 else group_update(chat, "")
    update["update_id"] = next(_ids)
    update["message"]["message_id"] = update["update_id"] % 1_000_000
    del update["message"]["text"]
    update["message"].update(fields)
    return update


def file(tg: FakeTelegram, file_id: str, data: bytes, **fields: Any) -> dict[str, Any]:
    tg.files[f"files/{file_id}"] = data
    return {"file_id": file_id, "file_unique_id": "u" + file_id, "file_size": len(data), **fields}


LOCATION = {"latitude": 48.858844, "longitude": 2.294351}


def test_every_message_kind_reaches_the_agent_or_is_acknowledged(
    stack: LocalStack, fakes: tuple[FakeTelegram, FakeOpenClaw]
) -> None:
    tg, openclaw = fakes
    start = len(openclaw.received)
    voice = fixture("voice.json")["message"]["voice"]
    media = {
        "photo": message(photo=[file(tg, "ph-s", PNG[:90], width=90, height=90),
                                file(tg, "ph-l", PNG, width=800, height=600)]),
        "image document": message(document=file(tg, "doc-png", PNG, file_name="scan.png", mime_type="image/png")),
        "pdf": message(document=file(tg, "doc-pdf", b"%PDF-1.4 fake", file_name="Q2.pdf",
                                     mime_type="application/pdf")),
        "voice": message(voice=file(tg, "voice", b"OggS voice", duration=voice["duration"], mime_type="audio/ogg")),
        "audio": message(audio=file(tg, "audio", b"ID3 audio", duration=3, mime_type="audio/mpeg",
                                    file_name="song.mp3")),
        "video": message(video=file(tg, "video", b"\0\0\0 ftypmp42", width=1, height=1, duration=1,
                                    mime_type="video/mp4")),
        "video note": message(video_note=file(tg, "vnote", b"\0\0\0 ftypmp42 note", length=240, duration=2)),
        "animation": message(animation=file(tg, "anim", b"\0\0\0 ftyp gif", width=1, height=1, duration=1,
                                            file_name="cat.mp4", mime_type="video/mp4"),
                             document=file(tg, "anim", b"\0\0\0 ftyp gif", file_name="cat.mp4",
                                           mime_type="video/mp4")),
        "sticker": message(sticker=file(tg, "sticker", b"RIFF\0\0\0\0WEBPVP8 ", width=512, height=512, emoji="🙂",
                                        is_animated=False, is_video=False, type="regular")),
        "photo over cap": message(photo=[file(tg, "php-s", PNG, width=320, height=240),
                                         {"file_id": "php-l", "file_unique_id": "uphp-l", "file_size": CAP + 1,
                                          "width": 4000, "height": 3000}]),
        "over cap": message(document={"file_id": "big", "file_unique_id": "ubig", "file_size": CAP + 30_000,
                                      "file_name": "big.pdf", "mime_type": "application/pdf"}),
    }
    shared = {
        "[location: 48.858844, 2.294351]": message(location=LOCATION),
        "[venue: Tour Eiffel, Champ de Mars]": message(venue={"location": LOCATION, "title": "Tour Eiffel",
                                                              "address": "Champ de Mars"}, location=LOCATION),
        "[contact: Bea Ko, +33123456789]": message(contact={"phone_number": "+33123456789", "first_name": "Bea",
                                                            "last_name": "Ko"}),
        "[poll: Lunch? — Pizza / Soup]": message(poll={"id": "1", "question": "Lunch?", "type": "regular",
                                                       "options": [{"text": "Pizza", "voter_count": 0},
                                                                   {"text": "Soup", "voter_count": 0}],
                                                       "total_voter_count": 0, "is_closed": False,
                                                       "is_anonymous": True, "allows_multiple_answers": False}),
        "[dice 🎲: 6]": message(dice={"emoji": "🎲", "value": 6}),
    }
    original = private_update(CHAT, "Meet at 5?")
    edits = []
    for n, text in enumerate(("Meet at 6?", "Meet at 7?")):
        edit = copy.deepcopy(original)
        edit["update_id"] = next(_ids)
        edit["edited_message"] = {**edit.pop("message"), "text": text, "edit_date": original["message"]["date"] + n + 1}
        edits.append(edit)
    callback = fixture("callback_query.json")
    callback["update_id"] = next(_ids)
    callback["callback_query"]["message"]["chat"] = copy.deepcopy(original["message"]["chat"])
    service = [
        message(GROUP, new_chat_members=[{"id": 42, "is_bot": False, "first_name": "Cy"}]),
        message(GROUP, left_chat_member={"id": 42, "is_bot": False, "first_name": "Cy"}),
        message(GROUP, pinned_message={"message_id": 5, "date": 1, "chat": {"id": GROUP, "type": "supergroup"},
                                       "text": "pinned"}),
        message(GROUP, new_chat_title="Ops room"),
        message(GROUP, new_chat_photo=[{"file_id": "cp", "file_unique_id": "ucp", "width": 1, "height": 1}]),
        message(GROUP, forum_topic_created={"name": "Releases", "icon_color": 7322096}),
    ]
    after_service = group_update(GROUP, "and now a real message")
    forwarded = [*media.values(), *shared.values(), original, *edits, callback, after_service]
    for update in [*media.values(), *shared.values(), original, *edits, callback, *service, after_service]:
        webhook(stack, update)

    assert openclaw.wait_for(lambda got: len(got) >= start + len(forwarded), timeout=60), (
        len(openclaw.received) - start, openclaw.refused
    )
    assert openclaw.refused == [] and openclaw.dropped == []
    got = {e["eventId"]: e for e in openclaw.received[start:]}
    assert set(got) == {f"{'tgcb' if 'callback_query' in u else 'tg'}:{u['update_id']}" for u in forwarded}
    turns = {t["envelope"]["eventId"]: t for t in openclaw.turns}
    assert set(got) <= set(turns)  # every forwarded envelope reached the agent

    for name, update in media.items():
        env = got[f"tg:{update['update_id']}"]
        (attachment,) = env["attachments"]
        assert attachment["url"].startswith(stack.url + "/v1/mux/files/telegram?id="), name
        if name == "over cap":
            assert "content" not in attachment
            assert env["body"] == "[document: big.pdf, 80.0 KB]"
        else:
            if "photo" in name:
                fid = update["message"]["photo"][0 if name == "photo over cap" else -1]["file_id"]
            else:
                fid = next(v["file_id"] for v in update["message"].values() if isinstance(v, dict) and "file_id" in v)
            assert base64.b64decode(attachment["content"]) == tg.files[f"files/{fid}"], name
            if attachment["mimeType"].startswith("image/"):
                assert env["body"] == "", name  # the image itself reaches the agent
            else:
                # OpenClaw hands the agent only images: a caption-less file of another kind is named in the body
                # (otherwise the agent's turn would be empty).
                assert env["body"].startswith("[") and env["body"].endswith("]") and ":" in env["body"], name
                assert turns[env["eventId"]]["body"] == env["body"], name
    assert [i["mimeType"] for i in turns[f"tg:{media['photo']['update_id']}"]["images"]] == ["image/png"]
    # A photo over the cap is inlined from a smaller size Telegram keeps; the url is the full size.
    assert got[f"tg:{media['photo over cap']['update_id']}"]["attachments"][0]["url"].endswith("id=php-l")
    assert turns[f"tg:{media['image document']['update_id']}"]["images"]  # an image sent as a file
    for body, update in shared.items():
        assert got[f"tg:{update['update_id']}"]["body"] == body

    first, *edited = (got[f"tg:{u['update_id']}"] for u in (original, *edits))
    assert [e["body"] for e in (first, *edited)] == ["Meet at 5?", "Meet at 6?", "Meet at 7?"]
    mid = str(original["message"]["message_id"])
    assert [e["messageId"] for e in (first, *edited)] == [
        mid, *(f"{mid}:edit:{u['edited_message']['edit_date']}" for u in edits)
    ]
    assert {e["channelData"]["originalMessageId"] for e in edited} == {mid}
    assert got[f"tgcb:{callback['update_id']}"]["event"]["kind"] == "callback"
    assert len(tg.bodies("answerCallbackQuery")) == 1

    # Service messages were handled (the group's next message came after them in order) and never sent on.
    service_ids = {f"tg:{u['update_id']}" for u in service}
    assert not service_ids & {e["eventId"] for e in openclaw.received}
    dead = requests.get(stack.url + "/v1/admin/dead-letters", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    assert dead.status_code == 200 and dead.json()["items"] == []

    # The agent's reply to an edit (OpenClaw replies to the turn's messageId) threads to the Telegram message.
    sent = tenant(stack, "POST", "/v1/mux/outbound/send", {
        "channel": "telegram", "sessionKey": first["sessionKey"], "text": "7 works",
        "replyToId": edited[-1]["messageId"],
    })
    assert sent.status_code == 200, sent.text
    reply = tg.bodies("sendMessage")[-1]
    assert reply["text"] == "7 works" and reply["reply_parameters"]["message_id"] == original["message"]["message_id"]


def test_unusable_updates_are_acknowledged_over_http(
    stack: LocalStack, fakes: tuple[FakeTelegram, FakeOpenClaw]
) -> None:
    _, openclaw = fakes
    before = len(openclaw.received) + len(openclaw.refused)
    bad_date = message(text="hi")
    bad_date["message"]["date"] = [1]
    surrogate = json.dumps(message(text="hi")).replace('"text": "hi"', '"text": "\\udc00"')
    for body in (json.dumps(bad_date), surrogate, '{"update_id": 1, "message": ' + "[" * 900 + "]" * 900 + "}"):
        assert webhook(stack, body).json() == {"ok": True, "ignored": True}
    # A message after them in the same chat arrives: nothing was queued in front of it, nothing failed.
    follow = private_update(CHAT, "still here")
    webhook(stack, follow)
    assert openclaw.wait_for(lambda got: any(e["eventId"] == f"tg:{follow['update_id']}" for e in got), timeout=30)
    assert len(openclaw.received) + len(openclaw.refused) == before + 1
