"""The in-memory calendar, notes and drafts pass the contracts every real backend passes, so
engine tests can run on them in-process; and what they add for tests behaves as documented."""

from __future__ import annotations

from datetime import timedelta

import pytest

from syncd.calendars.base import CalendarSource
from syncd.calendars.memory import MemoryCalendar
from syncd.drafts.base import DraftSink
from syncd.drafts.memory import MemoryDrafts
from syncd.errors import CursorExpired, EventGone, NoteMissing, PreconditionFailed, ReadOnlyEvent, Unavailable
from syncd.linkblock import find_note_url
from syncd.model import Attendee, CalendarEvent, NoteRef
from syncd.notes.base import NoteStore
from syncd.notes.memory import MemoryNotes
from tests.calendar_contract import (
    COACH_ALIAS,
    COACH_EMAIL,
    SINCE,
    START,
    CalendarContract,
    EventSpec,
    annotation,
)
from tests.draft_contract import DraftSinkContract, make_draft
from tests.note_contract import NoteStoreContract, make_request

# --- calendar -----------------------------------------------------------------------------------


class MemoryStore:
    """The contract's CalendarStore: EventSpecs put straight into the memory calendar."""

    def __init__(self, calendar: MemoryCalendar) -> None:
        self.calendar = calendar

    def put(self, ev: EventSpec) -> str:
        start, end = ev.start, ev.finish
        if ev.all_day:  # an all-day event spans whole days, from midnight
            start = start.replace(hour=0, minute=0, second=0, microsecond=0)
            end = end.replace(hour=0, minute=0, second=0, microsecond=0)
        event = CalendarEvent(
            id=ev.uid,
            status=ev.status,
            summary=ev.summary,
            description=ev.description,
            start=start,
            end=end,
            all_day=ev.all_day,
            timezone=ev.tz,
            organizer=ev.organizer,
            attendees=tuple(Attendee(email=address, name=name) for address, name in ev.attendees),
        )
        return self.calendar.put(event, rrule=ev.rrule)

    def delete(self, event_id: str) -> None:
        self.calendar.delete(event_id)

    def read_description(self, event_id: str) -> str:
        event = self.calendar.get(event_id)
        assert event is not None
        return event.description

    def count_syncd_reminders(self, event_id: str) -> int:
        return 0 if self.calendar.reminder(event_id) is None else 1


class TestMemoryCalendarContract(CalendarContract):
    @pytest.fixture
    def calendar(self) -> MemoryCalendar:
        return MemoryCalendar([COACH_EMAIL, COACH_ALIAS])

    @pytest.fixture
    def store(self, calendar: MemoryCalendar) -> MemoryStore:
        return MemoryStore(calendar)


@pytest.fixture
def calendar() -> MemoryCalendar:
    return MemoryCalendar([COACH_EMAIL])


def test_the_memory_calendar_is_a_calendar_source(calendar: MemoryCalendar) -> None:
    source: CalendarSource = calendar
    assert source.annotates_cancelled


def test_expired_cursors_are_refused_and_a_full_sync_starts_over(calendar: MemoryCalendar) -> None:
    MemoryStore(calendar).put(EventSpec("one"))
    cursor = calendar.changes(None, SINCE).cursor
    calendar.expire_cursors()
    with pytest.raises(CursorExpired):
        calendar.changes(cursor, SINCE)
    with pytest.raises(CursorExpired):
        calendar.changes("not a cursor", SINCE)
    assert [event.id for event in calendar.changes(None, SINCE).events] == ["one"]


def test_syncds_own_annotation_comes_back_through_the_cursor_as_a_change(calendar: MemoryCalendar) -> None:
    """As on Google: what syncd wrote is a change like any other, for the engine to recognise."""
    MemoryStore(calendar).put(EventSpec("one"))
    first = calendar.changes(None, SINCE)
    calendar.annotate(first.events[0], annotation())
    [changed] = calendar.changes(first.cursor, SINCE).events
    assert find_note_url(changed.description) == "https://notes.example/ada"


