"""Low-level access to the one table: key builders, (de)serialisation, transactions, conditional errors."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from chalicelib import aws
from chalicelib.config import get_settings

TTL_ATTRIBUTE = "expiresAt"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


# --- key builders: the only place item keys are spelled ---------------------------------------
def tenant_key(tenant_id: str) -> dict[str, str]:
    return {"pk": f"TENANT#{tenant_id}", "sk": "TENANT"}


def key_hash_key(key_hash: str) -> dict[str, str]:
    return {"pk": f"KEYHASH#{key_hash}", "sk": "KEYHASH"}


def route_key(route: str) -> dict[str, str]:
    return {"pk": f"ROUTE#{route}", "sk": "ROUTE"}


def binding_key(binding_id: str) -> dict[str, str]:
    return {"pk": f"BINDING#{binding_id}", "sk": "BINDING"}


def tenant_bindings_gsi(tenant_id: str) -> str:
    return f"TBIND#{tenant_id}"


def tenants_gsi(status: str) -> str:
    """The sparse gsi1 partition listing tenants of one status (`enabled` | `disabled`)."""
    return f"TENANTS#{status}"


def route_gone_key(route: str) -> dict[str, str]:
    return {"pk": f"ROUTEGONE#{route}", "sk": "ROUTEGONE"}


def tenant_sessions_gsi(tenant_id: str) -> str:
    return f"TSESSION#{tenant_id}"


def tenant_tokens_gsi(tenant_id: str) -> str:
    return f"TTOKEN#{tenant_id}"


def session_key(tenant_id: str, channel: str, session: str) -> dict[str, str]:
    return {"pk": f"SESSION#{tenant_id}#{channel}#{session}", "sk": "SESSION"}


def pairing_token_key(token_hash: str) -> dict[str, str]:
    return {"pk": f"PAIRTOKEN#{token_hash}", "sk": "PAIRTOKEN"}


def pairing_token_id_key(tenant_id: str, token_id: str) -> dict[str, str]:
    """The non-secret token id → token hash pointer; the tenant in the key scopes every lookup."""
    return {"pk": f"PTOKENID#{tenant_id}#{token_id}", "sk": "PTOKENID"}


def idempotency_key(tenant_id: str, key_hash: str) -> dict[str, str]:
    return {"pk": f"IDEMP#{tenant_id}#{key_hash}", "sk": "IDEMP"}


def message_key(route: str, ref: str) -> dict[str, str]:
    return {"pk": f"MSG#{route}#{ref}", "sk": "MSG"}


def file_key(channel: str, file_id: str) -> dict[str, str]:
    return {"pk": f"FILE#{channel}#{file_id}", "sk": "FILE"}


def event_key(event_id: str) -> dict[str, str]:
    return {"pk": f"EVENT#{event_id}", "sk": "EVENT"}


def signing_key_key(kid: str) -> dict[str, str]:
    return {"pk": f"SIGNKEY#{kid}", "sk": "SIGNKEY"}


SIGNING_KEYS_GSI = "SIGNKEYS"  # the gsi1 partition holding every JWT signing key (a handful of items)


def attempts_key(message_id: str) -> dict[str, str]:
    return {"pk": f"ATTEMPTS#{message_id}", "sk": "ATTEMPTS"}


def tenant_health_key(tenant_id: str) -> dict[str, str]:
    return {"pk": f"TENANTHEALTH#{tenant_id}", "sk": "TENANTHEALTH"}


# --- serialisation ----------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _serializers() -> tuple[Any, Any]:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def _ser(value: Any) -> dict[str, Any]:
    """One attribute value, as boto3's TypeSerializer writes it: the common scalar types directly (most of the
    cost of a request's items), anything else through boto3's serializer (same output, same errors)."""
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is bool:
        return {"BOOL": value}
    if kind is int and -_MAX_EXACT < value < _MAX_EXACT:
        return {"N": str(value)}
    if kind is list:
        return {"L": [_ser(v) for v in value]}
    if kind is dict and all(type(k) is str for k in value):
        return {"M": {k: _ser(v) for k, v in value.items()}}
    serialized: dict[str, Any] = _serializers()[0].serialize(value)
    return serialized


_MAX_EXACT = 10**38  # DynamoDB numbers carry 38 digits: boto3 refuses a larger int, and so does its serializer here


def to_ddb(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser(v) for k, v in item.items() if v is not None}


def _top(value: dict[str, Any]) -> Any:
    """One top-level attribute as `from_ddb` answers it: numbers as int (every number we store is an integer)."""
    if "S" in value:
        return value["S"]
    number = value.get("N")
    if number is not None and number.isdigit() and len(number) < 39:
        return int(number)
    out = _serializers()[1].deserialize(value)
    return int(out) if type(out).__name__ == "Decimal" else out


def from_ddb(item: dict[str, Any]) -> dict[str, Any]:
    # Numbers come back as Decimal; every number we store is an integer. Nested ones (in maps and lists) stay
    # Decimal, as boto3's deserializer answers them.
    return {k: _top(v) for k, v in item.items()}


def values(**kwargs: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from keyword arguments (`now=1` → `{":now": {"N": "1"}}`)."""
    return {f":{k}": _ser(v) for k, v in kwargs.items()}


