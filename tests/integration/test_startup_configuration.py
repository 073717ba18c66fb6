"""Half configurations (CONTRACT §1): the local stack refuses to start naming the variable; in Lambda the
first use answers as documented, logs the variable at ERROR and emits the metric the alarm watches."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from typing import Any

import pytest

from chalicelib import config
from tests.inbound_support import BOT_TOKEN, post_update, private_update
from tests.localstack import ROOT, SCRUBBED_PREFIXES, free_port


def run_local(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    return subprocess.run(
        [sys.executable, "-m", "local"], cwd=ROOT, env={**clean, "MUX_PORT": str(free_port()), **env},
        capture_output=True, text=True, timeout=60,
    )


def test_local_stack_refuses_telegram_without_webhook_secret() -> None:
    done = run_local({"TELEGRAM_BOT_TOKEN": BOT_TOKEN, "MUX_ADMIN_TOKEN": "x" * 24})
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "MUX_TELEGRAM_WEBHOOK_SECRET" in lines[0] and "TELEGRAM_BOT_TOKEN" in lines[0]
    assert BOT_TOKEN not in done.stderr + done.stdout
    assert "openclaw-mux local stack" not in done.stdout  # nothing was started


def test_local_stack_refuses_an_invalid_value_before_starting() -> None:
    done = run_local({"MUX_RETRY_MAX_ATTEMPTS": "many"})
    assert done.returncode == 2
    assert "MUX_RETRY_MAX_ATTEMPTS" in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "env",
    [
        {},  # nothing on: no admin routes, no Telegram
        {"TELEGRAM_BOT_TOKEN": BOT_TOKEN, "MUX_TELEGRAM_WEBHOOK_SECRET": "s" * 20},  # no bot username: no deep links
        {"MUX_TELEGRAM_WEBHOOK_SECRET": "s" * 20, "MUX_TELEGRAM_BOT_USERNAME": "Bot"},  # Telegram off: leftovers
    ],
)
def test_optional_settings_are_not_problems(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in config.env_var_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config.reset_settings()
    try:
        assert config.get_settings().configuration_problems() == []
    finally:
        config.reset_settings()


def test_lambda_webhook_with_half_config_is_503_with_log_and_alarmed_metric(
    client: Any, configure: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from chalicelib import observability

    configure(TELEGRAM_BOT_TOKEN=BOT_TOKEN, MUX_TELEGRAM_WEBHOOK_SECRET=None, POWERTOOLS_METRICS_DISABLED="false")
    observability.metrics.cache_clear()
    # Built outside the call: the client applies the local stage's POWERTOOLS_METRICS_DISABLED=true during it.
    observability.metrics()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(observability.logger().registered_formatter)
    logging.getLogger(observability.SERVICE).addHandler(handler)
    before = observability.counters().get("ConfigurationError", 0)
    capsys.readouterr()
    try:
        response = post_update(client, private_update(5, "hello"), secret="anything")
        observability.flush()  # again outside the call, where metrics are on
    finally:
        logging.getLogger(observability.SERVICE).removeHandler(handler)
        observability.metrics.cache_clear()

    # 503: Telegram keeps the update and retries for up to 24 h, so once the operator sets the secret
    # nothing was lost; a 2xx would drop it, and an unverifiable update must not be queued.
    assert response.status_code == 503, response.body
    body = json.loads(response.body)
    assert body["ok"] is False and body["code"] == "NOT_CONFIGURED"
    assert "MUX_TELEGRAM_WEBHOOK_SECRET" in body["error"]
    assert observability.counters().get("ConfigurationError", 0) == before + 1

    records = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    error = next(r for r in records if r.get("message") == "configuration error")
    assert error["level"] == "ERROR" and error["setting"] == "MUX_TELEGRAM_WEBHOOK_SECRET"

    # The EMF datum is exactly what the alarm in infra/resources.json watches.
    alarm = json.loads((ROOT / "infra" / "resources.json").read_text())["Resources"]["ConfigurationErrorAlarm"]
    props = alarm["Properties"]
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    emitted = next(b for b in blobs if props["MetricName"] in b)
    directive = emitted["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == props["Namespace"]
    assert directive["Dimensions"] == [[d["Name"] for d in props["Dimensions"]]]
    assert all(emitted[d["Name"]] == d["Value"] for d in props["Dimensions"])
    assert props["Threshold"] == 0 and props["ComparisonOperator"] == "GreaterThanThreshold"
