"""Pydantic models: API requests/responses (they also generate /openapi.json) and domain records."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["telegram", "discord", "whatsapp"]
CHANNELS: tuple[str, ...] = ("telegram", "discord", "whatsapp")
TENANT_ID_PATTERN = r"^[A-Za-z0-9._-]{1,128}$"
AGENT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_AGENTS = 50
TokenStatus = Literal["pending", "claimed", "expired", "revoked"]
TenantMode = Literal["shared-key", "jwt"]


class Model(BaseModel):
    """Base of every model: validators are built on first use, not at import (Lambda cold start)."""

    model_config = ConfigDict(defer_build=True)


class ApiModel(Model):
    """Our own request bodies: unknown fields are refused so typos surface."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


class Ok(Model):
    ok: Literal[True] = True


class ErrorBody(Model):
    ok: Literal[False] = False
    error: str
    code: str
    details: Any = None


# --- admin ------------------------------------------------------------------------------------
class BootstrapRequest(ApiModel):
    tenantId: str = Field(pattern=TENANT_ID_PATTERN)
    apiKey: str = Field(min_length=24, max_length=512)
    inboundUrl: str = Field(min_length=1, max_length=2048)
    name: str | None = Field(None, min_length=1, max_length=256)
    inboundTimeoutMs: int = Field(15000, ge=100, le=60000)
    agents: list[Annotated[str, Field(pattern=AGENT_ID_PATTERN)]] | None = Field(
        None,
        max_length=MAX_AGENTS,
        description="Agent ids the tenant offers for session selection (GET /v1/mux/sessions, token agentId "
        "and sessionKey validation). Omitted: the stored list is kept; [] clears it.",
    )
    eventsUrl: str | None = Field(
        None, min_length=1, max_length=2048,
        description="Absolute http(s) URL that receives the tenant's signed control-plane events (SSRF guard "
        "as for inboundUrl). Omitted: the stored URL is kept; null removes it.",
    )


class TenantResponse(Ok):
    tenantId: str
    name: str
    inboundUrl: str | None
    inboundTimeoutMs: int
    sharedTenantKey: bool = True
    mode: TenantMode = "shared-key"
    disabled: bool = False
    agents: list[str] = Field(default_factory=list)
    eventsUrl: str | None = None
    createdAtMs: int | None = None
    updatedAtMs: int | None = None


class TenantListItem(Model):
    """A tenant in a listing (never its key)."""

    tenantId: str
    name: str
    status: Literal["enabled", "disabled"]
    inboundUrl: str | None
    inboundTimeoutMs: int
    disabled: bool
    mode: TenantMode = "shared-key"
    createdAtMs: int | None = None
    updatedAtMs: int | None = None


class TenantListResponse(Ok):
    items: list[TenantListItem]
    nextCursor: str | None = None


class TenantDeleteResponse(Ok):
    tenantId: str
    deleted: dict[str, int]  # what was removed: bindings, sessions, pairingTokens


class AdminHealthResponse(Ok):
    stage: str
    dependencies: dict[str, Any]
    queues: dict[str, Any]
    channels: dict[str, bool]
    counters: dict[str, int]


# --- tenant -----------------------------------------------------------------------------------
class InboundTargetRequest(ApiModel):
    inboundUrl: str = Field(min_length=1, max_length=2048)
    inboundTimeoutMs: int | None = Field(None, ge=100, le=60000)
    openclawId: str | None = None  # runtime-JWT callers send it (checked against the token's subject)


class InboundTargetResponse(Ok):
    configured: bool
    inboundUrl: str | None
    inboundTimeoutMs: int


class PairingTokenRequest(ApiModel):
    channel: Channel
    ttlSec: int | None = None
    sessionKey: str | None = Field(
        None, min_length=1, max_length=512,
        description="Used verbatim for the claimed chat. When the tenant declared agents, it must be a session "
        "the mux has seen for the tenant or name a declared agent (agent:<id>:…), else 400 UNKNOWN_SESSION.",
    )
    agentId: str | None = Field(
        None, pattern=AGENT_ID_PATTERN,
        description="Derive agent:<agentId>:… session keys at claim. When the tenant declared agents, it must "
        "be one of them, else 400 UNKNOWN_AGENT.",
    )
    openclawId: str | None = None  # runtime-JWT callers send it (checked against the token's subject)


