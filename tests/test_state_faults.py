"""Corrupt rows in the state: one clear line naming the row, the other bookings carry on, and
`syncd status` / `syncd doctor` show them and set them aside (kept, never deleted)."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd.config import load_settings
from syncd.engine import open_engine
from syncd.lifecycle import new_booking
from syncd.model import CalendarEvent, Client, Phase
from syncd.state import StateStore
from tests.support import Workspace

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
COACH = "ada@coach.example"


def booking(n: int):  # type: ignore[no-untyped-def]
    start = NOW + timedelta(hours=n)
    event = CalendarEvent(id=f"e{n}", summary="Intro", start=start, end=start + timedelta(minutes=30))
    made = new_booking(
        COACH, event, Client(name=f"Client {n}"), timedelta(minutes=15), NOW, timedelta(days=2)
    )
    assert made is not None
    return made


def corrupt(db: Path, booking_id: str, assignment: str) -> None:
    """Change one row behind syncd's back, as a bad disk, a downgrade or a hand edit would."""
    raw = sqlite3.connect(db)
    with raw:
        raw.execute(f"UPDATE bookings SET {assignment} WHERE id = ?", (booking_id,))
    raw.close()


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    state = StateStore.in_dir(tmp_path / "state")
    for n in range(1, 5):
        state.save(booking(n), NOW)
    db = state.path
    corrupt(db, f"{COACH}/e1", "client = CAST(x'7b226e616d65223a2022ff227d' AS TEXT)")  # bad UTF-8
    corrupt(db, f"{COACH}/e2", "phase = 'teleported'")
    corrupt(db, f"{COACH}/e3", "start = 'yesterday-ish'")
    return state


def test_bad_rows_are_skipped_and_the_good_ones_still_read(store: StateStore) -> None:
    """Bad UTF-8, an unknown phase and a bad timestamp each lose only their own row."""
    assert [b.id for b in store.bookings()] == [f"{COACH}/e4"]
    assert store.get(f"{COACH}/e4") is not None
    assert [b.id for b in store.bookings_to_check(COACH, NOW - timedelta(days=1))] == [f"{COACH}/e4"]
    assert [b.id for b in store.due_followups(COACH, NOW + timedelta(days=1))] == [f"{COACH}/e4"]
    assert store.get(f"{COACH}/e2") is None


def test_each_bad_row_is_named_once_per_process(store: StateStore, caplog: pytest.LogCaptureFixture) -> None:
    """One line per bad row naming its booking and problem, not one per pass."""
    with caplog.at_level(logging.ERROR, logger="syncd"):
        for _ in range(3):
            store.bookings()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert any(f"'{COACH}/e1'" in line and "not valid UTF-8" in line and "\\xff" in line for line in lines)
    assert any(f"'{COACH}/e2'" in line and "phase 'teleported'" in line for line in lines)
    assert any(f"'{COACH}/e3'" in line and "start 'yesterday-ish'" in line for line in lines)
    assert all("\n" not in line for line in lines)


def test_a_bad_booking_id_is_escaped_in_what_is_said(tmp_path: Path) -> None:
    state = StateStore.in_dir(tmp_path / "state")
    state.save(booking(1), NOW)
    corrupt(state.path, f"{COACH}/e1", "id = CAST(x'6164612f1b5b33316dff' AS TEXT)")
    assert state.bookings() == []
    [bad] = state.bad_rows()
    assert "\\xff" in bad.booking and "\x1b" not in bad.booking
    assert "not valid UTF-8" in bad.problem


def test_quarantine_keeps_the_rows_bytes_and_clears_them_from_bookings(store: StateStore) -> None:
    before = _raw_rows(store.path, "bookings", f"{COACH}/e1")
    moved = store.quarantine(NOW)
    assert sorted(b.booking for b in moved) == [f"{COACH}/e1", f"{COACH}/e2", f"{COACH}/e3"]
    assert store.bad_rows() == []
    assert store.quarantined() == 3
    after = _raw_rows(store.path, "quarantine", f"{COACH}/e1")
    assert after[0][:19] == before[0], "the quarantined row must hold exactly what was stored"


def test_a_bad_row_replaced_by_a_new_record_is_quarantined_not_overwritten(store: StateStore) -> None:
    """When the event comes again and the booking is recorded afresh, the unreadable row is set
    aside first: whatever was in it is still there to look at."""
    fresh = booking(2)
    store.save(fresh, NOW)
    assert store.get(fresh.id) == fresh
    assert store.quarantined() == 1
    assert "phase 'teleported'" in _raw_rows(store.path, "quarantine", fresh.id)[0][19].decode()


def _raw_rows(db: Path, table: str, booking_id: str) -> list[tuple[bytes, ...]]:
    raw = sqlite3.connect(db)
    raw.text_factory = bytes
    try:
        return raw.execute(f"SELECT * FROM {table} WHERE id = ?", (booking_id,)).fetchall()
    finally:
        raw.close()


# --- the real pipeline and command line ---------------------------------------------------------


def test_pass_with_a_corrupt_row_carries_on_and_tooling_shows_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bad row no longer fails every pass: the pass names it once, other bookings still get
    their notes; `status` counts it, `doctor` lists it and `doctor --quarantine` sets it aside."""
    ws = Workspace(tmp_path)
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    settled = ws.put("a1", "Intro session", soon)
    ws.run("once")
    os.utime(settled, (time.time() - 3600,) * 2)  # settled: not read again as a fresh change
    ws.run("once")
    corrupt(ws.root / "state" / "syncd.sqlite3", f"{COACH}/a1", "phase = 'teleported'")
    ws.put("a2", "Intro session", soon + timedelta(hours=2), client=("Sam Lee", "sam@x.example"))

    engine = open_engine(load_settings(ws.config))
    try:
        with caplog.at_level(logging.INFO, logger="syncd"):
            for _ in range(2):
                report = engine.run_pass(datetime.now(UTC))
    finally:
        engine.close()
    named = [r.getMessage() for r in caplog.records if f"'{COACH}/a1'" in r.getMessage()]
    assert len(named) == 1 and "phase 'teleported'" in named[0], named
    assert sum(report.errors.values()) == 0
    assert len(ws.notes()) == 2

    status = ws.run("status")
    assert "1 state record cannot be read" in status.stdout and "Sam Lee" in status.stdout
    listed = ws.run("doctor", check=False)
    assert listed.returncode == 1 and f"'{COACH}/a1'" in listed.stdout and "Traceback" not in listed.stderr
    assert ws.run("doctor", "--quarantine").returncode == 0
    assert "cannot be read" not in ws.run("status").stdout
    again = ws.run("doctor")
    assert "every booking record can be read" in again.stdout and "holds 1 record" in again.stdout
    state = StateStore.in_dir(ws.root / "state")
    try:
        assert [b.phase for b in state.bookings()] == [Phase.LINKED]
    finally:
        state.close()
