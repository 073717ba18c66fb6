"""Settings: missing or invalid values fail with a message naming the variable; deploy config uses real names."""

from __future__ import annotations

import json
import os

import pytest

from chalicelib import config
from chalicelib.errors import ConfigurationError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def clean_env(monkeypatch):
    for name in config.env_var_names():
        monkeypatch.delenv(name, raising=False)
    config.reset_settings()
    yield monkeypatch
    config.reset_settings()


@pytest.mark.parametrize(
    ("attribute", "variable"),
    [
        ("table_name", "MUX_TABLE_NAME"),
        ("inbound_queue_url", "MUX_INBOUND_QUEUE_URL"),
        ("dead_letter_queue_url", "MUX_DEAD_LETTER_QUEUE_URL"),
        ("kms_key_id", "MUX_KMS_KEY_ID"),
        ("telegram_bot_token", "TELEGRAM_BOT_TOKEN"),
        ("admin_token", "MUX_ADMIN_TOKEN"),
    ],
)
def test_missing_setting_names_the_variable(clean_env, attribute, variable):
    settings = config.get_settings()
    with pytest.raises(ConfigurationError) as info:
        settings.require(attribute)
    assert variable in str(info.value)
    assert info.value.code == "NOT_CONFIGURED"


def test_blank_value_counts_as_missing(clean_env):
    clean_env.setenv("MUX_TABLE_NAME", "   ")
    with pytest.raises(ConfigurationError, match="MUX_TABLE_NAME"):
        config.get_settings().require("table_name")


def test_present_setting_is_returned(clean_env):
    clean_env.setenv("MUX_TABLE_NAME", "mux-table")
    assert config.get_settings().require("table_name") == "mux-table"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("MUX_PORT", "not-a-port"), ("MUX_MAX_BODY_BYTES", "0"), ("MUX_RETRY_MAX_ATTEMPTS", "1000")],
)
def test_invalid_value_names_the_variable(clean_env, variable, value):
    clean_env.setenv(variable, value)
    with pytest.raises(ConfigurationError) as info:
        config.get_settings()
    assert variable in str(info.value)


def test_invalid_secret_value_is_not_echoed(clean_env):
    clean_env.setenv("MUX_PORT", "secret-looking-value-123")
    with pytest.raises(ConfigurationError) as info:
        config.get_settings()
    assert "secret-looking-value-123" not in str(info.value)


def test_settings_are_cached_until_reset(clean_env):
    clean_env.setenv("MUX_TABLE_NAME", "first")
    assert config.get_settings().table_name == "first"
    clean_env.setenv("MUX_TABLE_NAME", "second")
    assert config.get_settings().table_name == "first"
    config.reset_settings()
    assert config.get_settings().table_name == "second"


def _function_env_names() -> set[str]:
    """Every env var infra/resources.json and .chalice/config.json hand to the functions."""
    names: set[str] = set()
    with open(os.path.join(ROOT, "infra", "resources.json"), encoding="utf-8") as handle:
        template = json.load(handle)
    for resource in template["Resources"].values():
        names |= set(resource.get("Properties", {}).get("Environment", {}).get("Variables", {}))
    with open(os.path.join(ROOT, ".chalice", "config.json"), encoding="utf-8") as handle:
        chalice = json.load(handle)
    names |= set(chalice.get("environment_variables", {}))
    for stage in chalice.get("stages", {}).values():
        names |= set(stage.get("environment_variables", {}))
    return names


def test_deploy_config_only_sets_variables_the_service_reads():
    known = set(config.env_var_names())
    names = _function_env_names()
    assert {"MUX_TABLE_NAME", "MUX_INBOUND_QUEUE_URL", "MUX_DEAD_LETTER_QUEUE_URL", "MUX_KMS_KEY_ID"} <= names
    unknown = {n for n in names if not n.startswith("POWERTOOLS_")} - known
    assert not unknown, f"set by infra/config but never read by Settings: {sorted(unknown)}"


def test_whatsapp_half_configured_names_every_missing_variable(clean_env):
    clean_env.setenv("WHATSAPP_ACCESS_TOKEN", "EAAtoken")
    clean_env.setenv("WHATSAPP_APP_SECRET", "secret")
    config.reset_settings()
    problems = config.get_settings().configuration_problems()
    assert len(problems) == 2
    assert problems[0].startswith("WHATSAPP_PHONE_NUMBER_ID is not set: WhatsApp is on (WHATSAPP_ACCESS_TOKEN")
    assert problems[1].startswith("WHATSAPP_VERIFY_TOKEN is not set")
    with pytest.raises(ConfigurationError, match="WHATSAPP_VERIFY_TOKEN"):
        config.get_settings().require("whatsapp_verify_token")


def test_dedupe_retention_covers_whatsapps_week_of_redeliveries(clean_env):
    clean_env.setenv("MUX_DEDUPE_TTL_SEC", str(6 * 86_400))
    config.reset_settings()
    with pytest.raises(ConfigurationError, match="MUX_DEDUPE_TTL_SEC"):
        config.get_settings()


def test_discord_half_configured_names_the_public_key_and_the_relay_secret_is_optional(clean_env):
    clean_env.setenv("DISCORD_BOT_TOKEN", "bot-token")
    config.reset_settings()
    assert config.get_settings().configuration_problems() == [
        "DISCORD_PUBLIC_KEY is not set: Discord is on (DISCORD_BOT_TOKEN is set) and needs it to verify "
        "Discord's interaction calls."]
    clean_env.setenv("DISCORD_PUBLIC_KEY", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    config.reset_settings()
    settings = config.get_settings()
    assert settings.configuration_problems() == [] and settings.discord_enabled  # slash commands alone
    with pytest.raises(ConfigurationError, match="MUX_DISCORD_RELAY_SECRET"):
        settings.require("discord_relay_secret")
