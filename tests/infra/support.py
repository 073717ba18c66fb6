"""Helpers for the packaging/deploy tests: a clean copy of the repository and an offline environment."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEAD_NETWORK_ENV = {
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "",
    "no_proxy": "",
    "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
}


def clean_copy(dest: Path) -> Path:
    """The repository as a fresh clone of this work tree would have it (uncommitted edits included): tracked
    and new files, nothing ignored (no .venv, .chalice/deployments, .chalice/deployed, out/)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def can_unshare_network() -> bool:
    """Whether commands can run in a network namespace of their own (no network at all, not even loopback)."""
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--net", "--", "true"], capture_output=True).returncode == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
