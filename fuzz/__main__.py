"""`python -m fuzz` (`make fuzz`): schemathesis against a local stack, then hypothesis over the webhook parser.

The stack is `python -m local --in-memory` with a fake Telegram and a fake OpenClaw on 127.0.0.1, one tenant
bootstrapped and one chat paired, so authenticated requests reach the real logic. Bounded by
`FUZZ_MAX_EXAMPLES` (per operation and variant, default 50) and `FUZZ_SECONDS` (default 300) for the API part.
Exit status 1 on any 5xx, off-contract error body, traceback in the stack's log, failed parser property, or
when `FUZZ_MIN_REQUESTS` (default 1000) requests were not reached.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from fuzz.api import Credentials, Report, run

ROOT = Path(__file__).resolve().parent.parent
PARSER_PROPERTIES = ROOT / "tests" / "unit" / "test_webhook_parser_fuzz.py"
ADMIN = "fuzz-admin-token-0123456789abcdef"
KEY = "fuzz-tenant-key-0123456789abcdefghijkl"
CHAT = 5300000001


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def fuzz_api(max_examples: int, seconds: int) -> tuple[Report, int]:
    from tests.fakes.openclaw_server import FakeOpenClaw
    from tests.fakes.telegram_server import FakeTelegram
    from tests.inbound_support import BOT_TOKEN, SECRET, private_update
    from tests.localstack import LocalStack, wait_until

    report = Report()
    with FakeTelegram() as tg, FakeOpenClaw() as openclaw:
        env = {
            "MUX_ADMIN_TOKEN": ADMIN,
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "MUX_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "MUX_TELEGRAM_API_BASE_URL": tg.url,
            "MUX_LOCAL_LOG_LEVEL": "WARNING",
        }
        with LocalStack(env, args=["--in-memory"]) as stack:
            tenant = {"Authorization": f"Bearer {KEY}"}
            boot = requests.post(
                f"{stack.url}/v1/admin/tenants/bootstrap",
                json={"tenantId": "fuzz", "apiKey": KEY, "inboundUrl": openclaw.url},
                headers={"Authorization": f"Bearer {ADMIN}"},
                timeout=10,
            )
            boot.raise_for_status()
            token = requests.post(
                f"{stack.url}/v1/pairings/token", json={"channel": "telegram"}, headers=tenant, timeout=10
            ).json()
            requests.post(
                f"{stack.url}/v1/webhooks/telegram",
                json=private_update(CHAT, token["startCommand"]),
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                timeout=10,
            ).raise_for_status()
            wait_until(
                lambda: requests.get(f"{stack.url}/v1/pairings", headers=tenant, timeout=10).json()["items"],
                30,
                "the fuzz chat to be paired",
            )
            log_start = len(stack.output())
            run(
                stack.url,
                Credentials(admin_token=ADMIN, tenant_key=KEY, webhook_secret=SECRET),
                max_examples=max_examples,
                deadline=time.monotonic() + seconds,
                report=report,
            )
            tracebacks = stack.output()[log_start:].count("Traceback (most recent call last)")
    return report, tracebacks


def fuzz_parser() -> int:
    """Run the hypothesis properties of the Telegram webhook parser (tests/unit), with statistics."""
    if not PARSER_PROPERTIES.exists():
        print(f"webhook parser properties: {PARSER_PROPERTIES.relative_to(ROOT)} not present, skipped")
        return 0
    command = [sys.executable, "-m", "pytest", str(PARSER_PROPERTIES), "-q", "--hypothesis-show-statistics"]
    print("webhook parser properties:", " ".join(command[2:]), flush=True)
    return subprocess.run(command, cwd=ROOT, check=False).returncode


def main() -> int:
    max_examples = _int_env("FUZZ_MAX_EXAMPLES", 50)
    seconds = _int_env("FUZZ_SECONDS", 300)
    minimum = _int_env("FUZZ_MIN_REQUESTS", 1000)
    started = time.monotonic()
    report, tracebacks = fuzz_api(max_examples, seconds)
    elapsed = time.monotonic() - started
    print(f"schemathesis: {report.requests} requests in {elapsed:.0f} s "
          f"(≤ {max_examples} examples per operation and variant, budget {seconds} s"
          f"{', budget used up' if report.out_of_time else ''})")
    for variant, count in sorted(report.per_variant.items()):
        print(f"  {variant:32} {count:6}")
    print("  statuses: " + ", ".join(f"{s}×{n}" for s, n in sorted(report.statuses.items())))
    print(f"  5xx or off-contract answers: {report.problem_count}; tracebacks in the stack's log: {tracebacks}")
    for problem in report.problems:
        print("  - " + problem)
    failed = report.problem_count > 0 or tracebacks > 0
    if report.requests < minimum:
        print(f"  fewer than FUZZ_MIN_REQUESTS={minimum} requests were made")
        failed = True
    parser_rc = fuzz_parser()
    failed = failed or parser_rc != 0
    print("fuzz: FAILED" if failed else "fuzz: OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
