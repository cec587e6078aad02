"""A config change reaches upcoming and recent sessions, not years of history: time is handed
to the engine (`Engine.run_pass(now)`), as the daemon does each pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from syncd.config import load_settings
from syncd.engine import open_engine
from tests.support import Workspace

T0 = datetime.now(UTC).replace(microsecond=0)


def run_pass(ws: Workspace, now: datetime) -> None:
    engine = open_engine(load_settings(ws.config))
    try:
        report = engine.run_pass(now)
    finally:
        engine.close()
    assert not any(report.errors.values()), report


def set_reminder(ws: Workspace, old: str, new: str) -> None:
    text = ws.config.read_text()
    assert f"reminder: {old}" in text
    ws.config.write_text(text.replace(f"reminder: {old}", f"reminder: {new}"))


def test_a_new_reminder_is_written_into_recent_sessions_but_not_into_history(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.put("past", "Intro session", T0 + timedelta(hours=1))
    run_pass(ws, T0)
    run_pass(ws, T0 + timedelta(days=1))  # the session is over: its draft is queued
    assert len(ws.draft_files()) == 1 and "TRIGGER:-PT5M" in ws.event_text("past")

    set_reminder(ws, "5m", "10m")
    run_pass(ws, T0 + timedelta(days=10))  # ten days on, still recent: it follows the config
    assert "TRIGGER:-PT10M" in ws.event_text("past")
    run_pass(ws, T0 + timedelta(days=10, minutes=1))  # sees its own write come back

    set_reminder(ws, "10m", "15m")
    ws.put("later", "Intro session", T0 + timedelta(days=61))
    history = ws.calendar / "past.ics"
    before, stamp = history.read_bytes(), history.stat().st_mtime_ns
    run_pass(ws, T0 + timedelta(days=60))
    assert "TRIGGER:-PT15M" in ws.event_text("later")
    assert history.read_bytes() == before and history.stat().st_mtime_ns == stamp
    assert len(ws.notes()) == 2 and len(ws.draft_files()) == 1
