"""Platform webhooks: verify, enqueue, answer (no forwarding inside the request)."""

from __future__ import annotations

from chalice import Blueprint

bp = Blueprint(__name__)
