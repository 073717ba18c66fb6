"""The relay's settings: required variables named, intents by name or number, secrets kept out of repr."""

from __future__ import annotations

import pytest

from relay.config import ConfigError, load, parse_intents

BASE = {"DISCORD_BOT_TOKEN": "tok-123", "MUX_PUBLIC_URL": "https://mux.example/", "MUX_DISCORD_RELAY_SECRET": "s3"}


def test_defaults_and_the_webhook_url() -> None:
    settings = load(BASE)
    assert settings.webhook_url == "https://mux.example/v1/webhooks/discord/gateway"
    assert settings.intents == 1 | 1 << 9 | 1 << 12 | 1 << 15
    assert settings.api_base_url == "https://discord.com/api/v10"
    assert "tok-123" not in repr(settings) and "s3" not in repr(settings)


@pytest.mark.parametrize("missing", ["DISCORD_BOT_TOKEN", "MUX_PUBLIC_URL", "MUX_DISCORD_RELAY_SECRET"])
def test_a_missing_required_variable_is_named(missing: str) -> None:
    with pytest.raises(ConfigError, match=missing):
        load({k: v for k, v in BASE.items() if k != missing})


@pytest.mark.parametrize(("env", "name"), [
    ({"MUX_RELAY_SPOOL_MAX_EVENTS": "0"}, "MUX_RELAY_SPOOL_MAX_EVENTS"),
    ({"MUX_RELAY_HEALTH_PORT": "abc"}, "MUX_RELAY_HEALTH_PORT"),
    ({"MUX_RELAY_INTENTS": "GUILDS,NOPE"}, "MUX_RELAY_INTENTS"),
    ({"MUX_PUBLIC_URL": "mux.example"}, "MUX_PUBLIC_URL"),
    ({"MUX_RELAY_LOG_LEVEL": "LOUD"}, "MUX_RELAY_LOG_LEVEL"),
    ({"MUX_RELAY_RETRY_BASE_DELAY_SEC": "5", "MUX_RELAY_RETRY_MAX_DELAY_SEC": "1"}, "MUX_RELAY_RETRY_MAX_DELAY_SEC"),
])
def test_malformed_values_are_named(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load(BASE | env)


def test_intents_by_name_or_bit_field() -> None:
    assert parse_intents("guild_messages | direct_messages") == (1 << 9) | (1 << 12)
    assert parse_intents("4609") == 4609


def test_the_lambda_app_neither_imports_nor_ships_the_relay() -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    probe = "import app, sys; print(sorted({m.split('.')[0] for m in sys.modules} & {'relay', 'discord', 'aiohttp'}))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    lambda_requirements = (root / "requirements.txt").read_text().lower()
    assert "discord" not in lambda_requirements and "aiohttp" not in lambda_requirements


def test_the_readme_relay_table_lists_exactly_the_variables_the_relay_reads() -> None:
    import re
    from pathlib import Path

    import relay.config

    root = Path(__file__).resolve().parents[2]
    section = (root / "README.md").read_text().split("\n## Discord gateway relay\n", 1)[1].split("\n## ", 1)[0]
    table = {m.group(1): m.group(2).strip() for m in re.finditer(r"^\| `([A-Z0-9_]+)` \| ([^|]+) \|", section, re.M)}
    read = set(re.findall(r'"((?:MUX|DISCORD)_[A-Z0-9_]+)"', Path(relay.config.__file__).read_text()))
    assert len(read) == 15 and sorted(table) == sorted(read)
    defaults = load(BASE)
    for name, value in (("MUX_RELAY_SPOOL_MAX_EVENTS", defaults.spool_max_events),
                        ("MUX_RELAY_HEALTH_PORT", defaults.health_port),
                        ("MUX_RELAY_HEALTH_GRACE_SEC", defaults.health_grace_sec),
                        ("MUX_RELAY_RETRY_BASE_DELAY_SEC", defaults.retry_base_delay_sec),
                        ("MUX_RELAY_RETRY_MAX_DELAY_SEC", defaults.retry_max_delay_sec),
                        ("MUX_RELAY_POST_TIMEOUT_SEC", defaults.post_timeout_sec),
                        ("MUX_RELAY_CONCURRENCY", defaults.concurrency)):
        assert table[name].startswith(f"`{value:g}`"), name
