"""The reference dashboard page: GET /dashboard and its same-origin script and stylesheet, with a strict CSP."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from chalice.app import Blueprint, Response

bp = Blueprint(__name__)
ASSETS = Path(__file__).resolve().parent.parent / "dashboard"

# Nothing but this origin's own script and stylesheet; images only as data: URLs (the QR code's SVG).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Short-lived: a deploy's new page and script reach browsers within a minute.
    "Cache-Control": "public, max-age=60",
}
FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}


@functools.cache
def _read(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def _asset(name: str) -> Response:
    return Response(body=_read(name), status_code=200, headers={"Content-Type": FILES[name], **SECURITY_HEADERS})


# Any request content type is accepted (a GET has no body), as for every other route (see routes/http.py).
@bp.route("/dashboard", methods=["GET"], content_types=["*/*"])
def page() -> Any:
    path = str((bp.current_request.context or {}).get("path") or "")
    if path.endswith("/"):
        # The page's relative URLs resolve against its directory: /x/dashboard/ would look for
        # /x/dashboard/dashboard/app.js. A relative Location keeps whatever prefix (stage, base path) is in front.
        return Response(body="", status_code=308, headers={"Location": "../dashboard", **SECURITY_HEADERS})
    return _asset("index.html")


@bp.route("/dashboard/app.js", methods=["GET"], content_types=["*/*"])
def script() -> Any:
    return _asset("app.js")


@bp.route("/dashboard/app.css", methods=["GET"], content_types=["*/*"])
def stylesheet() -> Any:
    return _asset("app.css")
