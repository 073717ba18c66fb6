"""Run every benchmark and print its table: `python -m bench` (what `make bench` runs)."""

from __future__ import annotations

import importlib
import sys
import time

SUITES = ["bench.inbound", "bench.outbound", "bench.recovery"]


def main() -> int:
    for name in SUITES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            print(f"({name} not present)")
            continue
        # Progress on stderr: a suite sets up thousands of tenants and runs for a while before its table.
        print(f"{name}: running…", file=sys.stderr, flush=True)
        started = time.monotonic()
        module.main()
        print(f"{name}: done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
