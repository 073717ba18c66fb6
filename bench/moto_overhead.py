"""moto's cost per DynamoDB request as the local stack serves it, with and without local/motofixes.py.

`python -m bench.moto_overhead [N]` (N calls of each operation, default 300; each mode in its own process):
the requests go through the same WSGI chain as the local stack's server (`local.awsstate.DurableApp` around
moto's dispatcher, in memory, no socket and no SDK), so the CPU measured is moto's and the wrapper's, not
a client's (process CPU time; the request environs are built inside the timed loop, a few µs each).
Printed: CPU ms per call for each operation with moto as released, with only the fixes that predate the
per-request ones, and with all of them, and the ratio; it stops if an operation's last answer differs
between the modes.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
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


MODES = {
    "moto": "moto 5.2.5 as released",
    "previous": "the SQS and instance-tracking fixes only",
    "fixed": "all of local/motofixes.py",
}
def _set_mode(mode: str) -> None:
    from local import motofixes

    if mode == "moto":
        return
    motofixes.install()
    if mode == "previous":  # moto's own serializer, parser, method listing and request-id regex back in place
        from moto.core import parse, responses

        del parse.JSONParser.parse

        originals = motofixes._ORIGINALS
        responses.ActionResult.execute_result = originals["ActionResult.execute_result"]  # type: ignore[method-assign]
        setattr(responses, "method_names_from_class", originals["method_names_from_class"])  # noqa: B010
        responses.BaseResponse._enrich_response = originals["BaseResponse._enrich_response"]  # type: ignore[method-assign]


def measure(n: int, mode: str) -> dict[str, Any]:
    """CPU ms per call of each operation in this process, with moto in `mode`; and the last answer of each."""
    import moto.server  # noqa: F401  (moto's server modules, as the stack loads them)

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    _set_mode(mode)
    app = _app()
    _call(app, "CreateTable", {
        "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "S"}]})
    for i in range(n):
        _call(app, "PutItem", {"TableName": TABLE, "Item": _item(i)})
    results: dict[str, Any] = {}
    for operation, request in _operations(n).items():
        bodies = [request(i) for i in range(n)]
        for body in bodies[:20]:  # warm: service models loaded, caches filled
            _call(app, operation, body)
        start = time.process_time()
        for body in bodies:
            answer = _call(app, operation, body)
        results[operation] = {"ms": (time.process_time() - start) * 1000 / n, "answer": answer}
    return results


def main(argv: list[str]) -> None:
    if argv[:1] == ["--mode"]:  # one measurement, in its own process (moto's state and GC load are per mode)
        print(json.dumps(measure(int(argv[2]), argv[1])))
        return
    n = int(argv[0]) if argv else 300
    runs = {}
    for mode in MODES:
        out = subprocess.run([sys.executable, "-m", "bench.moto_overhead", "--mode", mode, str(n)],
                             check=True, capture_output=True, text=True).stdout
        runs[mode] = json.loads(out)
    for operation, plain in runs["moto"].items():
        for mode in ("previous", "fixed"):
            if runs[mode][operation]["answer"] != plain["answer"]:
                raise AssertionError(f"{operation} answers differently in mode {mode}")
    print(f"moto per-request CPU through the local stack's WSGI chain, {n} calls each (ms per call)")
    for mode, meaning in MODES.items():
        print(f"  {mode}: {meaning}")
    print(f"{'operation':<16}{'moto':>9}{'previous':>10}{'fixed':>9}{'moto/fixed':>12}")
    for operation in runs["moto"]:
        plain, previous, fixed = (runs[mode][operation]["ms"] for mode in MODES)
        print(f"{operation:<16}{plain:>9.3f}{previous:>10.3f}{fixed:>9.3f}{plain / fixed:>11.2f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
