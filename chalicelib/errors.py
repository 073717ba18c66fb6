"""Domain errors: a few categories carrying the HTTP status and machine code of CONTRACT §2."""

from __future__ import annotations

from typing import Any


class MuxError(Exception):
    """Base of every error a caller may see; `status`, `code` and a human sentence."""

    status = 500
    code = "INTERNAL"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": False, "error": self.message, "code": self.code}
        if self.details is not None:
            out["details"] = self.details
        return out


class InvalidInputError(MuxError):
    status = 400
    code = "INVALID_REQUEST"


class UnauthorizedError(MuxError):
    status = 401
    code = "UNAUTHORIZED"


class ForbiddenError(MuxError):
    status = 403
    code = "FORBIDDEN"


class NotFoundError(MuxError):
    status = 404
    code = "NOT_FOUND"


class ConflictError(MuxError):
    status = 409
    code = "CONFLICT"


class PayloadTooLargeError(MuxError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class ProviderError(MuxError):
    """The chat platform refused or failed a call (502 to our caller)."""

    status = 502
    code = "PROVIDER_ERROR"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        retry_after_ms: int | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.retry_after_ms = retry_after_ms
        self.http_status = http_status

    def body(self) -> dict[str, Any]:
        out = super().body()
        if self.retry_after_ms is not None:
            out["retryAfterMs"] = self.retry_after_ms
        return out


class ProviderOutcomeUnknownError(ProviderError):
    """The request reached the platform and no answer came back (timeout after sending): the message may be
    out. Stored under an Idempotency-Key like a 4xx, so a blind retry cannot send it twice."""

    code = "PROVIDER_OUTCOME_UNKNOWN"


class ProviderRateLimitedError(ProviderError):
    """The platform throttled the call (its throughput, or messages to one user); `retryAfterMs` when known."""

    code = "PROVIDER_RATE_LIMITED"


class ProviderAuthError(ProviderError):
    """The platform refused the mux's own credentials (expired or revoked token): the operator must act."""

    code = "PROVIDER_AUTH"


class WindowClosedError(ProviderError):
    """WhatsApp's 24-hour customer-service window is closed: only a template message reaches the user."""

    code = "WINDOW_CLOSED"


class TextTooLongError(InvalidInputError):
    """A send would take more platform messages than one request may make."""

    code = "TEXT_TOO_LONG"


class ServiceUnavailableError(MuxError):
    status = 503
    code = "UNAVAILABLE"


class ConfigurationError(MuxError):
    """A feature's setting is missing or invalid; the message names the variable."""

    status = 503
    code = "NOT_CONFIGURED"

    def __init__(self, message: str, *, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable  # the environment variable to set (log key; never a value)
