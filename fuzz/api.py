"""Schemathesis over the stack's own `/openapi.json`: every operation, valid and invalid requests, with and
without credentials; checks that nothing answers 5xx and every error body is `{"ok": false, "error", "code"}`.

Problems are collected, not raised, so a run is bounded by its example count and deadline (no shrinking);
each is reported with a curl command that reproduces it.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")
ERROR_KEYS = {"ok", "error", "code"}
OPTIONAL_ERROR_KEYS = {"details"}


@dataclass(frozen=True)
class Credentials:
    admin_token: str
    tenant_key: str
    webhook_secret: str

    def for_path(self, path: str) -> dict[str, str]:
        """The headers a legitimate caller of `path` sends."""
        if path.startswith("/v1/webhooks/telegram"):
            return {"X-Telegram-Bot-Api-Secret-Token": self.webhook_secret}
        if path.startswith("/v1/admin/"):
            return {"Authorization": f"Bearer {self.admin_token}"}
        return {"Authorization": f"Bearer {self.tenant_key}"}


@dataclass
class Report:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    per_variant: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    out_of_time: bool = False

    def add_problem(self, text: str) -> None:
        self.problem_count += 1
        if len(self.problems) < 20:
            self.problems.append(text)


def _header(headers: Any, name: str) -> str:
    """One header of a requests or schemathesis response (the latter maps names to lists of values)."""
    for key, value in dict(headers).items():
        if key.lower() == name:
            return str(value[0] if isinstance(value, list) and value else value)
    return ""


def contract_violation(status: int, headers: Any, body: bytes) -> str | None:
    """Why an answer breaks CONTRACT §2, or None."""
    if status >= 500:
        return f"server error {status}"
    if status < 400:
        return None
    content_type = _header(headers, "content-type")
    if not content_type.startswith("application/json"):
        return f"{status} error without a JSON content type ({content_type!r})"
    try:
        data = json.loads(body)
    except ValueError:
        return f"{status} error body is not JSON"
    if not isinstance(data, dict):
        return f"{status} error body is not an object"
    keys = set(data)
    if not ERROR_KEYS <= keys or keys - ERROR_KEYS - OPTIONAL_ERROR_KEYS:
        return f"{status} error body has keys {sorted(keys)}"
    if data["ok"] is not False or not isinstance(data["error"], str) or not data["error"]:
        return f"{status} error body has ok={data['ok']!r} error={data['error']!r}"
    if not isinstance(data["code"], str) or not CODE.match(data["code"]):
        return f"{status} error body has code {data['code']!r}"
    return None


def run(base_url: str, credentials: Credentials, *, max_examples: int, deadline: float, report: Report) -> None:
    """Fuzz every operation of `base_url/openapi.json` until `max_examples` per variant or `deadline`."""
    import requests
    import schemathesis
    from hypothesis.errors import Unsatisfiable

    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    session = requests.Session()
    variants = [
        (mode, authed)
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
        for authed in (True, False)
    ]
    for mode, authed in variants:
        for operation in operations:
            if time.monotonic() > deadline:
                report.out_of_time = True
                return
            variant = f"{mode.value}, {'with' if authed else 'without'} auth"
            extra = credentials.for_path(operation.path) if authed else {}
            try:
                _exercise(operation, mode, variant, extra, base_url, session, max_examples, deadline, report)()
            except Unsatisfiable:
                pass  # no invalid request exists for an operation without inputs (GET /health)


def _exercise(
    operation: Any,
    mode: Any,
    variant: str,
    extra: dict[str, str],
    base_url: str,
    session: Any,
    max_examples: int,
    deadline: float,
    report: Report,
) -> Any:
    """A hypothesis test of one operation in one variant (call it to run it)."""
    import requests
    from hypothesis import HealthCheck, Verbosity, given, settings

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
    )
    @given(operation.as_strategy(generation_mode=mode))
    def exercise(case: Any) -> None:
        if time.monotonic() > deadline:
            return
        if not extra:
            for name in ("Authorization", "X-Telegram-Bot-Api-Secret-Token"):
                (case.headers or {}).pop(name, None)
        report.requests += 1
        try:
            response = case.call(base_url=base_url, session=session, headers=extra, timeout=15)
        except requests.RequestException as exc:
            report.add_problem(f"{case.method} {case.path}: no answer ({type(exc).__name__})")
            return
        report.per_variant[variant] += 1
        report.statuses[response.status_code] += 1
        problem = contract_violation(response.status_code, response.headers, response.content)
        if problem:
            curl = case.as_curl_command(headers=extra, base_url=base_url)
            report.add_problem(f"{case.method} {case.path} ({variant}): {problem}\n    {curl[:600]}")

    return exercise
