"""Run OpenClaw's real runtime-JWT client and handler (fork at 714b97af4) against the local stack (not collected).

    .venv/bin/python -m tests.peer.openclaw714_live [/work/peer/openclaw-714]

Needs that tree with node_modules and Node ≥ 22 on PATH; copies tests/peer/mux-714-live.test.ts into its
src/gateway/, runs it with the tree's vitest, and prints what the fake Telegram received.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import BOT_TOKEN, SECRET
from tests.localstack import LocalStack

HERE = Path(__file__).resolve().parent


def main() -> int:
    tree = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/peer/openclaw-714")
    target = tree / "src" / "gateway" / "d1-mux-714-live.test.ts"
    shutil.copy(HERE / "mux-714-live.test.ts", target)
    env = {"MUX_ADMIN_TOKEN": "live-admin-token-0123456789", "MUX_REGISTER_KEY": "live-register-key-0123456789",
           "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "MUX_TELEGRAM_WEBHOOK_SECRET": SECRET}
    try:
        with FakeTelegram() as tg, LocalStack({**env, "MUX_TELEGRAM_API_BASE_URL": tg.url}) as stack:
            run_env = {
                **os.environ, "D1_MUX_URL": stack.url, "D1_ADMIN": env["MUX_ADMIN_TOKEN"],
                "D1_REGISTER_KEY": env["MUX_REGISTER_KEY"], "D1_TG_SECRET": SECRET,
                "D1_OPENCLAW_ID": "7e" * 32, "D1_CHAT": "5200000001",
            }
            rc = subprocess.run(
                ["./node_modules/.bin/vitest", "run", str(target.relative_to(tree))], cwd=tree, env=run_env,
                check=False,
            ).returncode
            print("fake Telegram sendMessage texts:", [b.get("text") for b in tg.bodies("sendMessage")])
            print("fake Telegram sendChatAction:", [b.get("action") for b in tg.bodies("sendChatAction")])
            return rc
    finally:
        target.unlink(missing_ok=True)


if __name__ == "__main__":
    raise SystemExit(main())
