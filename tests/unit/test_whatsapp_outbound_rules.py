"""The WhatsApp sender's pure rules: Graph error mapping, media kinds, addressing, message planning."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.channels.whatsapp import api
from chalicelib.channels.whatsapp.outbound import SENDER, _messages, addressing, media_kind, provider_error
from chalicelib.errors import InvalidInputError, TextTooLongError
from chalicelib.models import Binding, OutboundRequest


def binding(chat: str, scope: str = "chat") -> Binding:
    return Binding(binding_id="bind_x", tenant_id="t", channel="whatsapp", scope=scope,
                   route_key=f"whatsapp:318765432109876:chat:{chat}", session_key="s", chat_id=chat, created_at_ms=1)


def request(**fields: object) -> OutboundRequest:
    return OutboundRequest.model_validate({"channel": "whatsapp", "sessionKey": "s", **fields})


@pytest.mark.parametrize(("status", "code", "retry", "expected", "retry_ms"), [
    (400, 131047, None, "WINDOW_CLOSED", None),
    (429, 130429, None, "PROVIDER_RATE_LIMITED", 1000),
    (400, 131056, None, "PROVIDER_RATE_LIMITED", 6000),
    (400, 80007, 30.0, "PROVIDER_RATE_LIMITED", 30000),
    (400, 4, None, "PROVIDER_RATE_LIMITED", 1000),
    (401, 190, None, "PROVIDER_AUTH", None),
    (400, 131026, None, "PROVIDER_ERROR", None),
    (500, 0, None, "PROVIDER_ERROR", None),
])
def test_graph_errors_map_to_codes(status: int, code: int, retry: float | None, expected: str,
                                   retry_ms: int | None) -> None:
    err = provider_error(api.WhatsAppApiError(status, code, "m", retry_after_sec=retry))
    assert (err.status, err.code, err.body().get("retryAfterMs")) == (502, expected, retry_ms)


def test_unanswered_is_outcome_unknown_and_unreachable_is_provider_error() -> None:
    assert provider_error(api.WhatsAppApiError(0, 0, "x", outcome_unknown=True)).code == "PROVIDER_OUTCOME_UNKNOWN"
    assert provider_error(api.WhatsAppApiError(0, 0, "x")).code == "PROVIDER_ERROR"


def test_media_kinds_and_addressing() -> None:
    assert [media_kind(u) for u in ("https://a/x.JPG", "https://a/x.mp4?s=1", "https://a/v.opus", "https://a/s.webp",
                                    "https://a/report", "https://a/x.pdf")] == \
        ["image", "video", "audio", "sticker", "document", "document"]
    assert addressing(binding("447700900123")) == {"recipient_type": "individual", "to": "+447700900123"}
    assert addressing(binding("US.58203317440219867531")) == {"recipient_type": "individual",
                                                             "recipient": "US.58203317440219867531"}
    assert addressing(binding("Y2FwaV9", "group")) == {"recipient_type": "group", "to": "Y2FwaV9"}


def test_long_caption_goes_as_text_after_the_media() -> None:
    parts = _messages(request(text="c" * 1025, mediaUrl="https://a/x.png"))
    assert [p["type"] for p in parts] == ["image", "text"] and "caption" not in parts[0]["image"]


def test_emoji_count_twice_towards_the_limit() -> None:
    parts = _messages(request(text="👍" * 2049))
    assert [len(p["text"]["body"]) for p in parts] == [2048, 1]


def test_validation_refuses_what_can_never_be_sent() -> None:
    for bad in (request(), request(text="   "), request(raw={"whatsapp": "x"}),
                request(raw={"whatsapp": {"template": {"name": "n", "language": {"code": ""}}}})):
        with pytest.raises(InvalidInputError):
            SENDER.validate(bad)
    with pytest.raises(TextTooLongError):
        SENDER.validate(request(text="a", mediaUrls=[f"https://a/{i}.png" for i in range(21)]))


def test_an_unreachable_graph_api_is_not_asked_for_the_display_number_on_every_token(monkeypatch: Any) -> None:
    from chalicelib.channels.whatsapp import api

    calls: list[str] = []

    def unreachable(method: str, url: str, **_: Any) -> Any:
        calls.append(url)
        raise api.WhatsAppApiError(0, 0, "WhatsApp Cloud API unreachable: timed out")

    monkeypatch.setattr(api, "_exchange", unreachable)
    api._display_misses.pop("318765432109876", None)
    assert api.display_number("318765432109876") is None
    assert api.display_number("318765432109876") is None
    assert len(calls) == 1
