"""muxctl without the mux: entry points, one-line failures, simulated Update shapes, the dev servers,
the Telegram webhook commands against the fake Bot API, and the dlq SQS path on moto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from muxctl.devservers import FakeTelegram, InboundReceiver
from muxctl.telegram import build_update
from tests.localstack import ROOT, answers_200, free_port, wait_until
from tests.muxctl.support import run, run_json

FIXTURES = ROOT / "tests" / "fixtures" / "telegram"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def shape(value: Any) -> Any:
    """The structure of a JSON value: keys and types, not the values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


# --- entry points and failures ------------------------------------------------------------------
def test_help_works_as_console_script_and_module() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUX_")}
    module = subprocess.run([sys.executable, "-m", "muxctl", "--help"], capture_output=True, text=True, env=env,
                            check=False)
    assert module.returncode == 0 and "tenant" in module.stdout and "check" in module.stdout
    script = Path(sys.executable).with_name("muxctl")
    console = subprocess.run([str(script), "tenant", "create", "--help"], capture_output=True, text=True, env=env,
                             check=False)
    assert console.returncode == 0 and "--inbound-url" in console.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["tenant", "show", "acme"], ["tenant", "disable", "acme", "--yes"], ["pair", "telegram"],
        ["bindings", "list"], ["bindings", "unbind", "bind_x"], ["tenant", "set-target", "http://x/v1/mux/inbound"],
        ["dlq", "list"], ["health"], ["simulate", "telegram", "--chat", "1", "--secret", "s", "hi"],
    ],
)
def test_connection_refused_is_one_line_exit_3(args: list[str]) -> None:
    port = free_port()
    result = run(["--url", f"http://127.0.0.1:{port}", "--admin-token", "a" * 30, "--key", "k" * 30, *args])
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert result.stderr.strip().count("\n") == 0
    assert "cannot reach the mux" in result.stderr and "connection refused" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_connection_refused_with_json_is_a_json_error() -> None:
    result = run(["--json", "--url", f"http://127.0.0.1:{free_port()}", "--admin-token", "x", "tenant", "show", "a"])
    assert result.exit_code == 3
    assert json.loads(result.stdout)["ok"] is False


def test_missing_credentials_name_the_option_and_variable() -> None:
    no_admin = run(["tenant", "show", "acme"])
    assert no_admin.exit_code == 2 and "--admin-token or set MUX_ADMIN_TOKEN" in no_admin.stderr
    no_key = run(["pair", "telegram"])
    assert no_key.exit_code == 2 and "--key or set MUX_TENANT_KEY" in no_key.stderr
    no_secret = run(["simulate", "telegram", "--chat", "1", "hello"])
    assert no_secret.exit_code == 2 and "MUX_TELEGRAM_WEBHOOK_SECRET" in no_secret.stderr


# --- simulated updates --------------------------------------------------------------------------
def test_private_update_has_the_shape_telegram_sends() -> None:
    update = build_update("Can you summarise?", chat_id=5123456789, update_id=1)
    real = fixture("private_text.json")
    assert shape(update) == shape(real)
    assert update["message"]["chat"]["id"] == update["message"]["from"]["id"] == 5123456789


def test_group_and_command_update_shapes() -> None:
    update = build_update("/ask@MuxAssistBot what time?", chat_id=4987654321, group=True, user_id=6234567890)
    message = update["message"]
    assert message["chat"]["id"] == -1004987654321 and message["chat"]["type"] == "supergroup"
    assert message["from"]["id"] == 6234567890
    assert message["entities"] == [{"offset": 0, "length": len("/ask@MuxAssistBot"), "type": "bot_command"}]
    real_keys = set(fixture("group_text.json")["message"])
    assert real_keys <= set(message)


def test_forum_topic_update_matches_fixture() -> None:
    update = build_update("/ask@MuxAssistBot how?", chat_id=-1002233445566, topic=42, user_id=6234567890,
                          last_name=None)
    assert shape(update) == shape(fixture("forum_topic_text.json"))
    message = update["message"]
    assert message["message_thread_id"] == 42 and message["is_topic_message"] is True
    assert message["chat"]["is_forum"] is True
    general = build_update("hi", chat_id=-1002233445566, topic=1)["message"]
    assert "message_thread_id" not in general and general["chat"]["is_forum"] is True


def test_update_ids_are_unique_by_default() -> None:
    ids = {build_update("x", chat_id=1)["update_id"] for _ in range(200)}
    assert len(ids) == 200


