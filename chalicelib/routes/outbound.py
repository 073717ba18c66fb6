"""Outbound routes (tenant bearer): OpenClaw → mux → chat. Filled in by the outbound work."""

from __future__ import annotations

from chalice import Blueprint

bp = Blueprint(__name__)
