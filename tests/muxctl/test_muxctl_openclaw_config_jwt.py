"""`muxctl openclaw-config render|check|merge --generation jwt`: the runtime-JWT OpenClaw config (714b97af4's
schema: gateway.http.endpoints.mux = {enabled, baseUrl, registerKey, inboundUrl}, `token` rejected), and the
shared-key check refusing the JWT-only keys (the old schema rejects them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from muxctl import openclaw_config_jwt
from tests.muxctl.support import run

MUX = "https://mux.example.com"
INBOUND = "https://oc.example.com/v1/mux/inbound"


def write(tmp_path: Path, config: Any) -> str:
    path = tmp_path / "openclaw.json"
    path.write_text(json.dumps(config))
    return str(path)


def codes(tmp_path: Path, config: Any, *extra: str) -> list[tuple[str, str]]:
    result = run(["--json", "openclaw-config", "check", write(tmp_path, config), "--channels", "telegram", *extra])
    return [(p["code"], p["path"]) for p in json.loads(result.stdout)["problems"]]


def test_render_jwt_then_check_is_clean(tmp_path: Path) -> None:
    rendered = run(["openclaw-config", "render", "--generation", "jwt", "--register-key", "rk-1", "--inbound-url",
                    INBOUND, "--public-url", MUX, "--channels", "telegram"])
    assert rendered.exit_code == 0, rendered.stderr
    config = json.loads(rendered.stdout)
    assert config["gateway"]["http"]["endpoints"]["mux"] == {
        "enabled": True, "baseUrl": MUX, "registerKey": "rk-1", "inboundUrl": INBOUND}
    assert codes(tmp_path, config, "--generation", "jwt", "--register-key", "rk-1", "--url", MUX) == []


def test_jwt_check_flags_the_shared_key_token_and_bad_fields(tmp_path: Path) -> None:
    config = openclaw_config_jwt.render(MUX, "rk-1", "https://oc.example.com/hooks")
    config["gateway"]["http"]["endpoints"]["mux"]["token"] = "a-shared-tenant-key-0123456789"
    found = codes(tmp_path, config, "--generation", "jwt", "--register-key", "rk-2")
    assert found == [
        ("GATEWAY_MUX_FOREIGN_KEY", "gateway.http.endpoints.mux.token"),
        ("GATEWAY_MUX_REGISTER_KEY_MISMATCH", "gateway.http.endpoints.mux.registerKey"),
        ("GATEWAY_MUX_INBOUND_PATH", "gateway.http.endpoints.mux.inboundUrl"),
    ]
    del config["gateway"]["http"]["endpoints"]["mux"]["inboundUrl"]
    assert ("GATEWAY_MUX_NO_INBOUND_URL", "gateway.http.endpoints.mux.inboundUrl") in codes(
        tmp_path, config, "--generation", "jwt")


def test_shared_key_check_flags_jwt_only_keys(tmp_path: Path) -> None:
    config = openclaw_config_jwt.render(MUX, "rk-1", INBOUND)
    config["gateway"]["http"]["endpoints"]["mux"]["token"] = "a-shared-tenant-key-0123456789"
    assert codes(tmp_path, config) == [
        ("SCHEMA_UNKNOWN_KEY", "gateway.http.endpoints.mux.registerKey"),
        ("SCHEMA_UNKNOWN_KEY", "gateway.http.endpoints.mux.inboundUrl"),
    ]


def test_merge_turns_a_shared_key_config_into_a_jwt_one() -> None:
    from muxctl import openclaw_config

    shared = openclaw_config.render(MUX, "a-shared-tenant-key-0123456789", ("telegram",))
    shared["channels"]["telegram"]["botToken"] = "kept"
    merged, changes = openclaw_config_jwt.merge(shared, register_key="rk-1", base_url=MUX, inbound_url=INBOUND,
                                                channels=("telegram",))
    assert merged["gateway"]["http"]["endpoints"]["mux"] == {
        "enabled": True, "baseUrl": MUX, "registerKey": "rk-1", "inboundUrl": INBOUND}
    assert merged["channels"]["telegram"]["botToken"] == "kept"
    assert "gateway.http.endpoints.mux.token: removed (the runtime-JWT generation rejects it)" in changes
    assert openclaw_config_jwt.check(merged, channels=("telegram",)) == []


def test_render_jwt_needs_its_keys() -> None:
    result = run(["openclaw-config", "render", "--generation", "jwt", "--inbound-url", INBOUND])
    assert result.exit_code == 2 and "--register-key" in result.stderr


def test_cli_merge_jwt_rewrites_a_shared_key_file_and_reuses_its_keys(tmp_path: Path) -> None:
    from muxctl import openclaw_config

    shared = openclaw_config.render(MUX, "a-shared-tenant-key-0123456789", ("telegram",))
    shared["channels"]["telegram"]["botToken"] = "kept"
    path = write(tmp_path, shared)
    missing = run(["openclaw-config", "merge", path, "--generation", "jwt", "--channels", "telegram"])
    assert missing.exit_code == 2 and "--register-key" in missing.stderr

    out = tmp_path / "jwt.json"
    merged = run(["openclaw-config", "merge", path, "--generation", "jwt", "--register-key", "rk-1",
                  "--inbound-url", INBOUND, "--channels", "telegram", "--out", str(out)])
    assert merged.exit_code == 0, merged.stderr
    assert "token: removed" in merged.stderr
    config = json.loads(out.read_text())
    assert config["gateway"]["http"]["endpoints"]["mux"] == {
        "enabled": True, "baseUrl": MUX, "registerKey": "rk-1", "inboundUrl": INBOUND}
    assert config["channels"]["telegram"]["botToken"] == "kept"
    assert out.stat().st_mode & 0o077 == 0, "the file holds the register key: owner-only"
    assert codes(tmp_path, config, "--generation", "jwt", "--register-key", "rk-1") == []

    again = run(["openclaw-config", "merge", str(out), "--generation", "jwt", "--channels", "telegram"])
    assert again.exit_code == 0 and "no changes" in again.stderr