def test_simulate_posts_with_the_secret_header() -> None:
    with InboundReceiver() as receiver:
        result = run_json(["--url", receiver.url, "simulate", "telegram", "--chat", "42", "--secret", "s3cret",
                           "--update-id", "777", "hello there"])
        assert result["eventId"] == "tg:777" and result["status"] == 202
        [record] = receiver.received()
        assert record["path"] == "/v1/webhooks/telegram"
        assert record["headers"]["X-Telegram-Bot-Api-Secret-Token"] == "s3cret"
        assert record["envelope"]["message"]["text"] == "hello there"


# --- dev servers --------------------------------------------------------------------------------
def test_inbound_receiver_checks_the_bearer_and_records(tmp_path: Path) -> None:
    record_file = tmp_path / "got.jsonl"
    envelope = {"eventId": "tg:1", "channel": "telegram", "sessionKey": "s", "to": "telegram:1", "body": "hi"}
    with InboundReceiver(key="right-key", record_file=record_file) as receiver:
        url = f"{receiver.url}/v1/mux/inbound"
        denied = requests.post(url, json=envelope, headers={"Authorization": "Bearer wrong"}, timeout=5)
        assert denied.status_code == 401
        ok = requests.post(url, json=envelope, headers={"Authorization": "bearer  right-key "}, timeout=5)
        assert ok.status_code == 202 and ok.json() == {"ok": True, "eventId": "tg:1"}  # as OpenClaw answers
        listed = requests.get(f"{receiver.url}/_mux/received", timeout=5).json()
        assert [(r["status"], r["authorized"]) for r in listed["items"]] == [(401, False), (202, True)]
        assert "Authorization" not in listed["items"][1]["headers"]
        assert requests.get(f"{receiver.url}/_mux/received?since=1", timeout=5).json()["count"] == 1
    assert [json.loads(line) for line in record_file.read_text().splitlines()] == [envelope]


def test_fake_telegram_answers_like_the_bot_api() -> None:
    with FakeTelegram(token="123:abc") as fake:
        base = f"{fake.url}/bot123:abc"
        sent = requests.post(f"{base}/sendMessage", json={"chat_id": 5, "text": "hi", "message_thread_id": 3},
                             timeout=5).json()
        assert sent["ok"] is True and isinstance(sent["result"]["message_id"], int)
        assert sent["result"]["chat"]["id"] == 5 and sent["result"]["message_thread_id"] == 3
        member = requests.post(f"{base}/getChatMember", data={"chat_id": "-100", "user_id": "7"}, timeout=5).json()
        assert member["result"]["status"] == "administrator" and member["result"]["user"]["id"] == 7
        assert requests.post(f"{base}/answerCallbackQuery", json={}, timeout=5).json() == {"ok": True, "result": True}
        assert requests.post(f"{base}/getMe", json={}, timeout=5).json()["result"]["is_bot"] is True
        wrong = requests.post(f"{fake.url}/bot999:x/getMe", json={}, timeout=5)
        assert wrong.status_code == 401 and wrong.json()["description"] == "Unauthorized"
        calls = requests.get(f"{fake.url}/_fake/calls", timeout=5).json()["items"]
        assert [c["method"] for c in calls] == ["sendMessage", "getChatMember", "answerCallbackQuery", "getMe"]


