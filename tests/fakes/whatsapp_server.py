"""A fake WhatsApp Cloud (Graph) API on loopback for the tests: the same stand-in as `muxctl dev whatsapp`
(muxctl/whatsapp_graph.py: Meta's request rules, the 24-hour window, media lookup and download with the bearer
checked), plus fixtures and helpers.

Usage::

    with FakeWhatsApp() as wa:                       # access token ACCESS_TOKEN, base URL wa.base_url
        configure(**wa.env())                        # WhatsApp enabled against it
        wa.closed_windows.add("447700900123")        # non-template messages to that user → #131047
        wa.fail(load("error_130429.json"), status=429)
        wa.add_media("1183746529304857", b"...", "image/jpeg")
        assert wa.sent()[0]["text"]["body"] == "hi"
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from muxctl.whatsapp_graph import Call, FakeGraph, graph_error, window_closed_error

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "whatsapp"
ACCESS_TOKEN = "EAAfake-whatsapp-access-token-0123456789"
PHONE_NUMBER_ID = "318765432109876"
APP_SECRET = "fixture-app-secret-not-real"
VERIFY_TOKEN = "fixture-verify-token-not-real"

__all__ = ["ACCESS_TOKEN", "Call", "FakeWhatsApp", "graph_error", "load", "window_closed_error"]


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


class FakeWhatsApp(FakeGraph):
    def __init__(self, *, access_token: str | None = ACCESS_TOKEN) -> None:
        super().__init__(access_token=access_token)

    def env(self) -> dict[str, str]:
        """Settings that enable WhatsApp against this fake."""
        return {
            "WHATSAPP_ACCESS_TOKEN": self.access_token or ACCESS_TOKEN,
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
            "MUX_WHATSAPP_API_BASE_URL": self.base_url,
        }
