"""`python -m local` (`make run`): the whole service on this machine, configured by env vars only.

Runs until Ctrl-C or SIGTERM, then stops the poller, the HTTP server and moto, and exits 0.
Exit status 2: the stack could not start (the message says why).

The embedded AWS state (tenants, keys, bindings, queued messages) is kept in `.local-state/` of the
project unless told otherwise: `--state-dir DIR` keeps it elsewhere, `--fresh` (`make run-fresh`) starts
empty, `--in-memory` writes nothing (everything is gone when the process ends).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from local.stack import DEFAULT_STATE_DIR, LocalStack, StackError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local", description="The openclaw-mux local stack.")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="where the embedded AWS state is kept across restarts (default: %(default)s)",
    )
    parser.add_argument("--fresh", action="store_true", help="delete the saved state first and start empty")
    parser.add_argument("--in-memory", action="store_true", help="keep no state on disk (lost on exit)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    level = os.environ.get("MUX_LOCAL_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("werkzeug", "botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    stack = LocalStack(state_dir=None if args.in_memory else args.state_dir, fresh=args.fresh)
    try:
        stack.start()
    except StackError as exc:
        print(f"local stack: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        print(stack.describe(), flush=True)
        while not stop.wait(0.5):
            pass
        print("stopping…", flush=True)
    finally:
        stack.stop()
    print(stack.state_summary(), flush=True)
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is stopped and closed by now; skip interpreter teardown, which takes seconds with
    # moto's module graph loaded.
    os._exit(code)
