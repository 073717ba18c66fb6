"""storage.table's item (de)serialisation: the same DynamoDB JSON and the same Python values as boto3's
TypeSerializer / TypeDeserializer (the fast paths cover the common scalars; everything else goes through boto3)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

from chalicelib.storage import table

ITEMS: list[dict[str, Any]] = [
    {"pk": "TENANT#t1", "sk": "TENANT", "disabled": False, "createdAtMs": 1781600000000, "agents": ["main", "x"]},
    {"n": 0, "neg": -42, "big": 10**37, "t": True, "empty": "", "unicode": "héllo ✓"},
    {"m": {"a": 1, "b": ["x", {"c": False}], "d": None}, "l": [], "nested": [[1, "2"], {"k": "v"}]},
    {"dec": Decimal("12"), "frac": Decimal("1.5"), "ss": {"a", "b"}, "ns": {1, 2}, "bin": b"\x00\x01"},
    {"binary": Binary(b"xyz"), "null": None, "emptymap": {}, "intkeys": {1: "int key"}},
]


def boto3_to_ddb(item: dict[str, Any]) -> dict[str, Any]:
    ser = TypeSerializer()
    return {k: ser.serialize(v) for k, v in item.items() if v is not None}


def boto3_from_ddb(item: dict[str, Any]) -> dict[str, Any]:
    de = TypeDeserializer()
    out = {k: de.deserialize(v) for k, v in item.items()}
    return {k: (int(v) if type(v).__name__ == "Decimal" else v) for k, v in out.items()}


@pytest.mark.parametrize("item", ITEMS)
def test_to_ddb_writes_what_boto3_writes(item: dict[str, Any]) -> None:
    assert table.to_ddb(item) == boto3_to_ddb(item)


@pytest.mark.parametrize("item", ITEMS)
def test_from_ddb_reads_what_boto3_reads(item: dict[str, Any]) -> None:
    wire = boto3_to_ddb(item)
    got, expected = table.from_ddb(wire), boto3_from_ddb(wire)
    assert got == expected
    assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in expected.items()}


@pytest.mark.parametrize("value", [1.5, 10**38, -(10**38), [1.5], {"a": object()}, object()])
def test_what_boto3_refuses_is_refused(value: Any) -> None:
    with pytest.raises(Exception) as refused:  # noqa: PT011 - whichever boto3 raises, table raises too
        boto3_to_ddb({"v": value})
    with pytest.raises(type(refused.value)):
        table.to_ddb({"v": value})
