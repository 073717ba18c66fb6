"""Helpers for WhatsApp inbound tests: fixture webhook bodies with fresh ids, signing, the webhook call."""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "whatsapp"
APP_SECRET = "fixture-app-secret-not-real"
VERIFY_TOKEN = "fixture-verify-token-not-real"
ACCESS_TOKEN = "EAAfixture-access-token-not-real"
PHONE_NUMBER_ID = "318765432109876"
WA_ID = "447700900123"
BSUID = "GB.20481731954472930617"
_ids = itertools.count(1)


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def message_of(body: dict[str, Any], n: int = 0) -> dict[str, Any]:
    msg: dict[str, Any] = body["entry"][0]["changes"][0]["value"]["messages"][n]
    return msg


def text_body(text: str, *, name: str = "text.json", phone_number_id: str | None = None) -> dict[str, Any]:
    """A webhook body of one text message (from `name`'s sender) with a fresh wamid."""
    body = copy.deepcopy(fixture(name))
    msg = message_of(body)
    msg["id"] = f"wamid.test{next(_ids):08d}"
    msg["type"] = "text"
    msg["text"] = {"body": text}
    if phone_number_id is not None:
        body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = phone_number_id
    return body


def sign(raw: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def post_signed(client: Any, body: dict[str, Any] | bytes, signature: str | None = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.http.post(
        "/v1/webhooks/whatsapp",
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature or sign(raw)},
        body=raw,
    )
