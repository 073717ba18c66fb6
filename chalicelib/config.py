"""Settings: the only reader of os.environ (CONTRACT §1 plus stage-provided resource names)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chalicelib.errors import ConfigurationError


@dataclass(frozen=True)
class Feature:
    """A feature group of CONTRACT §1: the setting that switches it on and the ones it cannot run without.

    Optional settings of a group (MUX_TELEGRAM_BOT_USERNAME: deep links) are not listed: without them the
    feature works, minus that extra."""

    name: str
    switch: str
    needs: tuple[str, ...]
    why: str


FEATURES: tuple[Feature, ...] = (
    Feature("Telegram", "telegram_bot_token", ("telegram_webhook_secret",), "to verify Telegram's webhook calls"),
    # The relay secret is optional: without the relay, Discord works through slash commands alone (CONTRACT §9).
    Feature("Discord", "discord_bot_token", ("discord_public_key",), "to verify Discord's interaction calls"),
    Feature(
        "WhatsApp",
        "whatsapp_access_token",
        ("whatsapp_phone_number_id", "whatsapp_app_secret", "whatsapp_verify_token"),
        "to send from its business number and to verify Meta's webhook calls",
    ),
)


class Settings(BaseModel):
    """Every setting the service reads, by its environment variable name.

    A feature whose variable is missing fails through :meth:`require` with a message naming it.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    # --- CONTRACT §1 -------------------------------------------------------------------------
    admin_token: str | None = Field(None, alias="MUX_ADMIN_TOKEN")
    public_url: str | None = Field(None, alias="MUX_PUBLIC_URL")
    port: int = Field(18891, alias="MUX_PORT", ge=1, le=65535)
    openclaw_account_id: str = Field("mux", alias="MUX_OPENCLAW_ACCOUNT_ID")
    pairing_token_ttl_sec: int = Field(900, alias="MUX_PAIRING_TOKEN_TTL_SEC", ge=1)
    pairing_token_max_ttl_sec: int = Field(3600, alias="MUX_PAIRING_TOKEN_MAX_TTL_SEC", ge=1)
    idempotency_ttl_ms: int = Field(600_000, alias="MUX_IDEMPOTENCY_TTL_MS", ge=1000)
    max_body_bytes: int = Field(1_048_576, alias="MUX_MAX_BODY_BYTES", ge=1)
    inbound_media_max_bytes: int = Field(5_000_000, alias="MUX_INBOUND_MEDIA_MAX_BYTES", ge=0)
    allow_private_inbound_urls: bool = Field(False, alias="MUX_ALLOW_PRIVATE_INBOUND_URLS")
    register_key: str | None = Field(None, alias="MUX_REGISTER_KEY")
    telegram_bot_token: str | None = Field(None, alias="TELEGRAM_BOT_TOKEN")
    telegram_bot_username: str | None = Field(None, alias="MUX_TELEGRAM_BOT_USERNAME")
    telegram_webhook_secret: str | None = Field(None, alias="MUX_TELEGRAM_WEBHOOK_SECRET")
    telegram_api_base_url: str = Field("https://api.telegram.org", alias="MUX_TELEGRAM_API_BASE_URL")
    discord_bot_token: str | None = Field(None, alias="DISCORD_BOT_TOKEN")
    discord_application_id: str | None = Field(None, alias="DISCORD_APPLICATION_ID")
    discord_public_key: str | None = Field(None, alias="DISCORD_PUBLIC_KEY")
    discord_api_base_url: str = Field("https://discord.com/api/v10", alias="MUX_DISCORD_API_BASE_URL")
    discord_relay_secret: str | None = Field(None, alias="MUX_DISCORD_RELAY_SECRET")
    whatsapp_access_token: str | None = Field(None, alias="WHATSAPP_ACCESS_TOKEN")
    whatsapp_phone_number_id: str | None = Field(None, alias="WHATSAPP_PHONE_NUMBER_ID")
    whatsapp_app_secret: str | None = Field(None, alias="WHATSAPP_APP_SECRET")
    whatsapp_verify_token: str | None = Field(None, alias="WHATSAPP_VERIFY_TOKEN")
    whatsapp_api_base_url: str = Field("https://graph.facebook.com/v23.0", alias="MUX_WHATSAPP_API_BASE_URL")
    pairing_success_text: str = Field("Paired successfully. You can chat now.", alias="MUX_PAIRING_SUCCESS_TEXT")
    pairing_invalid_text: str = Field(
        "Pairing link is invalid or expired. Request a new link from your dashboard.",
        alias="MUX_PAIRING_INVALID_TEXT",
    )
    unpaired_hint_text: str = Field(
        "This chat is not paired yet. Open your dashboard and use a new pairing link.",
        alias="MUX_UNPAIRED_HINT_TEXT",
    )
    bot_help_text: str = Field(
        "Commands: /bot_status (pairing and session), /bot_sessions (this chat's session), "
        "/bot_unpair (remove this chat's pairing), /bot_switch <token> (pair this chat with another "
        "dashboard link), /bot_help.",
        alias="MUX_BOT_HELP_TEXT",
    )

    # --- stage-provided (from .chalice/config.json / the CloudFormation template) -------------
    stage: str = Field("local", alias="MUX_STAGE")
    table_name: str | None = Field(None, alias="MUX_TABLE_NAME")
    inbound_queue_url: str | None = Field(None, alias="MUX_INBOUND_QUEUE_URL")
    dead_letter_queue_url: str | None = Field(None, alias="MUX_DEAD_LETTER_QUEUE_URL")
    kms_key_id: str | None = Field(None, alias="MUX_KMS_KEY_ID")
    retry_max_attempts: int = Field(10, alias="MUX_RETRY_MAX_ATTEMPTS", ge=1, le=100)
    retry_base_delay_sec: int = Field(30, alias="MUX_RETRY_BASE_DELAY_SEC", ge=0, le=43_200)
    retry_max_delay_sec: int = Field(900, alias="MUX_RETRY_MAX_DELAY_SEC", ge=0, le=43_200)
    probe_interval_sec: int = Field(5, alias="MUX_PROBE_INTERVAL_SEC", ge=0, le=900)
    metrics_disabled: bool = Field(False, alias="POWERTOOLS_METRICS_DISABLED")
    # ≥ 7 days: WhatsApp redelivers an unacknowledged webhook for a week (Telegram for a day).
    dedupe_ttl_sec: int = Field(8 * 86_400, alias="MUX_DEDUPE_TTL_SEC", ge=7 * 86_400)
    # True only where the inbound queue's trigger has ReportBatchItemFailures (the packaged template sets
    # both); otherwise the worker settles failed batches itself (chalicelib/services/settle.py).
    report_batch_item_failures: bool = Field(False, alias="MUX_REPORT_BATCH_ITEM_FAILURES")

    @field_validator(
        "admin_token",
        "register_key",
        "public_url",
        "telegram_bot_token",
        "telegram_bot_username",
        "telegram_webhook_secret",
        "discord_bot_token",
        "discord_application_id",
        "discord_public_key",
        "discord_relay_secret",
        "whatsapp_access_token",
        "whatsapp_phone_number_id",
        "whatsapp_app_secret",
        "whatsapp_verify_token",
        "table_name",
        "inbound_queue_url",
        "dead_letter_queue_url",
        "kms_key_id",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def base_url(self) -> str:
        """Public base URL; defaults to the local stack address."""
        return (self.public_url or f"http://127.0.0.1:{self.port}").rstrip("/")

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None

    @property
    def discord_enabled(self) -> bool:
        return self.discord_bot_token is not None and self.discord_public_key is not None

    @property
    def whatsapp_enabled(self) -> bool:
        return self.whatsapp_access_token is not None and self.whatsapp_phone_number_id is not None

    def require(self, attribute: str) -> str:
        """The value of a setting a feature cannot run without, or a ConfigurationError naming it."""
        value = getattr(self, attribute)
        if value is None or value == "":
            alias = str(type(self).model_fields[attribute].alias)
            for feature in FEATURES:
                if attribute in feature.needs and getattr(self, feature.switch) is not None:
                    raise ConfigurationError(self._half_configured(feature, attribute), variable=alias)
            raise ConfigurationError(f"{alias} is not set; this feature needs it.", variable=alias)
        return str(value)

    def _half_configured(self, feature: Feature, attribute: str) -> str:
        fields = type(self).model_fields
        return (
            f"{fields[attribute].alias} is not set: {feature.name} is on ({fields[feature.switch].alias} is set) "
            f"and needs it {feature.why}."
        )

    def configuration_problems(self) -> list[str]:
        """One sentence per setting that a switched-on feature needs and lacks (empty when complete)."""
        return [
            self._half_configured(feature, needed)
            for feature in FEATURES
            if getattr(self, feature.switch) is not None
            for needed in feature.needs
            if getattr(self, needed) is None
        ]

    def retry_delay_sec(self, attempt: int) -> int:
        """Backoff before the next attempt after `attempt` failed ones (exponential, capped)."""
        delay = self.retry_base_delay_sec * (2 ** max(0, attempt - 1))
        return int(min(delay, self.retry_max_delay_sec))

    @property
    def retry_window_sec(self) -> int:
        """How long the whole retry budget spans."""
        return sum(self.retry_delay_sec(n) for n in range(1, self.retry_max_attempts))

    @property
    def park_sec(self) -> int:
        """How long a head parked behind its tenant's outage stays hidden unless released (its whole retry
        window: a release that never comes delays it no longer than its own backoff would have)."""
        return max(self.probe_interval_sec, min(self.retry_window_sec, 43_200))


# The packaged template's trigger patch replaces this placeholder with its own queue (infra/resources.json).
PLACEHOLDER_INBOUND_QUEUE = "openclaw-mux-inbound.fifo"


def inbound_queue_name() -> str:
    """The queue Chalice's SQS trigger names when app.py is imported: the one MUX_INBOUND_QUEUE_URL points at
    (a stage that `make infra` set up for `chalice deploy`), else the placeholder. Read uncached, at import."""
    url = os.environ.get("MUX_INBOUND_QUEUE_URL", "").strip().rstrip("/")
    return url.rsplit("/", 1)[-1] if url else PLACEHOLDER_INBOUND_QUEUE


def env_var_names() -> list[str]:
    """Every environment variable the service reads (the README table is checked against this)."""
    return [str(field.alias) for field in Settings.model_fields.values()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    names = set(env_var_names())
    values = {key: value for key, value in os.environ.items() if key in names}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{err['loc'][0] if err['loc'] else '?'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"Invalid configuration: {problems}") from None


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
