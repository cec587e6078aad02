"""The engine's pass on the in-memory backends, with a fixed clock: what a booking goes
through, pass after pass, without files, processes or waiting for real time to pass."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd.calendars.memory import MemoryCalendar
from syncd.drafts.memory import MemoryDrafts
from syncd.engine import Engine, PassReport
from syncd.errors import Unavailable
from syncd.linkblock import BEGIN, find_note_url
from syncd.model import Attendee, CalendarEvent
from syncd.notes.memory import MemoryNotes
from tests.draft_contract import parse
from tests.memory_engine import COACH, memory_engine

CLIENT = "jane@client.example"
NOW = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)  # the fixed clock every pass starts from
WAITING = "Follow-up: draft waiting"


@dataclass
class Desk:
    """One coach's in-memory calendar, notes and drafts, and the engine passes over them."""

    engine: Engine
    calendar: MemoryCalendar
    notes: MemoryNotes
    drafts: MemoryDrafts

    def book(self, event_id: str, start: datetime, summary: str = "Intro session") -> str:
        """An intro session booked by Jane, as a booking tool puts it in the calendar."""
        return self.calendar.put(
            CalendarEvent(
                id=event_id,
                summary=summary,
                start=start,
                end=start + timedelta(minutes=30),
                timezone="Europe/Berlin",
                organizer=COACH,
                attendees=(Attendee(CLIENT, "Jane Client", response="accepted"),),
            )
        )

    def run(self, at: datetime = NOW) -> PassReport:
        return self.engine.run_pass(at)

    def description(self, event_id: str) -> str:
        event = self.calendar.get(event_id)
        assert event is not None
        return event.description


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    calendar, notes, drafts = MemoryCalendar([COACH]), MemoryNotes(), MemoryDrafts()
    engine = memory_engine(tmp_path, calendar, notes, drafts)
    yield Desk(engine, calendar, notes, drafts)
    engine.close()


def test_a_booking_gets_a_note_a_link_and_a_reminder_and_its_draft_only_after_the_delay(desk: Desk) -> None:
    desk.book("intro-1", NOW + timedelta(hours=2))
    report = desk.run()
    assert (report.tally.notes, report.tally.links, report.tally.drafts) == (1, 1, 0)
    [ref] = [n for n in desk.notes.texts]
    url = find_note_url(desk.description("intro-1"))
    assert url.endswith(ref) and desk.calendar.reminder("intro-1") == timedelta(minutes=5)
    assert "Jane" in desk.notes.texts[ref]

    ended = NOW + timedelta(hours=2, minutes=30)
    desk.run(ended + timedelta(minutes=14))  # 14 minutes after the end: not yet
    assert desk.drafts.raw_messages() == []
    desk.run(ended + timedelta(minutes=15))
    [raw] = desk.drafts.raw_messages()
    assert parse(raw)["To"].addresses[0].addr_spec == CLIENT
    assert WAITING in desk.description("intro-1")


def test_a_pass_with_nothing_new_changes_nothing(desk: Desk) -> None:
    desk.book("intro-1", NOW + timedelta(hours=2))
    desk.run()
    before = (dict(desk.notes.texts), desk.calendar.get("intro-1"))
    report = desk.run(NOW + timedelta(minutes=1))
    assert (report.tally.notes, report.tally.links, report.tally.updates, report.tally.drafts) == (0, 0, 0, 0)
    assert (dict(desk.notes.texts), desk.calendar.get("intro-1")) == before


def test_deleting_the_event_marks_the_note_cancelled_and_no_draft_follows(desk: Desk) -> None:
    desk.book("intro-1", NOW + timedelta(hours=2))
    desk.run()
    desk.calendar.delete("intro-1")
    desk.run(NOW + timedelta(minutes=1))
    [text] = desk.notes.texts.values()
    assert "status: cancelled" in text
    desk.run(NOW + timedelta(days=1))
    assert desk.drafts.raw_messages() == []


def test_a_note_store_outage_is_one_error_and_the_next_pass_makes_the_one_note(desk: Desk) -> None:
    desk.book("intro-1", NOW + timedelta(hours=2))
    desk.notes.fail_with(Unavailable("notes: the store is down"))
    failed = desk.run()
    assert failed.errors[COACH] == 1 and desk.notes.texts == {}
    desk.run(NOW + timedelta(minutes=1))
    assert len(desk.notes.texts) == 1
    assert desk.description("intro-1").count(BEGIN) == 1


def test_a_problem_that_lasts_several_passes_is_logged_when_it_starts_and_when_it_is_over(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    """A daemon retries an outage every pass, but says it once per event (and again only when
    it changes), then once that it is over: not one error line per event every pass."""
    desk.book("intro-1", NOW + timedelta(hours=2))
    caplog.set_level(logging.INFO, logger="syncd")
    for minute in range(3):
        desk.notes.fail_with(Unavailable("notes: the store is down"))
        assert desk.run(NOW + timedelta(minutes=minute)).errors[COACH] == 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "the store is down" in errors[0].getMessage()
    desk.notes.fail_with(Unavailable("notes: the store answers 503"))
    desk.run(NOW + timedelta(minutes=3))
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 2
    desk.run(NOW + timedelta(minutes=4))
    assert len(desk.notes.texts) == 1
    assert [r for r in caplog.records if "problem logged before is over" in r.getMessage()]


def test_an_expired_cursor_reads_the_calendar_again_and_doubles_nothing(desk: Desk) -> None:
    desk.book("intro-1", NOW + timedelta(hours=2))
    desk.run()
    desk.calendar.expire_cursors()
    desk.book("intro-2", NOW + timedelta(hours=4))
    desk.run(NOW + timedelta(minutes=1))
    assert len(desk.notes.texts) == 2
    assert [desk.description(i).count(BEGIN) for i in ("intro-1", "intro-2")] == [1, 1]


def test_a_reschedule_moves_the_session_in_the_note_and_the_event_block(desk: Desk) -> None:
    desk.book("intro-1", NOW + timedelta(hours=2))
    desk.run()
    desk.book("intro-1", NOW + timedelta(days=2, hours=2))
    desk.run(NOW + timedelta(minutes=1))
    [text] = desk.notes.texts.values()
    assert text.startswith("Session: 2030-03-06")
    description = desk.description("intro-1")  # the follow-up's due date in the status line
    assert "6 Mar 2030" in description and "4 Mar 2030" not in description
    assert description.count(BEGIN) == 1
