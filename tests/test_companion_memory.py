"""`link_placement: companion` through the engine on the in-memory backends, with a fixed
clock: the booked event stays exactly as the booking tool wrote it, and one private prep event
per booking carries the link and the reminder, pass after pass."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd.calendars.memory import MemoryCalendar
from syncd.drafts.memory import MemoryDrafts
from syncd.engine import Engine, PassReport
from syncd.errors import Unavailable
from syncd.model import Attendee, CalendarEvent, Companion
from syncd.notes.memory import MemoryNotes
from tests.memory_engine import COACH, memory_engine

CLIENT = "jane@client.example"
NOW = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
BOOKING = f"{COACH}/intro-1"


@dataclass
class Desk:
    engine: Engine
    calendar: MemoryCalendar
    notes: MemoryNotes
    drafts: MemoryDrafts

    def book(self, start: datetime, event_id: str = "intro-1") -> CalendarEvent:
        event = CalendarEvent(
            id=event_id,
            summary="Intro session",
            description="Challenge: scaling the team",
            start=start,
            end=start + timedelta(minutes=30),
            organizer=COACH,
            attendees=(Attendee(CLIENT, "Jane Client", response="accepted"),),
        )
        self.calendar.put(event)
        stored = self.calendar.get(event_id)
        assert stored is not None
        return stored

    def run(self, at: datetime = NOW) -> PassReport:
        return self.engine.run_pass(at)

    def prep(self, booking: str = BOOKING) -> Companion:
        return self.calendar.companions()[booking]


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    calendar, notes, drafts = MemoryCalendar([COACH]), MemoryNotes(), MemoryDrafts()
    engine = memory_engine(tmp_path, calendar, notes, drafts, link_placement="companion")
    yield Desk(engine, calendar, notes, drafts)
    engine.close()


def test_the_booked_event_is_left_as_it_was_and_the_prep_event_carries_link_and_reminder(desk: Desk) -> None:
    start = NOW + timedelta(hours=2)
    booked = desk.book(start)
    report = desk.run()
    assert (report.tally.notes, report.tally.links) == (1, 1)
    assert desk.calendar.get("intro-1") == booked  # not a byte of the booked event changed
    assert desk.calendar.reminder("intro-1") is None
    prep = desk.prep()
    [ref] = desk.notes.texts
    assert prep.note_url.endswith(ref) and prep.note_url in prep.body
    assert (prep.start, prep.end, prep.reminder) == (
        start - timedelta(minutes=5),
        start,
        timedelta(minutes=5),
    )
    assert prep.title == "Prep: intro with Jane Client"


def test_a_quiet_pass_writes_the_prep_event_no_more(desk: Desk) -> None:
    desk.book(NOW + timedelta(hours=2))
    desk.run()
    report = desk.run(NOW + timedelta(minutes=1))
    assert (report.tally.links, report.tally.updates) == (0, 0)
    assert desk.calendar.companion_writes == 1


def test_the_prep_event_moves_with_a_reschedule(desk: Desk) -> None:
    desk.book(NOW + timedelta(hours=2))
    desk.run()
    later = NOW + timedelta(days=1)
    desk.book(later)
    report = desk.run(NOW + timedelta(minutes=1))
    assert report.tally.updates == 1
    assert (desk.prep().start, desk.prep().end) == (later - timedelta(minutes=5), later)
    assert len(desk.calendar.companions()) == 1


@pytest.mark.parametrize("how", ["cancel", "delete"])
def test_a_cancel_deletes_the_prep_event_and_back_on_brings_it_again(desk: Desk, how: str) -> None:
    start = NOW + timedelta(hours=2)
    desk.book(start)
    desk.run()
    getattr(desk.calendar, how)("intro-1")
    desk.run(NOW + timedelta(minutes=1))
    assert desk.calendar.companions() == {}
    desk.book(start)  # the booking tool puts it back
    desk.run(NOW + timedelta(minutes=2))
    assert desk.prep().end == start and len(desk.notes.texts) == 1


def test_the_draft_queued_shows_in_the_prep_events_status_line(desk: Desk) -> None:
    start = NOW + timedelta(hours=2)
    desk.book(start)
    desk.run()
    desk.run(start + timedelta(minutes=45))
    assert len(desk.drafts.raw_messages()) == 1
    assert "Follow-up: draft waiting in your drafts folder" in desk.prep().body


def test_a_calendar_outage_leaves_the_prep_event_and_the_next_pass_moves_it(desk: Desk) -> None:
    desk.book(NOW + timedelta(hours=2))
    desk.run()
    desk.book(NOW + timedelta(hours=3))
    desk.calendar.fail_with(Unavailable("calendar: down"))
    assert desk.run(NOW + timedelta(minutes=1)).errors[COACH] == 1
    assert desk.prep().end == NOW + timedelta(hours=2)
    desk.run(NOW + timedelta(minutes=2))
    assert desk.prep().end == NOW + timedelta(hours=3)
    desk.calendar.delete("intro-1")
    desk.run(NOW + timedelta(minutes=3))
    assert desk.calendar.companions() == {}
