"""The inbound file proxy: a tenant fetches an attachment's bytes, only if it came from one of its routes."""

from __future__ import annotations

import time

from chalicelib.channels.base import receiver_for
from chalicelib.errors import InvalidInputError, NotFoundError, PayloadTooLargeError, ProviderError
from chalicelib.storage import events

# Lambda responses are capped at 6 MB and binary bodies travel base64-encoded through API Gateway.
MAX_PROXY_BYTES = 4_400_000
# The platform's lookup + the download, each bounded, stay inside API Gateway's 29-second integration timeout.
PROXY_TIMEOUT_SEC = 12.0


def _still_bound(owner: dict[str, object], tenant_id: str) -> bool:
    """The chat the file came from is bound to the tenant now: after an unbind (or a move to another tenant)
    its files are no longer served to the former owner."""
    from chalicelib.storage import bindings

    route = owner.get("routeKey")
    if not isinstance(route, str) or not route:
        return True  # a record written before routes were recorded: the tenant check alone, as before
    binding = bindings.get_route(route)
    return binding is not None and binding.tenant_id == tenant_id


def fetch(tenant_id: str, channel: str, file_id: str | None) -> tuple[bytes, str, str | None]:
    """(bytes, content type, file name) of an inbound attachment owned by `tenant_id`."""
    receiver = receiver_for(channel)
    if receiver is None:
        raise InvalidInputError(f"Files of channel {channel!r} are not served by this mux.", code="UNSUPPORTED_CHANNEL")
    if not file_id:
        raise InvalidInputError("The id query parameter is required.", details={"fields": ["id"]})
    owner = events.file_owner(channel, file_id, int(time.time() * 1000))
    if owner is None or owner.get("tenantId") != tenant_id or not _still_bound(owner, tenant_id):
        raise NotFoundError("No file with this id came from a route of this tenant.", code="FILE_NOT_FOUND")
    fetched = receiver.download(file_id, MAX_PROXY_BYTES, timeout=PROXY_TIMEOUT_SEC)
    if fetched is None:
        raise ProviderError(
            f"The {channel} platform did not provide the file (expired, unavailable or larger than the proxy limit).",
            details={"maxBytes": MAX_PROXY_BYTES},
        )
    data, content_type = fetched
    if len(data) > MAX_PROXY_BYTES:
        raise PayloadTooLargeError("The file is larger than the proxy limit.")
    mime = owner.get("mimeType") or content_type or "application/octet-stream"
    return data, str(mime), owner.get("fileName")
