"""The Discord REST stand-in applies Discord's rules where our code depends on them, and the REST client
(chalicelib/channels/discord/api.py) parses and maps what it answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from chalicelib.channels.discord import api
from chalicelib.config import reset_settings
from tests.fakes.discord_server import (
    APPLICATION_ID,
    BOT_TOKEN,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    GUILD_ID,
    USER_ID,
    FakeDiscord,
    load,
)

BOT = {"Authorization": f"Bot {BOT_TOKEN}"}


@pytest.fixture
def dc(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake:
        fake.fixture_world()
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        reset_settings()
        yield fake
    reset_settings()


def post(dc: FakeDiscord, path: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(dc.base_url + path, json=body, headers=BOT if headers is None else headers, timeout=5)


def test_send_answers_a_message_like_the_fixture_and_records_it(dc: FakeDiscord) -> None:
    answer = post(dc, f"/channels/{DM_CHANNEL_ID}/messages", {"content": "hi", "nonce": "mux-out-1"}).json()
    shape = load("send_ok.json")
    assert set(shape) <= set(answer)
    assert answer["channel_id"] == DM_CHANNEL_ID and answer["content"] == "hi" and answer["author"]["bot"]
    [call] = dc.calls("POST /channels/{channel}/messages")
    assert (call.token, call.body, call.params) == (BOT_TOKEN, {"content": "hi", "nonce": "mux-out-1"},
                                                    {"channel": DM_CHANNEL_ID})


def test_content_over_2000_is_50035_as_discord_answers(dc: FakeDiscord) -> None:
    resp = post(dc, f"/channels/{CHANNEL_ID}/messages", {"content": "x" * 2001})
    assert resp.status_code == 400 and resp.json() == load("error_50035_content_too_long.json")
    assert post(dc, f"/channels/{CHANNEL_ID}/messages", {"content": "x" * 2000}).status_code == 200


@pytest.mark.parametrize(("body", "status", "code"), [
    ({}, 400, 50006),
    ({"content": ""}, 400, 50006),
    ({"embeds": [{"title": "t"}] * 11}, 400, 50035),
    ({"embeds": [{"image": {"url": "ftp://x/y.png"}}]}, 400, 50035),
    ({"embeds": [{"description": "d" * 4000}] * 2}, 400, 50035),  # 6000 is for all the embeds together
    ({"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]}, 400, 50035),
    ({"embeds": [{"footer": {"text": "f" * 2049}}]}, 400, 50035),
    ({"embeds": [{"description": "d" * 3000}] * 2}, 200, None),
    ({"content": "a", "nonce": "n" * 26}, 400, 50035),
    ({"content": "a", "allowed_mentions": {"parse": ["all"]}}, 400, 50035),
    ({"content": "a", "allowed_mentions": {"parse": ["users"], "users": ["412345678901234567"]}}, 400, 50035),
    ({"content": "a", "allowed_mentions": {"parse": ["roles"], "users": ["412345678901234567"]}}, 200, None),
    ({"content": "a", "message_reference": {"message_id": "999"}}, 400, 50035),
    ({"content": "a", "message_reference": {"message_id": "999", "fail_if_not_exists": False}}, 200, None),
    ({"embeds": [{"image": {"url": "https://x/y.png"}}]}, 200, None),
])
def test_message_rules(dc: FakeDiscord, body: dict[str, Any], status: int, code: int | None) -> None:
    resp = post(dc, f"/channels/{CHANNEL_ID}/messages", body)
    assert resp.status_code == status
    assert resp.json().get("code") == code


def test_bot_routes_need_the_bot_token_and_interaction_routes_do_not(dc: FakeDiscord) -> None:
    for headers in ({}, {"Authorization": BOT_TOKEN}, {"Authorization": "Bot wrong"}):
        resp = post(dc, f"/channels/{CHANNEL_ID}/messages", {"content": "a"}, headers)
        assert (resp.status_code, resp.json()) == (401, {"message": "401: Unauthorized", "code": 0})
    ix = dc.new_interaction(DM_CHANNEL_ID)
    assert post(dc, f"/interactions/{ix.id}/{ix.token}/callback", {"type": 5}, {}).status_code == 204
    assert dc.calls()[-1].token is None


def test_unknown_channel_and_reply_into_the_referenced_channel(dc: FakeDiscord) -> None:
    assert post(dc, "/channels/123/messages", {"content": "a"}).json()["code"] == 10003
    theirs = dc.add_message(CHANNEL_ID, "question")
    reply = post(dc, f"/channels/{CHANNEL_ID}/messages",
                 {"content": "answer", "message_reference": {"message_id": theirs}}).json()
    assert reply["type"] == 19 and reply["referenced_message"]["id"] == theirs
    assert post(dc, f"/channels/{DM_CHANNEL_ID}/messages",
                {"content": "a", "message_reference": {"message_id": theirs}}).status_code == 400


def test_edit_and_delete_only_own_messages_and_reactions(dc: FakeDiscord) -> None:
    mine = post(dc, f"/channels/{CHANNEL_ID}/messages", {"content": "v1"}).json()["id"]
    theirs = dc.add_message(CHANNEL_ID)
    url = f"{dc.base_url}/channels/{CHANNEL_ID}/messages"
    edited = requests.patch(f"{url}/{mine}", json={"content": "v2"}, headers=BOT, timeout=5).json()
    assert edited["content"] == "v2" and edited["edited_timestamp"]
    assert requests.patch(f"{url}/{theirs}", json={"content": "x"}, headers=BOT, timeout=5).json()["code"] == 50005
    assert requests.put(f"{url}/{theirs}/reactions/%F0%9F%91%8D/@me", headers=BOT, timeout=5).status_code == 204
    assert dc.reactions[theirs] == {"\N{THUMBS UP SIGN}"}
    assert requests.delete(f"{url}/{mine}", headers=BOT, timeout=5).status_code == 204
    assert requests.delete(f"{url}/{mine}", headers=BOT, timeout=5).json()["code"] == 10008


def test_channels_dm_creation_and_blocked_dms(dc: FakeDiscord) -> None:
    dc.add_channel("555", guild_id=GUILD_ID, type=11, parent_id=CHANNEL_ID)
    thread = requests.get(f"{dc.base_url}/channels/555", headers=BOT, timeout=5).json()
    assert (thread["guild_id"], thread["type"], thread["parent_id"]) == (GUILD_ID, 11, CHANNEL_ID)
    dm = post(dc, "/users/@me/channels", {"recipient_id": USER_ID}).json()
    assert dm["id"] == DM_CHANNEL_ID and set(load("dm_channel_ok.json")) <= set(dm) and "guild_id" not in dm
    fresh = post(dc, "/users/@me/channels", {"recipient_id": "42"}).json()
    assert fresh["type"] == 1 and fresh["id"] == post(dc, "/users/@me/channels", {"recipient_id": "42"}).json()["id"]
    dc.dm_blocked.add("42")
    resp = post(dc, f"/channels/{fresh['id']}/messages", {"content": "a"})
    assert (resp.status_code, resp.json()) == (403, load("error_50007.json"))


def test_interaction_token_lifetime(dc: FakeDiscord) -> None:
    late = dc.new_interaction(DM_CHANNEL_ID, age=3.5)
    assert post(dc, f"/interactions/{late.id}/{late.token}/callback", {"type": 5}, {}).json() == \
        load("error_10062.json")
    ix = dc.new_interaction(DM_CHANNEL_ID)
    assert post(dc, f"/webhooks/{APPLICATION_ID}/{ix.token}", {"content": "early"}, {}).json()["code"] == 10015
    assert post(dc, f"/interactions/{ix.id}/{ix.token}/callback", {"type": 5}, {}).status_code == 204
    assert post(dc, f"/interactions/{ix.id}/{ix.token}/callback", {"type": 5}, {}).json()["code"] == 40060
    original = f"{dc.base_url}/webhooks/{APPLICATION_ID}/{ix.token}/messages/@original"
    edited = requests.patch(original, json=load("edit_original_request.json"), timeout=5).json()
    assert edited["content"] == load("edit_original_request.json")["content"] and not edited["flags"] & 128
    assert requests.get(original, timeout=5).json()["id"] == edited["id"]
    assert ix.token not in json.dumps(edited)  # Discord's message objects never carry the interaction token
    assert post(dc, f"/webhooks/{APPLICATION_ID}/{ix.token}", {"content": "more"}, {}).json()["channel_id"] == \
        DM_CHANNEL_ID
    ix.created -= 15 * 60 + 1
    resp = requests.patch(original, json={"content": "late"}, timeout=5)
    assert (resp.status_code, resp.json()["code"]) == (401, 50027)


def test_scripted_and_counting_rate_limits(dc: FakeDiscord) -> None:
    route = "POST /channels/{channel}/messages"
    dc.throttle(0.428, route=route)
    resp = post(dc, f"/channels/{CHANNEL_ID}/messages", {"content": "a"})
    shape = load("error_429_http.json")
    assert (resp.status_code, resp.json()) == (429, shape["body"])
    assert set(shape["headers"]) <= set(resp.headers) and resp.headers["Retry-After"] == "1"
    dc.throttle(1.37, global_=True)
    resp = post(dc, f"/channels/{CHANNEL_ID}/typing", None)
    assert resp.json() == load("error_429_global_http.json")["body"] and resp.headers["X-RateLimit-Global"] == "true"
    dc.limit(route, 2, 60)
    statuses = [post(dc, f"/channels/{CHANNEL_ID}/messages", {"content": "a"}).status_code for _ in range(3)]
    other = post(dc, f"/channels/{DM_CHANNEL_ID}/messages", {"content": "a"})
    assert statuses == [200, 200, 429] and other.status_code == 200
    assert other.headers["X-RateLimit-Remaining"] == "1"
    dc.limit_global(1, 60)
    assert post(dc, f"/channels/{CHANNEL_ID}/typing", None).status_code == 204
    resp = post(dc, "/users/@me/channels", {"recipient_id": USER_ID})
    assert (resp.status_code, resp.json()["global"], resp.headers["X-RateLimit-Global"]) == (429, True, "true")
    ix = dc.new_interaction(DM_CHANNEL_ID)  # interaction routes are not bot-token calls: no global limit
    assert post(dc, f"/interactions/{ix.id}/{ix.token}/callback", {"type": 5}, {}).status_code == 204


def test_multipart_attachments_and_their_size_limit(dc: FakeDiscord) -> None:
    sent = api.post_message(CHANNEL_ID, {"content": "see", "attachments": [{"id": 0, "filename": "a.png"}]},
                            [api.File("a.png", b"\x89PNG....", "image/png")])
    assert sent["attachments"][0]["filename"] == "a.png" and sent["content"] == "see"
    [call] = dc.calls("POST /channels/{channel}/messages")
    assert call.files == [{"name": "files[0]", "filename": "a.png", "content_type": "image/png", "size": 8}]
    with pytest.raises(api.DiscordApiError) as err:
        api.post_message(CHANNEL_ID, {"attachments": [{"id": 1}]}, [api.File("a.png", b"x")])
    assert err.value.code == 50035
    with pytest.raises(api.DiscordApiError) as err:
        api.post_message(CHANNEL_ID, {}, [api.File("big.bin", b"\0" * (10 * 1024 * 1024 + 1))])
    assert (err.value.status, err.value.code) == (413, 40005)


def test_commands_bulk_overwrite_validated_and_ids_kept(dc: FakeDiscord) -> None:
    commands = load("register_commands_request.json")
    first = api.put_commands(APPLICATION_ID, commands)
    again = api.put_commands(APPLICATION_ID, commands)
    assert [c["name"] for c in api.get_commands(APPLICATION_ID)] == ["ask", "pair"]
    assert [c["id"] for c in first] == [c["id"] for c in again]
    assert first[0]["integration_types"] == [0, 1] and first[0]["contexts"] == [0, 1, 2]
    with pytest.raises(api.DiscordApiError) as err:
        api.put_commands(APPLICATION_ID, [{**commands[0], "name": "Ask"}])
    assert err.value.code == 50035
    with pytest.raises(api.DiscordApiError) as err:
        api.put_commands(APPLICATION_ID, [commands[0], commands[0]])
    assert err.value.code == 50035
    with pytest.raises(api.DiscordApiError) as err:
        api.put_commands("42", commands)
    assert err.value.code == 50001


def test_unknown_routes_are_404_and_recorded(dc: FakeDiscord) -> None:
    resp = requests.post(f"{dc.base_url}/guilds/1/bans/2", headers=BOT, timeout=5)
    assert (resp.status_code, resp.json()["message"]) == (404, "404: Not Found")
    assert [(c.route, c.status) for c in dc.calls()] == [("POST ?", 404)]


def test_gateway_bot_and_me(dc: FakeDiscord) -> None:
    answer = requests.get(f"{dc.base_url}/gateway/bot", headers=BOT, timeout=5).json()
    assert answer["url"] == dc.gateway_url and answer["shards"] == 1
    assert set(answer["session_start_limit"]) == {"total", "remaining", "reset_after", "max_concurrency"}
    assert requests.get(f"{dc.base_url}/gateway/bot", timeout=5).status_code == 401
    assert requests.get(f"{dc.base_url}/gateway", timeout=5).json() == {"url": dc.gateway_url}
    assert api.get_me()["id"] == APPLICATION_ID


@pytest.mark.parametrize(("status", "body", "headers", "code", "retry_ms"), [
    (429, load("error_429_http.json")["body"], {}, "PROVIDER_RATE_LIMITED", 428),
    (429, load("error_429_global_http.json")["body"], {"X-RateLimit-Global": "true"}, "PROVIDER_RATE_LIMITED", 1370),
    (429, {"message": "x"}, {"Retry-After": "2"}, "PROVIDER_RATE_LIMITED", 2000),
    (401, {"message": "401: Unauthorized", "code": 0}, {}, "PROVIDER_AUTH", None),
    (403, load("error_50007.json"), {}, "PROVIDER_ERROR", None),
    (400, load("error_50035_content_too_long.json"), {}, "PROVIDER_ERROR", None),
    (500, {"message": "oops"}, {}, "PROVIDER_ERROR", None),
])
def test_client_maps_discord_errors(dc: FakeDiscord, status: int, body: dict[str, Any], headers: dict[str, str],
                                    code: str, retry_ms: int | None) -> None:
    dc.fail(body, status=status, headers=headers)
    with pytest.raises(api.DiscordApiError) as err:
        api.post_message(CHANNEL_ID, {"content": "a"})
    mapped = api.provider_error(err.value)
    assert (mapped.status, mapped.code, mapped.body().get("retryAfterMs")) == (502, code, retry_ms)
    assert BOT_TOKEN not in str(mapped.body())


def test_unanswered_send_is_outcome_unknown_and_interaction_token_gone(dc: FakeDiscord) -> None:
    dc.hang(1.0)
    with pytest.raises(api.DiscordApiError) as err:
        api.post_message(CHANNEL_ID, {"content": "a"}, timeout=0.2)
    assert api.provider_error(err.value).code == "PROVIDER_OUTCOME_UNKNOWN"
    assert dc.sent()[0]["content"] == "a"  # acted on: why the outcome is unknown
    ix = dc.new_interaction(DM_CHANNEL_ID, age=16 * 60)
    with pytest.raises(api.DiscordApiError) as err:
        api.followup(APPLICATION_ID, ix.token, {"content": "late"})
    assert err.value.interaction_gone and ix.token not in str(api.provider_error(err.value).body())
