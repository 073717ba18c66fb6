"""The local stack's DynamoDB fast path (local/motofixes.py) answers exactly as moto's serializer: a battery of
DynamoDB calls — every attribute type, ReturnValues, ReturnConsumedCapacity, conditional failures, BatchGetItem
with missing keys and UnprocessedKeys, paginated Query and Scan, TransactWriteItems cancelled — gives the same
status, headers, raw JSON body and parsed answer with and without the fixes, and every request is parsed to the same
parameters as moto's parser gives; with them moto's per-value attribute picker, its parser's walk of every member
and `inspect.getmembers` are no longer run for every request."""

from __future__ import annotations

import copy
import enum
import inspect
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
import pytest
from moto import mock_aws

from local import motofixes

REGION = "us-east-1"
# Headers that differ between any two calls (request ids, clock).
VOLATILE_HEADERS = {"x-amzn-requestid", "date"}


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    yield


def _create_tables(ddb: Any) -> None:
    ddb.create_table(
        TableName="main", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": kind}
                              for name, kind in (("pk", "S"), ("sk", "S"), ("rank", "N"), ("gk", "S"))],
        LocalSecondaryIndexes=[{"IndexName": "by-rank", "Projection": {"ProjectionType": "ALL"},
                                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                              {"AttributeName": "rank", "KeyType": "RANGE"}]}],
        GlobalSecondaryIndexes=[{"IndexName": "by-gk", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                 "KeySchema": [{"AttributeName": "gk", "KeyType": "HASH"}]}])
    ddb.create_table(TableName="bin", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "B"}])


def _everything(n: int) -> dict[str, Any]:
    """An item with every attribute type, nested."""
    return {
        "pk": {"S": "p"}, "sk": {"S": f"s{n:03d}"}, "rank": {"N": str(100 - n)}, "gk": {"S": f"g{n % 2}"},
        "s": {"S": "héllo \"quoted\" \\ \u2603 \n"}, "empty": {"S": ""},
        "n": {"N": "-12.500"}, "big": {"N": "123456789012345678901234567890"},
        "b": {"B": bytes(range(256))}, "b0": {"B": b"\x00"},
        "t": {"BOOL": True}, "f": {"BOOL": False}, "null": {"NULL": True},
        "l": {"L": [{"S": "x"}, {"N": "1"}, {"L": []}, {"M": {}}, {"B": b"\xff\xfe"}, {"NULL": True},
                    {"M": {"deep": {"L": [{"BS": [b"a", b"b"]}, {"SS": ["u"]}]}}}]},
        "m": {"M": {"k": {"S": "v"}, "nested": {"M": {"n": {"N": "0"}, "bool": {"BOOL": False}}}}},
        "ss": {"SS": ["a", "b", "c"]}, "ns": {"NS": ["1", "2.5", "-3"]}, "bs": {"BS": [b"\x01", b"\x02\x03", b"\xff"]},
    }


