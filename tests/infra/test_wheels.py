"""The Lambda wheel cache: what it is built for, and the one-line errors when it does not fit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra import package, wheels
from tests.infra.support import ROOT


def _config(tmp_path: Path, **stages: dict) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"version": "2.0", "app_name": "x", "stages": stages}))
    return path


def test_architectures_cover_every_stage_and_default_to_x86_64(tmp_path):
    assert wheels.architectures(_config(tmp_path, dev={})) == ["x86_64"]
    both = _config(tmp_path, dev={}, prod={"lambda_architecture": "arm64"})
    assert wheels.architectures(both) == ["arm64", "x86_64"]
    with pytest.raises(wheels.WheelCacheError, match="unknown lambda_architecture"):
        wheels.architectures(_config(tmp_path, dev={"lambda_architecture": "sparc"}))


def test_platforms_are_the_ones_lambda_runs():
    tags = wheels.platforms("arm64", (3, 11))
    assert tags[0] == "manylinux_2_17_aarch64" and tags[-2] == "manylinux_2_26_aarch64"  # Amazon Linux 2
    assert tags[-1] == "manylinux2014_aarch64"
    assert wheels.platforms("x86_64", (3, 12))[-2] == "manylinux_2_34_x86_64"  # AL2023


def test_check_names_the_fix_for_a_missing_or_stale_cache(tmp_path):
    with pytest.raises(wheels.WheelCacheError, match=r"is missing: run `make venv`"):
        wheels.check(tmp_path / "none")
    (tmp_path / wheels.MANIFEST).write_text(
        json.dumps({**wheels.expected_manifest(), "requirements_sha256": "0" * 64})
    )
    with pytest.raises(wheels.WheelCacheError, match=r"out of date \(requirements.txt changed\): run `make venv`"):
        wheels.check(tmp_path)


def test_the_venv_cache_is_current():
    """`make venv` fetched it (every `make` target that needs the venv does); packaging relies on it."""
    wheels.check()
    names = {p.name.split("-")[0].lower() for p in wheels.CACHE.glob("*.whl")}
    assert {"pydantic", "pydantic_core", "requests", "aws_lambda_powertools"} <= names


def test_pip_in_packaging_sees_only_the_cache():
    env = wheels.offline_pip_env({"PIP_EXTRA_INDEX_URL": "https://example.invalid", "PATH": "/bin"}, Path("/c"))
    assert env["PIP_NO_INDEX"] == "1" and env["PIP_FIND_LINKS"] == "/c" and "PIP_EXTRA_INDEX_URL" not in env
    assert env["PATH"] == "/bin"


def test_packaging_without_the_cache_fails_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "infra.package", "--stage", "dev", "--out", str(tmp_path / "out"),
         "--wheel-cache", str(tmp_path / "no-cache")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"packaging failed: the Lambda wheel cache {tmp_path / 'no-cache'} is missing: {wheels.FIX}"
    ]


def test_chalice_tracebacks_become_one_line_with_the_fix(tmp_path):
    traceback = (
        "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
        "chalice.deploy.packager.NoSuchPackageError: Could not satisfy the requirement: pydantic==2.14.4\n"
    )
    message = package._explain(traceback, tmp_path, tmp_path / "log")
    assert message == f"a Lambda wheel is missing from {tmp_path} (pydantic==2.14.4): {wheels.FIX}"
    other = package._explain("Traceback...\nValueError: boom\n", tmp_path, tmp_path / "chalice-package.log")
    assert other == f"chalice package failed: ValueError: boom (full output in {tmp_path / 'chalice-package.log'})"


def test_clear_starts_a_fresh_or_an_existing_cache_empty(tmp_path):
    fresh = tmp_path / "fresh" / "lambda-wheels"
    wheels.clear(fresh)  # a new venv has no cache directory yet
    assert fresh.is_dir() and list(fresh.iterdir()) == []
    (fresh / "old-1.0-py3-none-any.whl").write_text("")
    (fresh / wheels.MANIFEST).write_text("{}")
    (fresh / "keep.txt").write_text("")
    wheels.clear(fresh)
    assert [p.name for p in fresh.iterdir()] == ["keep.txt"]
