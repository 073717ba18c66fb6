"""The OpenClaw side of a tenant (docs/reference.md, the OpenClaw config): render, check and merge the mux
settings of an OpenClaw config, without touching the tenant's other settings, valid for OpenClaw's own schema."""

from __future__ import annotations

import copy
import difflib
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

CHANNELS: tuple[str, ...] = ("telegram", "discord", "whatsapp")
# The channels this version of the mux serves (those with a receiver under chalicelib/channels/): a mux
# account is worth turning on in OpenClaw only for these, and only when the deployment enables them.
IMPLEMENTED_CHANNELS: tuple[str, ...] = ("telegram", "discord", "whatsapp")
MIN_KEY_LENGTH = 24  # the mux refuses shorter tenant keys (docs/reference.md, bootstrap)
MUX_TRANSPORT_FIELDS = ("apiKey", "baseUrl")

# OpenClaw's zod schemas at the targeted commit (022295a, src/config/zod-schema*.ts). Every object below is
# `.strict()` there: one unknown key anywhere makes OpenClaw refuse the whole config, and its mux handler then
# answers 404 "not enabled" to every forward. Only `channels` itself passes unknown keys (extension channels).
GATEWAY_HTTP_KEYS = frozenset({"endpoints"})
GATEWAY_ENDPOINT_KEYS = frozenset({"chatCompletions", "responses", "mux"})
GATEWAY_MUX_KEYS = frozenset({"enabled", "baseUrl", "token", "maxBodyBytes"})
MUX_BLOCK_KEYS = frozenset({"enabled", "timeoutMs"})  # ChannelMuxSchema
_TELEGRAM_ACCOUNT = frozenset({
    "name", "capabilities", "markdown", "enabled", "commands", "customCommands", "configWrites", "dmPolicy",
    "botToken", "tokenFile", "replyToMode", "groups", "allowFrom", "groupAllowFrom", "groupPolicy",
    "historyLimit", "dmHistoryLimit", "dms", "textChunkLimit", "chunkMode", "blockStreaming", "draftChunk",
    "blockStreamingCoalesce", "streamMode", "mediaMaxMb", "timeoutSeconds", "retry", "network", "proxy",
    "webhookUrl", "webhookSecret", "webhookPath", "actions", "mux", "reactionNotifications", "reactionLevel",
    "heartbeat", "linkPreview", "responsePrefix",
})
_DISCORD_ACCOUNT = frozenset({
    "name", "capabilities", "markdown", "enabled", "commands", "configWrites", "token", "allowBots",
    "groupPolicy", "historyLimit", "dmHistoryLimit", "dms", "textChunkLimit", "chunkMode", "blockStreaming",
    "blockStreamingCoalesce", "maxLinesPerMessage", "mediaMaxMb", "retry", "actions", "replyToMode", "dm",
    "guilds", "heartbeat", "execApprovals", "intents", "pluralkit", "responsePrefix", "mux",
})
_WHATSAPP_SHARED = frozenset({
    "capabilities", "markdown", "configWrites", "sendReadReceipts", "messagePrefix", "responsePrefix",
    "dmPolicy", "selfChatMode", "allowFrom", "groupAllowFrom", "groupPolicy", "historyLimit", "dmHistoryLimit",
    "dms", "textChunkLimit", "chunkMode", "mediaMaxMb", "blockStreaming", "blockStreamingCoalesce", "groups",
    "ackReaction", "debounceMs", "heartbeat", "mux",
})
ACCOUNT_KEYS: dict[str, frozenset[str]] = {
    "telegram": _TELEGRAM_ACCOUNT,
    "discord": _DISCORD_ACCOUNT,
    "whatsapp": _WHATSAPP_SHARED | {"name", "enabled", "authDir"},
}
# Telegram's and Discord's channel schemas are their account schema plus `accounts`; WhatsApp's channel schema
# is its own: no `enabled`, `name` or `authDir` (accounts only), but `actions`.
CHANNEL_KEYS: dict[str, frozenset[str]] = {
    "telegram": _TELEGRAM_ACCOUNT | {"accounts"},
    "discord": _DISCORD_ACCOUNT | {"accounts"},
    "whatsapp": _WHATSAPP_SHARED | {"accounts", "actions"},
}
CHANNEL_SWITCH = {"telegram": True, "discord": True, "whatsapp": False}  # has a channel-level `enabled`
DM_POLICIES = ("pairing", "allowlist", "open", "disabled")


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


