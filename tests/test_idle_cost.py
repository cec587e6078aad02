"""What an idle pass costs: with nothing new, a long-running engine writes nothing at all."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from syncd.calendars.memory import MemoryCalendar
from syncd.calendars.vdir import VdirCalendar
from syncd.config import Settings, load_settings
from syncd.drafts.memory import MemoryDrafts
from syncd.engine import Engine, coach_parts, open_engine
from syncd.errors import Unavailable
from syncd.lifecycle import Booking
from syncd.linkblock import find_note_url
from syncd.model import Attendee, CalendarEvent
from syncd.notes.memory import MemoryNotes
from syncd.state import StateStore
from tests.support import COACH, Workspace


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


class CountingState(StateStore):
    """The real state store, counting the booking reads a pass makes to look for unfinished work."""

    scans = 0
    gets = 0

    def bookings_to_check(self, coach: str, since: datetime) -> list[Booking]:
        self.scans += 1
        return super().bookings_to_check(coach, since)

    def get(self, booking_id: str) -> Booking | None:
        self.gets += 1
        return super().get(booking_id)


def test_a_daemon_checks_every_booking_once_then_only_what_changed_or_is_unfinished(tmp_path: Path) -> None:
    """The first pass of a process checks every recent booking for unfinished work (a crash
    may have left one); later passes check only the bookings recorded since, and those still
    unfinished (a note store down for two passes): an idle pass reads no booking at all."""
    for folder in ("calendar", "notes", "drafts"):
        (tmp_path / folder).mkdir()
    coach = {
        "name": "Ada Coach",
        "email": COACH,
        "timezone": "Europe/Berlin",
        "pricing_url": "https://ada.example/pricing",
        "calendar": {"type": "vdir", "path": str(tmp_path / "calendar")},
        "notes": {"type": "markdown", "path": str(tmp_path / "notes")},
        "drafts": {"type": "maildir", "path": str(tmp_path / "drafts"), "delay": "15m"},
    }
    settings = Settings(state_dir=tmp_path / "state", coaches=[coach])
    calendar, notes, drafts = MemoryCalendar([COACH]), MemoryNotes(), MemoryDrafts()
    state = CountingState.in_dir(settings.state_dir)
    assert isinstance(state, CountingState)
    engine = Engine(
        settings,
        state,
        lambda config, s: coach_parts(config, s, source=calendar, notes=notes, drafts=drafts),
    )
    now = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
    for n in range(3):
        start = now + timedelta(days=n + 1)
        calendar.put(
            CalendarEvent(
                id=f"intro-{n}",
                summary="Intro session",
                start=start,
                end=start + timedelta(minutes=30),
                organizer=COACH,
                attendees=(Attendee(f"client{n}@client.example", f"Client {n}", response="accepted"),),
            )
        )
    try:
        notes.fail_with(Unavailable("notes: the store is down"))
        engine.run_pass(now)
        assert state.scans == 1 and len(notes.texts) == 2
        notes.fail_with(Unavailable("notes: the store is still down"))
        engine.run_pass(now + timedelta(minutes=1))
        assert state.scans == 1 and len(notes.texts) == 2  # retried, failed again
        engine.run_pass(now + timedelta(minutes=2))
        assert len(notes.texts) == 3  # the unfinished one, checked again until it is done
        engine.run_pass(now + timedelta(minutes=3))  # checks what the last pass recorded
        gets = state.gets
        engine.run_pass(now + timedelta(minutes=4))
        assert (state.scans, state.gets) == (1, gets)
        assert all(find_note_url(e.description) for e in calendar.changes(None, now).events)
    finally:
        engine.close()


def test_an_unchanged_vdir_folder_gives_back_its_cursor_and_a_touched_file_is_read_again(
    tmp_path: Path,
) -> None:
    """With nothing changed, `changes` returns the very cursor it was given (nothing to
    record); a file whose stat changed since, even by its mtime alone, is read and reported."""
    ws = Workspace(tmp_path)
    start = datetime.now(UTC) + timedelta(days=1)
    ws.put("a1", "Intro session", start)
    ws.put("a2", "Intro session", start + timedelta(hours=3), client=("Sam Lee", "sam@x.example"))
    _settle(ws.calendar)
    calendar = VdirCalendar(ws.calendar, coach_addresses=[COACH])
    since = datetime.now(UTC) - timedelta(days=2)
    first = calendar.changes(None, since)
    assert sorted(e.id for e in first.events) == ["a1", "a2"]
    again = calendar.changes(first.cursor, since)
    assert again.events == [] and again.cursor == first.cursor
    past = datetime.now(UTC).timestamp() - 30
    os.utime(ws.calendar / "a2.ics", (past, past))
    touched = calendar.changes(again.cursor, since)
    assert [e.id for e in touched.events] == ["a2"] and touched.cursor != first.cursor
    assert calendar.changes(touched.cursor, since).cursor == touched.cursor
