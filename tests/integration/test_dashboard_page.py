"""GET /dashboard and its assets: served without auth, a strict CSP, and only same-origin scripts and styles."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlparse

import pytest

CSP_DIRECTIVES = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "connect-src": "'self'",
    "img-src": "'self' data:",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "form-action": "'none'",
}


class _Refs(HTMLParser):
    """Every script/stylesheet reference, inline script or style, and inline event handler of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str | None] = []
        self.styles: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.inline += [f"{tag} {name}" for name, _ in attrs if name.startswith("on") or name == "style"]
        if tag == "script":
            self.scripts.append(values.get("src"))
        if tag == "link" and values.get("rel") == "stylesheet":
            self.styles.append(values.get("href") or "")
        if tag == "style":
            self.inline.append("style element")


def _headers(response: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items()}


def _csp(response: Any) -> dict[str, str]:
    header = _headers(response)["content-security-policy"]
    return {part.split()[0]: " ".join(part.split()[1:]) for part in header.split(";") if part.strip()}


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/dashboard", "text/html"), ("/dashboard/app.js", "text/javascript"), ("/dashboard/app.css", "text/css")],
)
def test_dashboard_files_are_served_without_auth_with_strict_security_headers(
    client: Any, path: str, content_type: str
) -> None:
    response = client.http.get(path, headers={"Content-Type": "text/plain"})  # any request type: no 415
    assert response.status_code == 200, response.body
    headers = _headers(response)
    assert headers["content-type"].startswith(content_type)
    assert _csp(response) == CSP_DIRECTIVES
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert response.body


def test_the_page_references_only_same_origin_relative_scripts_and_nothing_inline(client: Any) -> None:
    refs = _Refs()
    refs.feed(client.http.get("/dashboard").body.decode())
    assert refs.scripts == ["dashboard/app.js"]  # relative: resolves under an API Gateway stage prefix too
    assert refs.styles == ["dashboard/app.css"]
    for ref in [*refs.scripts, *refs.styles]:
        assert ref is not None and not urlparse(ref).scheme and not urlparse(ref).netloc and not ref.startswith("/")
    assert refs.inline == []  # the CSP would block inline code; none is written


def test_the_script_keeps_the_key_in_session_storage_only_and_calls_relative_urls(client: Any) -> None:
    script = client.http.get("/dashboard/app.js").body.decode()
    code = "\n".join(line.split("//")[0] for line in script.splitlines())  # the comments name what is not used
    assert "sessionStorage.setItem" in code
    assert "localStorage" not in code and "cookie" not in code.replace('credentials: "omit"', "")
    assert "innerHTML" not in code and "outerHTML" not in code  # chat titles are attacker-controlled: textContent only
    # Every API path is relative to the page's own location (no absolute URL, no leading slash).
    calls = re.findall(r'call\("(?:GET|POST)", "([^"]+)"', script)
    assert calls and all(path.startswith("v1/") for path in calls), calls
    assert "http:" not in code and "https:" not in code


def test_the_page_with_a_trailing_slash_redirects_to_the_one_its_relative_urls_are_written_for(client: Any) -> None:
    response = client.http.get("/dashboard/")
    assert response.status_code == 308
    assert _headers(response)["location"] == "../dashboard"  # relative: keeps a stage prefix in front