def _battery(ddb: Any) -> None:
    """DynamoDB calls whose answers are recorded (by the caller's hook); errors are part of the battery."""

    def call(name: str, **kwargs: Any) -> Any:
        try:
            return getattr(ddb, name)(**kwargs)
        except botocore.exceptions.ClientError as exc:
            return exc.response
        except AttributeError:  # moto's answer could not be parsed (see the empty map key below)
            return {}

    key = {"pk": {"S": "p"}, "sk": {"S": "s000"}}
    for n in range(12):
        call("put_item", TableName="main", Item=_everything(n))
    call("put_item", TableName="main", Item=_everything(0), ReturnValues="ALL_OLD", ReturnConsumedCapacity="TOTAL")
    call("put_item", TableName="main", Item={**_everything(50), "sk": {"S": "new"}}, ReturnValues="ALL_OLD",
         ReturnConsumedCapacity="INDEXES")
    call("put_item", TableName="main", Item=_everything(0), ConditionExpression="attribute_not_exists(pk)")
    call("put_item", TableName="main", Item=_everything(0), ConditionExpression="attribute_not_exists(pk)",
         ReturnValuesOnConditionCheckFailure="ALL_OLD")
    call("put_item", TableName="main", Item={"pk": {"S": "p"}})  # no range key: a validation error
    call("put_item", TableName="bin", Item={"id": {"B": b"\x00\xffkey"}, "v": {"BS": [b"x"]}})
    for capacity in ("NONE", "TOTAL", "INDEXES"):
        call("get_item", TableName="main", Key=key, ReturnConsumedCapacity=capacity)
    call("get_item", TableName="main", Key={"pk": {"S": "p"}, "sk": {"S": "missing"}})
    call("get_item", TableName="main", Key=key, ProjectionExpression="#s, l[6].#m, m.nested, bs",
         ExpressionAttributeNames={"#s": "s", "#m": "M"})
    call("get_item", TableName="main", Key=key, ProjectionExpression="l[6].M.deep, m.nested.n")
    call("get_item", TableName="bin", Key={"id": {"B": b"\x00\xffkey"}})
    # An empty key in a map: moto's serializer merges that value's members into the map (a body botocore
    # cannot parse); the fast path leaves such answers to moto, so the body is the same.
    call("put_item", TableName="main", Item={"pk": {"S": "p"}, "sk": {"S": "odd"}, "m": {"M": {"": {"S": "v"}}}})
    call("get_item", TableName="main", Key={"pk": {"S": "p"}, "sk": {"S": "odd"}})
    call("delete_item", TableName="main", Key={"pk": {"S": "p"}, "sk": {"S": "odd"}})
    call("get_item", TableName="nope", Key=key)
    for returns in ("NONE", "ALL_NEW", "ALL_OLD", "UPDATED_NEW", "UPDATED_OLD"):
        call("update_item", TableName="main", Key=key, ReturnValues=returns, ReturnConsumedCapacity="TOTAL",
             UpdateExpression="SET s = :s, l = list_append(l, :l), m.added = :b ADD n :one, ns :ns REMOVE t",
             ExpressionAttributeValues={":s": {"S": returns}, ":l": {"L": [{"B": b"\x07"}]}, ":b": {"B": b"\x08"},
                                        ":one": {"N": "1"}, ":ns": {"NS": ["7"]}})
    call("update_item", TableName="main", Key=key, UpdateExpression="SET s = :s", ConditionExpression="s = :other",
         ExpressionAttributeValues={":s": {"S": "x"}, ":other": {"S": "not it"}},
         ReturnValuesOnConditionCheckFailure="ALL_OLD")
    call("update_item", TableName="main", Key={"pk": {"S": "p"}, "sk": {"S": "created"}}, ReturnValues="ALL_NEW",
         UpdateExpression="SET c = :c", ExpressionAttributeValues={":c": {"BS": [b"z"]}})
    call("delete_item", TableName="main", Key={"pk": {"S": "p"}, "sk": {"S": "s011"}}, ReturnValues="ALL_OLD",
         ReturnConsumedCapacity="TOTAL")
    call("delete_item", TableName="main", Key={"pk": {"S": "p"}, "sk": {"S": "s011"}}, ReturnValues="ALL_OLD")
    call("delete_item", TableName="main", Key=key, ConditionExpression="attribute_not_exists(pk)")
    call("batch_get_item", RequestItems={
        "main": {"Keys": [key, {"pk": {"S": "p"}, "sk": {"S": "missing"}}, {"pk": {"S": "p"}, "sk": {"S": "s005"}}]},
        "bin": {"Keys": [{"id": {"B": b"\x00\xffkey"}}, {"id": {"B": b"none"}}]}}, ReturnConsumedCapacity="TOTAL")
    call("batch_get_item", RequestItems={"main": {"Keys": [key], "ProjectionExpression": "#b, ss",
                                                  "ExpressionAttributeNames": {"#b": "b"}}})
    call("batch_get_item", RequestItems={"main": {"Keys": [key, key]}})  # duplicates: an error
    call("batch_write_item", RequestItems={
        "main": [{"PutRequest": {"Item": _everything(n)}} for n in (20, 21)]
        + [{"DeleteRequest": {"Key": {"pk": {"S": "p"}, "sk": {"S": "s010"}}}}],
        "bin": [{"PutRequest": {"Item": {"id": {"B": b"k2"}, "l": {"L": [{"B": b"v"}]}}}}]},
        ReturnConsumedCapacity="TOTAL", ReturnItemCollectionMetrics="SIZE")
    call("batch_write_item", RequestItems={"main": [{"PutRequest": {"Item": {"pk": {"S": "p"}}}}]})
    # Paginated queries and scans, on the table and its indexes.
    for kwargs in ({}, {"ScanIndexForward": False, "ReturnConsumedCapacity": "TOTAL"},
                   {"IndexName": "by-rank", "ReturnConsumedCapacity": "INDEXES"},
                   {"FilterExpression": "t = :t", "ExpressionAttributeValues": {":t": {"BOOL": True}}},
                   {"Select": "COUNT"}, {"ProjectionExpression": "sk, b, l[0]"}):
        values = {":p": {"S": "p"}, **kwargs.pop("ExpressionAttributeValues", {})}
        start: dict[str, Any] = {}
        for _ in range(20):
            page = call("query", TableName="main", KeyConditionExpression="pk = :p", ExpressionAttributeValues=values,
                        Limit=4, **start, **kwargs)
            if "LastEvaluatedKey" not in page:
                break
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    call("query", TableName="main", IndexName="by-gk", KeyConditionExpression="gk = :g",
         ExpressionAttributeValues={":g": {"S": "g1"}})
    call("query", TableName="main", KeyConditionExpression="pk = :p")  # undefined value: an error
    start = {}
    for _ in range(20):
        page = call("scan", TableName="main", Limit=5, ReturnConsumedCapacity="TOTAL", **start)
        if "LastEvaluatedKey" not in page:
            break
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    call("scan", TableName="bin")
    # Transactions: one that commits, one cancelled by a failed condition (with the old item), one invalid.
    call("transact_write_items", ReturnConsumedCapacity="TOTAL", TransactItems=[
        {"Put": {"TableName": "main", "Item": {**_everything(30), "sk": {"S": "tx"}}}},
        {"Update": {"TableName": "main", "Key": key, "UpdateExpression": "SET tx = :b",
                    "ExpressionAttributeValues": {":b": {"B": b"tx"}}}},
        {"Delete": {"TableName": "bin", "Key": {"id": {"B": b"k2"}}}}])
    call("transact_write_items", TransactItems=[
        {"Put": {"TableName": "main", "Item": {"pk": {"S": "p"}, "sk": {"S": "tx2"}}}},
        {"ConditionCheck": {"TableName": "main", "Key": key, "ConditionExpression": "attribute_not_exists(pk)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}])
    call("transact_write_items", TransactItems=[
        {"Put": {"TableName": "main", "Item": {"pk": {"S": "p"}, "sk": {"S": "tx3"}}}},
        {"Delete": {"TableName": "main", "Key": {"pk": {"S": "p"}, "sk": {"S": "tx3"}}}}])
    call("get_item", TableName="main", Key={"pk": {"S": "p"}, "sk": {"S": "tx"}})


def _unprocessed(ddb: Any) -> None:
    """BatchGetItem past moto's 16 MB answer: the rest comes back as UnprocessedKeys."""
    blob = b"\x00" * 380_000
    for n in range(45):
        ddb.put_item(TableName="main", Item={"pk": {"S": "big"}, "sk": {"S": f"{n:02d}"}, "b": {"B": blob}})
    keys = [{"pk": {"S": "big"}, "sk": {"S": f"{n:02d}"}} for n in range(45)]
    ddb.batch_get_item(RequestItems={"main": {"Keys": keys}})


def _record(fixed: bool) -> list[tuple[Any, ...]]:
    """Every battery call's operation, status, stable headers, raw body and parsed answer."""
    with motofixes.fixes(fixed), mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        _create_tables(ddb)
        out = _recording(ddb, VOLATILE_HEADERS)
        _battery(ddb)
        _unprocessed(ddb)
    return out


def _recording(ddb: Any, volatile: set[str]) -> list[tuple[Any, ...]]:
    """The list `ddb`'s calls from now on are recorded in: operation, status, headers but `volatile`, raw body,
    parsed answer."""
    out: list[tuple[Any, ...]] = []

    def raw(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        headers = {k.lower(): v for k, v in response_dict["headers"].items() if k.lower() not in volatile}
        out.append((operation_model.name, response_dict["status_code"], headers, response_dict["body"], None))

    def parsed(parsed: dict[str, Any], **_: Any) -> None:
        answer = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
        out[-1] = (*out[-1][:4], answer)

    ddb.meta.events.register("before-parse.dynamodb.*", raw)
    ddb.meta.events.register("after-call.dynamodb.*", parsed)
    return out


def test_moto_dynamodb_answers_the_same_with_the_local_fixes(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = _record(False)
    fast: dict[str, int] = {}
    answer = motofixes._fast_answer

    def counted(result: Any, context: Any) -> Any:
        got = answer(result, context)
        if got is not None:
            fast[context.operation_model.name] = fast.get(context.operation_model.name, 0) + 1
        return got

    parsed: dict[str, int] = {}
    fast_parse = motofixes._fast_parse

    def checked_parse(parser: Any, request_dict: Any) -> Any:
        got = fast_parse(parser, request_dict)
        if got is not None:  # the request as moto's own parser reads it: the same values, types and order
            assert repr(got) == repr(motofixes._ORIGINALS["RequestParser.parse"](parser, request_dict))
            parsed[parser.operation_model.name] = parsed.get(parser.operation_model.name, 0) + 1
        return got

    monkeypatch.setattr(motofixes, "_fast_answer", counted)
    monkeypatch.setattr(motofixes, "_fast_parse", checked_parse)
    fixed = _record(True)
    assert len(fixed) == len(plain)
    for was, now in zip(plain, fixed, strict=True):
        assert now == was, f"{was[0]} answered differently"
    # The comparison did exercise the fast path, for every operation it serves.
    assert set(fast) == motofixes.FAST_DYNAMODB_OPERATIONS, fast
    assert set(parsed) == motofixes.FAST_DYNAMODB_OPERATIONS, parsed
    # …and the battery does reach what it claims (moto's own answers, from the plain run).
    by_operation: dict[str, list[Any]] = {}
    for operation, status, _headers, _body, parsed in plain:
        by_operation.setdefault(operation, []).append((status, parsed or {}))
    errors = {p.get("Error", {}).get("Code") for _s, p in sum(by_operation.values(), []) if "Error" in p}
    assert {"ConditionalCheckFailedException", "TransactionCanceledException", "ValidationException",
            "ResourceNotFoundException"} <= errors
    assert any(p.get("UnprocessedKeys", {}).get("main") for _s, p in by_operation["BatchGetItem"])
    assert any("LastEvaluatedKey" in p for _s, p in by_operation["Query"])
    assert any("LocalSecondaryIndexes" in p.get("ConsumedCapacity", {}) for _s, p in by_operation["Query"])
    got = [p["Item"] for s, p in by_operation["GetItem"] if s == 200 and "b" in p.get("Item", {})]
    assert got and got[0]["b"] == {"B": bytes(range(256))} and got[0]["bs"] == {"BS": [b"\x01", b"\x02\x03", b"\xff"]}
    updated = [p for s, p in by_operation["UpdateItem"] if s == 200]
    assert sum("Attributes" in p for p in updated) == 5  # ALL_NEW, ALL_OLD, UPDATED_NEW, UPDATED_OLD, created


def test_a_dynamodb_call_no_longer_runs_moto_s_attribute_picker_parser_walk_or_getmembers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: moto's picker ran for every member of every attribute value of an answer (≈ 140 times for one
    GetItem of 14 attributes), its parser walked every member of every request structure, and
    `inspect.getmembers` listed the handler's methods on every request."""
    from moto.core.parse import JSONParser
    from moto.core.serialize import XFormedAttributePicker

    picks = 0
    listings = 0
    walks = 0
    pick = XFormedAttributePicker.__call__
    getmembers = inspect.getmembers
    walk = JSONParser._parse_structure

    def counted_walk(self: Any, shape: Any, value: Any) -> Any:
        nonlocal walks
        walks += 1
        return walk(self, shape, value)

    def counted_pick(self: Any, context: Any) -> Any:
        nonlocal picks
        picks += 1
        return pick(self, context)

    def counted_getmembers(*args: Any, **kwargs: Any) -> Any:
        nonlocal listings
        listings += 1
        return getmembers(*args, **kwargs)

    with motofixes.fixes(True), mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        _create_tables(ddb)
        key = {"pk": {"S": "p"}, "sk": {"S": "s000"}}
        ddb.put_item(TableName="main", Item=_everything(0))
        assert ddb.get_item(TableName="main", Key=key)["Item"]["b"] == {"B": bytes(range(256))}  # warm
        monkeypatch.setattr(XFormedAttributePicker, "__call__", counted_pick)
        monkeypatch.setattr(inspect, "getmembers", counted_getmembers)
        monkeypatch.setattr(JSONParser, "_parse_structure", counted_walk)
        for n in range(5):
            ddb.put_item(TableName="main", Item=_everything(n))
            assert ddb.get_item(TableName="main", Key=key)["Item"] == ddb.batch_get_item(
                RequestItems={"main": {"Keys": [key]}})["Responses"]["main"][0]
        monkeypatch.undo()
    assert (picks, walks, listings) == (0, 0, 0)


def test_the_method_list_kept_per_class_is_moto_s_own() -> None:
    from moto.core import utils
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.responses import SQSResponse

    with motofixes.fixes(True):
        from moto.core import responses

        for cls in (DynamoHandler, SQSResponse, DynamoHandler):
            assert responses.method_names_from_class(cls) == utils.method_names_from_class(cls)
            assert "get_item" in responses.method_names_from_class(DynamoHandler)


class _Colour(enum.Enum):
    RED = "red"


@pytest.mark.parametrize(("operation", "result"), [
    ("GetItem", {"Item": {"s": {"S": "x"}, "n": {"N": 5}, "f": {"N": 2.5}, "b": {"B": "text as blob"},
                          "bb": {"B": b"\x00"}, "l": {"L": [{"NULL": True}, {"BOOL": False}]}},
                 "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 1, "Table": {"CapacityUnits": 0.5},
                                      "Unknown": "dropped"}, "Extra": "dropped"}),
    ("GetItem", {"Item": None, "ConsumedCapacity": None}),  # None members are left out
    ("GetItem", {"item": {"a": {"S": "snake-case key"}}}),  # moto's picker also looks under xform_name
    ("GetItem", {"Item": {"a": {"S": "both"}}, "item": {"b": {"S": "the first candidate wins"}}}),
    ("BatchGetItem", {"ConsumedCapacity": [{"CapacityUnits": 3}],
                      "ConsumedCapacityMultiple": [{"CapacityUnits": 2, "TableName": "shape name first"}],
                      "Responses": {"t": [{"k": {"SS": ["a"]}}]}, "UnprocessedKeys": {"t": {"Keys": [{"k": {"S": "a"}}],
                                                                                             "ConsistentRead": True}}}),
    ("Query", {"Items": [], "Count": 3, "ScannedCount": 4.0}),  # a float integer: moto's int()
    ("Query", {"Items": [{"a": {"S": _Colour.RED}}], "Count": 1}),  # an Enum: moto's value
    ("Query", {"Items": [{"a": {"S": b"bytes"}}], "Count": 1}),  # bytes as a string: moto's str()
    ("Query", {"Items": [None], "Count": 1}),
    ("Query", {"Items": [{"a": None}], "Count": 1}),
    ("Query", {"Items": [{1: {"S": "int key"}}], "Count": 1}),
    ("Query", {"Items": [{"a": {"BOOL": 1}}], "Count": 1}),  # a boolean that is not a bool: as it is
    ("Query", {"Items": ({"a": {"S": "tuple"}},), "Count": 1}),
    ("Query", {"Items": [{"a": {"M": {"": {"S": "empty key"}}}}], "Count": 1}),
    ("PutItem", {}),
    ("UpdateItem", {"Attributes": {"a": {"NS": ["1", 2]}}, "ItemCollectionMetrics": {
        "ItemCollectionKey": {"pk": {"S": "p"}}, "SizeEstimateRangeGB": [0, 1.5]}}),
    ("BatchWriteItem", {"UnprocessedItems": {"t": [{"PutRequest": {"Item": {"a": {"BS": [b"x", "y"]}}}},
                                                   {"DeleteRequest": {"Key": {"a": {"S": "k"}}}}]},
                        "ItemCollectionMetrics": {}, "ConsumedCapacity": []}),
    ("TransactWriteItems", {"ConsumedCapacity": [], "ItemCollectionMetrics": {}}),
    ("TransactWriteItems", None),
    ("PutItem", ValueError("an error")),  # an error result: always moto's own serializer
])
def test_the_fast_path_serializes_what_moto_s_serializer_does(operation: str, result: Any) -> None:
    """Results moto's handlers do not build (odd types, extra and aliased keys): the same bytes either way,
    whether the fast path answers or leaves the value to moto."""
    from moto.core.responses import ActionContext, ActionResult
    from moto.core.serialize import JSONSerializer
    from moto.core.utils import get_service_model
    from moto.dynamodb.responses import DynamoHandler

    service = get_service_model("dynamodb")
    context = ActionContext(service, service.operation_model(operation), JSONSerializer, DynamoHandler())

    def answer() -> Any:
        try:
            return ActionResult(copy.deepcopy(result)).execute_result(context)
        except Exception as exc:  # moto's serializer may fail on a value: then so must the fixed one
            return type(exc)

    with motofixes.fixes(False):
        plain = answer()
    with motofixes.fixes(True):
        assert answer() == plain
        if isinstance(result, Exception):
            assert motofixes._fast_answer(result, context) is None


@pytest.mark.parametrize("body", [
    '{"Items": [{"s": {"S": "no request id here"}}]}',
    "<R><RequestId>old</RequestId><RequestId>two</RequestId>\n<RequestId>line</RequestId></R>",
    "<RequestId>unclosed", "", b"<RequestId>x</RequestId>", None, {"<RequestId>": 1}, ["<RequestId>"],
])
@pytest.mark.parametrize("status", [None, 404])
def test_the_request_id_is_added_as_moto_adds_it(body: Any, status: int | None) -> None:
    from moto.core.responses import BaseResponse
    from moto.moto_api._internal import mock_random

    def enrich() -> Any:
        mock_random.seed(7)  # the same request id both times
        headers = {} if status is None else {"status": status}
        return BaseResponse._enrich_response(headers, copy.deepcopy(body))

    with motofixes.fixes(False):
        plain = enrich()
    with motofixes.fixes(True):
        assert enrich() == plain
    assert plain[0]["x-amzn-requestid"]


@pytest.mark.parametrize(("operation", "body"), [
    ("GetItem", b'{"TableName": "t", "Key": {"k": {"S": "a", "N": null}}, "ConsistentRead": true, "X": 1}'),
    ("GetItem", b'{"Key": {"k": {"B": "AAEC"}, "l": {"L": [{"BS": ["AA==", "/w=="]}, {"M": {"": {"NULL": true}}}]}}}'),
    ("GetItem", b'{"Key": {"k": {"B": "not base64!"}}}'),
    ("GetItem", b'{"Key": {"k": {"B": 5}}}'),
    ("GetItem", b'{"Key": {"k": ["a list"]}}'),
    ("GetItem", b'{"Key": {"k": null}}'),
    ("GetItem", b'{"Key": "a string"}'),
    ("GetItem", '{"TableName": "str body ☃"}'),
    ("GetItem", b"null"),
    ("GetItem", b"[1, 2]"),
    ("GetItem", b"not json"),
    ("GetItem", b""),
    ("Query", b'{"Limit": "5", "ScanIndexForward": "yes", "ExclusiveStartKey": {"k": {"N": 1.5}}}'),
    ("Query", b'{"Limit": 2.7}'),
    ("Query", b'{"Limit": "x"}'),
    ("Query", b'{"ExpressionAttributeNames": {"#a": "a"}, "AttributesToGet": ["a", null]}'),
    ("BatchWriteItem",
     b'{"RequestItems": {"t": [{"PutRequest": {"Item": {"a": {"SS": ["x"]}}}, "DeleteRequest": {}}]}}'),
    ("TransactWriteItems",
     b'{"TransactItems": [{"Update": {"Key": {}, "UpdateExpression": "SET a = :a"}}], "x": null}'),
])
def test_the_fast_path_parses_requests_as_moto_s_parser_does(operation: str, body: bytes | str) -> None:
    """Requests an SDK would not send (odd types, nulls, bad base64, bodies that are not JSON objects): the
    same parsed parameters (values, types and order) or the same failure, whether the fast path reads them
    or leaves them to moto."""
    from moto.core.parse import JSONParser
    from moto.core.utils import get_service_model

    operation_model = get_service_model("dynamodb").operation_model(operation)

    def parse() -> Any:
        try:
            return repr(JSONParser(operation_model, map_type=dict).parse({"body": body}))  # type: ignore[typeddict-item]
        except Exception as exc:
            return type(exc)

    with motofixes.fixes(False):
        plain = parse()
    with motofixes.fixes(True):
        assert parse() == plain


@pytest.mark.parametrize("fixed, copies", [(False, 3), (True, 1)])
def test_a_transaction_copies_each_table_once_for_its_rollback(
    monkeypatch: pytest.MonkeyPatch, fixed: bool, copies: int
) -> None:
    """moto deep-copies the whole table once per transaction item naming it (≈ 1 s each at 6,000 items here);
    the fix copies it once. That the answers and the rolled-back state stay moto's is the battery above."""
    from moto.dynamodb.models.table import Table

    made: list[str] = []
    real = copy.deepcopy

    def counting(obj: Any, memo: Any = None) -> Any:
        if type(obj) is Table:
            made.append(obj.name)
        return real(obj, memo)

    monkeypatch.setattr(copy, "deepcopy", counting)
    with motofixes.fixes(fixed), mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        _create_tables(ddb)
        made.clear()
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "main", "Item": {"pk": {"S": "t"}, "sk": {"S": str(n)}}}} for n in range(3)])
        assert made == ["main"] * copies
        assert len(ddb.scan(TableName="main")["Items"]) == 3


def _record_embedded(direct: bool) -> list[tuple[Any, ...]]:
    """The battery through the embedded AWS's HTTP server, its DynamoDB calls answered past Flask or by it."""
    from tests.localstack import embedded_aws

    with embedded_aws("dynamodb", direct=direct) as aws:
        ddb = boto3.client("dynamodb", region_name=REGION, endpoint_url=aws.endpoint)
        _create_tables(ddb)
        out = _recording(ddb, VOLATILE_HEADERS | {"server", "date"})
        _battery(ddb)
        ddb.list_tables()  # an operation outside the fast paths of local/motofixes.py
        assert bool(aws.app._routes.get("dynamodb")) == direct
    return out


def test_dynamodb_calls_past_flask_answer_as_through_it() -> None:
    """DurableApp._direct: status, headers (the CORS header included), raw body and parsed answer are the ones
    moto's Flask app gives, errors and conditional failures included."""
    through_flask = _record_embedded(direct=False)
    assert _record_embedded(direct=True) == through_flask
    statuses = {status for _, status, *_ in through_flask}
    assert 200 in statuses and 400 in statuses  # the battery reaches both kinds of answer
    assert all(headers.get("access-control-allow-origin") == "*" for _, _, headers, *_ in through_flask)
