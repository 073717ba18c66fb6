"""The Lambda wheel cache: fetched by `make venv` so that packaging afterwards needs no network.

    python -m infra.wheels --if-stale     # what `make venv` runs: (re)fill .venv/lambda-wheels when needed
    python -m infra.wheels --check        # is the cache what packaging needs?

`chalice package` builds the functions' dependencies with pip: first `pip download -r requirements.txt`
for this machine (to learn the dependency closure), then, for each package whose wheel does not run on
Lambda, `pip download --only-binary=:all: --platform manylinux… --abi cp3XX`. Both passes are served from
this cache: it holds this machine's wheels and Lambda's (every architecture `.chalice/config.json`
declares, the Python version Chalice targets, which is this interpreter's), and packaging runs pip with
`PIP_NO_INDEX=1 PIP_FIND_LINKS=<cache>` and no pip config files (pip reads those variables in the
subprocess Chalice starts). A manifest records what the cache was built for, so a changed
requirements.txt or architecture is caught before Chalice runs, with the command that fixes it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements.txt"
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"
CACHE = ROOT / ".venv" / "lambda-wheels"
MANIFEST = "manifest.json"
FIX = "run `make venv` (it fetches them; needs the network once)"
# Lambda's architecture names → the machine part of wheel tags (as Chalice maps them).
MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}
# glibc of the Lambda runtimes (Chalice's table): Python 3.10/3.11 run on Amazon Linux 2, 3.12+ on AL2023.
RUNTIME_GLIBC_MINOR = {(3, 10): 26, (3, 11): 26}
DEFAULT_GLIBC_MINOR = 34


class WheelCacheError(RuntimeError):
    """The cache is missing or was built for other requirements, architectures or Python."""


def python_version() -> tuple[int, int]:
    """The Python version Chalice packages for: the interpreter running it."""
    return sys.version_info.major, sys.version_info.minor


def architectures(config_path: Path = CHALICE_CONFIG) -> list[str]:
    """Every `lambda_architecture` the Chalice config uses (top level and stages; Chalice's default x86_64)."""
    config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8"))
    found = {str(config.get("lambda_architecture", "x86_64"))}
    for stage in config.get("stages", {}).values():
        found.add(str(stage.get("lambda_architecture", config.get("lambda_architecture", "x86_64"))))
        for function in stage.get("lambda_functions", {}).values():
            if "lambda_architecture" in function:
                found.add(str(function["lambda_architecture"]))
    unknown = found - set(MACHINES)
    if unknown:
        raise WheelCacheError(f"unknown lambda_architecture {sorted(unknown)} in {config_path.name}")
    return sorted(found)


def platforms(architecture: str, version: tuple[int, int]) -> list[str]:
    """The wheel platform tags Lambda accepts, as Chalice asks pip for them (pip takes each tag literally)."""
    machine = MACHINES[architecture]
    top = RUNTIME_GLIBC_MINOR.get(version, DEFAULT_GLIBC_MINOR)
    return [f"manylinux_2_{minor}_{machine}" for minor in range(17, top + 1)] + [f"manylinux2014_{machine}"]


def expected_manifest(requirements: Path = REQUIREMENTS, config_path: Path = CHALICE_CONFIG) -> dict[str, Any]:
    major, minor = python_version()
    return {
        "requirements_sha256": hashlib.sha256(requirements.read_bytes()).hexdigest(),
        "architectures": architectures(config_path),
        "python": f"{major}.{minor}",
    }


def check(cache: Path = CACHE, requirements: Path = REQUIREMENTS, config_path: Path = CHALICE_CONFIG) -> None:
    """Raise WheelCacheError (one sentence naming the fix) unless the cache matches what packaging needs."""
    manifest_path = cache / MANIFEST
    if not manifest_path.exists():
        raise WheelCacheError(f"the Lambda wheel cache {display(cache)} is missing: {FIX}")
    try:
        recorded = json.loads(manifest_path.read_text(encoding="utf-8"))
    except ValueError:
        recorded = {}
    expected = expected_manifest(requirements, config_path)
    changed = [key for key, value in expected.items() if recorded.get(key) != value]
    if changed:
        what = ", ".join("requirements.txt" if key == "requirements_sha256" else key for key in changed)
        raise WheelCacheError(f"the Lambda wheel cache {display(cache)} is out of date ({what} changed): {FIX}")


def offline_pip_env(env: dict[str, str], cache: Path = CACHE) -> dict[str, str]:
    """`env` with pip confined to the cache: no index, no machine or user pip config, no other find-links."""
    out = {key: value for key, value in env.items() if not key.startswith("PIP_")}
    out.update(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(cache),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
        }
    )
    return out


def fetch(cache: Path = CACHE, requirements: Path = REQUIREMENTS, config_path: Path = CHALICE_CONFIG) -> Path:
    """Download this machine's and Lambda's wheels for `requirements` (transitive ones too) into `cache`."""
    clear(cache)
    major, minor = python_version()
    pip = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--progress-bar", "off"]
    for architecture in architectures(config_path):
        tags = [arg for tag in platforms(architecture, (major, minor)) for arg in ("--platform", tag)]
        print(f"fetching Lambda wheels ({architecture}, Python {major}.{minor}) into {display(cache)}", flush=True)
        _pip(
            [*pip, "--only-binary=:all:", *tags, "--implementation", "cp", "--python-version", f"{major}.{minor}",
             "--abi", f"cp{major}{minor}", "-d", str(cache), "-r", str(requirements)]
        )
    # Chalice's first pass resolves the closure for this machine; serve it from the cache as well.
    _pip([*pip, "-d", str(cache), "-r", str(requirements)])
    manifest = expected_manifest(requirements, config_path)
    (cache / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return cache


def clear(cache: Path) -> None:
    """Empty (or create) the cache: a wheel left from older requirements could win an unpinned transitive
    dependency, and a manifest must never outlive the wheels it describes."""
    cache.mkdir(parents=True, exist_ok=True)
    for stale in [cache / MANIFEST, *cache.glob("*.whl"), *cache.glob("*.tar.gz")]:
        stale.unlink(missing_ok=True)


def _pip(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise WheelCacheError(f"pip could not fetch the Lambda wheels: {tail}")


def display(path: Path) -> str:
    """`path` relative to the repository when inside it (shorter messages)."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--check", action="store_true", help="only check that the cache is up to date")
    parser.add_argument("--if-stale", action="store_true", help="fetch only when the check fails")
    args = parser.parse_args(argv)
    try:
        if args.check or args.if_stale:
            try:
                check(args.cache)
            except WheelCacheError:
                if not args.if_stale:
                    raise
            else:
                if args.check:
                    print(f"{display(args.cache)} is up to date")
                return 0
        fetch(args.cache)
        print(f"wrote {display(args.cache)} ({sum(1 for _ in args.cache.glob('*.whl'))} wheels)")
    except WheelCacheError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
