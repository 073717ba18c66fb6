"""CLI failures: one-line reasons and distinct exit codes, never a traceback for expected failures."""

from __future__ import annotations

import json
from typing import Any

import click

EXIT_FAILED = 1  # the operation or a check failed
EXIT_USAGE = 2  # bad arguments or missing configuration (click uses 2 for usage errors too)
EXIT_UNREACHABLE = 3  # could not connect / timed out
EXIT_AUTH = 4  # 401/403 from the mux or a platform

# Set by the CLI state when --json is given, so errors (shown after the click context is gone) are JSON too.
json_errors = False


class CliError(click.ClickException):
    """An expected failure: printed as `muxctl: error: <reason>` (or a JSON object with --json)."""

    exit_code = EXIT_FAILED

    def __init__(
        self,
        message: str,
        *,
        exit_code: int | None = None,
        code: str | None = None,
        status: int | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code  # type: ignore[misc]  # per-instance override of click's default
        self.code = code
        self.status = status
        self.details = details

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": False, "error": self.message}
        if self.code:
            out["code"] = self.code
        if self.status is not None:
            out["status"] = self.status
        if self.details is not None:
            out["details"] = self.details
        return out

    def show(self, file: Any = None) -> None:
        if json_errors:
            click.echo(json.dumps(self.as_json(), ensure_ascii=False))
        click.echo(f"muxctl: error: {self.message}", err=True)


class UsageProblem(CliError):
    """Missing configuration the user must supply (an option or an environment variable)."""

    exit_code = EXIT_USAGE


class UnreachableError(CliError):
    exit_code = EXIT_UNREACHABLE


class AuthError(CliError):
    exit_code = EXIT_AUTH
