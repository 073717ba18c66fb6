"""Narrow fixes to moto for the local stack: SQS's and DynamoDB's cost per call (same answers), no instance tracking.

Measured with 1,000 messages on a FIFO queue (moto 5.2.5): a ReceiveMessage took ≈ 300 ms and a SendMessage
≈ 100 ms of CPU, 98 % of it in `moto.core.utils.unix_time`, which builds three `datetime` objects per call:
`Queue.messages` asks every message `visible` and `delayed` (one clock read each), the approximate counts in
`Queue.attributes` scan the queue three times more, and every message a receive hands out re-reads
`MessageRetentionPeriod` through `get_queue_attributes`, which builds `Queue.attributes` three times (nine
scans of the whole queue per received message). The replacements, loaded only by the local stack
(`install()`, from `local.awsstate.EmbeddedAws`):

* `unix_time` / `unix_time_millis` as moto.sqs.models sees them: the same number (seconds since the epoch,
  to the microsecond, computed the same way) from `time.time_ns()` instead of three datetimes;
* `DynamoDBBackend.transact_write_items`: each table deep-copied once per transaction for its rollback, not once per
  item naming it (`_CopyEachTableOnce`; the copies were equal and only the last was kept);
* `camelcase_to_underscores` as moto.sqs.models sees it, memoised (a pure function of the name; `Queue.attributes`
  converts every attribute name with it, several times per SendMessage);
* `Queue.messages` (visible and not delayed) and the three approximate counts: the same filters, with one
  clock read per scan instead of one per message and check (so the whole queue is judged at one instant);
* `Queue.delete_message`: moto's steps in one pass over the queue instead of two, asking each message for its
  current and old receipt handles without building the list of them (moto builds one per message and check,
  twice per message and delete: with 1,000 queued a DeleteMessageBatch of 10 made 20,000 lists); an
  unknown handle still raises ReceiptHandleIsInvalid before anything changed, a deleted one is still ignored;
* `SQSBackend.is_message_valid_based_on_retention_period`: reads the queue's `message_retention_period`
  (the value `get_queue_attributes` returns for it) instead of computing every attribute three times.

And memory: every moto model object ever created — each deep copy a DynamoDB read or write makes of an
item included — is appended to a class-level `instances_tracked` list, kept for moto's dashboard data
(`/moto-api/data.json`) and S3's reset, neither of which the local stack uses: the stack's RSS grew by
hundreds of MiB over a thousand messages. `BaseModel.__new__` stops tracking (it only creates the object).

And moto's cost per request, measured on DynamoDB (bench/moto_overhead.py): answering took most of it.
moto's `ResponseSerializer` walks the output shape value by value and, for every member of every
structure — each DynamoDB attribute value is one, with ten members — asks its attribute picker which keys
the value may be stored under (six alias providers and `xform_name`, each time); and `call_action` lists
the handler class's methods with `inspect.getmembers` on every request.

* `ActionResult.execute_result`, for the successful answers of GetItem, BatchGetItem, BatchWriteItem,
  PutItem, UpdateItem, DeleteItem, Query, Scan and TransactWriteItems (moto's JSON serializer, no
  response transformers): a converter compiled once per output shape does what the serializer does with
  plain dicts — the picker's candidate keys are asked once per shape member (for a dict they depend on
  the shape only), members come out in the shape's order, the first candidate present wins, None members
  are left out, strings `str()`, blobs base64 (B, BS), integers `int()`, doubles `float()` (the
  ConsumedCapacity units), booleans as they are — and the body is `json.dumps` of that, the same bytes.
  Anything it was not written for falls back to moto's serializer for that answer: a value of another
  type than exactly dict / list / str / bytes / int / float / bool where the shape has one, None inside a
  list or map, an empty key in a map of attribute values (moto merges that value's members into the
  map), shapes with timestamps, documents or renamed list members, and every error — DynamoDB's errors
  never reach the serializer anyway (they are moto's JsonRESTError responses).
* `JSONParser.parse`, for the requests of the same operations (moto's parser, dict params, its default
  blob and timestamp parsers): the body is read by moto's own `_parse_body_as_json`, then a converter
  compiled once per input shape does what the parser's walk does — members in the shape's order, under
  their JSON names, null members left out, blobs base64-decoded by moto's `default_blob_parser`, numbers
  `int()` / `float()`, strings and booleans as JSON gave them — without asking each structure for all of
  its members (an attribute value has ten). A body that is not a JSON object, a member value of the wrong
  JSON type, a null inside a list or map, a blob or number that does not convert: moto's `_parse_shape`
  reads that request instead (and fails as it fails).
* `method_names_from_class` (as moto.core.responses calls it): moto's own list, computed once per class
  (a copy is returned each time). A method added to a response class after its first request would not
  be seen; nothing in moto or here does that.
* `BaseResponse._enrich_response`: moto's own steps (status as a string, a new request id in the headers,
  and in an XML body's <RequestId> by moto's regex), the regex run only on a body containing
  "<RequestId>" — moto ran it over every body, a JSON answer of a hundred items included, though it can
  only match after that text (a bytes body fails both ways and is left as it is, as moto leaves it).

Everything else — FIFO groups and their in-flight blocking, visibility, deduplication, redrive to the DLQ,
receipt handles, DynamoDB's reads, writes, conditions and transactions — is moto's own code, unchanged;
tests/integration/test_local_moto_fixes.py and test_local_moto_fixes_dynamodb.py run the same scenarios
with and without the fixes and compare the results (for DynamoDB: status, headers, raw body and parsed
answer of every call, and every request's parsed parameters against moto's parser).
"""

from __future__ import annotations

import base64
import functools
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_ORIGINALS: dict[str, Any] = {}


def unix_time(dt: Any = None) -> float:
    """moto's `unix_time`: with no argument, now (what moto computes from `utcnow()`, to the microsecond)."""
    if dt is not None:
        return float(_ORIGINALS["unix_time"](dt))
    micros = time.time_ns() // 1000
    seconds, micro = divmod(micros, 1_000_000)
    days, rest = divmod(seconds, 86400)
    # moto's own arithmetic on (days, seconds, microseconds) of a timedelta, so the floats are the same.
    return float(days * 86400 + (rest + micro / 1e6))


def unix_time_millis(dt: Any = None) -> float:
    return unix_time(dt) * 1000.0


def _retention_valid(self: Any, queue_name: str, message: Any) -> bool:
    queue = self.get_queue(queue_name)
    retention_period = queue.message_retention_period
    if retention_period is None:  # moto's lookup would omit it (KeyError): let the original decide
        return bool(_ORIGINALS["retention"](self, queue_name, message))
    retain_until = retention_period + message.sent_timestamp / 1000
    return not retain_until <= unix_time()


def _delete_message(self: Any, receipt_handle: str) -> None:
    if receipt_handle in self.deleted_messages:
        return  # already deleted: moto ignores it
    kept, gone = [], []
    for message in self._messages:
        if message.receipt_handle == receipt_handle or receipt_handle in message._old_receipt_handles:
            gone.append(message)
        else:
            kept.append(message)
    if not gone:
        from moto.sqs.exceptions import ReceiptHandleIsInvalid

        raise ReceiptHandleIsInvalid()
    for message in gone:
        self.pending_messages.discard(message)
        self.deleted_messages.update(message.all_receipt_handles)
    self._messages = kept


# One clock read per scan instead of one per message and check (the same instant for the whole queue).
def _messages(self: Any) -> list[Any]:
    now = unix_time_millis()
    return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]


def _delayed_count(self: Any) -> int:
    now = unix_time_millis()
    return sum(1 for m in self._messages if now < m.delayed_until)


def _not_visible_count(self: Any) -> int:
    now = unix_time_millis()
    return sum(1 for m in self._messages if not now > m.visible_at)


def _visible_count(self: Any) -> int:
    return len(_messages(self))


_PROPERTIES = {
    "messages": _messages,
    "approximate_number_of_messages_delayed": _delayed_count,
    "approximate_number_of_messages_not_visible": _not_visible_count,
    "approximate_number_of_messages": _visible_count,
}


def _untracked_new(cls: Any, *args: Any, **kwargs: Any) -> Any:
    return object.__new__(cls)


# --- DynamoDB answers: moto's JSON serializer, specialised per output shape (see the module docstring) ----
FAST_DYNAMODB_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "BatchWriteItem", "PutItem", "UpdateItem",
                                      "DeleteItem", "Query", "Scan", "TransactWriteItems"})


class _Unsupported(Exception):
    """A shape the specialised serializer was not written for (moto's serializer is used for the operation)."""


class _Fallback(Exception):
    """A value the specialised serializer was not written for (moto's serializer answers this request)."""


Converter = Callable[[Any], Any]


def _string(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return value
    if kind is int or kind is float:
        return str(value)  # what moto does with a non-Enum value that is not None, {} or []
    raise _Fallback


def _blob(value: Any) -> str:
    kind = type(value)
    if kind is bytes:
        return base64.b64encode(value).strip().decode("utf-8")
    if kind is str:
        return base64.b64encode(value.encode("utf-8")).strip().decode("utf-8")
    raise _Fallback


def _integer(value: Any) -> int:
    if type(value) is int:
        return value
    raise _Fallback


def _double(value: Any) -> float:
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    raise _Fallback


def _boolean(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise _Fallback


_SCALARS: dict[str, Converter] = {"string": _string, "blob": _blob, "integer": _integer, "long": _integer,
                                  "float": _double, "double": _double, "boolean": _boolean}


def _compiled_for(
    cache: dict[str, Any], name: str, operation: Any, build: Callable[[], tuple[Any, ...]]
) -> tuple[Any, ...] | None:
    """(operation, *what `build` made) for this operation model, made once; None when it is unsupported (then
    remembered as such: moto's own code answers that operation)."""
    compiled = cache.get(name)
    if compiled is None or compiled[0] is not operation:
        if name in cache and compiled is None:
            return None
        try:
            compiled = (operation, *build())
        except _Unsupported:
            compiled = None
        cache[name] = compiled
    return compiled


def _list_of(item: Callable[[Any], Any]) -> Callable[[Any], list[Any]]:
    """A list converter (answers and requests alike): each member through `item`; a non-list or a null member
    goes back to moto's own code."""

    def convert_list(value: Any) -> list[Any]:
        if type(value) is not list:
            raise _Fallback
        out = []
        for v in value:
            if v is None:
                raise _Fallback
            out.append(item(v))
        return out

    return convert_list


def _compile(shape: Any, memo: dict[str, Converter]) -> Converter:
    """A converter doing for a value of `shape` what moto's JSON serializer does (memoised by shape name)."""
    if shape.name in memo:
        return memo[shape.name]
    kind = shape.type_name
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind == "structure":
        return _compile_structure(shape, memo)
    if kind == "list":
        member = shape.member
        if member.serialization.get("name", member.name) != member.name:
            raise _Unsupported(shape.name)  # moto would append the raw item
        memo[shape.name] = converter = _list_of(_compile(member, memo))
        return converter
    if kind == "map":
        if "name" in shape.value.serialization:
            raise _Unsupported(shape.name)  # moto would store every entry under that one name
        entry = _compile(shape.value, memo)
        structured = shape.value.type_name == "structure"

        def convert_map(value: Any) -> dict[str, Any]:
            if type(value) is not dict:
                raise _Fallback
            out = {}
            for k, v in value.items():
                if type(k) is not str or v is None or (structured and not k):
                    raise _Fallback  # ("" as the key of a structure: moto merges its members into the map)
                out[k] = entry(v)
            return out

        memo[shape.name] = convert_map
        return convert_map
    raise _Unsupported(f"{shape.name} ({kind})")


def _compile_structure(shape: Any, memo: dict[str, Converter]) -> Converter:
    from moto.core.serialize import AttributePickerContext, XFormedAttributePicker

    if shape.is_document_type:
        raise _Unsupported(shape.name)
    members: list[tuple[str, Converter]] = []
    # candidate key -> (member index, rank): moto takes, per member, the first of its candidates present.
    candidates: dict[str, list[tuple[int, int]]] = {}

    def convert_structure(value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise _Fallback
        chosen: dict[int, tuple[int, str]] = {}
        for k in value:
            for index, rank in candidates.get(k, ()):
                best = chosen.get(index)
                if best is None or rank < best[0]:
                    chosen[index] = (rank, k)
        out = {}
        for index in sorted(chosen):
            v = value[chosen[index][1]]
            if v is not None:
                name, convert = members[index]
                out[name] = convert(v)
        return out

    memo[shape.name] = convert_structure  # before the members: the shapes are recursive (M, L)
    picker = XFormedAttributePicker()
    for index, (key, member) in enumerate(shape.members.items()):
        member.parent = shape  # what moto's serializer sets before it picks the member (the aliases use it)
        keys = list(picker.get_possible_keys(AttributePickerContext(obj={}, key=key, shape=member)))
        if any(not isinstance(k, str) or "." in k for k in keys):
            raise _Unsupported(f"{shape.name}.{key}")  # a dotted key is a path to moto's get_value
        for rank, k in enumerate(keys):
            candidates.setdefault(k, []).append((index, rank))
        members.append((member.serialization.get("name", key), _compile(member, memo)))
    return convert_structure


# operation name -> (its operation model, the output converter, status code, content type), or None.
_FAST: dict[str, tuple[Any, Converter, int, str] | None] = {}


def _fast_answer(result: Any, context: Any) -> tuple[int, dict[str, str], str] | None:
    from moto import settings
    from moto.core.serialize import JSONSerializer

    operation = context.operation_model
    name = operation.name
    if (name not in FAST_DYNAMODB_OPERATIONS or context.serializer_class is not JSONSerializer
            or context.service_model.service_name != "dynamodb" or type(result) is not dict
            or getattr(context.response, "RESPONSE_KEY_PATH_TO_TRANSFORMER", None)):
        return None

    def build() -> tuple[Any, ...]:
        if operation.has_event_stream_output or operation.output_shape is None:
            raise _Unsupported(name)
        serializer = JSONSerializer(operation_model=operation)
        return (_compile_structure(operation.output_shape, {}), serializer._create_default_response()["status_code"],
                serializer._get_protocol_specific_content_type())

    compiled = _compiled_for(_FAST, name, operation, build)
    if compiled is None:
        return None
    _, convert, status, content_type = compiled
    try:
        body = convert(result)
    except _Fallback:
        return None
    return status, {"Content-Type": content_type}, json.dumps(body, indent=4 if settings.PRETTIFY_RESPONSES else None)


def _execute_result(self: Any, context: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoResult

    if type(self) is ActionResult or type(self) is DynamoResult:
        answer = _fast_answer(self.result, context)
        if answer is not None:
            return answer
    return _ORIGINALS["ActionResult.execute_result"](self, context)


# --- DynamoDB requests: moto's JSON parser, specialised per input shape -----------------------
def _compile_input(shape: Any, memo: dict[str, Converter]) -> Converter:
    """A converter doing for a JSON value of `shape` what moto's `JSONParser` does (memoised by shape name)."""
    from moto.core import parse

    default_blob_parser: Any = parse.default_blob_parser
    if shape.name in memo:
        return memo[shape.name]
    kind = shape.type_name
    if kind in ("string", "boolean"):
        return _as_it_is  # moto's `_default_handle`: whatever JSON gave
    if kind == "blob":

        def blob(value: Any) -> Any:
            try:
                return default_blob_parser(value)
            except Exception as exc:  # moto's parser will fail the same way
                raise _Fallback from exc

        return blob
    if kind in ("integer", "long", "short", "byte", "float", "double"):
        cast = int if kind in ("integer", "long", "short", "byte") else float

        def number(value: Any) -> Any:
            try:
                return cast(value)
            except Exception as exc:
                raise _Fallback from exc

        return number
    if kind == "structure":
        if shape.is_document_type:
            raise _Unsupported(shape.name)
        members: list[tuple[str, Converter]] = []
        by_json_name: dict[str, list[int]] = {}

        def convert_structure(value: Any) -> dict[str, Any]:
            if type(value) is not dict:
                raise _Fallback  # (moto: None stays None, anything else fails on `.get`)
            present = sorted(i for k in value if k in by_json_name for i in by_json_name[k])
            out = {}
            for index in present:
                name, convert = members[index]
                raw = value[json_names[index]]
                if raw is not None:
                    out[name] = convert(raw)
            return out

        memo[shape.name] = convert_structure  # before the members: the shapes are recursive (M, L)
        json_names = []
        for index, (name, member) in enumerate(shape.members.items()):
            json_name = member.serialization.get("name", name)
            json_names.append(json_name)
            by_json_name.setdefault(json_name, []).append(index)
            members.append((name, _compile_input(member, memo)))
        return convert_structure
    if kind == "list":
        memo[shape.name] = converter = _list_of(_compile_input(shape.member, memo))
        return converter
    if kind == "map":
        key = _compile_input(shape.key, memo)
        entry = _compile_input(shape.value, memo)

        def convert_map(value: Any) -> dict[Any, Any]:
            if type(value) is not dict:
                raise _Fallback
            out = {}
            for k, v in value.items():
                if v is None:
                    raise _Fallback
                out[key(k)] = entry(v)
            return out

        memo[shape.name] = convert_map
        return convert_map
    raise _Unsupported(f"{shape.name} ({kind})")


def _as_it_is(value: Any) -> Any:
    return value


# operation name -> (its operation model, the input converter), or None.
_FAST_INPUT: dict[str, tuple[Any, Converter] | None] = {}


def _fast_parse(parser: Any, request_dict: Any) -> Any:
    """moto's `JSONParser.parse` of a DynamoDB request through the converter, or None (then moto's parser)."""
    from moto.core.parse import JSONParser, default_blob_parser, default_timestamp_parser

    operation = parser.operation_model
    name = operation.name
    if (type(parser) is not JSONParser or parser.MAP_TYPE is not dict or name not in FAST_DYNAMODB_OPERATIONS
            or parser._blob_parser is not default_blob_parser
            or parser._timestamp_parser is not default_timestamp_parser
            or operation.service_model.service_name != "dynamodb"):
        return None

    def build() -> tuple[Any, ...]:
        if operation.input_shape is None:
            raise _Unsupported(name)
        return (_compile_input(operation.input_shape, {}),)

    compiled = _compiled_for(_FAST_INPUT, name, operation, build)
    if compiled is None:
        return None
    moto_parser: Any = parser  # (moto's parser methods are untyped)
    parsed_json = moto_parser._parse_body_as_json(request_dict["body"])
    try:
        return compiled[1](parsed_json)
    except _Fallback:
        return moto_parser._parse_shape(operation.input_shape, parsed_json)


def _parse(self: Any, request_dict: Any) -> Any:
    parsed = _fast_parse(self, request_dict)
    if parsed is not None:
        return parsed
    return _ORIGINALS["RequestParser.parse"](self, request_dict)


# --- per-request lookups that depend only on the class --------------------------------------
_METHOD_NAMES: dict[type, list[str]] = {}


def _method_names_from_class(clazz: Any) -> list[str]:
    """moto's list of a response class's function names (`inspect.getmembers` on every request), kept per class."""
    names = _METHOD_NAMES.get(clazz)
    if names is None:
        names = _METHOD_NAMES[clazz] = _ORIGINALS["method_names_from_class"](clazz)
    return list(names)


def _enrich_response(headers: dict[str, Any], body: Any) -> tuple[dict[str, Any], Any]:
    """moto's `BaseResponse._enrich_response` (the status as a string, a new request id in the headers and in
    an XML body's <RequestId>), with the regex run only on bodies that contain "<RequestId>": moto scanned
    every body, a JSON one of a hundred items included, for a match that needs that text."""
    from moto.core import responses

    if "status" in headers:
        headers["status"] = str(headers["status"])
    request_id = vars(responses)["gen_amzn_requestid_long"](headers)
    try:
        if "<RequestId>" in body:  # bytes raise TypeError here, as moto's str pattern does on them
            body = re.sub(r"(?<=<RequestId>).*(?=<\/RequestId>)", request_id, body)
    except Exception:  # noqa: S110  (moto's own: "Will just ignore if it cant work")
        pass
    return headers, body


class _CopyEachTableOnce:
    """`copy` as moto.dynamodb.models sees it during one `transact_write_items` call: a deep copy of one table
    is made once and handed out again (moto copies the whole table for the rollback once per item of the
    transaction that names it, equal copies of the same untouched table, the last one kept; ≈ 1 s per copy at
    6,000 items here, so a 5-item claim took longer than the SDK's 10 s read timeout). Everything else is the
    real `copy`."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self._made: dict[int, tuple[Any, Any]] = {}

    def deepcopy(self, obj: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if memo is not None or type(obj) is not Table:  # an item's copy (an update's "before") stays moto's
            return self._real.deepcopy(obj, memo)
        made = self._made.get(id(obj))
        if made is None or made[0] is not obj:
            made = (obj, self._real.deepcopy(obj))
            self._made[id(obj)] = made
        return made[1]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _transact_write_items(self: Any, transact_items: Any) -> Any:
    from moto.dynamodb import models

    real = vars(models)["copy"]
    setattr(models, "copy", _CopyEachTableOnce(real))  # noqa: B010 - requests are serialised (DurableApp's lock)
    try:
        return _ORIGINALS["transact_write_items"](self, transact_items)
    finally:
        setattr(models, "copy", real)  # noqa: B010


def installed() -> bool:
    return bool(_ORIGINALS)


def install() -> None:
    """Apply the fixes to moto in this process (idempotent)."""
    if _ORIGINALS:
        return
    from moto.sqs import models

    for name, fixed in (("unix_time", unix_time), ("unix_time_millis", unix_time_millis)):
        _ORIGINALS[name] = getattr(models, name)
        setattr(models, name, fixed)
    # `Queue.attributes` (read three or four times per SendMessage) converts every attribute's name with this
    # pure function each time: remember its answers (a few dozen names).
    _ORIGINALS["sqs camelcase_to_underscores"] = vars(models)["camelcase_to_underscores"]
    memoised = functools.lru_cache(maxsize=1024)(vars(models)["camelcase_to_underscores"])
    setattr(models, "camelcase_to_underscores", memoised)  # noqa: B010
    from moto.dynamodb import models as dynamodb_models

    _ORIGINALS["transact_write_items"] = dynamodb_models.DynamoDBBackend.transact_write_items
    setattr(dynamodb_models.DynamoDBBackend, "transact_write_items", _transact_write_items)  # noqa: B010
    _ORIGINALS["retention"] = models.SQSBackend.is_message_valid_based_on_retention_period
    setattr(models.SQSBackend, "is_message_valid_based_on_retention_period", _retention_valid)  # noqa: B010
    _ORIGINALS["Queue.delete_message"] = models.Queue.delete_message
    setattr(models.Queue, "delete_message", _delete_message)  # noqa: B010
    for name, getter in _PROPERTIES.items():
        _ORIGINALS[f"Queue.{name}"] = getattr(models.Queue, name)
        setattr(models.Queue, name, property(getter))
    from moto.core.common_models import BaseModel

    _ORIGINALS["BaseModel.__new__"] = BaseModel.__dict__["__new__"]
    BaseModel.__new__ = staticmethod(_untracked_new)  # type: ignore[method-assign]
    from moto.core import responses

    _ORIGINALS["ActionResult.execute_result"] = responses.ActionResult.execute_result
    responses.ActionResult.execute_result = _execute_result  # type: ignore[method-assign]
    _ORIGINALS["method_names_from_class"] = vars(responses)["method_names_from_class"]
    setattr(responses, "method_names_from_class", _method_names_from_class)  # noqa: B010
    _ORIGINALS["BaseResponse._enrich_response"] = responses.BaseResponse.__dict__["_enrich_response"]
    responses.BaseResponse._enrich_response = staticmethod(_enrich_response)  # type: ignore[method-assign]
    from moto.core import parse

    _ORIGINALS["JSONParser.parse (own)"] = vars(parse.JSONParser).get("parse")  # None: it inherits RequestParser's
    _ORIGINALS["RequestParser.parse"] = parse.JSONParser.parse
    parse.JSONParser.parse = _parse  # type: ignore[method-assign]


def uninstall() -> None:
    """Put moto's own functions back (for the equivalence tests)."""
    if not _ORIGINALS:
        return
    from moto.sqs import models

    for name in ("unix_time", "unix_time_millis"):
        setattr(models, name, _ORIGINALS.pop(name))
    setattr(models, "camelcase_to_underscores", _ORIGINALS.pop("sqs camelcase_to_underscores"))  # noqa: B010
    from moto.dynamodb import models as dynamodb_models

    setattr(dynamodb_models.DynamoDBBackend, "transact_write_items", _ORIGINALS.pop("transact_write_items"))  # noqa: B010
    setattr(models.SQSBackend, "is_message_valid_based_on_retention_period", _ORIGINALS.pop("retention"))  # noqa: B010
    setattr(models.Queue, "delete_message", _ORIGINALS.pop("Queue.delete_message"))  # noqa: B010
    for name in _PROPERTIES:
        setattr(models.Queue, name, _ORIGINALS.pop(f"Queue.{name}"))
    from moto.core.common_models import BaseModel

    BaseModel.__new__ = _ORIGINALS.pop("BaseModel.__new__")  # type: ignore[method-assign]
    from moto.core import responses

    responses.ActionResult.execute_result = _ORIGINALS.pop("ActionResult.execute_result")  # type: ignore[method-assign]
    setattr(responses, "method_names_from_class", _ORIGINALS.pop("method_names_from_class"))  # noqa: B010
    responses.BaseResponse._enrich_response = _ORIGINALS.pop("BaseResponse._enrich_response")  # type: ignore[method-assign]
    from moto.core import parse

    own = _ORIGINALS.pop("JSONParser.parse (own)")
    if own is None:
        del parse.JSONParser.parse
    else:
        parse.JSONParser.parse = own  # type: ignore[method-assign]
    _ORIGINALS.pop("RequestParser.parse")


@contextmanager
def fixes(enabled: bool = True) -> Iterator[None]:
    """The fixes installed (or not) for the duration of the block; the previous state restored after."""
    was = installed()
    if enabled:
        install()
    else:
        uninstall()
    try:
        yield
    finally:
        if was:
            install()
        else:
            uninstall()
