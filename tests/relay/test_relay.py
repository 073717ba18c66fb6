"""The gateway relay end to end on loopback: fake Discord gateway + REST, `python -m relay`, fake mux webhook."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.discord_gateway import BOT_USER_ID, FakeGateway
from tests.localstack import free_port, wait_until
from tests.relay.support import TOKEN, FakeMux, Relay

DEFAULT_INTENTS = 1 | (1 << 9) | (1 << 12) | (1 << 15)  # GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with FakeGateway(token=TOKEN) as gw:
        yield gw


@pytest.fixture
def mux() -> Iterator[FakeMux]:
    with FakeMux() as fake:
        yield fake


def relay_for(tmp_path: Path, gateway: FakeGateway, mux_url: str, **extra: str) -> Relay:
    return Relay(mux_url=mux_url, api_url=gateway.api_url, spool_dir=tmp_path / "spool",
                 log_path=tmp_path / "relay.log", extra=extra)


def health(relay: Relay) -> dict[str, object]:
    answer = relay.health()
    assert answer is not None
    return answer[1]


def wait_bodies(mux: FakeMux, count: int, what: str) -> list[bytes]:
    return wait_until(lambda: (lambda b: b if len(b) >= count else None)(mux.bodies()), timeout=10, what=what)


def test_each_message_create_is_posted_unchanged_and_signed(tmp_path: Path, gateway: FakeGateway,
                                                             mux: FakeMux) -> None:
    with relay_for(tmp_path, gateway, mux.url) as relay:
        wait_until(gateway.connected, timeout=10, what="the relay to IDENTIFY")
        identify = gateway.identifies[0]
        assert identify["token_ok"] and identify["intents"] == DEFAULT_INTENTS
        assert gateway.paths == ["/gateway"]  # the URL GET /gateway/bot named, zlib-stream (the fake checks the query)

        def spaced(seq: int) -> str:  # formatting no serialiser would reproduce: the bytes must pass untouched
            data = {"id": "1516365173227651080", "channel_id": "1320910480998531083", "content": "héllo 🎉 «ok»\n",
                    "author": {"id": "412345678901234567", "username": "carol.dev"}, "attachments": []}
            spread = json.dumps(data, indent=2, ensure_ascii=False)
            return '{ "op":0,\n "s": ' + str(seq) + ', "t" :"MESSAGE_CREATE", "d": ' + spread + " }"

        first = gateway.dispatch("MESSAGE_CREATE", None, frame=spaced)
        second = gateway.message_create(channel_id="1320910480998531083", content="plain")
        gateway.dispatch("TYPING_START", {"channel_id": "1320910480998531083", "user_id": "412345678901234567"})
        bodies = wait_bodies(mux, 2, "two deliveries")
        assert bodies == [first.encode("utf-8"), second.encode("utf-8")]
        assert mux.refused == []  # every post carried a valid X-Mux-Timestamp / X-Mux-Signature
        assert all(d.timestamp.isdigit() and len(d.signature) == 64 for d in mux.accepted)
        wait_until(lambda: health(relay)["spoolDepth"] == 0, timeout=5, what="an empty spool")
    assert len(mux.bodies()) == 2  # the typing event is not a message


def test_the_bots_own_messages_are_not_relayed(tmp_path: Path, gateway: FakeGateway, mux: FakeMux) -> None:
    with relay_for(tmp_path, gateway, mux.url) as relay:
        wait_until(gateway.connected, timeout=10, what="the relay to IDENTIFY")
        gateway.message_create(channel_id="77", content="the bot's own reply", author_id=BOT_USER_ID)
        user = gateway.message_create(channel_id="77", content="a user's message")
        assert wait_bodies(mux, 1, "the user's message") == [user.encode()]
        state = health(relay)
        assert state["skippedOwn"] == 1 and state["botUserId"] == BOT_USER_ID and state["received"] == 2


def test_mux_down_spools_then_delivers_each_channel_in_order(tmp_path: Path, gateway: FakeGateway,
                                                              mux: FakeMux) -> None:
    mux.status = 503
    with relay_for(tmp_path, gateway, mux.url) as relay:
        wait_until(gateway.connected, timeout=10, what="the relay to IDENTIFY")
        sent = [gateway.message_create(channel_id=channel, content=f"{channel}-{i}")
                for i in range(4) for channel in ("A", "B")]
        wait_until(lambda: (lambda h: h["spoolDepth"] == 8 and h["failedAttempts"] >= 2)(health(relay)),
                   timeout=10, what="eight spooled events and retries")
        assert "unavailable" in str(health(relay)["lastError"])
        mux.status = 200
        bodies = wait_bodies(mux, 8, "the spool to drain")
        for channel in ("A", "B"):
            got = [b for b in bodies if json.loads(b)["d"]["channel_id"] == channel]
            assert got == [s.encode() for s in sent if json.loads(s)["d"]["channel_id"] == channel]
        assert sorted(bodies) == sorted(s.encode() for s in sent)
        wait_until(lambda: health(relay)["spoolDepth"] == 0, timeout=5, what="an empty spool")


def test_wrong_secret_keeps_events_until_fixed_and_refused_events_are_dead_lettered(
        tmp_path: Path, gateway: FakeGateway, mux: FakeMux) -> None:
    mux.secret = "the mux has another secret"
    with relay_for(tmp_path, gateway, mux.url) as relay:
        wait_until(gateway.connected, timeout=10, what="the relay to IDENTIFY")
        kept = gateway.message_create(channel_id="9", content="kept")
        wait_until(lambda: len(mux.refused) >= 2, timeout=10, what="401s")
        assert "MUX_DISCORD_RELAY_SECRET" in str(health(relay)["lastError"])
        assert health(relay)["spoolDepth"] == 1
        mux.secret = relay.env["MUX_DISCORD_RELAY_SECRET"]
        assert wait_bodies(mux, 1, "delivery once the secret matches") == [kept.encode()]

        mux.status = 400  # the mux refuses this one for good: dead-lettered, the channel goes on
        refused = gateway.message_create(channel_id="9", content="refused")
        wait_until(lambda: health(relay)["rejected"] == 1, timeout=10, what="a dead letter")
        mux.status = 200
        after = gateway.message_create(channel_id="9", content="after")
        assert wait_bodies(mux, 2, "the next message")[1] == after.encode()
    letters = [json.loads(line) for line in (tmp_path / "spool" / "rejected.log").read_text().splitlines()]
    assert [(x["status"], x["body"]) for x in letters] == [(400, refused)]


def test_a_restarted_relay_delivers_what_its_spool_holds(tmp_path: Path, gateway: FakeGateway) -> None:
    mux_port = free_port()  # nothing listens there yet: the mux is unreachable
    first = relay_for(tmp_path, gateway, f"http://127.0.0.1:{mux_port}")
    with first:
        wait_until(gateway.connected, timeout=10, what="the relay to IDENTIFY")
        sent = [gateway.message_create(channel_id="5", content=f"m{i}") for i in range(3)]
        wait_until(lambda: health(first)["spoolDepth"] == 3, timeout=10, what="three spooled events")
        assert "ClientConnectorError" in str(health(first)["lastError"])
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL  # a crash: only what is on disk survives
    with FakeMux(port=mux_port) as mux, relay_for(tmp_path, gateway, mux.url) as second:
        assert "holds 3 undelivered events" in second.log()
        assert wait_bodies(mux, 3, "the spooled events") == [s.encode() for s in sent]
        # it resumed after the last message it had spooled: Discord replays none of them again
        wait_until(lambda: gateway.resumes, timeout=10, what="a RESUME")
        assert gateway.resumes[0]["seq"] == 4 and len(gateway.identifies) == 1
        wait_until(lambda: health(second)["spoolDepth"] == 0, timeout=5, what="an empty spool")
        assert second.stop() == 0


def test_a_redeployed_relay_resumes_the_session_and_gets_what_was_sent_meanwhile(
        tmp_path: Path, gateway: FakeGateway, mux: FakeMux) -> None:
    with relay_for(tmp_path, gateway, mux.url) as first:
        wait_until(gateway.connected, timeout=10, what="the relay to IDENTIFY")
        session_id = next(iter(gateway.sessions))
        sent = [gateway.message_create(channel_id="4", content="before the redeploy")]
        wait_bodies(mux, 1, "the first message")
        assert first.stop() == 0
    assert gateway.close_codes == [4000] and not gateway.connected()  # closed so that the session stays resumable
    sent += [gateway.message_create(channel_id="4", content=f"while no relay runs {i}") for i in range(2)]
    with relay_for(tmp_path, gateway, mux.url) as second:
        wait_until(lambda: gateway.resumes, timeout=10, what="a RESUME")
        assert gateway.resumes[0] == {"session_id": session_id, "seq": 2, "path": "/resume-gateway", "token_ok": True}
        assert wait_bodies(mux, 3, "the messages sent meanwhile") == [s.encode() for s in sent]
        assert len(gateway.identifies) == 1
        sent.append(gateway.message_create(channel_id="4", content="own?", author_id=BOT_USER_ID))
        sent.append(gateway.message_create(channel_id="4", content="after"))
        assert wait_bodies(mux, 4, "the next message")[3] == sent[-1].encode()  # own message skipped without READY
        assert health(second)["resumed"] == 1


def test_dropped_connection_is_resumed_and_nothing_is_lost(tmp_path: Path, gateway: FakeGateway,
                                                           mux: FakeMux) -> None:
    with relay_for(tmp_path, gateway, mux.url) as relay:
        wait_until(gateway.connected, timeout=10, what="the relay to IDENTIFY")
        session_id = next(iter(gateway.sessions))
        sent = [gateway.message_create(channel_id="3", content=f"before {i}") for i in range(2)]
        wait_bodies(mux, 2, "the first two")
        gateway.drop(hold=True)  # mid-stream: the next two are dispatched while the relay is away
        sent += [gateway.message_create(channel_id="3", content=f"while away {i}") for i in range(2)]
        gateway.release()
        wait_until(lambda: gateway.resumes, timeout=10, what="a RESUME")
        # READY was s=1 and the two delivered messages s=2, 3: the relay resumes after the last one it received
        assert gateway.resumes[0] == {"session_id": session_id, "seq": 3, "path": "/resume-gateway", "token_ok": True}
        assert wait_bodies(mux, 4, "the replayed events") == [s.encode() for s in sent]

        gateway.send_reconnect()  # op 7: reconnect and resume
        wait_until(lambda: len(gateway.resumes) == 2 and gateway.connected(), timeout=10, what="a second RESUME")
        sent.append(gateway.message_create(channel_id="3", content="after op 7"))
        assert wait_bodies(mux, 5, "the message after op 7") == [s.encode() for s in sent]
        assert len(gateway.identifies) == 1 and health(relay)["resumed"] == 2

        gateway.invalidate_session(resumable=False)  # op 9 false: the session is gone, the relay IDENTIFYs again
        wait_until(lambda: len(gateway.identifies) == 2 and gateway.connected(), timeout=10, what="a new IDENTIFY")
        sent.append(gateway.message_create(channel_id="3", content="new session"))
        assert wait_bodies(mux, 6, "the message in the new session") == [s.encode() for s in sent]
        assert health(relay)["identified"] == 2


def test_health_reports_state_and_turns_503(tmp_path: Path, gateway: FakeGateway) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with relay_for(tmp_path / "full", gateway, dead, MUX_RELAY_SPOOL_MAX_EVENTS="2") as relay:
        wait_until(gateway.connected, timeout=10, what="the relay to IDENTIFY")
        status, body = wait_until(lambda: (lambda a: a if a and a[1]["connected"] else None)(relay.health()),
                                  timeout=5, what="connected in /health")
        assert status == 200 and body["status"] == "ok" and body["spoolDepth"] == 0 and body["spoolMax"] == 2
        for i in range(3):
            gateway.message_create(channel_id="8", content=f"m{i}")
        wait_until(lambda: health(relay)["dropped"] == 1, timeout=10, what="the third message refused by a full spool")
        status, body = relay.health() or (0, {})
        assert status == 503 and body["spoolDepth"] == 2 and "spool full" in body["problems"][0]
        assert "dropped message" in str(body["lastError"]) or "unavailable" in str(body["lastError"])
    nowhere = Relay(mux_url=dead, api_url=f"http://127.0.0.1:{free_port()}/api/v10", spool_dir=tmp_path / "s2",
                    log_path=tmp_path / "relay2.log", extra={"MUX_RELAY_HEALTH_GRACE_SEC": "0.3"})
    with nowhere:
        status, body = wait_until(lambda: (lambda a: a if a and a[0] == 503 else None)(nowhere.health()),
                                  timeout=10, what="503 while Discord is unreachable")
        assert body["connected"] is False and "disconnected" in body["problems"][0]
        assert "gateway start failed" in str(body["lastError"])
    assert TOKEN not in (tmp_path / "full" / "relay.log").read_text() + (tmp_path / "relay2.log").read_text()
