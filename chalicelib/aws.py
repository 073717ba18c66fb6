"""Lazily created, cached boto3 clients; endpoints and credentials come from the standard AWS env vars."""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

_lock = threading.Lock()

# botocore's client-side check of every request's parameters against the service model: about a fifth of the
# client's own CPU per DynamoDB call (bench/outbound.py). The service checks the same again and answers a
# ValidationException, so it is off here; the test suite turns it on (tests/conftest.py) because moto does
# not check everything AWS does, and a malformed request should fail a test, not only production.
PARAMETER_VALIDATION = False


@cache
def _client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    with _lock:  # creating clients from one session is not thread-safe
        return boto3.session.Session().client(
            service,
            config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10,
                          parameter_validation=PARAMETER_VALIDATION),
        )


def dynamodb() -> Any:
    return _client("dynamodb")


def sqs() -> Any:
    return _client("sqs")


def kms() -> Any:
    return _client("kms")


def reset_clients() -> None:
    """Drop cached clients (tests entering a new moto context, the local stack after setting endpoints).

    The session is kept: clients read endpoint, region and credentials from the environment when created.
    """
    _client.cache_clear()
