"""The OpenClaw side of a runtime-JWT instance (CONTRACT §14, OpenClaw 714b97af4): render, check and merge its
mux settings.

The two generations cannot share a config file: `gateway.http.endpoints.mux` is a strict object in both, with
`{enabled, baseUrl, token, maxBodyBytes}` in the shared-key generation (muxctl.openclaw_config flags the JWT
keys there) and `{enabled, baseUrl, registerKey, inboundUrl, maxBodyBytes}` in the runtime-JWT one, so each
refuses the other's keys. The per-channel account layout is the same in both (checked by muxctl.openclaw_config).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from muxctl import openclaw_config
from muxctl.openclaw_config import IMPLEMENTED_CHANNELS, Problem, get_path, normalize_url

GENERATIONS = ("shared-key", "jwt")
PATH = "gateway.http.endpoints.mux"
INBOUND_PATH = "/v1/mux/inbound"  # the only path OpenClaw's mux handler serves
JWT_MUX_KEYS = frozenset({"enabled", "baseUrl", "registerKey", "inboundUrl", "maxBodyBytes"})
# Paths whose shared-key verdicts do not apply to this generation (it has its own rules for them).
_OWN_PATHS = frozenset(f"{PATH}.{k}" for k in ("token", "registerKey", "inboundUrl"))


def render(
    base_url: str, register_key: str, inbound_url: str, channels: tuple[str, ...] = IMPLEMENTED_CHANNELS
) -> dict[str, Any]:
    """The minimal runtime-JWT config: the mux endpoint (no token) plus the dual-mode accounts per channel."""
    config = openclaw_config.render(base_url, "unused", channels)
    config["gateway"]["http"]["endpoints"]["mux"] = {
        "enabled": True,
        "baseUrl": normalize_url(base_url),
        "registerKey": register_key,
        "inboundUrl": inbound_url.strip(),
    }
    return config


def _endpoint(endpoint: Any, register_key: str | None, inbound_url: str | None) -> list[Problem]:
    if not isinstance(endpoint, dict):
        return [Problem(
            "GATEWAY_MUX_MISSING", PATH,
            "the mux endpoint is not configured: OpenClaw neither registers with the mux nor accepts its events",
            f"set {PATH} = {{enabled: true, baseUrl: <mux URL>, registerKey: <register key>, "
            "inboundUrl: <this OpenClaw's /v1/mux/inbound URL>}",
        )]
    problems = [
        Problem(
            "GATEWAY_MUX_FOREIGN_KEY" if name == "token" else "SCHEMA_UNKNOWN_KEY",
            f"{PATH}.{name}",
            ("belongs to the shared-key generation: " if name == "token" else "is not a key of its schema: ")
            + "the runtime-JWT OpenClaw refuses the whole config",
            f"remove {PATH}.{name}",
        )
        for name in endpoint if name not in JWT_MUX_KEYS
    ]
    key = endpoint.get("registerKey")
    if not isinstance(key, str) or not key.strip():
        problems.append(Problem(
            "GATEWAY_MUX_NO_REGISTER_KEY", f"{PATH}.registerKey",
            "is missing: OpenClaw cannot register, so every mux send fails",
            f"set {PATH}.registerKey to the mux's MUX_REGISTER_KEY",
        ))
    elif register_key is not None and key.strip() != register_key.strip():
        problems.append(Problem(
            "GATEWAY_MUX_REGISTER_KEY_MISMATCH", f"{PATH}.registerKey",
            "is not the mux's register key: registration gets 401 and OpenClaw stops trying until restarted",
            f"set {PATH}.registerKey to the mux's MUX_REGISTER_KEY",
        ))
    url = endpoint.get("inboundUrl")
    fix = f"set {PATH}.inboundUrl to this OpenClaw's public …{INBOUND_PATH} URL"
    if not isinstance(url, str) or not url.strip():
        problems.append(Problem(
            "GATEWAY_MUX_NO_INBOUND_URL", f"{PATH}.inboundUrl",
            "is missing: OpenClaw skips registration and the mux has nowhere to deliver", fix,
        ))
        return problems
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(Problem(
            "GATEWAY_MUX_BAD_INBOUND_URL", f"{PATH}.inboundUrl", f"{url!r} is not an absolute http(s) URL", fix,
        ))
    elif parts.path.rstrip("/") != INBOUND_PATH:
        problems.append(Problem(
            "GATEWAY_MUX_INBOUND_PATH", f"{PATH}.inboundUrl",
            f"ends in {parts.path or '/'!r}: OpenClaw serves mux events only at {INBOUND_PATH}",
            f"make {PATH}.inboundUrl end in {INBOUND_PATH}",
        ))
    elif inbound_url is not None and normalize_url(url) != normalize_url(inbound_url):
        problems.append(Problem(
            "GATEWAY_MUX_INBOUND_URL_MISMATCH", f"{PATH}.inboundUrl",
            f"is {url!r} but the instance should be reached at {inbound_url!r}",
            f"set {PATH}.inboundUrl = {inbound_url!r}",
        ))
    return problems


def check(
    config: Any,
    *,
    register_key: str | None = None,
    base_url: str | None = None,
    inbound_url: str | None = None,
    channels: tuple[str, ...] = IMPLEMENTED_CHANNELS,
) -> list[Problem]:
    """Every way this runtime-JWT config breaks the contract or that generation's schema; empty when fine."""
    if not isinstance(config, dict):
        return [Problem("CONFIG_INVALID", "$", "the config must be a JSON object", "fix the file")]
    endpoint = get_path(config, "gateway", "http", "endpoints", "mux")
    skip = _OWN_PATHS | ({PATH} if not isinstance(endpoint, dict) else set())
    shared = [p for p in openclaw_config.check(config, base_url=base_url, channels=channels) if p.path not in skip]
    return shared + _endpoint(endpoint, register_key, inbound_url)


def merge(
    config: dict[str, Any], *, register_key: str, base_url: str, inbound_url: str,
    channels: tuple[str, ...] = IMPLEMENTED_CHANNELS,
) -> tuple[dict[str, Any], list[str]]:
    """A copy of `config` with the runtime-JWT mux settings applied (a shared-key `token` removed), and what
    changed."""
    before = get_path(config, "gateway", "http", "endpoints", "mux")
    before = dict(before) if isinstance(before, dict) else {}
    merged, changes = openclaw_config.merge(config, key="unused", base_url=base_url, channels=channels)
    changes = [c for c in changes if not any(c.startswith(p) for p in _OWN_PATHS)]
    endpoint = merged["gateway"]["http"]["endpoints"]["mux"]
    endpoint.pop("token", None)
    if "token" in before:
        changes.append(f"{PATH}.token: removed (the runtime-JWT generation rejects it)")
    for name, value in (("registerKey", register_key), ("inboundUrl", inbound_url.strip())):
        if before.get(name) != value:
            shown = "<register key>" if name == "registerKey" else repr(value)
            changes.append(f"{PATH}.{name}: {'absent' if name not in before else 'changed'} -> {shown}")
        endpoint[name] = value
    return merged, changes