def test_dev_openclaw_command_prints_envelopes(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUX_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "muxctl", "dev", "openclaw", "--port", str(port), "--key", "k" * 30,
         "--record", str(tmp_path / "r.jsonl")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        wait_until(lambda: answers_200(f"http://127.0.0.1:{port}/health"), 15, "muxctl dev openclaw to listen")
        envelope = {"eventId": "tg:9", "channel": "telegram", "sessionKey": "agent:main:telegram:direct:9",
                    "from": "telegram:9", "to": "telegram:9", "body": "hello from test"}
        resp = requests.post(f"http://127.0.0.1:{port}/v1/mux/inbound", json=envelope,
                             headers={"Authorization": "Bearer " + "k" * 30}, timeout=5)
        assert resp.status_code == 202
        wait_until(lambda: (tmp_path / "r.jsonl").exists(), 5, "the record file")
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "bearer checked" in out
    assert "tg:9 -> 202" in out and "session=agent:main:telegram:direct:9" in out and '"hello from test"' in out


# --- telegram webhook commands ------------------------------------------------------------------
@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram(token="123:secret-bot-token") as fake:
        yield fake


def test_set_webhook_info_delete(fake_telegram: FakeTelegram) -> None:
    env = {"TELEGRAM_BOT_TOKEN": "123:secret-bot-token", "MUX_TELEGRAM_API_BASE_URL": fake_telegram.url}
    result = run(["telegram", "set-webhook", "--secret", "hook-secret", "--public-url", "https://mux.example.com/"],
                 env)
    assert result.exit_code == 0, result.stderr
    assert "https://mux.example.com/v1/webhooks/telegram" in result.stdout
    [call] = fake_telegram.calls("setWebhook")
    assert call["body"]["url"] == "https://mux.example.com/v1/webhooks/telegram"
    assert call["body"]["secret_token"] == "hook-secret"
    assert call["body"]["allowed_updates"] == ["message", "edited_message", "callback_query"]

    info = run(["telegram", "webhook-info"], env)
    assert info.exit_code == 0 and "https://mux.example.com/v1/webhooks/telegram" in info.stdout
    deleted = run(["telegram", "delete-webhook"], env)
    assert deleted.exit_code == 0 and fake_telegram.calls("deleteWebhook")
    assert run_json(["telegram", "webhook-info"], env)["result"]["url"] == ""
    for output in (result, info, deleted):
        assert "secret-bot-token" not in output.stdout + output.stderr


def test_webhook_wrong_token_and_unreachable_api_never_print_the_token(fake_telegram: FakeTelegram) -> None:
    wrong = run(["telegram", "webhook-info", "--bot-token", "123:WRONG-token-value", "--api-base", fake_telegram.url])
    assert wrong.exit_code == 4 and "401 Unauthorized" in wrong.stderr
    down = run(["telegram", "webhook-info", "--bot-token", "123:WRONG-token-value",
                "--api-base", f"http://127.0.0.1:{free_port()}"])
    assert down.exit_code == 3 and "cannot reach the Telegram Bot API" in down.stderr
    for output in (wrong, down):
        assert "WRONG-token-value" not in output.stdout + output.stderr
    missing = run(["telegram", "set-webhook", "--api-base", fake_telegram.url])
    assert missing.exit_code == 2 and "TELEGRAM_BOT_TOKEN" in missing.stderr


def test_set_webhook_refuses_http_and_ports_telegram_does_not_deliver_to(fake_telegram: FakeTelegram) -> None:
    env = {"TELEGRAM_BOT_TOKEN": "123:secret-bot-token", "MUX_TELEGRAM_API_BASE_URL": fake_telegram.url}
    http = run(["telegram", "set-webhook", "--secret", "s", "--public-url", "http://mux.example.com"], env)
    assert http.exit_code == 2
    assert "Telegram delivers webhooks only to https URLs, and http://mux.example.com is http" in http.stderr
    port = run(["telegram", "set-webhook", "--secret", "s", "--public-url", "https://mux.example.com:8080"], env)
    assert port.exit_code == 2 and "ports 443, 80, 88 or 8443, not 8080" in port.stderr
    assert fake_telegram.calls("setWebhook") == []  # nothing was sent to Telegram
    assert run(["telegram", "set-webhook", "--secret", "s", "--public-url", "https://mux.example.com:8443"],
               env).exit_code == 0


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--url", "127.0.0.1:18891", "health"], "--url/MUX_URL"),
        (["--url", "localhost:18891", "health"], "--url/MUX_URL"),
        (["telegram", "webhook-info", "--bot-token", "1:x", "--api-base", "api.telegram.org"],
         "--api-base/MUX_TELEGRAM_API_BASE_URL"),
        (["telegram", "set-webhook", "--bot-token", "1:x", "--secret", "s", "--public-url", "mux.example.com"],
         "--public-url/MUX_PUBLIC_URL"),
        (["simulate", "telegram", "--secret", "s", "--chat", "1", "--observe", "127.0.0.1:18901", "hi"],
         "--observe/MUX_OBSERVE_URL"),
    ],
)
def test_a_url_without_a_scheme_is_a_one_line_usage_error(args: list[str], option: str) -> None:
    result = run(args, {"MUX_SIMULATE_WAIT": "1"})
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith(f"muxctl: error: {option}: ") and "has no scheme; write it as http://" in \
        result.stderr
    assert result.stderr.count("\n") == 1 and "InvalidSchema" not in result.stderr and "Traceback" not in \
        result.stderr


def test_health_output_is_readable() -> None:
    from muxctl.cli import describe_health

    lines = describe_health({
        "ok": True, "stage": "local",
        "dependencies": {"table": {"configured": True, "ok": True}, "kms": {"configured": True}},
        "queues": {"inbound": {"configured": True, "ok": True, "visible": 2, "inFlight": 1},
                   "deadLetter": {"configured": True, "ok": False, "error": "ClientError"}},
        "channels": {"telegram": True, "discord": False, "whatsapp": False},
        "counters": {"Received": 3, "Forwarded": 2},
    })
    assert lines == [
        "stage:         local",
        "channels:      telegram on, discord off, whatsapp off",
        "inbound queue: 2 waiting, 1 in flight",
        "dead letters:  UNREACHABLE (ClientError)",
        "table:         ok",
        "kms:           configured",
        "counters:      Forwarded 2, Received 3",
    ]