# --- calls ------------------------------------------------------------------------------------
def table_name() -> str:
    return get_settings().require("table_name")


def get(key: dict[str, str], consistent: bool = True) -> dict[str, Any] | None:
    resp = aws.dynamodb().get_item(TableName=table_name(), Key=to_ddb(key), ConsistentRead=consistent)
    item = resp.get("Item")
    return from_ddb(item) if item else None


def batch_get(keys: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Strongly consistent BatchGetItem of up to 100 keys (retrying unprocessed keys)."""
    name = table_name()
    request: dict[str, Any] = {name: {"Keys": [to_ddb(k) for k in keys], "ConsistentRead": True}}
    found: list[dict[str, Any]] = []
    for _ in range(5):
        resp = aws.dynamodb().batch_get_item(RequestItems=request)
        found.extend(from_ddb(i) for i in resp.get("Responses", {}).get(name, []))
        request = resp.get("UnprocessedKeys") or {}
        if not request:
            break
    # A key still unprocessed (throttling) must not read as absent: callers take absence as "not bound" or
    # "unknown key" and answer (or store, or drop a message) on it. GetItem each instead: its own retries
    # apply, and it raises when DynamoDB still refuses.
    for raw in request.get(name, {}).get("Keys", []):
        item = get(from_ddb(raw))
        if item is not None:
            found.append(item)
    return found


class ReadSet:
    """Items read together, for one request: the keys it will need (as far as it can name them up front) are read
    in one strongly consistent BatchGetItem; `get` answers those from the batch and reads any other key on its
    own (GetItem). Each item is read after the request arrived, as a GetItem in sequence would be (a batch is not
    a snapshot across items, and neither was the sequence), so naming a key up front changes the number of round
    trips, never an answer: a key guessed wrong is simply not asked for, and a key not guessed is read."""

    def __init__(self, keys: list[dict[str, str]] | None = None) -> None:
        wanted = list(dict.fromkeys((k["pk"], k["sk"]) for k in keys or []))[:100]  # BatchGetItem's limit
        self._items: dict[tuple[str, str], dict[str, Any] | None] = dict.fromkeys(wanted)
        if len(wanted) == 1:
            self._items[wanted[0]] = get({"pk": wanted[0][0], "sk": wanted[0][1]})
        elif wanted:
            for item in batch_get([{"pk": pk, "sk": sk} for pk, sk in wanted]):
                self._items[(item["pk"], item["sk"])] = item

    def found(self) -> list[dict[str, Any]]:
        """Every item read so far that exists."""
        return [item for item in self._items.values() if item is not None]

    def get(self, key: dict[str, str]) -> dict[str, Any] | None:
        name = (key["pk"], key["sk"])
        if name not in self._items:
            self._items[name] = get(key)
        return self._items[name]


def read(key: dict[str, str], reads: ReadSet | None) -> dict[str, Any] | None:
    """One item, strongly consistent: from the request's ReadSet when it has one, else a GetItem."""
    return reads.get(key) if reads is not None else get(key)


def put(item: dict[str, Any], condition: str | None = None, **expr: Any) -> None:
    kwargs: dict[str, Any] = {"TableName": table_name(), "Item": to_ddb(item)}
    if condition:
        kwargs["ConditionExpression"] = condition
    kwargs.update(expr)
    aws.dynamodb().put_item(**kwargs)


def batch_put(items: list[dict[str, Any]]) -> None:
    """Unconditional puts in BatchWriteItem calls of 25 (retrying unprocessed items)."""
    name = table_name()
    for start in range(0, len(items), 25):
        request: dict[str, Any] = {name: [{"PutRequest": {"Item": to_ddb(i)}} for i in items[start : start + 25]]}
        for _ in range(5):
            request = aws.dynamodb().batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            if not request:
                break
        if request:
            raise RuntimeError("DynamoDB left items of a batch write unprocessed")


def batch_write_once(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Unconditional puts of up to 25 items in one BatchWriteItem; the items it left unprocessed."""
    name = table_name()
    request = {name: [{"PutRequest": {"Item": to_ddb(i)}} for i in items]}
    left = aws.dynamodb().batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
    return [from_ddb(r["PutRequest"]["Item"]) for r in left.get(name, []) if "PutRequest" in r]


def same_key(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a.get("pk") == b.get("pk") and a.get("sk") == b.get("sk"))


def delete(key: dict[str, str], condition: str | None = None, **expr: Any) -> None:
    kwargs: dict[str, Any] = {"TableName": table_name(), "Key": to_ddb(key)}
    if condition:
        kwargs["ConditionExpression"] = condition
    kwargs.update(expr)
    aws.dynamodb().delete_item(**kwargs)


def delete_returning(key: dict[str, str]) -> dict[str, Any] | None:
    """DeleteItem answering the item as it was (None if there was none)."""
    resp = aws.dynamodb().delete_item(TableName=table_name(), Key=to_ddb(key), ReturnValues="ALL_OLD")
    item = resp.get("Attributes")
    return from_ddb(item) if item else None


def update(key: dict[str, str], expression: str, condition: str | None = None, **expr: Any) -> dict[str, Any]:
    """UpdateItem; returns the attributes asked for with `ReturnValues` (else `{}`)."""
    kwargs: dict[str, Any] = {"TableName": table_name(), "Key": to_ddb(key), "UpdateExpression": expression}
    if condition:
        kwargs["ConditionExpression"] = condition
    kwargs.update(expr)
    resp = aws.dynamodb().update_item(**kwargs)
    return from_ddb(resp.get("Attributes") or {})


def transact(operations: list[dict[str, Any]]) -> None:
    """TransactWriteItems; each operation is `{"Put"|"Delete"|"Update"|"ConditionCheck": {...}}`
    without TableName (added here) and with Key/Item as plain dicts (serialised here)."""
    name = table_name()
    items: list[dict[str, Any]] = []
    for op in operations:
        ((kind, body),) = op.items()
        body = dict(body, TableName=name)
        if "Item" in body:
            body["Item"] = to_ddb(body["Item"])
        if "Key" in body:
            body["Key"] = to_ddb(body["Key"])
        items.append({kind: body})
    aws.dynamodb().transact_write_items(TransactItems=items)


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def is_conditional_failure(exc: Exception) -> bool:
    return error_code(exc) in {"ConditionalCheckFailedException", "TransactionCanceledException"}


def cancellation_reasons(exc: Exception) -> list[str]:
    """Per-operation codes of a cancelled transaction ("None" for operations that were fine)."""
    response = getattr(exc, "response", None) or {}
    return [str(r.get("Code", "None")) for r in response.get("CancellationReasons", [])]
