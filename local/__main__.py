"""`python -m local` (`make run`): the whole service on this machine, configured by env vars only.

Runs until Ctrl-C or SIGTERM, then stops the poller, the HTTP server and moto, and exits 0.
Exit status 2: the stack could not start (the message says why).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any

from local.stack import LocalStack, StackError


def main() -> int:
    level = os.environ.get("MUX_LOCAL_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("werkzeug", "botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    stack = LocalStack()
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
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is stopped and closed by now; skip interpreter teardown, which takes seconds with
    # moto's module graph loaded.
    os._exit(code)
