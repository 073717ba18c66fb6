"""The README's settings table lists exactly the variables the settings object reads."""

from __future__ import annotations

import re
from pathlib import Path

from chalicelib.config import Settings, env_var_names

README = Path(__file__).resolve().parents[2] / "README.md"


def _settings_table() -> dict[str, str]:
    text = README.read_text()
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"^\| `([A-Z0-9_]+)` \| ([^|]+) \|", line)
        if match:
            rows[match.group(1)] = match.group(2).strip()
    return rows


def test_settings_table_matches_the_settings_object() -> None:
    assert sorted(_settings_table()) == sorted(env_var_names())


def test_numeric_defaults_in_the_table_are_the_real_ones() -> None:
    table = _settings_table()
    for field in Settings.model_fields.values():
        if isinstance(field.default, int) and not isinstance(field.default, bool):
            assert table[str(field.alias)].startswith(f"`{field.default}`"), field.alias


def test_readme_shows_the_two_commands() -> None:
    text = README.read_text()
    assert "make run" in text and "make test" in text