def channel_section(ch: str) -> dict[str, Any]:
    """The dual-mode account layout of one channel, in the keys OpenClaw's schema for that channel allows."""
    section: dict[str, Any] = {"enabled": True} if CHANNEL_SWITCH[ch] else {}
    section["accounts"] = {"default": {"enabled": True}, "mux": mux_account()}
    return section


def render(base_url: str, token: str, channels: tuple[str, ...] = IMPLEMENTED_CHANNELS) -> dict[str, Any]:
    """The minimal per-tenant config: the mux endpoint plus the dual-mode account layout of each channel the
    mux serves (`channels`); other channels are left out, so OpenClaw turns on no mux account the mux cannot
    feed."""
    return {
        "gateway": {
            "http": {
                "endpoints": {
                    "mux": {"enabled": True, "baseUrl": normalize_url(base_url), "token": token},
                }
            }
        },
        "channels": {ch: channel_section(ch) for ch in CHANNELS if ch in channels},
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


def _transport_field(path: str, name: str) -> Problem:
    return Problem(
        "PER_CHANNEL_MUX_FIELD",
        f"{path}.{name}",
        "per-channel mux transport settings do not exist in OpenClaw's schema (it refuses the whole config): "
        "only gateway.http.endpoints.mux.{baseUrl,token} route and authenticate mux traffic",
        f"remove {path}.{name} and set gateway.http.endpoints.mux instead",
    )


def _unknown_key(path: str, name: str, allowed: frozenset[str], hint: str = "") -> Problem:
    if name in MUX_TRANSPORT_FIELDS and path.startswith("channels."):
        return _transport_field(path, name)
    by_lower = {a.lower(): a for a in allowed}
    close = difflib.get_close_matches(name.lower(), sorted(by_lower), n=1, cutoff=0.75)
    fix = f"remove {path}.{name}"
    if close:
        fix += f" (did you mean `{by_lower[close[0]]}`?)"
    return Problem(
        "SCHEMA_UNKNOWN_KEY",
        f"{path}.{name}",
        f"is not a key of OpenClaw's schema for {path}{hint}: OpenClaw refuses the whole config, and its mux "
        "handler then answers 404 to every forward (every message dead-lettered)",
        fix,
    )


def _wrong_type(path: str, value: Any, expected: str, fix: str) -> Problem:
    return Problem(
        "SCHEMA_WRONG_TYPE", path, f"is {value!r}, but OpenClaw's schema requires {expected}: OpenClaw refuses "
        "the whole config", fix,
    )


def _check_keys(section: dict[str, Any], path: str, allowed: frozenset[str], hint: str = "") -> list[Problem]:
    return [_unknown_key(path, str(name), allowed, hint) for name in section if name not in allowed]


def _check_bool(section: dict[str, Any], name: str, path: str) -> list[Problem]:
    value = section.get(name)
    if name in section and not isinstance(value, bool):
        return [_wrong_type(f"{path}.{name}", value, "true or false", f"set {path}.{name} to true or false")]
    return []


def _check_positive_int(section: dict[str, Any], name: str, path: str) -> list[Problem]:
    value = section.get(name)
    if name in section and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        return [_wrong_type(f"{path}.{name}", value, "a positive integer",
                            f"set {path}.{name} to a positive integer or remove it")]
    return []


def _check_mux_block(block: Any, path: str) -> list[Problem]:
    """A per-channel or per-account `mux` block: only `enabled` and `timeoutMs` exist (ChannelMuxSchema)."""
    if block is None:
        return []
    if not isinstance(block, dict):
        return [_wrong_type(path, block, "an object", f"make {path} an object such as {{enabled: true}}")]
    return (
        _check_keys(block, path, MUX_BLOCK_KEYS)
        + _check_bool(block, "enabled", path)
        + _check_positive_int(block, "timeoutMs", path)
    )


def _check_dm_policy(section: dict[str, Any], path: str) -> list[Problem]:
    """OpenClaw's refinement: dmPolicy "open" needs "*" in allowFrom."""
    policy = section.get("dmPolicy")
    if "dmPolicy" in section and policy not in DM_POLICIES:
        return [_wrong_type(f"{path}.dmPolicy", policy, f"one of {', '.join(DM_POLICIES)}",
                            f"set {path}.dmPolicy to one of {', '.join(DM_POLICIES)}")]
    allow = section.get("allowFrom")
    allowed = [str(v).strip() for v in allow] if isinstance(allow, list) else []
    if policy == "open" and "*" not in allowed:
        return [Problem(
            "SCHEMA_OPEN_DM_POLICY", f"{path}.allowFrom",
            'must include "*" when dmPolicy is "open" (OpenClaw refuses the config otherwise)',
            f'add "*" to {path}.allowFrom, or choose another {path}.dmPolicy',
        )]
    return []


def check_schema(config: Any) -> list[Problem]:
    """Every key and value in the parts of the config the mux relies on (the mux endpoint and the telegram,
    discord and whatsapp channels with their accounts and mux blocks) that OpenClaw's own schema rejects.
    Other sections and the inner structure of channel settings (groups, actions, …) are not checked."""
    if not isinstance(config, dict):
        return []
    problems: list[Problem] = []
    gateway = config.get("gateway")
    http = gateway.get("http") if isinstance(gateway, dict) else None
    if isinstance(http, dict):
        problems += _check_keys(http, "gateway.http", GATEWAY_HTTP_KEYS)
        endpoints = http.get("endpoints")
        if isinstance(endpoints, dict):
            problems += _check_keys(endpoints, "gateway.http.endpoints", GATEWAY_ENDPOINT_KEYS)
            mux = endpoints.get("mux")
            path = "gateway.http.endpoints.mux"
            if isinstance(mux, dict):
                problems += _check_keys(mux, path, GATEWAY_MUX_KEYS)
                problems += _check_positive_int(mux, "maxBodyBytes", path)
                for name in ("baseUrl", "token"):
                    if name in mux and not isinstance(mux[name], str):
                        problems.append(_wrong_type(f"{path}.{name}", "<not a string>" if name == "token"
                                                    else mux[name], "a string", f"set {path}.{name} to a string"))
    channels = config.get("channels")
    if not isinstance(channels, dict):
        return problems
    for ch in CHANNELS:
        section = channels.get(ch)
        base = f"channels.{ch}"
        if not isinstance(section, dict):
            continue
        hint = ""
        if ch == "whatsapp":
            hint = " (WhatsApp has no channel-level `enabled`, `name` or `authDir`: set them per account, " \
                   "e.g. channels.whatsapp.accounts.default.enabled)"
        for name in section:
            if name not in CHANNEL_KEYS[ch]:
                problem = _unknown_key(base, str(name), CHANNEL_KEYS[ch], hint)
                if ch == "whatsapp" and name == "enabled":
                    problem = Problem(problem.code, problem.path, problem.message,
                                      f"remove {base}.enabled (turn accounts on or off with "
                                      f"{base}.accounts.<id>.enabled)")
                problems.append(problem)
        if CHANNEL_SWITCH[ch]:
            problems += _check_bool(section, "enabled", base)
        problems += _check_mux_block(section.get("mux"), f"{base}.mux") + _check_dm_policy(section, base)
        accounts = section.get("accounts")
        if accounts is None:
            continue
        if not isinstance(accounts, dict):
            problems.append(_wrong_type(f"{base}.accounts", accounts, "an object of accounts",
                                        f"make {base}.accounts an object, e.g. {{default: {{enabled: true}}}}"))
            continue
        for account_id, account in accounts.items():
            path = f"{base}.accounts.{account_id}"
            if not isinstance(account, dict):
                problems.append(_wrong_type(path, account, "an object", f"make {path} an object"))
                continue
            problems += _check_keys(account, path, ACCOUNT_KEYS[ch])
            problems += _check_bool(account, "enabled", path)
            problems += _check_mux_block(account.get("mux"), f"{path}.mux") + _check_dm_policy(account, path)
        if ch == "telegram":
            problems += _check_telegram_webhooks(section, accounts)
    return problems


def _check_telegram_webhooks(section: dict[str, Any], accounts: dict[str, Any]) -> list[Problem]:
    """OpenClaw's refinement: a Telegram webhookUrl needs a webhookSecret (the account's or the channel's)."""

    def text(obj: dict[str, Any], name: str) -> str:
        value = obj.get(name)
        return value.strip() if isinstance(value, str) else ""

    problems: list[Problem] = []
    if text(section, "webhookUrl") and not text(section, "webhookSecret"):
        problems.append(Problem("SCHEMA_WEBHOOK_SECRET", "channels.telegram.webhookSecret",
                                "is missing although channels.telegram.webhookUrl is set (OpenClaw refuses this)",
                                "set channels.telegram.webhookSecret, or remove channels.telegram.webhookUrl"))
    for account_id, account in accounts.items():
        if not isinstance(account, dict) or account.get("enabled") is False:
            continue
        if text(account, "webhookUrl") and not text(account, "webhookSecret") and not text(section, "webhookSecret"):
            path = f"channels.telegram.accounts.{account_id}"
            problems.append(Problem("SCHEMA_WEBHOOK_SECRET", f"{path}.webhookSecret",
                                    f"is missing although {path}.webhookUrl is set (OpenClaw refuses this)",
                                    f"set {path}.webhookSecret (or channels.telegram.webhookSecret)"))
    return problems


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
    if CHANNEL_SWITCH[ch] and section.get("enabled") is False:
        problems.append(
            Problem(
                "CHANNEL_DISABLED",
                f"{base}.enabled",
                f"is false: neither direct nor mux traffic for {ch} works",
                f"set {base}.enabled = true",
            )
        )
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
        return problems  # reported by check_schema
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
        return problems  # reported by check_schema
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
    channels: tuple[str, ...] = IMPLEMENTED_CHANNELS,
) -> list[Problem]:
    """Every way this config breaks the contract or OpenClaw's own schema; empty when it is fine.

    `channels` must carry mux traffic (accounts set up); the schema rules apply to all three channels."""
    if not isinstance(config, dict):
        return [Problem("CONFIG_INVALID", "$", "the config must be a JSON object", "fix the file")]
    problems = check_schema(config) + _check_gateway(config, key, base_url)
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
    channels: tuple[str, ...] = IMPLEMENTED_CHANNELS,
) -> tuple[dict[str, Any], list[str]]:
    """A copy of `config` with the mux settings applied, and a list of what changed.

    Everything else (bot tokens, other accounts, unrelated sections) is kept as is, except keys in the mux's
    own settings that OpenClaw's schema rejects (they would make OpenClaw refuse the whole file), which are
    removed. When a channel has no `accounts` yet, `accounts.default` is created enabled so the direct bot
    keeps working. Only `channels` get mux accounts.
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

    def drop(parent: dict[str, Any], names: Any, path: str, why: str) -> None:
        for name in [n for n in parent if n in names]:
            del parent[name]
            changes.append(f"{path}.{name}: removed ({why})")

    def drop_unknown(parent: Any, allowed: frozenset[str], path: str) -> None:
        if isinstance(parent, dict):
            drop(parent, [n for n in parent if n not in allowed], path, "not in OpenClaw's schema")

    endpoint = ensure_dict(
        ensure_dict(ensure_dict(ensure_dict(merged, "gateway", "gateway"), "http", "gateway.http"),
                    "endpoints", "gateway.http.endpoints"),
        "mux",
        "gateway.http.endpoints.mux",
    )
    put(endpoint, "enabled", True, "gateway.http.endpoints.mux.enabled")
    put(endpoint, "baseUrl", normalize_url(base_url), "gateway.http.endpoints.mux.baseUrl")
    put(endpoint, "token", key, "gateway.http.endpoints.mux.token")
    drop_unknown(endpoint, GATEWAY_MUX_KEYS, "gateway.http.endpoints.mux")

    all_channels = ensure_dict(merged, "channels", "channels")
    for ch in CHANNELS:
        base = f"channels.{ch}"
        if ch not in channels and not isinstance(all_channels.get(ch), dict):
            continue
        created = ch not in all_channels
        section = ensure_dict(all_channels, ch, base)
        if not CHANNEL_SWITCH[ch]:
            drop(section, ("enabled",), base, f"OpenClaw's {ch} schema has no channel-level switch")
        elif ch in channels and created:
            section["enabled"] = True
            changes.append(f"{base}: created (enabled)")
        elif ch in channels and section.get("enabled") is False:
            section["enabled"] = True
            changes.append(f"{base}.enabled: False -> True (a disabled channel carries no mux traffic)")
        elif created:
            changes.append(f"{base}: created")
        transport_why = "use gateway.http.endpoints.mux"
        drop(section, MUX_TRANSPORT_FIELDS, base, transport_why)
        if isinstance(section.get("mux"), dict):
            drop(section["mux"], MUX_TRANSPORT_FIELDS, f"{base}.mux", transport_why)
            drop_unknown(section["mux"], MUX_BLOCK_KEYS, f"{base}.mux")
        if ch not in channels:
            for name, account in (section.get("accounts") or {}).items():
                if isinstance(account, dict):
                    drop(account, MUX_TRANSPORT_FIELDS, f"{base}.accounts.{name}", transport_why)
                    if isinstance(account.get("mux"), dict):
                        drop(account["mux"], MUX_TRANSPORT_FIELDS, f"{base}.accounts.{name}.mux", transport_why)
                        drop_unknown(account["mux"], MUX_BLOCK_KEYS, f"{base}.accounts.{name}.mux")
            continue
        had_accounts = isinstance(section.get("accounts"), dict)
        accounts = ensure_dict(section, "accounts", f"{base}.accounts")
        if not had_accounts:
            changes.append(f"{base}.accounts: created with `default` enabled so direct traffic keeps working")
        default = ensure_dict(accounts, "default", f"{base}.accounts.default")
        put(default, "enabled", True, f"{base}.accounts.default.enabled")
        mux = ensure_dict(accounts, "mux", f"{base}.accounts.mux")
        put(mux, "enabled", False, f"{base}.accounts.mux.enabled")
        route = ensure_dict(mux, "mux", f"{base}.accounts.mux.mux")
        put(route, "enabled", True, f"{base}.accounts.mux.mux.enabled")
        for name, account in accounts.items():
            if isinstance(account, dict):
                drop(account, MUX_TRANSPORT_FIELDS, f"{base}.accounts.{name}", transport_why)
                if isinstance(account.get("mux"), dict):
                    drop(account["mux"], MUX_TRANSPORT_FIELDS, f"{base}.accounts.{name}.mux", transport_why)
                    drop_unknown(account["mux"], MUX_BLOCK_KEYS, f"{base}.accounts.{name}.mux")
    return merged, changes
