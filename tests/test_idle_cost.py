"""What an idle pass costs: with nothing new, a long-running engine writes nothing at all."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from syncd.config import load_settings
from syncd.engine import open_engine
from syncd.state import StateStore
from tests.support import Workspace


def _settle(folder: Path) -> None:
    """Date every event file back a minute, as the daemon's next pass finds them (a file
    written less than 2 s before a pass is read once more by the next one, to check it)."""
    past = datetime.now(UTC).timestamp() - 60
    for path in folder.glob("*.ics"):
        os.utime(path, (past, past))


def _state_files(state_dir: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime in ns) of the state database and its WAL: a commit changes one of them."""
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(state_dir.iterdir())}


def test_an_idle_vdir_pass_writes_nothing_to_the_state_or_the_folders(tmp_path: Path) -> None:
    """Once the engine has seen its own writes come back, a pass with nothing new commits no
    transaction (the unchanged cursor is not written again) and writes no file."""
    ws = Workspace(tmp_path)
    start = datetime.now(UTC) + timedelta(days=1)
    ws.put("a1", "Intro session", start)
    ws.put("m1", "Team meeting", start + timedelta(hours=2), client=("Colleague", "c@work.example"))
    settings = load_settings(ws.config)
    key = settings.coaches[0].key
    engine = open_engine(settings)
    try:
        engine.run_pass(datetime.now(UTC))
        assert len(ws.notes()) == 1
        _settle(ws.calendar)
        engine.run_pass(datetime.now(UTC))  # sees its own annotation come back
        state = _state_files(ws.root / "state")
        files = {
            p: p.stat().st_mtime_ns for p in ws.root.rglob("*") if p.is_file() and "state" not in p.parts
        }
        cursor = engine.state.cursor(key)
        engine.run_pass(datetime.now(UTC))
        engine.run_pass(datetime.now(UTC))
        assert _state_files(ws.root / "state") == state
        assert {p: p.stat().st_mtime_ns for p in files} == files
        assert cursor is not None and engine.state.cursor(key) == cursor
    finally:
        engine.close()


def test_a_changed_cursor_is_still_recorded_and_an_unchanged_one_commits_nothing(tmp_path: Path) -> None:
    """`set_cursor` skips only the value already stored: a new one, and forgetting one, are kept."""
    state = StateStore.in_dir(tmp_path / "state")
    try:
        state.set_cursor("ada", "token-1")
        before = _state_files(tmp_path / "state")
        state.set_cursor("ada", "token-1")
        assert _state_files(tmp_path / "state") == before
        state.set_cursor("ada", "token-2")
        assert state.cursor("ada") == "token-2"
        state.set_cursor("ada", None)
        assert state.cursor("ada") is None
    finally:
        state.close()
    reopened = StateStore.in_dir(tmp_path / "state")
    try:
        assert reopened.cursor("ada") is None
    finally:
        reopened.close()
