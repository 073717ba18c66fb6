"""`python -m relay`: start the Discord gateway relay configured by environment variables (README)."""

from __future__ import annotations

import asyncio
import logging
import sys

from relay import config, service


def main() -> int:
    try:
        settings = config.load()
    except config.ConfigError as exc:
        print(f"relay: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    # discord.py's DEBUG/INFO lines can include raw frames; keep them out unless asked for explicitly.
    logging.getLogger("discord").setLevel(max(logging.INFO, logging.getLevelName(settings.log_level)))
    # The relay never joins voice channels; discord.py's start-up warnings about voice libraries are noise here.
    logging.getLogger("discord.client").addFilter(lambda rec: "voice will NOT be supported" not in rec.getMessage())
    return asyncio.run(service.serve(settings))


if __name__ == "__main__":
    sys.exit(main())
