"""session.json: a restarted relay resumes only its own bot's session, and a damaged file means a fresh IDENTIFY."""

from __future__ import annotations

from pathlib import Path

from relay.gateway import SavedSession, SessionFile


def test_the_saved_session_is_resumed_only_with_the_same_token(tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    saved = SavedSession("abc", "wss://gateway-us-east1-b.discord.gg", 42)
    SessionFile(path, "token-a").save(saved)
    assert SessionFile(path, "token-a").load() == saved
    assert SessionFile(path, "token-b").load() is None
    assert "token-a" not in path.read_text()


def test_a_damaged_file_is_no_session(tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    for text in ("", "{", "[]", '{"session_id": "x"}'):
        path.write_text(text)
        assert SessionFile(path, "t").load() is None
