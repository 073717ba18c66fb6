"""docs/reference.md's route table is the API's own GET /openapi.json, and the README points at that reference."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_route_table_matches_the_openapi_document() -> None:
    gen = generator()
    document = gen.openapi_document()
    text = gen.REFERENCE.read_text(encoding="utf-8")
    assert gen.render(text, gen.route_table(document)) == text, (
        "docs/reference.md's route table drifted from GET /openapi.json: run `python docs/gen_reference.py`"
    )
    # Every documented operation is a row (the table is not just equal to itself).
    rows = {line.split(" | ")[1].strip("`") for line in text.splitlines() if line.startswith("| ") and "`/" in line}
    assert rows == set(document["paths"])


def test_the_route_table_detects_drift() -> None:
    gen = generator()
    document = gen.openapi_document()
    document["paths"]["/v1/new-route"] = {"get": {"summary": "New", "security": [], "responses": {"200": {}}}}
    text = gen.REFERENCE.read_text(encoding="utf-8")
    assert gen.render(text, gen.route_table(document)) != text


def test_readme_cites_the_projects_own_reference() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/reference.md" in readme
    assert "CONTRACT.md" not in readme and "CONTRACT §" not in readme, "the contract is not in this repository"
