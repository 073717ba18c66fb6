"""`muxctl dlq …`: inbound messages that could not be delivered, and redriving them.

Uses the admin HTTP routes (GET /v1/admin/dead-letters, POST /v1/admin/dead-letters/redrive) by default;
`--via sqs` (or a 404 from those routes when queue URLs are known) talks to SQS directly with boto3."""

from __future__ import annotations

from typing import Any

import click

from muxctl import deadletters
from muxctl.context import State, connection_options, is_tty, pass_state, table
from muxctl.errors import CliError, UsageProblem
from muxctl.timefmt import when

via_option = click.option(
    "--via", type=click.Choice(["auto", "http", "sqs"]), default="auto", show_default=True,
    help="auto: the admin HTTP route, falling back to SQS when it is missing and queue URLs are known.",
)
dlq_url_option = click.option(
    "--dlq-url", envvar="MUX_DEAD_LETTER_QUEUE_URL", show_envvar=True, help="Dead-letter queue URL (SQS path)."
)


def _use_sqs(state: State, via: str, path: str, dlq_url: str | None) -> bool:
    """Whether to go to SQS: asked for, or auto with the HTTP route missing (404) and a queue URL known."""
    if via == "sqs":
        if not dlq_url:
            raise UsageProblem("--via sqs needs --dlq-url or MUX_DEAD_LETTER_QUEUE_URL")
        return True
    if via == "http" or not dlq_url or not state.admin_token:
        return False
    probe = state.client().request("GET", path, auth="admin", params={"limit": 1})
    return probe.status == 404


@click.group()
def dlq() -> None:
    """Dead-lettered inbound messages."""


@dlq.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@via_option
@dlq_url_option
@connection_options(key=False)
@pass_state
def list_cmd(state: State, limit: int, via: str, dlq_url: str | None) -> None:
    """List dead letters with the reason each failed."""
    if _use_sqs(state, via, "/v1/admin/dead-letters", dlq_url):
        assert dlq_url is not None
        items = deadletters.list_dead(dlq_url, limit)
        source = "sqs"
    else:
        page = state.client().call(
            "GET", "/v1/admin/dead-letters", auth="admin", params={"limit": limit}, what="list dead letters"
        )
        items, source = page.get("items") or [], "http"

    def human() -> None:
        if not items:
            click.echo("The dead-letter queue is empty.")
            return
        rows = [
            (i.get("id"), i.get("eventId"), i.get("routeKey"), i.get("status") or "-", i.get("attempts") or "-",
             when(i.get("deadLetteredAtMs")), i.get("reason"))
            for i in items
        ]
        click.echo(table(rows, ["ID", "EVENT", "ROUTE", "STATUS", "ATTEMPTS", "DEAD-LETTERED", "REASON"]))
        click.echo(f"{len(items)} dead letter(s). Redrive: muxctl dlq redrive --all | ID…")

    state.emit({"ok": True, "items": items, "source": source}, human)


@dlq.command("redrive")
@click.argument("ids", nargs=-1)
@click.option("--all", "redrive_all", is_flag=True, help="Redrive every dead letter.")
@via_option
@dlq_url_option
@click.option("--queue-url", envvar="MUX_INBOUND_QUEUE_URL", show_envvar=True,
              help="Inbound queue URL (SQS path).")
@connection_options(key=False)
@pass_state
def redrive(
    state: State, ids: tuple[str, ...], redrive_all: bool, via: str, dlq_url: str | None, queue_url: str | None
) -> None:
    """Send dead letters back to the inbound queue (IDs from `dlq list`, or --all)."""
    if redrive_all == bool(ids):
        raise UsageProblem("give dead-letter IDs or --all (not both)")
    meter = Progress(state, dead_letter_depth(state) if redrive_all else None)
    moved: list[str]
    if _use_sqs(state, via, "/v1/admin/dead-letters", dlq_url):
        if not queue_url:
            raise UsageProblem("the SQS path needs --queue-url or MUX_INBOUND_QUEUE_URL")
        assert dlq_url is not None
        moved = deadletters.redrive(dlq_url, queue_url, None if redrive_all else set(ids), progress=meter.update)
    elif redrive_all:
        moved = []
        before: int | None = None
        while True:
            # Pages of PAGE so the operator sees progress; beforeMs keeps one cutoff for the whole run.
            body: dict[str, Any] = {"all": True, "limit": PAGE}
            if before is not None:
                body["beforeMs"] = before
            result = state.client().call(
                "POST", "/v1/admin/dead-letters/redrive", auth="admin", json_body=body, what="redrive"
            )
            page = list(result.get("redriven") or [])
            moved += page
            before = result.get("beforeMs", before)
            meter.update(len(moved))
            if not page or not result.get("more"):
                break
    else:
        result = state.client().call(
            "POST", "/v1/admin/dead-letters/redrive", auth="admin", json_body={"ids": list(ids)}, what="redrive"
        )
        moved = list(result.get("redriven") or [])
    meter.done()
    missing = sorted(set(ids) - set(moved)) if ids else []
    if missing:
        raise CliError(
            f"redrove {len(moved)}; {len(missing)} id(s) were not in the dead-letter queue: {', '.join(missing)}",
            details={"redriven": moved, "notFound": missing},
        )
    state.emit(
        {"ok": True, "redriven": moved, "count": len(moved)},
        f"Redrove {len(moved)} message(s) to the inbound queue.",
    )


PAGE = 100


def dead_letter_depth(state: State) -> int | None:
    """How many dead letters the mux reports (for the progress line), or None when it cannot tell."""
    if not state.admin_token:
        return None
    reply = state.client().request("GET", "/v1/admin/health", auth="admin")
    queue = (reply.body.get("queues") or {}).get("deadLetter") if reply.ok else None
    if not isinstance(queue, dict) or not isinstance(queue.get("visible"), int):
        return None
    return int(queue["visible"]) + int(queue.get("inFlight") or 0)


class Progress:
    """`redriving 40/52` on stderr: rewritten in place on a terminal, one line per step otherwise."""

    def __init__(self, state: State, total: int | None) -> None:
        self.state, self.total, self.shown = state, total, False

    def update(self, done: int) -> None:
        if self.state.json_output:
            return
        total = f"/{max(self.total, done)}" if self.total is not None else ""
        width = 30
        bar = ""
        if self.total:
            filled = min(width, width * done // max(self.total, done, 1))
            bar = "[" + "#" * filled + "." * (width - filled) + "] "
        line = f"redriving {bar}{done}{total}"
        if is_tty():
            click.echo(f"\r{line}", nl=False, err=True)
        else:
            click.echo(line, err=True)
        self.shown = True

    def done(self) -> None:
        if self.shown and is_tty():
            click.echo("", err=True)
