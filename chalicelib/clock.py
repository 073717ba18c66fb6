"""The service's time source: milliseconds since the epoch (one definition for every module)."""

from __future__ import annotations

import time


def now_ms() -> int:
    return int(time.time() * 1000)
