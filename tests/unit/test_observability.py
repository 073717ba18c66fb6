"""Logged exceptions keep their types and locations, never their messages (which can quote payload values)."""

from __future__ import annotations

import io
import logging

from pydantic import BaseModel, ValidationError

from chalicelib import observability

VALUE = "a-payload-value-7777"


class _Number(BaseModel):
    n: int


def test_exception_messages_are_withheld_through_chains_and_propagation() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)  # a plain parent handler, as Lambda's root handler is
    service = logging.getLogger(observability.SERVICE)
    observability.logger()
    root = logging.getLogger()
    root.addHandler(handler)
    service.propagate = True
    try:
        try:
            try:
                _Number.model_validate({"n": VALUE})
            except ValidationError as exc:
                raise RuntimeError(f"wrapped: {exc}") from exc
        except RuntimeError:
            observability.logger().exception("processing failed")
    finally:
        service.propagate = False
        root.removeHandler(handler)
    output = stream.getvalue()
    assert VALUE not in output
    assert "pydantic_core._pydantic_core.ValidationError (message withheld)" in output
    assert "builtins.RuntimeError (message withheld)" in output
    assert "test_observability.py" in output  # where it happened is kept


def test_library_loggers_stay_quiet_whatever_the_root_level() -> None:
    for name in ("urllib3.connectionpool", "botocore.endpoint", "botocore.parsers", "boto3.resources"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING
