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
* `Queue.messages` (visible and not delayed) and the three approximate counts: the same filters, with one
  clock read per scan instead of one per message and check (so the whole queue is judged at one instant);
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
* `method_names_from_class` (as moto.core.responses calls it): moto's own list, computed once per class
  (a copy is returned each time). A method added to a response class after its first request would not
  be seen; nothing in moto or here does that.

Everything else — FIFO groups and their in-flight blocking, visibility, deduplication, redrive to the DLQ,
receipt handles, DynamoDB's reads, writes, conditions and transactions — is moto's own code, unchanged;
tests/integration/test_local_moto_fixes.py and test_local_moto_fixes_dynamodb.py run the same scenarios
with and without the fixes and compare the results (for DynamoDB: status, headers, raw body and parsed
answer of every call).
"""

from __future__ import annotations

import base64
import json
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
        item = _compile(member, memo)

        def convert_list(value: Any) -> list[Any]:
            if type(value) is not list:
                raise _Fallback
            out = []
            for v in value:
                if v is None:
                    raise _Fallback
                out.append(item(v))
            return out

        memo[shape.name] = convert_list
        return convert_list
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
    compiled = _FAST.get(name)
    if compiled is None or compiled[0] is not operation:
        if name in _FAST and compiled is None:
            return None
        try:
            if operation.has_event_stream_output or operation.output_shape is None:
                raise _Unsupported(name)
            serializer = JSONSerializer(operation_model=operation)
            compiled = (operation, _compile_structure(operation.output_shape, {}),
                        serializer._create_default_response()["status_code"],
                        serializer._get_protocol_specific_content_type())
        except _Unsupported:
            compiled = None
        _FAST[name] = compiled
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


# --- per-request lookups that depend only on the class --------------------------------------
_METHOD_NAMES: dict[type, list[str]] = {}


def _method_names_from_class(clazz: Any) -> list[str]:
    """moto's list of a response class's function names (`inspect.getmembers` on every request), kept per class."""
    names = _METHOD_NAMES.get(clazz)
    if names is None:
        names = _METHOD_NAMES[clazz] = _ORIGINALS["method_names_from_class"](clazz)
    return list(names)


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
    _ORIGINALS["retention"] = models.SQSBackend.is_message_valid_based_on_retention_period
    setattr(models.SQSBackend, "is_message_valid_based_on_retention_period", _retention_valid)  # noqa: B010
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


def uninstall() -> None:
    """Put moto's own functions back (for the equivalence tests)."""
    if not _ORIGINALS:
        return
    from moto.sqs import models

    for name in ("unix_time", "unix_time_millis"):
        setattr(models, name, _ORIGINALS.pop(name))
    setattr(models.SQSBackend, "is_message_valid_based_on_retention_period", _ORIGINALS.pop("retention"))  # noqa: B010
    for name in _PROPERTIES:
        setattr(models.Queue, name, _ORIGINALS.pop(f"Queue.{name}"))
    from moto.core.common_models import BaseModel

    BaseModel.__new__ = _ORIGINALS.pop("BaseModel.__new__")  # type: ignore[method-assign]
    from moto.core import responses

    responses.ActionResult.execute_result = _ORIGINALS.pop("ActionResult.execute_result")  # type: ignore[method-assign]
    setattr(responses, "method_names_from_class", _ORIGINALS.pop("method_names_from_class"))  # noqa: B010


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
