"""API Gateway parity for Chalice's local gateway: greedy `{name+}` path parameters.

Chalice's local route matcher (used by `chalice local`, `create_local_server` and `chalice.test.Client`)
treats `/{proxy+}` as a single path segment, so `/v1/unknown/path` gets API Gateway's bare 403
"Missing Authentication Token" locally while in AWS the greedy route answers the JSON 404. Concrete
and `{param}` routes are still matched first, exactly as before; only when none matches is a greedy
route tried (longest prefix first). Installed by the local stack and the test fixtures, never in Lambda.
"""

from __future__ import annotations

from typing import Any


def _greedy_matcher_class() -> type:
    from chalice import local as chalice_local

    base = getattr(chalice_local.RouteMatcher, "_mux_base", chalice_local.RouteMatcher)

    class GreedyRouteMatcher(base):  # type: ignore[misc, valid-type]
        _mux_base = base

        def match_route(self, url: str) -> Any:
            try:
                return super().match_route(url)
            except ValueError:
                pass
            from urllib.parse import parse_qs, urlparse

            parsed = urlparse(url)
            path = parsed.path
            if path != "/" and path.endswith("/"):
                path = path[:-1]
            parts = path.split("/")
            greedy = [r for r in self.route_urls if r.endswith("+}")]
            for route_url in sorted(greedy, key=lambda r: -r.count("/")):
                route_parts = route_url.split("/")
                prefix, last = route_parts[:-1], route_parts[-1]
                if len(parts) <= len(prefix):
                    continue
                captured: dict[str, str] = {}
                for given, expected in zip(parts, prefix, strict=False):
                    if expected.startswith("{") and expected.endswith("}"):
                        captured[expected[1:-1]] = given
                    elif given != expected:
                        break
                else:
                    captured[last[1:-2]] = "/".join(parts[len(prefix):])
                    return chalice_local.MatchResult(
                        route_url, captured, parse_qs(parsed.query, keep_blank_values=True)
                    )
            raise ValueError(f"No matching route found for: {url}")

    return GreedyRouteMatcher


def install_greedy_routes() -> None:
    """Make chalice.local's gateway match `{name+}` routes like API Gateway (idempotent)."""
    from chalice import local as chalice_local

    if getattr(chalice_local.RouteMatcher, "_mux_base", None) is None:
        chalice_local.RouteMatcher = _greedy_matcher_class()  # type: ignore[misc, assignment]
