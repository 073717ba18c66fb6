"""Build the deployable SAM template: `chalice package` merged with infra/resources.json, then cfn-lint.

    python -m infra.package --stage dev --out out/dev        # what `make package STAGE=dev` runs

The merge template is `infra/resources.json`, deep-merged first with `infra/stages/<stage>.json` when
that file exists (per-stage additions such as the prod secrets' dynamic references). The merge follows
Chalice's own rules: objects merge key by key, anything else (lists, strings, intrinsics) is replaced.
Packaging runs offline: a region is set, AWS credentials/profiles are removed from the child
environment (`chalice package` needs neither), and pip, which Chalice runs for the Lambda wheels, is
confined to the wheel cache `make venv` fetched (infra/wheels.py). Failures are one line saying what to
do; Chalice's own output is kept in `<out>/chalice-package.log`.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from infra import wheels

ROOT = Path(__file__).resolve().parent.parent
BASE_TEMPLATE = ROOT / "infra" / "resources.json"
STAGE_DIR = ROOT / "infra" / "stages"
CREDENTIAL_VARS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
)


def deep_merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = deep_merge(base[key], value) if key in base else value
        return out
    return patch


def merge_template(stage: str) -> dict[str, Any]:
    template: dict[str, Any] = json.loads(BASE_TEMPLATE.read_text(encoding="utf-8"))
    overlay = STAGE_DIR / f"{stage}.json"
    if overlay.exists():
        template = deep_merge(template, json.loads(overlay.read_text(encoding="utf-8")))
    return template


def _tool(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


class PackagingError(RuntimeError):
    """Packaging failed; the message is one sentence that says what to do."""


# Chalice's exception (last traceback line) → what the operator should do about it.
_CHALICE_ERRORS = {
    "NoSuchPackageError": "a Lambda wheel is missing from {cache} ({detail}): " + wheels.FIX,
    "MissingDependencyError": "no Lambda-compatible wheel in {cache} for {detail}: " + wheels.FIX,
    "PackageDownloadError": "pip could not read the Lambda wheels from {cache}: " + wheels.FIX,
}


def package(stage: str, out: Path, *, lint: bool = True, cache: Path = wheels.CACHE) -> Path:
    """Write `<out>/sam.json` and `<out>/deployment.zip`; return the sam.json path."""
    try:
        wheels.check(cache)
    except wheels.WheelCacheError as exc:
        raise PackagingError(str(exc)) from None
    _refuse_chalice_deploy_stage(stage)
    env = wheels.offline_pip_env({k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARS}, cache)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # Chalice builds a boto3 client for the region; without credentials botocore would then ask the EC2
    # metadata endpoint, which behind a proxy or offline is an error or a wait, never an answer we need.
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    out.mkdir(parents=True, exist_ok=True)
    log = out / "chalice-package.log"
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix=f"merge-{stage}-", delete=False) as handle:
        json.dump(merge_template(stage), handle, indent=2)
        merge_path = Path(handle.name)
    try:
        result = subprocess.run(
            [_tool("chalice"), "package", "--stage", stage, "--merge-template", str(merge_path), str(out)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
    finally:
        merge_path.unlink(missing_ok=True)
    log.write_text(result.stdout + result.stderr, encoding="utf-8")
    if result.returncode != 0:
        raise PackagingError(_explain(result.stdout + result.stderr, cache, log))
    sam = out / "sam.json"
    precompile(out / "deployment.zip", json.loads(sam.read_text(encoding="utf-8")))
    if lint:
        linted = subprocess.run([_tool("cfn-lint"), str(sam)], cwd=ROOT, env=env, capture_output=True, text=True)
        if linted.returncode != 0:
            print(linted.stdout + linted.stderr, file=sys.stderr)
            raise PackagingError(f"cfn-lint found problems in {sam} (listed above)")
    return sam


def _refuse_chalice_deploy_stage(stage: str) -> None:
    """A stage `make infra` set up for `chalice deploy` gives the functions that stack's role; this
    template would then attach its policy to roles that do not exist, and create a second table."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    if config.get("stages", {}).get(stage, {}).get("manage_iam_role") is False:
        raise PackagingError(
            f"stage {stage} is set up for `chalice deploy` (`make infra` wrote its role and resource names into "
            ".chalice/config.json): deploy it with `chalice deploy`, or package a stage without those settings"
        )


def _explain(output: str, cache: Path, log: Path) -> str:
    """One line for a failed `chalice package`: the known failures with their fix, else Chalice's last line."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "no output"
    name, _, detail = last.partition(": ")
    template = _CHALICE_ERRORS.get(name.rsplit(".", 1)[-1])
    if template is not None:
        detail = detail.removeprefix("Could not satisfy the requirement: ")
        return template.format(cache=wheels.display(cache), detail=detail)
    return f"chalice package failed: {last} (full output in {wheels.display(log)})"


def precompile(zip_path: Path, template: dict[str, Any]) -> bool:
    """Add bytecode to the deployment zip (cold start: Lambda's file system is read-only, so a zip without
    `.pyc` files compiles every module at each cold start). Unchecked-hash pycs never look at source
    timestamps. Only done when the functions' runtime is this interpreter's version (bytecode is
    version-specific); otherwise the zip is left as Chalice wrote it."""
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    runtimes = {
        r.get("Properties", {}).get("Runtime")
        for r in template.get("Resources", {}).values()
        if r.get("Type") == "AWS::Serverless::Function"
    }
    if runtimes != {runtime}:
        print(f"not precompiling: functions run {sorted(map(str, runtimes))}, this is {runtime}")
        return False
    with tempfile.TemporaryDirectory(prefix="mux-zip-") as tmp:
        tree = Path(tmp) / "tree"
        with zipfile.ZipFile(zip_path) as source:
            source.extractall(tree)
        compileall.compile_dir(
            str(tree), quiet=1, ddir="/var/task", invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
        )
        rebuilt = Path(tmp) / "deployment.zip"
        with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as target:
            for path in sorted(tree.rglob("*")):
                if path.is_file():
                    info = zipfile.ZipInfo(str(path.relative_to(tree)), date_time=(1980, 1, 1, 0, 0, 0))
                    info.external_attr = 0o644 << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    target.writestr(info, path.read_bytes())
        shutil.move(str(rebuilt), zip_path)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default out/<stage>)")
    parser.add_argument("--no-lint", action="store_true")
    parser.add_argument("--wheel-cache", type=Path, default=wheels.CACHE, help="default .venv/lambda-wheels")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else ROOT / "out" / args.stage
    try:
        sam = package(args.stage, out.resolve(), lint=not args.no_lint, cache=args.wheel_cache.resolve())
    except PackagingError as exc:
        print(f"packaging failed: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {sam} and {sam.parent / 'deployment.zip'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
