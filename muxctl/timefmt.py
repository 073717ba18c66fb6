"""Human rendering of the API's millisecond timestamps."""

from __future__ import annotations

import time


def when(ms: int | None) -> str:
    if not ms:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def until(ms: int | None) -> str:
    """`2026-01-01 12:00:00 (in 14 min)`."""
    if not ms:
        return "-"
    left = ms / 1000 - time.time()
    if left <= 0:
        return f"{when(ms)} (expired)"
    if left < 120:
        rel = f"in {int(left)} s"
    elif left < 7200:
        rel = f"in {int(left // 60)} min"
    else:
        rel = f"in {left / 3600:.1f} h"
    return f"{when(ms)} ({rel})"