# --- dlq via SQS (moto) -------------------------------------------------------------------------
def test_dlq_sqs_path_lists_reasons_and_redrives(monkeypatch: pytest.MonkeyPatch) -> None:
    moto = pytest.importorskip("moto")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    import boto3

    with moto.mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        fifo = {"FifoQueue": "true"}
        inbound = sqs.create_queue(QueueName="in.fifo", Attributes=fifo)["QueueUrl"]
        dlq = sqs.create_queue(QueueName="dead.fifo", Attributes=fifo)["QueueUrl"]
        body = json.dumps({"eventId": "tg:5", "channel": "telegram", "routeKey": "telegram:default:chat:5",
                           "receivedAtMs": 1, "payload": {}})
        sqs.send_message(
            QueueUrl=dlq, MessageBody=body, MessageGroupId="telegram:default:chat:5", MessageDeduplicationId="d1",
            MessageAttributes={
                "muxReason": {"DataType": "String", "StringValue": "OpenClaw answered 400 (permanent)"},
                "muxStatus": {"DataType": "Number", "StringValue": "400"},
                "muxAttempts": {"DataType": "Number", "StringValue": "1"},
            },
        )
        env = {"MUX_DEAD_LETTER_QUEUE_URL": dlq, "MUX_INBOUND_QUEUE_URL": inbound}
        listed = run_json(["dlq", "list", "--via", "sqs"], env)
        [item] = listed["items"]
        assert listed["source"] == "sqs"
        assert item["eventId"] == "tg:5" and item["status"] == 400 and "permanent" in item["reason"]
        human = run(["dlq", "list", "--via", "sqs"], env)
        assert "OpenClaw answered 400" in human.stdout
        # Listing leaves the message in place.
        assert run_json(["dlq", "list", "--via", "sqs"], env)["items"][0]["id"] == item["id"]

        missing = run(["dlq", "redrive", "--via", "sqs", "no-such-id"], env)
        assert missing.exit_code == 1 and "not in the dead-letter queue" in missing.stderr
        moved = run_json(["dlq", "redrive", "--via", "sqs", item["id"]], env)
        assert moved["redriven"] == [item["id"]]
        got = sqs.receive_message(QueueUrl=inbound, AttributeNames=["All"])["Messages"]
        assert json.loads(got[0]["Body"])["eventId"] == "tg:5"
        assert got[0]["Attributes"]["MessageGroupId"] == "telegram:default:chat:5"
        assert run_json(["dlq", "list", "--via", "sqs"], env)["items"] == []


def test_dlq_sqs_redrive_all_moves_more_than_ten_of_one_chat(monkeypatch: pytest.MonkeyPatch) -> None:
    """A FIFO queue hands out at most 10 in-flight messages of one group: --all must still move all 23, in
    order, and leave a dead letter made after the run started (a message refused again) where it is."""
    moto = pytest.importorskip("moto")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    import boto3

    with moto.mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        fifo = {"FifoQueue": "true"}
        inbound = sqs.create_queue(QueueName="in.fifo", Attributes=fifo)["QueueUrl"]
        dlq = sqs.create_queue(QueueName="dead.fifo", Attributes=fifo)["QueueUrl"]
        group = "telegram:default:chat:6"

        def dead(n: int, at_ms: int) -> None:
            sqs.send_message(
                QueueUrl=dlq, MessageBody=json.dumps({"eventId": f"tg:{n}", "routeKey": group}),
                MessageGroupId=group, MessageDeduplicationId=f"d{n}",
                MessageAttributes={"muxDeadLetteredAtMs": {"DataType": "Number", "StringValue": str(at_ms)}},
            )

        for n in range(23):
            dead(n, 1)
        dead(99, 2**42)  # "later than the run": held, not moved
        env = {"MUX_DEAD_LETTER_QUEUE_URL": dlq, "MUX_INBOUND_QUEUE_URL": inbound}
        result = run(["dlq", "redrive", "--all", "--via", "sqs"], env)
        assert result.exit_code == 0, result.stderr
        assert "Redrove 23 message(s)" in result.stdout and "redriving 23" in result.stderr
        order = []
        while batch := sqs.receive_message(QueueUrl=inbound, MaxNumberOfMessages=10).get("Messages", []):
            for msg in batch:
                order.append(json.loads(msg["Body"])["eventId"])
                sqs.delete_message(QueueUrl=inbound, ReceiptHandle=msg["ReceiptHandle"])
        assert order == [f"tg:{n}" for n in range(23)]
        assert [i["eventId"] for i in run_json(["dlq", "list", "--via", "sqs"], env)["items"]] == ["tg:99"]