def test_annotate_refuses_read_only_deleted_and_stale_events(calendar: MemoryCalendar) -> None:
    store = MemoryStore(calendar)
    store.put(EventSpec("theirs"))
    calendar.put(calendar.get("theirs") or CalendarEvent("theirs"), read_only=True)
    with pytest.raises(ReadOnlyEvent):
        calendar.annotate(calendar.get("theirs") or CalendarEvent("theirs"), annotation())
    store.put(EventSpec("stale"))
    read = calendar.get("stale")
    assert read is not None
    store.put(EventSpec("stale", summary="Intro: moved"))
    with pytest.raises(PreconditionFailed):
        calendar.annotate(read, annotation())
    calendar.delete("stale")
    with pytest.raises(EventGone):
        calendar.annotate(read, annotation())


def test_cancel_keeps_the_event_and_reports_it_cancelled(calendar: MemoryCalendar) -> None:
    MemoryStore(calendar).put(EventSpec("called-off"))
    cursor = calendar.changes(None, SINCE).cursor
    calendar.cancel("called-off")
    [changed] = calendar.changes(cursor, SINCE).events
    assert changed.cancelled and changed.summary == "Intro: Ada Lovelace"


def test_a_series_put_again_with_fewer_instances_reports_the_dropped_ones_deleted(
    calendar: MemoryCalendar,
) -> None:
    store = MemoryStore(calendar)
    store.put(EventSpec("series", rrule="FREQ=DAILY;COUNT=3"))
    cursor = calendar.changes(None, SINCE).cursor
    store.put(EventSpec("series", rrule="FREQ=DAILY;COUNT=2"))
    changed = {event.id: event.cancelled for event in calendar.changes(cursor, SINCE).events}
    last = (START + timedelta(days=2)).strftime("%Y%m%dT%H%M%SZ")
    assert changed[f"series/{last}"] is True
    assert sorted(changed.values()) == [False, False, True]


def test_a_failure_set_up_by_the_test_is_raised_once(calendar: MemoryCalendar) -> None:
    calendar.fail_with(Unavailable("calendar: down"))
    with pytest.raises(Unavailable):
        calendar.changes(None, SINCE)
    assert calendar.changes(None, SINCE).events == []


# --- notes --------------------------------------------------------------------------------------


class TestMemoryNotesContract(NoteStoreContract):
    @pytest.fixture
    def notes(self) -> NoteStore:
        return MemoryNotes()

    def note_text(self, notes: NoteStore, ref: NoteRef) -> str:
        assert isinstance(notes, MemoryNotes)
        return notes.text(ref)

    def note_count(self, notes: NoteStore) -> int:
        assert isinstance(notes, MemoryNotes)
        return len(notes.texts)

    def write_as_coach(self, notes: NoteStore, ref: NoteRef, text: str) -> None:
        assert isinstance(notes, MemoryNotes)
        notes.write(ref, notes.text(ref).replace("## Notes\n", f"## Notes\n{text}\n", 1))

    def check_off(self, notes: NoteStore, ref: NoteRef, item: str) -> None:
        assert isinstance(notes, MemoryNotes)
        notes.write(ref, notes.text(ref).replace(f"- [ ] {item}", f"- [x] {item}", 1))


def test_a_deleted_note_is_note_missing_and_ensure_makes_it_again() -> None:
    notes = MemoryNotes()
    ref = notes.ensure(make_request())
    notes.delete(ref)
    with pytest.raises(NoteMissing):
        notes.open_action_items(ref)
    again = notes.ensure(make_request())
    assert again != ref and len(notes.texts) == 1


# --- drafts -------------------------------------------------------------------------------------


class TestMemoryDraftsContract(DraftSinkContract):
    @pytest.fixture
    def drafts(self) -> DraftSink:
        return MemoryDrafts()

    def stored_messages(self, drafts: DraftSink) -> list[bytes]:
        assert isinstance(drafts, MemoryDrafts)
        return drafts.raw_messages()


def test_a_second_draft_with_other_words_for_the_same_booking_is_not_stored() -> None:
    drafts = MemoryDrafts()
    first = drafts.ensure(make_draft())
    rewritten = make_draft(body="A second attempt with other words.\n")
    assert drafts.ensure(rewritten) == first and len(drafts.raw_messages()) == 1
