"""Pairing routes (tenant bearer): tokens, bindings list, unbind, sessions."""

from __future__ import annotations

from chalice import Blueprint

bp = Blueprint(__name__)
