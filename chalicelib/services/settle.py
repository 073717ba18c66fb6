"""Settle an SQS batch so that no failed record is lost, whether or not the trigger reports batch item failures.

Lambda deletes every record of a batch whose invocation returns normally, unless the event source mapping
has `FunctionResponseTypes: [ReportBatchItemFailures]`; then it keeps the ones listed in
`batchItemFailures`. `chalice deploy` never sets that on the mapping (only the packaged template does), so
unless MUX_REPORT_BATCH_ITEM_FAILURES says the trigger has it, a batch with failures is settled here: the
records that finished are deleted now and the invocation fails, so Lambda deletes nothing and the failed
ones come back after the visibility the worker gave them. A batch without failures returns normally in
both modes (Lambda deletes it: one call, as before).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib import observability, queue
from chalicelib.config import get_settings


class BatchRetryError(RuntimeError):
    """Records of the batch failed; raised so that Lambda keeps them (the finished ones are deleted)."""


def settle(
    records: list[dict[str, Any]], response: dict[str, Any], delete_batch: Callable[[list[str]], int] | None = None
) -> dict[str, Any]:
    """Return the worker's partial batch `response`, or delete what finished and raise BatchRetryError.
    `delete_batch` deletes from the records' queue (default: the inbound queue)."""
    failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
    if not failed or get_settings().report_batch_item_failures:
        return response
    finished = [record["receiptHandle"] for record in records if record["messageId"] not in failed]
    undeleted = (delete_batch or queue.delete_batch)(finished) if finished else 0
    if undeleted:
        # They are delivered again; the worker's dedupe makes that a no-op for the tenant.
        observability.logger().warning("finished records not deleted", extra={"count": undeleted})
    raise BatchRetryError(
        f"{len(failed)} of {len(records)} records failed and stay on the queue for their retry; "
        f"{len(finished) - undeleted} finished ones were deleted (this trigger does not report batch item failures)"
    )
