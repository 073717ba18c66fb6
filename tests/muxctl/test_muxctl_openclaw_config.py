"""openclaw-config check/merge: every contract problem is detected and explained; merge keeps the
tenant's own settings (no stack needed)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from muxctl import lenient_json, openclaw_config
from tests.muxctl.support import run

KEY = "k" * 40
URL = "https://mux.example.com"


ALL = openclaw_config.CHANNELS


def good() -> dict[str, Any]:
    config = openclaw_config.render(URL, KEY, ALL)
    config["channels"]["telegram"]["botToken"] = "123:direct"
    config["channels"]["discord"]["token"] = "discord-direct"
    config["agents"] = {"defaults": {"model": {"primary": "anthropic/claude"}}}
    return config


def codes(config: Any, **kwargs: Any) -> set[tuple[str, str]]:
    kwargs.setdefault("channels", ALL)
    return {(p.code, p.path) for p in openclaw_config.check(config, **kwargs)}


def test_rendered_config_is_clean_and_matches_the_contract() -> None:
    config = openclaw_config.render(URL + "/", KEY, ALL)
    assert openclaw_config.check(config, key=KEY, base_url=URL, channels=ALL) == []
    assert config["gateway"]["http"]["endpoints"]["mux"] == {"enabled": True, "baseUrl": URL, "token": KEY}
    for ch in ("telegram", "discord", "whatsapp"):
        assert config["channels"][ch]["accounts"] == {
            "default": {"enabled": True},
            "mux": {"enabled": False, "mux": {"enabled": True}},
        }
    # OpenClaw's WhatsApp channel schema is strict and has no channel-level switch.
    assert "enabled" not in config["channels"]["whatsapp"]
    assert config["channels"]["telegram"]["enabled"] is True


def test_rendered_config_by_default_sets_up_only_the_channels_the_mux_serves() -> None:
    config = openclaw_config.render(URL, KEY)
    assert set(config["channels"]) == {"telegram", "discord", "whatsapp"}  # every channel the mux implements
    assert config["channels"]["discord"] == {"enabled": True, "accounts": {
        "default": {"enabled": True}, "mux": {"enabled": False, "mux": {"enabled": True}}}}
    assert openclaw_config.check(config, key=KEY, base_url=URL) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c["channels"]["telegram"]["accounts"].pop("default"),
         ("DEFAULT_ACCOUNT_MISSING", "channels.telegram.accounts.default")),
        (lambda c: c["channels"]["discord"]["accounts"]["default"].update(enabled=False),
         ("DEFAULT_ACCOUNT_DISABLED", "channels.discord.accounts.default.enabled")),
        (lambda c: c["channels"]["whatsapp"]["accounts"]["mux"].update(enabled=True),
         ("MUX_ACCOUNT_POLLING", "channels.whatsapp.accounts.mux.enabled")),
        (lambda c: c["channels"]["whatsapp"]["accounts"]["mux"].pop("enabled"),
         ("MUX_ACCOUNT_POLLING", "channels.whatsapp.accounts.mux.enabled")),
        (lambda c: c["channels"]["telegram"]["accounts"]["mux"]["mux"].update(enabled=False),
         ("MUX_ROUTE_DISABLED", "channels.telegram.accounts.mux.mux.enabled")),
        (lambda c: c["channels"]["telegram"]["accounts"]["mux"].pop("mux"),
         ("MUX_ROUTE_DISABLED", "channels.telegram.accounts.mux.mux.enabled")),
        (lambda c: c["channels"]["telegram"]["accounts"]["mux"]["mux"].update(apiKey="x"),
         ("PER_CHANNEL_MUX_FIELD", "channels.telegram.accounts.mux.mux.apiKey")),
        (lambda c: c["channels"]["discord"].update(mux={"baseUrl": URL}),
         ("PER_CHANNEL_MUX_FIELD", "channels.discord.mux.baseUrl")),
        (lambda c: c["channels"]["discord"]["accounts"].pop("mux"),
         ("MUX_ACCOUNT_MISSING", "channels.discord.accounts.mux")),
        (lambda c: c["channels"]["discord"].pop("accounts"),
         ("MUX_ACCOUNT_MISSING", "channels.discord.accounts")),
        (lambda c: c["channels"].pop("whatsapp"), ("CHANNEL_MISSING", "channels.whatsapp")),
        (lambda c: c["channels"]["telegram"].update(enabled=False),
         ("CHANNEL_DISABLED", "channels.telegram.enabled")),
        (lambda c: c["gateway"]["http"]["endpoints"].pop("mux"),
         ("GATEWAY_MUX_MISSING", "gateway.http.endpoints.mux")),
        (lambda c: c.pop("gateway"), ("GATEWAY_MUX_MISSING", "gateway.http.endpoints.mux")),
        (lambda c: c["gateway"]["http"]["endpoints"]["mux"].update(enabled=False),
         ("GATEWAY_MUX_DISABLED", "gateway.http.endpoints.mux.enabled")),
        (lambda c: c["gateway"]["http"]["endpoints"]["mux"].pop("baseUrl"),
         ("GATEWAY_MUX_NO_BASEURL", "gateway.http.endpoints.mux.baseUrl")),
        (lambda c: c["gateway"]["http"]["endpoints"]["mux"].update(baseUrl="mux.example.com"),
         ("GATEWAY_MUX_BAD_BASEURL", "gateway.http.endpoints.mux.baseUrl")),
        (lambda c: c["gateway"]["http"]["endpoints"]["mux"].update(token=""),
         ("GATEWAY_MUX_NO_TOKEN", "gateway.http.endpoints.mux.token")),
        (lambda c: c["gateway"]["http"]["endpoints"]["mux"].update(token="other-key-" + "x" * 30),
         ("GATEWAY_MUX_TOKEN_MISMATCH", "gateway.http.endpoints.mux.token")),
        (lambda c: c["gateway"]["http"]["endpoints"]["mux"].update(baseUrl="https://old-mux.example.com"),
         ("GATEWAY_MUX_BASEURL_MISMATCH", "gateway.http.endpoints.mux.baseUrl")),
    ],
)
def test_each_problem_is_detected(mutate: Any, expected: tuple[str, str]) -> None:
    config = good()
    mutate(config)
    found = codes(config, key=KEY, base_url=URL)
    assert expected in found
    # Nothing else is reported: each rule is independent of the others.
    assert len({c for c, _ in found}) == 1, found


def test_token_and_url_are_compared_only_when_given() -> None:
    config = good()
    config["gateway"]["http"]["endpoints"]["mux"]["token"] = "another-tenant-key-0123456789"
    assert openclaw_config.check(config, channels=ALL) == []
    assert ("GATEWAY_MUX_TOKEN_MISMATCH", "gateway.http.endpoints.mux.token") in codes(config, key=KEY)


def test_short_token_cannot_be_a_tenant_key() -> None:
    config = good()
    config["gateway"]["http"]["endpoints"]["mux"]["token"] = "<tenantApiKey>"
    assert ("GATEWAY_MUX_TOKEN_TOO_SHORT", "gateway.http.endpoints.mux.token") in codes(config)


def test_channels_option_limits_the_check() -> None:
    config = good()
    del config["channels"]["discord"], config["channels"]["whatsapp"]
    assert openclaw_config.check(config, channels=("telegram",)) == []
    assert {c for c, _ in codes(config)} == {"CHANNEL_MISSING"}


def test_merge_keeps_other_settings_and_creates_default_account() -> None:
    tenant_config: dict[str, Any] = {
        "agents": {"defaults": {"model": "openai/gpt"}},
        "gateway": {"port": 18789, "http": {"endpoints": {"chatCompletions": {"enabled": True}}}},
        "channels": {
            "telegram": {"enabled": True, "botToken": "123:direct", "dmPolicy": "pairing"},
            "discord": {
                "token": "discord-direct",
                "accounts": {"default": {"enabled": False, "token": "d"}, "work": {"token": "w"}},
            },
            "whatsapp": {"accounts": {"mux": {"enabled": True, "apiKey": "old", "mux": {"baseUrl": "x"}}}},
        },
    }
    original = copy.deepcopy(tenant_config)
    merged, changes = openclaw_config.merge(tenant_config, key=KEY, base_url=URL + "/", channels=ALL)
    assert tenant_config == original, "the input is not modified"
    assert openclaw_config.check(merged, key=KEY, base_url=URL, channels=ALL) == []
    assert merged["agents"] == original["agents"]
    assert merged["gateway"]["port"] == 18789
    assert merged["gateway"]["http"]["endpoints"]["chatCompletions"] == {"enabled": True}
    telegram = merged["channels"]["telegram"]
    assert telegram["botToken"] == "123:direct" and telegram["dmPolicy"] == "pairing"
    assert telegram["accounts"]["default"] == {"enabled": True}
    discord = merged["channels"]["discord"]
    assert discord["token"] == "discord-direct"
    assert discord["accounts"]["default"] == {"enabled": True, "token": "d"}
    assert discord["accounts"]["work"] == {"token": "w"}
    assert merged["channels"]["whatsapp"]["accounts"]["mux"] == {"enabled": False, "mux": {"enabled": True}}
    assert any("channels.telegram.accounts: created" in c for c in changes)
    assert any("apiKey: removed" in c for c in changes)
    assert not any(KEY in c for c in changes), "the key is never echoed in the change list"


def test_merge_of_a_merged_config_changes_nothing() -> None:
    merged, _ = openclaw_config.merge({}, key=KEY, base_url=URL)
    again, changes = openclaw_config.merge(merged, key=KEY, base_url=URL)
    assert again == merged and changes == []


def test_json5_comments_trailing_commas_unquoted_keys() -> None:
    text = """
    // OpenClaw config
    {
      gateway: { http: { endpoints: { mux: {
        enabled: true, baseUrl: 'https://mux.example.com', token: "KEY_HERE", }, }, }, },
      /* channels */
      channels: { telegram: { botToken: "123:abc//not-a-comment", accounts: { default: {enabled: true}, } } },
    }
    """.replace("KEY_HERE", KEY)
    data = lenient_json.loads(text)
    assert data["gateway"]["http"]["endpoints"]["mux"]["baseUrl"] == URL
    assert data["channels"]["telegram"]["botToken"] == "123:abc//not-a-comment"
    with pytest.raises(lenient_json.LenientJsonError, match="line 3"):
        lenient_json.loads('{\n "a": 1,\n "b": }')


def write(tmp_path: Path, config: Any, name: str = "openclaw.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def test_cli_check_explains_each_problem_and_exits_1(tmp_path: Path) -> None:
    config = good()
    config["channels"]["telegram"]["accounts"]["mux"]["enabled"] = True
    del config["channels"]["discord"]["accounts"]["default"]
    path = write(tmp_path, config)
    result = run(["openclaw-config", "check", str(path), "--key", KEY, "--url", URL, "--all-channels"])
    assert result.exit_code == 1
    assert "2 problem(s)" in result.stdout
    assert "channels.telegram.accounts.mux.enabled" in result.stdout and "poll" in result.stdout
    assert "direct (non-mux) traffic would stop" in result.stdout
    assert "fix: set channels.telegram.accounts.mux.enabled = false" in result.stdout

    ok = run(["openclaw-config", "check", str(write(tmp_path, good(), "ok.json")), "--key", KEY, "--url", URL,
              "--all-channels"])
    assert ok.exit_code == 0 and "OK" in ok.stdout

    data = json.loads(run(["openclaw-config", "check", str(path), "--json", "--all-channels"]).stdout)
    assert data["ok"] is False
    assert {p["code"] for p in data["problems"]} == {"MUX_ACCOUNT_POLLING", "DEFAULT_ACCOUNT_MISSING"}


def test_cli_check_unreadable_and_invalid_files(tmp_path: Path) -> None:
    missing = run(["openclaw-config", "check", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "cannot read" in missing.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{ gateway: ", encoding="utf-8")
    bad = run(["openclaw-config", "check", str(broken)])
    assert bad.exit_code == 1 and "not valid JSON/JSON5" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_merge_writes_file_keeping_settings(tmp_path: Path) -> None:
    source = tmp_path / "openclaw.json5"
    source.write_text('{ // mine\n channels: { telegram: { botToken: "123:direct", }, }, }', encoding="utf-8")
    out = tmp_path / "merged.json"
    result = run(["openclaw-config", "merge", str(source), "--key", KEY, "--base-url", URL, "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "JSON5" in result.stderr and "change(s)" in result.stderr
    merged = json.loads(out.read_text())
    assert merged["channels"]["telegram"]["botToken"] == "123:direct"
    assert out.stat().st_mode & 0o077 == 0, "the file holds the tenant key: owner-only"
    check = run(["openclaw-config", "check", str(out), "--key", KEY, "--url", URL])
    assert check.exit_code == 0, check.stdout


def test_cli_merge_needs_a_key_and_reuses_the_files(tmp_path: Path) -> None:
    no_key = run(["openclaw-config", "merge", str(write(tmp_path, {"channels": {}}))])
    assert no_key.exit_code == 2 and "no tenant key" in no_key.stderr
    existing = write(tmp_path, openclaw_config.render(URL, KEY), "existing.json")
    result = run(["openclaw-config", "merge", str(existing)])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["gateway"]["http"]["endpoints"]["mux"] == {
        "enabled": True, "baseUrl": URL, "token": KEY,
    }
    assert "no changes" in result.stderr


# Every rule of OpenClaw's own schema (022295a, src/config/zod-schema*.ts) that the check applies: the config
# OpenClaw would refuse as a whole (its mux handler then answers 404 to every forward).
SCHEMA_CASES: list[tuple[str, Any, tuple[str, str]]] = [
    ("whatsapp channel-level enabled", lambda c: c["channels"]["whatsapp"].update(enabled=True),
     ("SCHEMA_UNKNOWN_KEY", "channels.whatsapp.enabled")),
    ("whatsapp channel-level name", lambda c: c["channels"]["whatsapp"].update(name="wa"),
     ("SCHEMA_UNKNOWN_KEY", "channels.whatsapp.name")),
    ("telegram channel unknown key", lambda c: c["channels"]["telegram"].update(bot_token="1:x"),
     ("SCHEMA_UNKNOWN_KEY", "channels.telegram.bot_token")),
    ("discord account unknown key", lambda c: c["channels"]["discord"]["accounts"]["default"].update(botToken="x"),
     ("SCHEMA_UNKNOWN_KEY", "channels.discord.accounts.default.botToken")),
    ("whatsapp account unknown key", lambda c: c["channels"]["whatsapp"]["accounts"]["default"].update(actions={}),
     ("SCHEMA_UNKNOWN_KEY", "channels.whatsapp.accounts.default.actions")),
    ("mux block unknown key", lambda c: c["channels"]["telegram"]["accounts"]["mux"]["mux"].update(url="x"),
     ("SCHEMA_UNKNOWN_KEY", "channels.telegram.accounts.mux.mux.url")),
    ("mux block timeoutMs not positive", lambda c: c["channels"]["telegram"]["accounts"]["mux"]["mux"].update(
        timeoutMs=0), ("SCHEMA_WRONG_TYPE", "channels.telegram.accounts.mux.mux.timeoutMs")),
    ("mux block enabled not boolean", lambda c: c["channels"]["discord"].update(mux={"enabled": "yes"}),
     ("SCHEMA_WRONG_TYPE", "channels.discord.mux.enabled")),
    ("mux block not an object", lambda c: c["channels"]["discord"].update(mux=True),
     ("SCHEMA_WRONG_TYPE", "channels.discord.mux")),
    ("account mux apiKey", lambda c: c["channels"]["telegram"]["accounts"]["mux"].update(apiKey="x"),
     ("PER_CHANNEL_MUX_FIELD", "channels.telegram.accounts.mux.apiKey")),
    ("channel enabled not boolean", lambda c: c["channels"]["telegram"].update(enabled="true"),
     ("SCHEMA_WRONG_TYPE", "channels.telegram.enabled")),
    ("account enabled not boolean", lambda c: c["channels"]["whatsapp"]["accounts"]["default"].update(enabled=1),
     ("SCHEMA_WRONG_TYPE", "channels.whatsapp.accounts.default.enabled")),
    ("accounts not an object", lambda c: c["channels"]["whatsapp"].update(accounts=["default"]),
     ("SCHEMA_WRONG_TYPE", "channels.whatsapp.accounts")),
    ("account not an object", lambda c: c["channels"]["telegram"]["accounts"].update(work=True),
     ("SCHEMA_WRONG_TYPE", "channels.telegram.accounts.work")),
    ("gateway mux unknown key", lambda c: c["gateway"]["http"]["endpoints"]["mux"].update(apiKey=KEY),
     ("SCHEMA_UNKNOWN_KEY", "gateway.http.endpoints.mux.apiKey")),
    ("gateway mux maxBodyBytes", lambda c: c["gateway"]["http"]["endpoints"]["mux"].update(maxBodyBytes=-1),
     ("SCHEMA_WRONG_TYPE", "gateway.http.endpoints.mux.maxBodyBytes")),
    ("gateway endpoints unknown key", lambda c: c["gateway"]["http"]["endpoints"].update(inbound={}),
     ("SCHEMA_UNKNOWN_KEY", "gateway.http.endpoints.inbound")),
    ("gateway http unknown key", lambda c: c["gateway"]["http"].update(mux={}),
     ("SCHEMA_UNKNOWN_KEY", "gateway.http.mux")),
    ("dmPolicy not a policy", lambda c: c["channels"]["telegram"].update(dmPolicy="everyone"),
     ("SCHEMA_WRONG_TYPE", "channels.telegram.dmPolicy")),
    ("open dmPolicy without wildcard", lambda c: c["channels"]["whatsapp"]["accounts"]["default"].update(
        dmPolicy="open", allowFrom=["+15550001"]), ("SCHEMA_OPEN_DM_POLICY",
                                                    "channels.whatsapp.accounts.default.allowFrom")),
    ("telegram webhookUrl without secret", lambda c: c["channels"]["telegram"].update(
        webhookUrl="https://bot.example.com/tg"), ("SCHEMA_WEBHOOK_SECRET", "channels.telegram.webhookSecret")),
    ("telegram account webhookUrl without secret", lambda c: c["channels"]["telegram"]["accounts"]["default"].update(
        webhookUrl="https://bot.example.com/tg"),
     ("SCHEMA_WEBHOOK_SECRET", "channels.telegram.accounts.default.webhookSecret")),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in SCHEMA_CASES], ids=[c[0] for c in SCHEMA_CASES])
def test_each_key_openclaw_rejects_is_flagged_with_a_fix(mutate: Any, expected: tuple[str, str]) -> None:
    config = good()
    mutate(config)
    problems = openclaw_config.check(config, key=KEY, base_url=URL, channels=ALL)
    assert {(p.code, p.path) for p in problems} == {expected}
    assert problems[0].fix and problems[0].message


def test_settings_openclaw_accepts_are_not_flagged() -> None:
    config = good()
    config["channels"]["telegram"].update(dmPolicy="open", allowFrom=["*"], webhookUrl="https://b", webhookSecret="s",
                                          groups={"-100": {"requireMention": True}}, mux={"timeoutMs": 5000})
    config["channels"]["whatsapp"].update(actions={"polls": True}, mediaMaxMb=20)
    config["channels"]["whatsapp"]["accounts"]["default"].update(name="main", authDir="/var/wa", enabled=False)
    config["channels"]["whatsapp"]["accounts"]["default"]["enabled"] = True
    config["channels"]["discord"]["accounts"]["mux"]["mux"]["timeoutMs"] = 30000
    config["gateway"]["http"]["endpoints"]["mux"]["maxBodyBytes"] = 10_000_000
    config["channels"]["matrix"] = {"anything": True}  # extension channels: OpenClaw passes them through
    assert openclaw_config.check(config, key=KEY, base_url=URL, channels=ALL) == []


def test_typo_gets_a_suggestion() -> None:
    config = good()
    config["gateway"]["http"]["endpoints"]["mux"]["baseURL"] = URL
    (problem,) = openclaw_config.check(config, channels=ALL)
    assert "did you mean `baseUrl`" in problem.fix


def test_cli_check_flags_whatsapp_enabled_with_the_fix(tmp_path: Path) -> None:
    config = openclaw_config.render(URL, KEY, ALL)
    config["channels"]["whatsapp"]["enabled"] = True  # the integration plan's example carries it
    result = run(["openclaw-config", "check", str(write(tmp_path, config)), "--channels", "telegram"])
    assert result.exit_code == 1
    assert "channels.whatsapp.enabled: is not a key of OpenClaw's schema" in result.stdout
    assert "fix: remove channels.whatsapp.enabled (turn accounts on or off with " \
           "channels.whatsapp.accounts.<id>.enabled)" in result.stdout


def test_merge_removes_keys_openclaw_rejects_from_the_mux_settings() -> None:
    tenant_config = {
        "gateway": {"http": {"endpoints": {"mux": {"enabled": True, "apiKey": "old"}}}},
        "channels": {"whatsapp": {"enabled": True, "accounts": {"mux": {"mux": {"enabled": True, "url": "x"}}}}},
    }
    merged, changes = openclaw_config.merge(tenant_config, key=KEY, base_url=URL, channels=ALL)
    assert openclaw_config.check(merged, key=KEY, base_url=URL, channels=ALL) == []
    assert "enabled" not in merged["channels"]["whatsapp"]
    assert "apiKey" not in merged["gateway"]["http"]["endpoints"]["mux"]
    assert any(c.startswith("channels.whatsapp.enabled: removed") for c in changes)


def test_merge_sets_up_only_the_chosen_channels_but_repairs_the_others() -> None:
    tenant_config = {"channels": {"whatsapp": {"enabled": True, "accounts": {"default": {"enabled": True}}}}}
    merged, _ = openclaw_config.merge(tenant_config, key=KEY, base_url=URL, channels=("telegram",))
    assert set(merged["channels"]) == {"telegram", "whatsapp"}
    assert merged["channels"]["whatsapp"] == {"accounts": {"default": {"enabled": True}}}
    assert openclaw_config.check_schema(merged) == []


def test_cli_channel_choice(tmp_path: Path) -> None:
    path = write(tmp_path, {})
    only_default = json.loads(run(["--json", "openclaw-config", "merge", str(path), "--key", KEY]).stdout)
    assert set(only_default["config"]["channels"]) == {"telegram", "discord", "whatsapp"}  # what the mux implements
    every = json.loads(run(["--json", "openclaw-config", "merge", str(path), "--key", KEY, "--all-channels"]).stdout)
    assert set(every["config"]["channels"]) == {"telegram", "discord", "whatsapp"}
    some = json.loads(run(["--json", "openclaw-config", "merge", str(path), "--key", KEY,
                           "--channels", "discord"]).stdout)
    assert set(some["config"]["channels"]) == {"discord"}
    both = run(["openclaw-config", "merge", str(path), "--key", KEY, "--channels", "discord", "--all-channels"])
    assert both.exit_code == 2 and "not both" in both.stderr


VERDICTS = json.loads((Path(__file__).parent / "openclaw_schema_verdicts.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", VERDICTS["cases"], ids=[c["name"] for c in VERDICTS["cases"]])
def test_schema_check_agrees_with_openclaws_own_validator(case: dict[str, Any]) -> None:
    """openclaw_schema_verdicts.json holds OpenClaw's own verdict (its zod OpenClawSchema.safeParse, run with
    Node on the fork at the targeted commit) for each config here: the paths it rejects must be ours."""
    assert sorted(p.path for p in openclaw_config.check_schema(case["config"])) == case["openclaw"]
