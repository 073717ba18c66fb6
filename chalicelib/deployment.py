"""Refuse, in one sentence, `chalice deploy` of a stage whose table, queues and KMS key do not exist yet.

Chalice creates the functions, their API and the queue trigger, but not the DynamoDB table, the FIFO
queues with their dead-letter queue, the KMS key or the alarms. `make infra STAGE=<stage>`
(`python -m infra.deploy`) deploys those as their own CloudFormation stack and writes their names into
`.chalice/config.json`, which Chalice loads into the environment before it imports app.py — so the check
runs here, before Chalice makes any AWS call. It does nothing outside the Chalice CLI (Lambda has no
click), nor for `chalice package --merge-template` (what `make package` runs: the template brings them).
"""

from __future__ import annotations

import sys
from typing import Any

from chalicelib import config
from chalicelib.errors import ConfigurationError

STAGE_RESOURCES = ("table_name", "inbound_queue_url", "dead_letter_queue_url", "kms_key_id")


def _chalice_command() -> Any:
    """The click context of the running `chalice` subcommand, or None."""
    click = sys.modules.get("click")
    context = click.get_current_context(silent=True) if click is not None else None
    if context is None:
        return None
    root = getattr(context.find_root().command, "callback", None)
    return context if getattr(root, "__module__", "") == "chalice.cli" else None


def missing_stage_resources() -> list[str]:
    """The resource variables the current environment (a Chalice stage's) leaves unset."""
    config.reset_settings()
    try:
        settings = config.get_settings()
        fields = type(settings).model_fields
        return [str(fields[name].alias) for name in STAGE_RESOURCES if getattr(settings, name) is None]
    finally:
        config.reset_settings()


def refuse_incomplete_cli_deploy() -> None:
    context = _chalice_command()
    if context is None or context.info_name not in ("deploy", "package"):
        return
    if context.info_name == "package" and context.params.get("merge_template"):
        return
    click = sys.modules["click"]
    stage = context.params.get("stage") or "dev"
    try:
        missing = missing_stage_resources()
    except ConfigurationError as exc:  # a stage value that the functions would refuse at their first call
        raise click.ClickException(f"stage {stage} in .chalice/config.json: {exc}") from None
    if not missing:
        return
    if context.info_name == "deploy":
        raise click.ClickException(
            f"Chalice cannot create stage {stage}'s DynamoDB table, SQS FIFO queues, KMS key and alarms, and "
            f".chalice/config.json does not name them yet ({', '.join(missing)}): run `make infra STAGE={stage}` "
            "first, which deploys them as a CloudFormation stack and writes their names there."
        )
    raise click.ClickException(
        f"plain `chalice package` leaves out stage {stage}'s table, queues, KMS key and alarms (and the "
        f"trigger's ReportBatchItemFailures): run `make package STAGE={stage}`, which merges infra/resources.json."
    )
