"""muxctl's Discord commands without a mux: `discord register-commands` against the Discord REST stand-in
(which applies Discord's command rules), and `discord check` against loopback interaction endpoints."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from muxctl.discord import COMMANDS, load_signing_key, normal_command, public_key_hex, same_commands
from muxctl.discord_rest import FakeDiscord
from tests.localstack import ROOT
from tests.muxctl.support import run, run_json

FIXTURES = ROOT / "tests" / "fixtures" / "discord"
TOKEN = "fake-discord-bot-token"
APP = "1299938960998531079"
TEST_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"  # RFC 8032 test key 1
TEST_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
ENV: dict[str, str | None] = {"DISCORD_BOT_TOKEN": None, "DISCORD_APPLICATION_ID": None,
                              "MUX_DISCORD_API_BASE_URL": None, "MUXCTL_DISCORD_SIGNING_KEY": None}


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    with FakeDiscord(bot_token=TOKEN, application_id=APP) as dc:
        yield dc


def register(fake: FakeDiscord, *extra: str, token: str = TOKEN) -> Any:
    return run(["discord", "register-commands", "--bot-token", token, "--api-base", fake.base_url, *extra], ENV)


# --- register-commands ----------------------------------------------------------------------------
def test_the_command_set_matches_the_fixture_and_works_in_dms_for_user_installs() -> None:
    fixture = json.loads((FIXTURES / "register_commands_request.json").read_text())
    by_name = {c["name"]: c for c in COMMANDS}
    assert [by_name["ask"], by_name["pair"]] == fixture
    assert set(by_name) == {"ask", "pair", "bot_status", "bot_unpair", "bot_help", "bot_sessions", "bot_use"}
    assert all(c["integration_types"] == [0, 1] and c["contexts"] == [0, 1, 2] for c in COMMANDS)


def test_register_writes_the_set_once_then_says_unchanged(fake: FakeDiscord) -> None:
    first = register(fake, "--application-id", APP)
    assert first.exit_code == 0, first.stderr
    assert "registered" in first.stdout
    assert [c.route for c in fake.calls()] == ["GET /applications/{app}/commands", "PUT /applications/{app}/commands"]
    assert all(c.ok for c in fake.calls()) and len(fake.commands) == 7
    again = register(fake, "--application-id", APP)
    assert again.exit_code == 0 and "unchanged" in again.stdout
    assert [c.route for c in fake.calls()][2:] == ["GET /applications/{app}/commands"]


def test_register_rewrites_a_set_that_drifted_and_finds_the_application_id(fake: FakeDiscord) -> None:
    assert register(fake).exit_code == 0  # the application id from GET /users/@me
    fake.commands = [c for c in fake.commands if c["name"] != "bot_use"]
    fake.commands[0] = {**fake.commands[0], "description": "changed by hand"}
    data = run_json(["discord", "register-commands", "--bot-token", TOKEN, "--api-base", fake.base_url], ENV)
    assert data["changed"] is True and data["applicationId"] == APP
    assert same_commands(fake.commands, COMMANDS)


def test_register_failures_are_one_line_with_the_exit_code(fake: FakeDiscord) -> None:
    missing = run(["discord", "register-commands", "--api-base", fake.base_url], ENV)
    assert missing.exit_code == 2 and "DISCORD_BOT_TOKEN" in missing.stderr
    refused = register(fake, "--application-id", APP, token="wrong-token")
    assert refused.exit_code == 4 and "check the bot token" in refused.stderr and "wrong-token" not in refused.stderr
    other_app = register(fake, "--application-id", "42")
    assert other_app.exit_code == 4 and "50001" in other_app.stderr


def test_stored_commands_compare_equal_to_what_was_sent(fake: FakeDiscord) -> None:
    assert register(fake, "--application-id", APP).exit_code == 0
    stored = fake.commands
    assert "id" in stored[0] and "version" in stored[0]
    assert [normal_command(c) for c in stored] == [normal_command(c) for c in COMMANDS]
    assert not same_commands(stored, [*COMMANDS[:-1], {**COMMANDS[-1], "contexts": [0]}])


# --- check ----------------------------------------------------------------------------------------
Verdict = Callable[[dict[str, str], bytes], tuple[int, dict[str, Any]]]


@pytest.fixture
def endpoint() -> Iterator[Callable[[Verdict], str]]:
    """`endpoint(verdict)` → the base URL of a loopback mux whose interactions route answers verdict(headers, body)."""
    servers: list[ThreadingHTTPServer] = []
    seen: list[tuple[dict[str, str], bytes]] = []

    def start(verdict: Verdict) -> str:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return None

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items()}
                seen.append((headers, body))
                status, answer = verdict(headers, body) if self.path == "/v1/webhooks/discord/interactions" \
                    else (404, {})
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def verifying(public_hex: str) -> Verdict:
    """A mux that checks Discord's signature as CONTRACT §3.4 requires."""
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))

    def verdict(headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            public.verify(bytes.fromhex(headers.get("X-Signature-Ed25519", "")),
                          headers.get("X-Signature-Timestamp", "").encode() + body)
        except (InvalidSignature, ValueError):
            return 401, {"ok": False, "code": "UNAUTHORIZED"}
        return (200, {"type": 1}) if json.loads(body)["type"] == 1 else (400, {})

    return verdict


def test_the_signing_key_forms() -> None:
    assert public_key_hex(load_signing_key(TEST_SEED)) == TEST_PUBLIC
    assert public_key_hex(load_signing_key(TEST_SEED + TEST_PUBLIC)) == TEST_PUBLIC
    import base64

    assert public_key_hex(load_signing_key(base64.b64encode(bytes.fromhex(TEST_SEED)).decode())) == TEST_PUBLIC


def test_check_passes_a_mux_that_verifies_signatures(endpoint: Callable[[Verdict], str]) -> None:
    url = endpoint(verifying(TEST_PUBLIC))
    result = run(["--url", url, "discord", "check", "--signing-key", TEST_SEED], ENV)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("PASS signed PING") and lines[1].startswith("PASS tampered signature")


def test_check_without_the_key_skips_the_signed_ping_and_says_why(endpoint: Callable[[Verdict], str]) -> None:
    url = endpoint(verifying(TEST_PUBLIC))
    data = run_json(["--url", url, "discord", "check"], ENV)
    assert [(p["probe"], p["result"]) for p in data["probes"]] == [("signed PING", "skip"),
                                                                  ("tampered signature", "pass")]
    assert "private key" in data["probes"][0]["detail"]


def test_check_fails_a_mux_that_accepts_a_tampered_signature(endpoint: Callable[[Verdict], str]) -> None:
    url = endpoint(lambda headers, body: (200, {"type": 1}))
    result = run(["--url", url, "discord", "check", "--signing-key", TEST_SEED], ENV)
    assert result.exit_code == 1
    assert "FAIL tampered signature" in result.stdout and "instead of 401" in result.stderr


def test_check_fails_a_mux_with_another_public_key(endpoint: Callable[[Verdict], str]) -> None:
    url = endpoint(verifying(public_key_hex(load_signing_key("11" * 32))))
    result = run(["--url", url, "discord", "check", "--signing-key", TEST_SEED], ENV)
    assert result.exit_code == 1 and "FAIL signed PING" in result.stdout and "DISCORD_PUBLIC_KEY" in result.stdout


def test_check_with_a_malformed_key_is_a_usage_error(endpoint: Callable[[Verdict], str]) -> None:
    url = endpoint(verifying(TEST_PUBLIC))
    result = run(["--url", url, "discord", "check", "--signing-key", "not-a-key"], ENV)
    assert result.exit_code == 2 and "--signing-key" in result.stderr
