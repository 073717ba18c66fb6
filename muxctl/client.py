"""HTTP client for the mux API: bearer selection, error bodies (docs/reference.md) turned into CLI errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import requests

from muxctl.errors import AuthError, CliError, UnreachableError, UsageProblem

Auth = Literal["admin", "tenant", "none"]


@dataclass
class Reply:
    """A mux answer: status and decoded JSON body (a dict; `{}` when the body was not JSON)."""

    status: int
    body: dict[str, Any]
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> str | None:
        value = self.body.get("code")
        return str(value) if value is not None else None

    @property
    def error(self) -> str:
        return str(self.body.get("error") or self.text[:200] or f"HTTP {self.status}")


def describe_connection_error(exc: requests.RequestException) -> str:
    """A short human reason for a transport failure (no URL, which may hold secrets)."""
    text = str(exc).lower()
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "host name not found"
    if isinstance(exc, (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                        requests.exceptions.InvalidURL)):
        return "not a valid http(s) URL"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return type(exc).__name__


def require_http_url(url: str, what: str) -> str:
    """`url` when it is an absolute http(s) URL; else a one-line usage error naming the option (requests would
    raise InvalidSchema/MissingSchema deep inside a call)."""
    parts = urlsplit(url.strip())
    if parts.scheme in ("http", "https") and parts.hostname:
        return url.strip()
    shown = url if len(url) <= 80 else url[:77] + "..."
    if "://" not in url:
        guess = "http://" + url.strip().lstrip("/")
        raise UsageProblem(f"{what}: {shown!r} has no scheme; write it as {guess} (or https://…)")
    raise UsageProblem(f"{what}: {shown!r} is not an http(s) URL with a host, e.g. http://127.0.0.1:18891")


def origin(url: str) -> str:
    """scheme://host:port of a URL (for messages; never a path that could carry a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme else url


class MuxClient:
    """One mux endpoint plus the credentials the caller has (either may be missing)."""

    def __init__(
        self,
        base_url: str,
        *,
        admin_token: str | None = None,
        tenant_key: str | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.base_url = require_http_url(base_url, "--url/MUX_URL").rstrip("/")
        self.admin_token = admin_token
        self.tenant_key = tenant_key
        self.timeout = timeout
        self._session = requests.Session()

    def _bearer(self, auth: Auth, key: str | None) -> str | None:
        if key is not None:
            return key
        if auth == "admin":
            if not self.admin_token:
                raise UsageProblem("this command needs the admin token: pass --admin-token or set MUX_ADMIN_TOKEN")
            return self.admin_token
        if auth == "tenant":
            if not self.tenant_key:
                raise UsageProblem("this command needs the tenant key: pass --key or set MUX_TENANT_KEY")
            return self.tenant_key
        return None

    def require(self, *auths: Auth) -> None:
        """Fail early (one line, exit 2) when a needed credential is missing."""
        for auth in auths:
            self._bearer(auth, None)

    def request(
        self,
        method: str,
        path: str,
        *,
        auth: Auth = "none",
        key: str | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Send one request and return the reply whatever its status (transport failures raise)."""
        send_headers = {"Accept": "application/json", **(headers or {})}
        bearer = self._bearer(auth, key)
        if bearer is not None:
            send_headers["Authorization"] = f"Bearer {bearer}"
        url = f"{self.base_url}{path}"
        try:
            resp = self._session.request(
                method,
                url,
                json=json_body if data is None else None,
                data=data,
                params=params,
                headers=send_headers,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise UnreachableError(
                f"cannot reach the mux at {origin(self.base_url)} ({describe_connection_error(exc)}); "
                "is it running? (set --url or MUX_URL)"
            ) from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        return Reply(resp.status_code, body if isinstance(body, dict) else {}, resp.text)

    def call(
        self,
        method: str,
        path: str,
        *,
        auth: Auth = "none",
        what: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Like `request`, but a non-2xx answer becomes a CliError with the mux's own reason."""
        reply = self.request(method, path, auth=auth, **kwargs)
        if reply.ok:
            return reply.body
        raise api_error(reply, what or f"{method} {path}", auth)


def api_error(reply: Reply, what: str, auth: Auth = "none") -> CliError:
    """The one-line CLI error for a mux error answer."""
    code = reply.code or f"HTTP_{reply.status}"
    message = f"{what} failed: {reply.status} {code}: {reply.error.rstrip('.')}"
    if reply.status == 401:
        who = {"admin": "the admin token", "tenant": "the tenant key"}.get(auth, "the credentials")
        return AuthError(f"{message} (check {who})", code=code, status=reply.status)
    if reply.status == 404 and auth == "admin" and code == "NOT_FOUND":
        message += " (admin routes answer 404 when the mux runs without MUX_ADMIN_TOKEN)"
    if reply.status == 403:
        return AuthError(message, code=code, status=reply.status, details=reply.body.get("details"))
    return CliError(message, code=code, status=reply.status, details=reply.body.get("details"))
