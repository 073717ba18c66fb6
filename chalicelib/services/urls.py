"""Validation of tenant URLs (inboundUrl, eventsUrl) when they are saved, including the SSRF guard of CONTRACT §1.

This check gives the caller a clear 400 early; the guard that protects is chalicelib.egress, which checks the
address actually connected to on every request (a name can resolve differently later).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from chalicelib.egress import forbidden_address
from chalicelib.errors import InvalidInputError


class UnresolvedHostError(InvalidInputError):
    """The host does not resolve (now): 400 for an operator's bootstrap, a passing trouble for a registration."""


def check_inbound_url(url: str, *, allow_private: bool, field: str = "inboundUrl") -> str:
    """Return the URL if it is an absolute http(s) URL that may be called; else a 400 naming why.

    Unless private targets are allowed, the host must not be (or resolve to) a loopback, private,
    link-local (cloud metadata), carrier-grade NAT, multicast or reserved address. `field` names the
    setting in messages and codes (inboundUrl → INVALID_INBOUND_URL, eventsUrl → INVALID_EVENTS_URL).
    """
    code = "EVENTS_URL" if field == "eventsUrl" else "INBOUND_URL"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise InvalidInputError(f"{field} is not a valid URL.", code=f"INVALID_{code}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(
            f"{field} must be an absolute http(s) URL.", code=f"INVALID_{code}"
        )
    if parts.username or parts.password:
        raise InvalidInputError(f"{field} must not carry credentials.", code=f"INVALID_{code}")
    if allow_private:
        return url.strip()
    host = parts.hostname
    try:
        addresses = [host] if _is_ip(host) else _resolve(host, port or (443 if parts.scheme == "https" else 80))
    except OSError:
        raise UnresolvedHostError(
            f"{field} host {host!r} does not resolve.", code=f"INVALID_{code}"
        ) from None
    if host.lower() in ("localhost", "localhost.localdomain") or any(forbidden_address(a) for a in addresses):
        raise InvalidInputError(
            f"{field} points to a loopback, private or link-local address, which is not allowed "
            "(set MUX_ALLOW_PRIVATE_INBOUND_URLS=true to allow it).",
            code=f"{code}_NOT_ALLOWED",
        )
    return url.strip()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _resolve(host: str, port: int) -> list[str]:
    return sorted({str(info[4][0]).split("%")[0] for info in socket.getaddrinfo(host, port)})
