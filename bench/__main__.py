"""Run every benchmark and print its table: `python -m bench` (what `make bench` runs)."""

from __future__ import annotations

import importlib
import sys

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
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
