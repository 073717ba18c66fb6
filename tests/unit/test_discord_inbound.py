"""Discord inbound without I/O: every fixture parsed, signatures (Ed25519 fixtures, relay HMAC), routes, session
keys, commands, the envelope and the webhook's immediate answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.channels.base import UnusableEventError
from chalicelib.channels.discord import commands, verify
from chalicelib.channels.discord import inbound as dc
from chalicelib.channels.discord.receiver import RECEIVER
from chalicelib.errors import ConfigurationError
from tests.discord_support import command, fixture, gateway_message, relay_headers
from tests.fakes.discord_server import PUBLIC_KEY, RELAY_SECRET

USER = "412345678901234567"
DM = "1320910480998531083"
GUILD = "1174109840998531075"
CHANNEL = "1174109843095683076"


def _signed(name: str) -> tuple[bytes, str, str, int]:
    case = fixture(name)
    headers = case["headers"]
    ts = headers["X-Signature-Timestamp"]
    return case["raw_body"].encode(), headers["X-Signature-Ed25519"], ts, int(ts)


@pytest.mark.parametrize("name", ["signed_request_ping.json", "signed_request_command_dm.json"])
def test_fixture_signatures_verify_with_the_rfc8032_key(name: str) -> None:
    raw, sig, ts, now = _signed(name)
    assert fixture(name)["application_public_key_hex"] == PUBLIC_KEY
    assert verify.interaction_problem(raw, sig, ts, PUBLIC_KEY, now_s=now + 5) is None


def test_tampered_missing_and_stale_interactions_are_refused() -> None:
    raw, sig, ts, now = _signed("signed_request_tampered.json")
    assert fixture("signed_request_tampered.json")["expected_valid"] is False
    assert verify.interaction_problem(raw, sig, ts, PUBLIC_KEY, now_s=now) == "bad_signature"
    good, sig, ts, now = _signed("signed_request_command_dm.json")
    assert verify.interaction_problem(good, None, ts, PUBLIC_KEY, now_s=now) == "missing"
    assert verify.interaction_problem(good, sig, None, PUBLIC_KEY, now_s=now) == "missing"
    assert verify.interaction_problem(good, "zz" * 64, ts, PUBLIC_KEY, now_s=now) == "bad_signature"
    assert verify.interaction_problem(good, sig, str(now + 1), PUBLIC_KEY, now_s=now) == "bad_signature"
    # Genuine but replayed later than the window (300 s), or from the future beyond it.
    assert verify.interaction_problem(good, sig, ts, PUBLIC_KEY, now_s=now + 300) is None
    assert verify.interaction_problem(good, sig, ts, PUBLIC_KEY, now_s=now + 301) == "stale"
    assert verify.interaction_problem(good, sig, ts, PUBLIC_KEY, now_s=now - 301) == "stale"
    with pytest.raises(ConfigurationError):
        verify.interaction_problem(good, sig, ts, "not-a-key", now_s=now)


def test_relay_hmac_over_timestamp_dot_body() -> None:
    raw = json.dumps(fixture("gateway_message_create_dm.json")).encode()
    headers = relay_headers(raw, "1781600000")
    sig, ts = headers["X-Mux-Signature"], headers["X-Mux-Timestamp"]
    assert verify.relay_problem(raw, sig, ts, RELAY_SECRET, now_s=1781600000) is None
    assert verify.relay_problem(raw, sig.upper(), ts, RELAY_SECRET, now_s=1781600000) is None
    assert verify.relay_problem(raw + b" ", sig, ts, RELAY_SECRET, now_s=1781600000) == "bad_signature"
    assert verify.relay_problem(raw, sig, ts, "other-secret", now_s=1781600000) == "bad_signature"
    assert verify.relay_problem(raw, sig, ts, RELAY_SECRET, now_s=1781600301) == "stale"
    assert verify.relay_problem(raw, None, ts, RELAY_SECRET, now_s=1781600000) == "missing"
    assert verify.relay_problem(raw, sig, "soon", RELAY_SECRET, now_s=1781600000) == "bad_timestamp"


def test_every_event_fixture_parses() -> None:
    assert dc.parse(fixture("ping.json")) is None
    ask = dc.parse(fixture("command_dm.json"))
    assert ask is not None and (ask.event_id, ask.kind, ask.text, ask.route_candidates()) == (
        "dci:1516365047398531074", "command", "Draft a polite reply declining Thursday's meeting",
        [f"discord:default:dm:user:{USER}"])
    guild = dc.parse(fixture("command_guild.json"))
    assert guild is not None and guild.route_candidates() == [f"discord:default:guild:{GUILD}:channel:{CHANNEL}"]
    assert guild.channel_name == "general" and guild.permissions == 2248473465835073
    pair = dc.parse(fixture("command_pair_dm.json"))
    assert pair is not None and (pair.command_name, pair.command_args) == (
        "pair", "pair_7fQ2mZt4yR7pL1aVbN9cD3eF6gH0jK5x")
    button = dc.parse(fixture("component_button.json"))
    assert button is not None and (button.kind, button.text, button.component_message_id) == (
        "callback", "mux:model:smart", "1516365053689987078")
    dm = dc.parse(fixture("gateway_message_create_dm.json"))
    assert dm is not None and (dm.event_id, dm.is_dm, dm.post_channel) == ("dc:1516365173227651079", True, DM)
    msg = dc.parse(fixture("gateway_message_create_guild.json"))
    assert msg is not None and msg.text.startswith("<@1299938960998531079> can you")
    assert msg.timestamp_ms == 1781600045000


def test_receiver_maps_commands_tokens_sessions_and_typing_refs() -> None:
    ask = RECEIVER.parse(fixture("command_dm.json"))
    assert ask is not None and ask.command is not None and ask.command.name == "ask" and ask.forwardable
    assert (ask.scope, ask.is_private, ask.chat_id, ask.route_key) == (
        "dm", True, DM, f"discord:default:dm:user:{USER}")
    assert RECEIVER.session_key(ask, None, thread=False) == f"agent:main:discord:direct:{USER}"
    assert ask.typing_ref == f"ix:1299938960998531079:1516365047398531074:{fixture('command_dm.json')['token']}"
    pair = RECEIVER.parse(fixture("command_pair_dm.json"))
    assert pair is not None and pair.command is None and pair.token == "pair_7fQ2mZt4yR7pL1aVbN9cD3eF6gH0jK5x"
    status = RECEIVER.parse(command("bot_status", guild=True))
    assert status is not None and status.command is not None and status.command.name == "bot_status"
    token = "mpt_" + "A" * 32
    bare = RECEIVER.parse(gateway_message(f"here: {token}"))
    assert bare is not None and bare.token == token and bare.typing_ref == f"msg:{bare.native.message_id}"
    guild = RECEIVER.parse(fixture("gateway_message_create_guild.json"))
    assert guild is not None and RECEIVER.session_key(guild, "ops", thread=False) == (
        f"agent:ops:discord:channel:{CHANNEL}")
    button = RECEIVER.parse(fixture("component_button.json"))
    assert button is not None and button.kind == "callback" and button.typing_ref == "msg:1516365053689987078"


def test_a_thread_is_looked_up_after_its_parent_bound_at_the_parent_with_its_own_session() -> None:
    thread = {"id": "1300000000000000001", "type": 11, "name": "release-42", "parent_id": CHANNEL, "guild_id": GUILD}
    msg = RECEIVER.parse(command("ask", {"prompt": "hi"}, guild=True, channel=thread))
    assert msg is not None
    assert msg.route_candidates == [
        f"discord:default:guild:{GUILD}:channel:{CHANNEL}:thread:1300000000000000001",
        f"discord:default:guild:{GUILD}:channel:{CHANNEL}"]
    assert (msg.route_key, msg.chat_id, msg.thread_id) == (
        f"discord:default:guild:{GUILD}:channel:{CHANNEL}", CHANNEL, "1300000000000000001")
    assert RECEIVER.session_key(msg, None, thread=False) == f"agent:main:discord:channel:{CHANNEL}"
    assert RECEIVER.session_key(msg, None, thread=True) == "agent:main:discord:channel:1300000000000000001"
    # A gateway message names only its channel: the lookup says it is a thread, and of which channel.
    seen: list[str] = []

    def lookup(channel_id: str) -> dc.ChannelInfo:
        seen.append(channel_id)
        return dc.ChannelInfo(type=11, parent_id=CHANNEL, name="release-42")

    gw = dc.parse(gateway_message("in the thread", guild=True, channel_id="1300000000000000001", channel_type=11),
                  channels=lookup)
    assert gw is not None and gw.route_candidates()[1] == f"discord:default:guild:{GUILD}:channel:{CHANNEL}"
    assert seen == ["1300000000000000001"]
    # A plain text channel (channel_type 0) needs no lookup.
    assert dc.parse(fixture("gateway_message_create_guild.json"), channels=lookup) is not None and len(seen) == 1


def test_ignored_and_unusable_events() -> None:
    assert dc.parse({"op": 0, "t": "MESSAGE_UPDATE", "d": {}}) is None
    assert dc.parse(gateway_message("beep", author={"id": "1", "bot": True})) is None
    assert dc.parse(gateway_message("pinned", type=6)) is None  # CHANNEL_PINNED_MESSAGE: a service message
    assert dc.parse(gateway_message("joined", type=7)) is None
    assert dc.parse(gateway_message("via hook", webhook_id="99")) is None
    assert dc.parse(gateway_message("a reply", type=19)) is not None
    for bad in (
        gateway_message("x", channel_id=123),
        gateway_message("x", author={"username": "no id"}),
        {**fixture("command_dm.json"), "user": None},
        {**fixture("command_dm.json"), "data": {"name": "unknown_cmd"}},
        {**fixture("command_dm.json"), "type": 5},
        {"op": 0, "t": "MESSAGE_CREATE", "d": []},
    ):
        with pytest.raises(UnusableEventError):
            dc.parse(bad)


def test_admins_are_told_by_member_permissions() -> None:
    def admin(permissions: str) -> bool:
        msg = RECEIVER.parse(command("bot_unpair", guild=True, permissions=permissions))
        assert msg is not None
        return RECEIVER.is_chat_admin(msg)

    assert admin(str(1 << 3)) and admin(str(1 << 4)) and admin(str(1 << 5))
    assert not admin("2048")
    gateway = RECEIVER.parse(fixture("gateway_message_create_guild.json"))
    assert gateway is not None and not RECEIVER.is_chat_admin(gateway)


def test_webhook_answers() -> None:
    assert commands.immediate(fixture("ping.json")) == fixture("interaction_response_pong.json")
    ask, pair, button = (dc.parse(fixture(n)) for n in ("command_dm.json", "command_pair_dm.json",
                                                        "component_button.json"))
    assert ask is not None and pair is not None and button is not None
    assert commands.deferred(ask) == fixture("interaction_response_deferred.json")
    assert commands.deferred(pair) == {"type": 5, "data": {"flags": 64}}
    assert commands.deferred(button) == {"type": 6}


def test_envelope_of_a_guild_message_and_of_ask() -> None:
    msg = RECEIVER.parse(fixture("gateway_message_create_guild.json"))
    assert msg is not None
    env: dict[str, Any] = RECEIVER.envelope(msg, session_key="agent:main:discord:channel:1", account_id="mux",
                                            route_key=msg.route_key, settings=_settings())
    assert {k: env[k] for k in ("eventId", "channel", "from", "to", "chatType", "messageId", "accountId")} == {
        "eventId": "dc:1516365236142211080", "channel": "discord", "from": f"discord:{USER}",
        "to": f"channel:{CHANNEL}", "chatType": "group", "messageId": "1516365236142211080", "accountId": "mux"}
    assert env["event"] == {"kind": "message", "raw": fixture("gateway_message_create_guild.json")}
    assert env["raw"] == env["event"]["raw"] and "attachments" not in env
    cd = env["channelData"]
    assert (cd["channelId"], cd["guildId"], cd["routeKey"]) == (CHANNEL, GUILD, msg.route_key)
    assert cd["discord"]["rawMessage"] == fixture("gateway_message_create_guild.json")["d"]
    ask = RECEIVER.parse(fixture("command_dm.json"))
    assert ask is not None
    env = RECEIVER.envelope(ask, session_key="s", account_id="mux", route_key=ask.route_key, settings=_settings())
    assert (env["event"]["kind"], env["body"], env["chatType"], env["to"]) == (
        "command", "Draft a polite reply declining Thursday's meeting", "direct", f"channel:{DM}")
    assert env["channelData"]["discord"]["commandName"] == "ask" and "guildId" not in env["channelData"]


def _settings() -> Any:
    from chalicelib.config import Settings

    return Settings.model_validate({"MUX_INBOUND_MEDIA_MAX_BYTES": "0"})


def test_file_notes_are_one_description_for_every_channel() -> None:
    from chalicelib.channels import filenotes
    from chalicelib.channels.telegram import inbound as telegram

    assert telegram.describe_file is filenotes.describe_file
    assert filenotes.describe_file({"type": "document", "fileName": "disk.img", "size": 2 * 10**9}) == \
        "[document: disk.img, 2.0 GB]"
