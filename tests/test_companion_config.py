"""`link_placement: companion` in the config, and the pass refusing it for a calendar that
cannot keep companion events (one line, no traceback, the booked event left alone)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd.calendars.memory import MemoryCalendar
from syncd.drafts.memory import MemoryDrafts
from syncd.model import Attendee, CalendarEvent
from syncd.notes.memory import MemoryNotes
from tests.memory_engine import COACH, memory_engine
from tests.support import Workspace


def test_check_config_takes_companion_for_a_vdir_calendar(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, link_placement="companion")
    assert ws.run("check-config").returncode == 0


def test_a_misspelt_placement_names_companion_among_the_choices(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, link_placement="companions")
    result = ws.run("check-config", check=False)
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert "coaches[0].calendar.link_placement" in line and "'companion'" in line
    assert result.returncode == 2 and "Traceback" not in result.stderr


class EventsOnlyCalendar(MemoryCalendar):
    """A calendar source that keeps no companion events (as a future backend might not)."""

    put_companion = None  # type: ignore[assignment]
    drop_companion = None  # type: ignore[assignment]


def test_a_calendar_without_companions_is_one_error_line_and_nothing_is_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calendar, notes = EventsOnlyCalendar([COACH]), MemoryNotes()
    start = datetime(2030, 3, 4, 10, 0, tzinfo=UTC)
    calendar.put(
        CalendarEvent(
            id="intro-1",
            summary="Intro session",
            start=start,
            end=start + timedelta(minutes=30),
            organizer=COACH,
            attendees=(Attendee("jane@client.example", "Jane Client"),),
        )
    )
    booked = calendar.get("intro-1")
    engine = memory_engine(tmp_path, calendar, notes, MemoryDrafts(), link_placement="companion", delay=None)
    caplog.set_level(logging.ERROR, logger="syncd")
    report = engine.run_pass(start - timedelta(hours=2))
    engine.close()
    assert report.errors[COACH] == 1 and notes.texts == {} and calendar.get("intro-1") == booked
    [record] = caplog.records
    assert "cannot keep companion events" in record.getMessage() and "\n" not in record.getMessage()
