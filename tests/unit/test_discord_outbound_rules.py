"""The Discord sender's pure rules: route keys, OpenClaw's `to` spellings, message planning, validation."""

from __future__ import annotations

import pytest

from chalicelib.channels.discord.outbound import SENDER, Route, _messages, parse_route, parse_target
from chalicelib.errors import InvalidInputError, TextTooLongError
from chalicelib.models import OutboundRequest


def request(**fields: object) -> OutboundRequest:
    return OutboundRequest.model_validate({"channel": "discord", "sessionKey": "s", **fields})


def test_route_keys() -> None:
    assert parse_route("discord:default:dm:user:42") == Route("dm", user_id="42")
    assert parse_route("discord:default:guild:1:channel:2") == Route("guild", guild_id="1", channel_id="2")
    assert parse_route("discord:default:guild:1:channel:2:thread:3").thread_id == "3"
    for bad in ("discord:default:dm:user:", "telegram:default:chat:1", "discord:default:guild:1:channel:2:x:3"):
        with pytest.raises(ValueError):
            parse_route(bad)


@pytest.mark.parametrize(("to", "expected"), [
    ("channel:123", ("channel", "123")), ("user:45", ("user", "45")), ("discord:channel:6", ("channel", "6")),
    ("discord:user:7", ("user", "7")), ("discord:8", ("user", "8")), ("<@!9>", ("user", "9")),
    ("<#10>", ("channel", "10")), ("11", ("channel", "11")), (12, ("channel", "12")),
    ("channel:abc", None), ("someone", None), (None, None), (True, None),
])
def test_openclaw_to_spellings(to: object, expected: tuple[str, str] | None) -> None:
    assert parse_target(to) == expected


def test_raw_send_fields_win_and_the_first_message_carries_the_media() -> None:
    planned = _messages(request(text="top", mediaUrl="https://a/top.png",
                                raw={"discord": {"send": {"text": "raw " + "x" * 2000, "mediaUrl": "https://a/r.png"}}}))
    assert [m.media for m in planned] == [["https://a/r.png"], []]
    assert planned[0].body["content"] == "raw" and planned[1].body["content"] == "x" * 2000


def test_emoji_count_twice_so_a_part_never_exceeds_discords_limit() -> None:
    planned = _messages(request(text="\N{GRINNING FACE}" * 1500))
    assert [len(m.body["content"]) for m in planned] == [1000, 500]


def test_validation() -> None:
    with pytest.raises(TextTooLongError):
        SENDER.validate(request(text="x" * 40_001))
    with pytest.raises(InvalidInputError):
        SENDER.validate(request(mediaUrls=[f"https://a/{i}.png" for i in range(11)]))
    with pytest.raises(InvalidInputError):
        SENDER.validate(request(raw={"discord": {"body": {"content": 5}}}))
    SENDER.validate(request(raw={"discord": {"body": {"content": "x" * 2000}}}))
    SENDER.validate(request(raw={"discord": {"body": {"sticker_ids": ["1"]}}}))
