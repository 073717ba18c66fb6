"""JWT signing keys in the table: public part, KMS-enveloped private seed, and when each key starts signing and
stops being trusted. All keys sit in one small gsi1 partition, read with one Query."""

from __future__ import annotations

from typing import Any

from chalicelib import aws
from chalicelib.models import SigningKey
from chalicelib.storage import table


def _to_key(item: dict[str, Any]) -> SigningKey:
    return SigningKey(
        kid=item["kid"],
        x=item["x"],
        ciphertext=item["ciphertext"],
        created_at_ms=item["createdAtMs"],
        activates_at_ms=item["activatesAtMs"],
        retires_at_ms=item.get("retiresAtMs"),
    )


def all_keys() -> list[SigningKey]:
    resp = aws.dynamodb().query(
        TableName=table.table_name(),
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :p",
        ExpressionAttributeValues=table.values(p=table.SIGNING_KEYS_GSI),
    )
    return [_to_key(table.from_ddb(i)) for i in resp.get("Items", [])]


def put(key: SigningKey) -> None:
    item: dict[str, Any] = {
        **table.signing_key_key(key.kid),
        "type": "signingkey",
        "kid": key.kid,
        "x": key.x,
        "ciphertext": key.ciphertext,
        "createdAtMs": key.created_at_ms,
        "activatesAtMs": key.activates_at_ms,
        "retiresAtMs": key.retires_at_ms,
        "gsi1pk": table.SIGNING_KEYS_GSI,
        "gsi1sk": f"{key.created_at_ms:015d}#{key.kid}",
    }
    table.put(item, condition="attribute_not_exists(pk)")


def set_retirement(kid: str, retires_at_ms: int) -> None:
    """Stop trusting a key at `retires_at_ms`; an earlier retirement already set is kept."""
    table.update(
        table.signing_key_key(kid),
        "SET retiresAtMs = :r, #ttl = :ttl",
        condition="attribute_exists(pk) AND (attribute_not_exists(retiresAtMs) OR retiresAtMs > :r)",
        ExpressionAttributeNames={"#ttl": table.TTL_ATTRIBUTE},
        ExpressionAttributeValues=table.values(r=retires_at_ms, ttl=retires_at_ms // 1000 + 86_400),
    )