class PairingTokenResponse(Ok):
    channel: Channel
    tokenId: str = Field(description="Non-secret id for GET /v1/pairings/tokens/{tokenId} and revoke.")
    token: str
    expiresAtMs: int
    startCommand: str | None
    deepLink: str | None
    instructions: str | None = None
    qrSvg: str | None = Field(
        None, description="With ?qr=svg: an SVG QR code of deepLink (null when there is no deep link)."
    )


class DisplayFields(Model):
    """What a human recognises a chat by, captured at the claim and refreshed on activity."""

    displayName: str | None = Field(
        None, description="One line for a list: the chat title (group) or the user's name (private), with ' › "
        "<topic name>' for a topic binding."
    )
    chatTitle: str | None = Field(None, description="The group's title (null for private chats).")
    chatType: str | None = Field(None, description="The platform's chat type, e.g. Telegram private | group | "
                                 "supergroup | channel.")
    topicName: str | None = Field(None, description="The forum topic's name (topic bindings, when known).")
    userName: str | None = Field(None, description="The private chat's user, or in a group the user who paired it.")
    userHandle: str | None = Field(None, description="That user's handle (Telegram @username, without '@').")


class _PairingItemBase(Model):
    bindingId: str
    channel: Channel
    scope: str
    routeKey: str
    sessionKeys: list[str]
    createdAtMs: int
    lastSeenAtMs: int | None = None


class PairingItem(DisplayFields, _PairingItemBase):
    """A binding, display fields last (base classes' fields come in reverse MRO order)."""


class _TokenStatusBase(Ok):
    tokenId: str
    channel: Channel
    status: TokenStatus = Field(description="pending until claimed, revoked or expired; the other three are final.")
    expiresAtMs: int
    createdAtMs: int | None = None
    claimedAtMs: int | None = None
    revokedAtMs: int | None = None
    bindingId: str | None = Field(None, description="Once claimed: the binding it made.")
    routeKey: str | None = None
    sessionKey: str | None = None


class TokenStatusResponse(DisplayFields, _TokenStatusBase):
    """A pairing token's status; once claimed, the binding and the chat's display fields."""


class PairingListResponse(Ok):
    items: list[PairingItem]
    nextCursor: str | None = None


class UnbindRequest(ApiModel):
    bindingId: str = Field(min_length=1, max_length=128)
    openclawId: str | None = None  # runtime-JWT callers send it (checked against the token's subject)


class SessionItem(Model):
    sessionKey: str
    channel: Channel | None = Field(description="null for a declared agent not yet used by any chat.")
    routeKey: str | None
    lastSeenAtMs: int | None
    agentId: str | None = None
    source: Literal["seen", "declared"] = Field(
        "seen", description="seen: a bound chat's session; declared: an agent from the tenant's bootstrap "
        "(sessionKey agent:<id>:main)."
    )
    bindingId: str | None = Field(
        None, description="The binding (chat) this session routes to now; null for a declared agent. A session a "
        "chat switched away from (/bot_use) routes to no chat and is not listed."
    )


class SessionListResponse(Ok):
    items: list[SessionItem]
    nextCursor: str | None = None


# --- outbound (OpenClaw's client: unknown fields ignored) -------------------------------------
class OutboundRequest(Model):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    requestId: str | None = None
    op: Literal["send", "action"] = "send"
    action: str | None = None
    channel: Channel
    sessionKey: str = Field(min_length=1, max_length=512)
    to: str | None = None
    text: str | None = None
    mediaUrl: str | None = None
    mediaUrls: list[str] | None = None
    replyToId: str | int | None = None
    threadId: str | int | None = None
    channelData: dict[str, Any] | None = None
    raw: dict[str, Any] | None = None
    accountId: str | None = None


class TypingRequest(Model):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    channel: Channel
    sessionKey: str = Field(min_length=1, max_length=512)


class SendResponse(Ok):
    messageId: str
    providerMessageIds: list[str]
    chatId: str | None = None
    channelId: str | None = None
    toJid: str | None = None


