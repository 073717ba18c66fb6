"""Per-invocation state (URL, credentials, output mode) and the shared options every command accepts."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from muxctl import errors
from muxctl.client import MuxClient

DEFAULT_URL = "http://127.0.0.1:18891"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class State:
    url: str = DEFAULT_URL
    admin_token: str | None = None
    key: str | None = None
    json_output: bool = False
    http_timeout: float = 15.0
    _client: MuxClient | None = field(default=None, repr=False)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "json_output":
            errors.json_errors = bool(value)
        super().__setattr__(name, value)

    def client(self) -> MuxClient:
        if self._client is None:
            self._client = MuxClient(
                self.url, admin_token=self.admin_token, tenant_key=self.key, timeout=self.http_timeout
            )
        return self._client

    # --- output ---------------------------------------------------------------------------------
    def emit(self, data: Any, human: Callable[[], None] | str | None = None) -> None:
        """The command's result: JSON on stdout with --json, else the human rendering."""
        if self.json_output:
            click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        elif callable(human):
            human()
        elif human is not None:
            click.echo(human)

    def note(self, message: str) -> None:
        """Progress and hints: stderr, so stdout stays a clean result."""
        click.echo(message, err=True)

    def warn(self, message: str) -> None:
        click.secho(f"warning: {message}", err=True, fg="yellow")


pass_state = click.make_pass_decorator(State, ensure=True)


def _override(attr: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value is not None and value is not False:
            state = ctx.ensure_object(State)
            setattr(state, attr, value)
            state._client = None
        return value

    return callback


def connection_options(*, url: bool = True, admin: bool = True, key: bool = True) -> Callable[[F], F]:
    """--url/--admin-token/--key/--json on a subcommand too (`muxctl pair telegram --key …`)."""

    def decorator(f: F) -> F:
        options: list[Callable[[F], F]] = [
            click.option(
                "--json", "json_output", is_flag=True, default=False, expose_value=False,
                callback=_override("json_output"), help="Machine-readable JSON on stdout.",
            )
        ]
        if key:
            options.append(click.option(
                "--key", expose_value=False, callback=_override("key"), metavar="KEY",
                help="Tenant key (tenantApiKey) [env MUX_TENANT_KEY].",
            ))
        if admin:
            options.append(click.option(
                "--admin-token", expose_value=False, callback=_override("admin_token"), metavar="TOKEN",
                help="Admin token [env MUX_ADMIN_TOKEN].",
            ))
        if url:
            options.append(click.option(
                "--url", expose_value=False, callback=_override("url"), metavar="URL",
                help="Mux base URL [env MUX_URL; default http://127.0.0.1:18891].",
            ))
        for option in options:
            f = option(f)
        return f

    return decorator


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain left-aligned text table."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def is_tty() -> bool:
    return sys.stderr.isatty()
