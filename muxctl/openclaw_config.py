"""The OpenClaw side of a tenant (CONTRACT §11): render, check and merge the mux settings of an
OpenClaw config, without touching the tenant's other settings."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

CHANNELS: tuple[str, ...] = ("telegram", "discord", "whatsapp")
MIN_KEY_LENGTH = 24  # the mux refuses shorter tenant keys (CONTRACT §3.2)
MUX_TRANSPORT_FIELDS = ("apiKey", "baseUrl")


@dataclass(frozen=True)
class Problem:
    code: str
    path: str
    message: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def normalize_url(url: str) -> str:
    return url.strip().rstrip("/")


def mux_account() -> dict[str, Any]:
    return {"enabled": False, "mux": {"enabled": True}}


def render(base_url: str, token: str, channels: tuple[str, ...] = CHANNELS) -> dict[str, Any]:
    """The minimal per-tenant config: the mux endpoint plus the dual-mode account layout per channel."""
    return {
        "gateway": {
            "http": {
                "endpoints": {
                    "mux": {"enabled": True, "baseUrl": normalize_url(base_url), "token": token},
                }
            }
        },
        "channels": {
            ch: {"enabled": True, "accounts": {"default": {"enabled": True}, "mux": mux_account()}}
            for ch in channels
        },
    }


def get_path(obj: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _check_gateway(config: dict[str, Any], key: str | None, base_url: str | None) -> list[Problem]:
    path = "gateway.http.endpoints.mux"
    endpoint = get_path(config, "gateway", "http", "endpoints", "mux")
    if endpoint is None:
        return [
            Problem(
                "GATEWAY_MUX_MISSING",
                path,
                "the mux endpoint is not configured, so OpenClaw rejects the mux's inbound events "
                "and cannot send through the mux",
                f"set {path} = {{enabled: true, baseUrl: <mux URL>, token: <tenant key>}}",
            )
        ]
    if not isinstance(endpoint, dict):
        return [Problem("GATEWAY_MUX_INVALID", path, "must be an object", f"make {path} an object")]
    problems: list[Problem] = []
    if endpoint.get("enabled") is not True:
        problems.append(
            Problem(
                "GATEWAY_MUX_DISABLED",
                f"{path}.enabled",
                f"is {endpoint.get('enabled')!r}, not true: OpenClaw ignores the mux endpoint",
                f"set {path}.enabled = true",
            )
        )
    configured_url = endpoint.get("baseUrl")
    if not isinstance(configured_url, str) or not configured_url.strip():
        problems.append(
            Problem(
                "GATEWAY_MUX_NO_BASEURL",
                f"{path}.baseUrl",
                "is missing: OpenClaw does not know where to send outbound messages",
                f"set {path}.baseUrl to the mux's public URL",
            )
        )
    else:
        parts = urlsplit(configured_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(
                Problem(
                    "GATEWAY_MUX_BAD_BASEURL",
                    f"{path}.baseUrl",
                    f"{configured_url!r} is not an absolute http(s) URL",
                    f"set {path}.baseUrl to the mux's public URL, e.g. https://mux.example.com",
                )
            )
        elif base_url is not None and normalize_url(configured_url) != normalize_url(base_url):
            problems.append(
                Problem(
                    "GATEWAY_MUX_BASEURL_MISMATCH",
                    f"{path}.baseUrl",
                    f"is {configured_url!r} but the mux is at {normalize_url(base_url)!r}",
                    f"set {path}.baseUrl = {normalize_url(base_url)!r}",
                )
            )
    token = endpoint.get("token")
    if not isinstance(token, str) or not token.strip():
        problems.append(
            Problem(
                "GATEWAY_MUX_NO_TOKEN",
                f"{path}.token",
                "is missing: OpenClaw cannot authenticate to the mux nor verify the mux's inbound bearer",
                f"set {path}.token to the tenant key",
            )
        )
    elif key is not None and token.strip() != key.strip():
        problems.append(
            Problem(
                "GATEWAY_MUX_TOKEN_MISMATCH",
                f"{path}.token",
                "is not the tenant key: the mux would answer 401 to OpenClaw and OpenClaw would "
                "refuse the mux's inbound events",
                f"set {path}.token to the tenant key (or rotate with `muxctl tenant rotate-key`)",
            )
        )
    elif len(token.strip()) < MIN_KEY_LENGTH:
        problems.append(
            Problem(
                "GATEWAY_MUX_TOKEN_TOO_SHORT",
                f"{path}.token",
                f"is {len(token.strip())} characters; the mux only accepts tenant keys of "
                f"{MIN_KEY_LENGTH} or more, so this cannot be the tenant key",
                f"set {path}.token to the tenant key",
            )
        )
    return problems


def _transport_fields(section: Any, path: str) -> list[Problem]:
    """Per-channel mux apiKey/baseUrl fields: OpenClaw must use the gateway endpoint only."""
    if not isinstance(section, dict):
        return []
    return [
        Problem(
            "PER_CHANNEL_MUX_FIELD",
            f"{path}.{field}",
            "per-channel mux transport settings must not be relied on: only "
            "gateway.http.endpoints.mux.{baseUrl,token} route and authenticate mux traffic",
            f"remove {path}.{field} and set gateway.http.endpoints.mux instead",
        )
        for field in MUX_TRANSPORT_FIELDS
        if field in section
    ]


def _check_channel(channels: dict[str, Any], ch: str) -> list[Problem]:
    base = f"channels.{ch}"
    section = channels.get(ch)
    if section is None:
        return [
            Problem(
                "CHANNEL_MISSING",
                base,
                f"is missing: mux traffic for {ch} has no account to use",
                f"add {base}.accounts = {{default: {{enabled: true}}, "
                "mux: {enabled: false, mux: {enabled: true}}}",
            )
        ]
    if not isinstance(section, dict):
        return [Problem("CHANNEL_INVALID", base, "must be an object", f"make {base} an object")]
    problems: list[Problem] = []
    if section.get("enabled") is False:
        problems.append(
            Problem(
                "CHANNEL_DISABLED",
                f"{base}.enabled",
                f"is false: neither direct nor mux traffic for {ch} works",
                f"set {base}.enabled = true",
            )
        )
    problems += _transport_fields(section.get("mux"), f"{base}.mux")
    accounts = section.get("accounts")
    if accounts is None:
        problems.append(
            Problem(
                "MUX_ACCOUNT_MISSING",
                f"{base}.accounts",
                "is missing: there is no `mux` account for the mux's inbound events and outbound route",
                f"add {base}.accounts.default = {{enabled: true}} (keeps direct traffic) and "
                f"{base}.accounts.mux = {{enabled: false, mux: {{enabled: true}}}}",
            )
        )
        return problems
    if not isinstance(accounts, dict):
        return problems + [
            Problem("ACCOUNTS_INVALID", f"{base}.accounts", "must be an object", "make it an object")
        ]
    default = accounts.get("default")
    if default is None:
        problems.append(
            Problem(
                "DEFAULT_ACCOUNT_MISSING",
                f"{base}.accounts.default",
                "is missing while `accounts` exists: direct (non-mux) traffic would stop",
                f"add {base}.accounts.default = {{enabled: true}}",
            )
        )
    elif not isinstance(default, dict) or default.get("enabled") is False:
        problems.append(
            Problem(
                "DEFAULT_ACCOUNT_DISABLED",
                f"{base}.accounts.default.enabled",
                "is false: direct (non-mux) traffic would stop",
                f"set {base}.accounts.default.enabled = true",
            )
        )
    for name, account in accounts.items():
        if isinstance(account, dict):
            problems += _transport_fields(account.get("mux"), f"{base}.accounts.{name}.mux")
    mux = accounts.get("mux")
    if mux is None:
        problems.append(
            Problem(
                "MUX_ACCOUNT_MISSING",
                f"{base}.accounts.mux",
                "is missing: the mux's inbound events (accountId `mux`) and outbound route have no account",
                f"add {base}.accounts.mux = {{enabled: false, mux: {{enabled: true}}}}",
            )
        )
        return problems
    if not isinstance(mux, dict):
        return problems + [
            Problem("MUX_ACCOUNT_INVALID", f"{base}.accounts.mux", "must be an object", "make it an object")
        ]
    problems += _transport_fields(mux, f"{base}.accounts.mux")
    if mux.get("enabled") is not False:
        state = "true" if mux.get("enabled") is True else "absent (accounts are enabled by default)"
        problems.append(
            Problem(
                "MUX_ACCOUNT_POLLING",
                f"{base}.accounts.mux.enabled",
                f"is {state}: OpenClaw would poll the platform directly with the mux account, "
                "competing with the mux for the bot's updates",
                f"set {base}.accounts.mux.enabled = false",
            )
        )
    if get_path(mux, "mux", "enabled") is not True:
        problems.append(
            Problem(
                "MUX_ROUTE_DISABLED",
                f"{base}.accounts.mux.mux.enabled",
                f"is {get_path(mux, 'mux', 'enabled')!r}, not true: OpenClaw will not send {ch} replies "
                "through the mux",
                f"set {base}.accounts.mux.mux.enabled = true",
            )
        )
    return problems


def check(
    config: Any,
    *,
    key: str | None = None,
    base_url: str | None = None,
    channels: tuple[str, ...] = CHANNELS,
) -> list[Problem]:
    """Every way this config breaks the contract; empty when it is fine."""
    if not isinstance(config, dict):
        return [Problem("CONFIG_INVALID", "$", "the config must be a JSON object", "fix the file")]
    problems = _check_gateway(config, key, base_url)
    section = config.get("channels")
    if section is None:
        section = {}
    if not isinstance(section, dict):
        return problems + [Problem("CHANNELS_INVALID", "channels", "must be an object", "fix the file")]
    for ch in channels:
        problems += _check_channel(section, ch)
    return problems


def merge(
    config: dict[str, Any],
    *,
    key: str,
    base_url: str,
    channels: tuple[str, ...] = CHANNELS,
) -> tuple[dict[str, Any], list[str]]:
    """A copy of `config` with the mux settings applied, and a list of what changed.

    Everything else (bot tokens, other accounts, unrelated sections) is kept as is. When a channel has
    no `accounts` yet, `accounts.default` is created enabled so the direct bot keeps working.
    """
    merged = copy.deepcopy(config)
    changes: list[str] = []

    def ensure_dict(parent: dict[str, Any], name: str, path: str) -> dict[str, Any]:
        value = parent.get(name)
        if not isinstance(value, dict):
            if value is not None:
                changes.append(f"{path}: replaced a non-object value with an object")
            value = {}
            parent[name] = value
        return value

    def put(parent: dict[str, Any], name: str, value: Any, path: str) -> None:
        if parent.get(name) != value or name not in parent:
            before = "absent" if name not in parent else repr(parent[name])
            shown = "<tenant key>" if name == "token" else repr(value)
            changes.append(f"{path}: {before} -> {shown}")
            parent[name] = value

    endpoint = ensure_dict(
        ensure_dict(ensure_dict(ensure_dict(merged, "gateway", "gateway"), "http", "gateway.http"),
                    "endpoints", "gateway.http.endpoints"),
        "mux",
        "gateway.http.endpoints.mux",
    )
    put(endpoint, "enabled", True, "gateway.http.endpoints.mux.enabled")
    put(endpoint, "baseUrl", normalize_url(base_url), "gateway.http.endpoints.mux.baseUrl")
    put(endpoint, "token", key, "gateway.http.endpoints.mux.token")

    all_channels = ensure_dict(merged, "channels", "channels")
    for ch in channels:
        base = f"channels.{ch}"
        created = ch not in all_channels
        section = ensure_dict(all_channels, ch, base)
        if created:
            section["enabled"] = True
            changes.append(f"{base}: created (enabled)")
        elif section.get("enabled") is False:
            section["enabled"] = True
            changes.append(f"{base}.enabled: False -> True (a disabled channel carries no mux traffic)")
        for field in MUX_TRANSPORT_FIELDS:
            if isinstance(section.get("mux"), dict) and field in section["mux"]:
                del section["mux"][field]
                changes.append(f"{base}.mux.{field}: removed (use gateway.http.endpoints.mux)")
        had_accounts = isinstance(section.get("accounts"), dict)
        accounts = ensure_dict(section, "accounts", f"{base}.accounts")
        if not had_accounts:
            changes.append(f"{base}.accounts: created with `default` enabled so direct traffic keeps working")
        default = ensure_dict(accounts, "default", f"{base}.accounts.default")
        put(default, "enabled", True, f"{base}.accounts.default.enabled")
        mux = ensure_dict(accounts, "mux", f"{base}.accounts.mux")
        put(mux, "enabled", False, f"{base}.accounts.mux.enabled")
        for field in MUX_TRANSPORT_FIELDS:
            if field in mux:
                del mux[field]
                changes.append(f"{base}.accounts.mux.{field}: removed (use gateway.http.endpoints.mux)")
        route = ensure_dict(mux, "mux", f"{base}.accounts.mux.mux")
        put(route, "enabled", True, f"{base}.accounts.mux.mux.enabled")
        for field in MUX_TRANSPORT_FIELDS:
            if field in route:
                del route[field]
                changes.append(f"{base}.accounts.mux.mux.{field}: removed (use gateway.http.endpoints.mux)")
        for name, account in accounts.items():
            if name != "mux" and isinstance(account, dict) and isinstance(account.get("mux"), dict):
                for field in MUX_TRANSPORT_FIELDS:
                    if field in account["mux"]:
                        del account["mux"][field]
                        changes.append(f"{base}.accounts.{name}.mux.{field}: removed")
    return merged, changes
