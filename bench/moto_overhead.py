"""moto's cost per DynamoDB request as the local stack serves it, with and without local/motofixes.py.

`python -m bench.moto_overhead [N]` (N calls of each operation, default 500): the requests go through the same
WSGI chain as the local stack's server (`local.awsstate.DurableApp` around moto's dispatcher, in memory, no
socket and no SDK), so the CPU measured is moto's and the wrapper's, not the client's. Printed: CPU ms per call
for each operation with moto as released and with the fixes installed, and the ratio.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

REGION = "us-east-1"
TABLE = "bench"
AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host;x-amz-date;x-amz-target, Signature=0")


def _item(n: int) -> dict[str, Any]:
    """An item shaped like the stack's (strings, numbers, a map, a list, a binary)."""
    return {
        "pk": {"S": f"TENANT#t{n % 10}"},
        "sk": {"S": f"MSG#{n:06d}"},
        "status": {"S": "queued"},
        "attempts": {"N": str(n % 3)},
        "created": {"N": "1764662400.123456"},
        "body": {"S": "hello " * 20},
        "meta": {"M": {"chat": {"S": f"c{n}"}, "parts": {"L": [{"N": "1"}, {"S": "x"}, {"BOOL": True}]}}},
        "blob": {"B": base64.b64encode(b"\x00\x01payload").decode()},
        "tags": {"SS": ["a", "b"]},
    }


def _app() -> Callable[..., Any]:
    from moto.moto_server.werkzeug_app import create_backend_app

    from local.awsstate import DurableApp, _dispatcher_class

    return DurableApp(_dispatcher_class()(create_backend_app), None)


def _call(app: Callable[..., Any], operation: str, request: dict[str, Any]) -> dict[str, Any]:
    from werkzeug.test import EnvironBuilder

    headers = [("Host", f"dynamodb.{REGION}.amazonaws.com"), ("Authorization", AUTH),
               ("X-Amz-Target", f"DynamoDB_20120810.{operation}"), ("X-Amz-Date", "20260101T000000Z"),
               ("Content-Type", "application/x-amz-json-1.0")]
    environ = EnvironBuilder(path="/", method="POST", headers=headers, data=json.dumps(request)).get_environ()
    status: list[str] = []
    payload = b"".join(app(environ, lambda s, h, e=None: status.append(s)))
    if not status[0].startswith("200"):
        raise RuntimeError(f"{operation}: {status[0]} {payload[:300]!r}")
    answer: dict[str, Any] = json.loads(payload)
    return answer


def _operations(n: int) -> dict[str, Callable[[int], dict[str, Any]]]:
    def key(i: int) -> dict[str, Any]:
        return {"pk": {"S": f"TENANT#t{i % 10}"}, "sk": {"S": f"MSG#{i % n:06d}"}}

    return {
        "GetItem": lambda i: {"TableName": TABLE, "Key": key(i), "ConsistentRead": True},
        "BatchGetItem": lambda i: {"RequestItems": {TABLE: {"Keys": [key(i + j) for j in range(10)]}}},
        "PutItem": lambda i: {"TableName": TABLE, "Item": _item(i % n), "ReturnConsumedCapacity": "TOTAL"},
        "BatchWriteItem": lambda i: {"RequestItems": {TABLE: [{"PutRequest": {"Item": _item((i + j) % n)}}
                                                              for j in range(10)]}},
        "UpdateItem": lambda i: {"TableName": TABLE, "Key": key(i), "UpdateExpression": "SET attempts = :a",
                                 "ExpressionAttributeValues": {":a": {"N": str(i)}}, "ReturnValues": "ALL_NEW"},
        "Query": lambda i: {"TableName": TABLE, "KeyConditionExpression": "pk = :p",
                            "ExpressionAttributeValues": {":p": {"S": f"TENANT#t{i % 10}"}}, "Limit": 10},
    }


def measure(n: int) -> dict[str, tuple[float, float]]:
    """CPU ms per call of each operation: (moto as released, with the fixes)."""
    import moto.server  # noqa: F401  (moto's server modules, as the stack loads them)

    from local import motofixes

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    app = _app()
    _call(app, "CreateTable", {
        "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "S"}]})
    for i in range(n):
        _call(app, "PutItem", {"TableName": TABLE, "Item": _item(i)})
    results: dict[str, tuple[float, float]] = {}
    for operation, request in _operations(n).items():
        bodies = [request(i) for i in range(n)]
        per_call = []
        for fixed in (False, True):
            with motofixes.fixes(fixed):
                for body in bodies[:20]:  # warm: service models loaded, caches filled
                    _call(app, operation, body)
                start = time.process_time()
                for body in bodies:
                    _call(app, operation, body)
                per_call.append((time.process_time() - start) * 1000 / n)
        results[operation] = (per_call[0], per_call[1])
    return results


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 500
    results = measure(n)
    print(f"moto per-request CPU, {n} calls each (ms per call)")
    print(f"{'operation':<16}{'moto':>10}{'fixed':>10}{'ratio':>8}")
    for operation, (plain, fixed) in results.items():
        print(f"{operation:<16}{plain:>10.3f}{fixed:>10.3f}{plain / fixed:>7.2f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