# --- domain records ---------------------------------------------------------------------------
class Tenant(Model):
    tenant_id: str
    name: str
    inbound_url: str | None
    inbound_timeout_ms: int = 15000
    key_hash: str
    key_ciphertext: str
    disabled: bool = False
    agents: list[str] = Field(default_factory=list)
    events_url: str | None = None  # control-plane events (services.notify_events); None = no events
    created_at_ms: int
    updated_at_ms: int
    mode: TenantMode = "shared-key"  # "jwt": a registered runtime-JWT instance (tenant id = its openclawId)


class Binding(Model):
    """A route bound to a tenant (the route item is the global lock)."""

    binding_id: str
    tenant_id: str
    channel: Channel
    scope: str
    route_key: str
    session_key: str
    chat_id: str
    topic_id: str | None = None
    agent_id: str | None = None
    session_override: bool = False  # the token carried a sessionKey (used verbatim; may be shared)
    created_at_ms: int
    last_seen_at_ms: int | None = None
    display: dict[str, str] = Field(default_factory=dict)  # DisplayFields names, absent ones left out


class QueuedEvent(Model):
    """The SQS message body: a verified platform event waiting for the worker."""

    eventId: str
    channel: Channel
    routeKey: str
    receivedAtMs: int
    payload: dict[str, Any]


class DeadLetterItem(Model):
    id: str
    eventId: str | None
    routeKey: str | None
    reason: str
    status: int | None
    attempts: int | None
    deadLetteredAtMs: int | None


class DeadLetterListResponse(Ok):
    items: list[DeadLetterItem]


class RedriveRequest(ApiModel):
    ids: list[str] | None = Field(None, min_length=1, max_length=1000)
    all: bool = False
    limit: int = Field(1000, ge=1, le=1000, description="Move at most this many in this call.")
    beforeMs: int | None = Field(
        None, ge=0, description="Only dead letters made before this time (default: now; pass the previous "
        "answer's beforeMs to continue a run without redriving messages refused again meanwhile)."
    )


class RedriveResponse(Ok):
    redriven: list[str]
    more: bool = Field(False, description="Dead letters may remain (limit or time budget reached): call again.")
    beforeMs: int


# --- runtime-JWT OpenClaw instances (CONTRACT §14) --------------------------------------------
OPENCLAW_ID_PATTERN = r"^[0-9a-f]{64}$"


class RegisterRequest(Model):
    """OpenClaw's registration body; unknown fields (e.g. instanceMeta) are ignored like a platform payload."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    openclawId: str = Field(pattern=OPENCLAW_ID_PATTERN)
    inboundUrl: str = Field(min_length=1, max_length=2048)
    # Clamped to 100–60000 rather than refused: OpenClaw sends its channel timeout (30000 by default), and a
    # 400 would stop its registration for good over a harmless value.
    inboundTimeoutMs: int | None = None


class RegisterResponse(Ok):
    openclawId: str
    runtimeToken: str
    expiresAtMs: int
    tokenType: Literal["Bearer"] = "Bearer"


class AdminPairingTokenRequest(ApiModel):
    openclawId: str = Field(pattern=OPENCLAW_ID_PATTERN)
    channel: Channel
    ttlSec: int | None = None
    sessionKey: str | None = Field(None, min_length=1, max_length=512)
    agentId: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")


class Jwk(Model):
    kty: Literal["OKP"] = "OKP"
    crv: Literal["Ed25519"] = "Ed25519"
    x: str
    kid: str
    use: Literal["sig"] = "sig"
    alg: Literal["EdDSA"] = "EdDSA"


class JwksResponse(Model):
    keys: list[Jwk]


class RotateSigningKeyRequest(ApiModel):
    # Publish first, sign later: OpenClaw caches the JWKS and refetches on an unknown kid at most once per
    # 5 minutes, so a new key signs only after this delay (0 = at once, for an emergency).
    activateAfterSec: int = Field(600, ge=0, le=86_400)
    # Emergency: stop trusting older keys now (runtime tokens they signed fail; OpenClaw re-registers on 401).
    retireOthers: bool = False


class SigningKeyInfo(Model):
    kid: str
    createdAtMs: int
    activatesAtMs: int
    retiresAtMs: int | None = None
    signing: bool


class SigningKeysResponse(Ok):
    keys: list[SigningKeyInfo]


class SigningKey(Model):
    kid: str
    x: str  # base64url raw public key
    ciphertext: str  # KMS envelope of the 32-byte private seed
    created_at_ms: int
    activates_at_ms: int
    retires_at_ms: int | None = None
