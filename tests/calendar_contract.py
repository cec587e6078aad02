"""The behaviour every CalendarSource must have, asserted once for all backends.

A backend's test class inherits `CalendarContract` and supplies two fixtures:

- `calendar`: the `CalendarSource` under test, for a coach whose addresses are `COACH_EMAIL`
  and `COACH_ALIAS`, whose zone is `COACH_ZONE`, and whose link placement writes the
  description ("description" or "both");
- `store`: a `CalendarStore` that acts on the same calendar as the coach's other tools would
  (a calendar app, a booking tool), without going through the source under test.

Nothing here knows how a backend stores its events: ids come from `store.put`, instances of a
series are recognised by their summary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar, Event

from syncd.calendars.base import CalendarSource
from syncd.linkblock import BEGIN, find_note_url, strip_block
from syncd.model import Annotation, CalendarEvent, ChangeSet

COACH_EMAIL = "sam@coach.example"
COACH_ALIAS = "sam.alias@coach.example"
COACH_ZONE = "Europe/Berlin"
START = datetime(2030, 6, 3, 8, 0, tzinfo=UTC)
SINCE = START - timedelta(days=1)
BERLIN = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True)
class EventSpec:
    """An event as a coach's calendar app or booking tool would create it.

    `start`/`end` are aware datetimes (`end` defaults to 30 minutes after `start`); `tz` is the
    IANA zone they are written in ("" for UTC). For `all_day`, the dates of `start` and `end`
    (exclusive) are used and `end` defaults to the next day. `rrule` is an RFC 5545 RRULE
    value such as "FREQ=DAILY;COUNT=3". `attendees` are (email, display name) pairs.
    """

    uid: str
    summary: str = "Intro: Ada Lovelace"
    start: datetime = START
    end: datetime | None = None
    description: str = ""
    attendees: tuple[tuple[str, str], ...] = ()
    organizer: str = ""
    tz: str = ""
    all_day: bool = False
    status: str = "confirmed"
    rrule: str = ""

    @property
    def finish(self) -> datetime:
        """The end, with its default applied."""
        if self.end is not None:
            return self.end
        return self.start + (timedelta(days=1) if self.all_day else timedelta(minutes=30))


# An instance of a series: `UID/YYYYMMDDTHHMMSSZ` (or `UID/YYYYMMDD`), as the ics sources name it.
INSTANCE = re.compile(r"^(?P<uid>.+)/(?P<stamp>\d{8}(?:T\d{6}Z)?)$")


class IcsStore:
    """What a store whose events are iCalendar files (a vdir, a CalDAV collection) reads back
    of syncd's writes; subclasses say where an event's text is (`text`)."""

    def text(self, event_id: str) -> str:
        raise NotImplementedError

    def component(self, event_id: str) -> Event:
        """The VEVENT describing `event_id`: an instance's override, else its series."""
        events = Calendar.from_ical(self.text(event_id)).events
        match = INSTANCE.match(event_id)
        if match:
            for event in events:
                rid = event.RECURRENCE_ID
                if (
                    isinstance(rid, datetime)
                    and rid.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") == match["stamp"]
                ):
                    return event
        return next(event for event in events if event.get("RECURRENCE-ID") is None)

    def read_description(self, event_id: str) -> str:
        return str(self.component(event_id).get("DESCRIPTION", ""))

    def count_syncd_reminders(self, event_id: str) -> int:
        return sum("X-SYNCD-ALARM" in alarm for alarm in self.component(event_id).walk("VALARM"))


class CalendarStore(Protocol):
    """Acts on the calendar behind the source's back, as the coach's other tools do."""

    def put(self, ev: EventSpec) -> str:
        """Create the event, or replace the one with the same uid; return its event id."""
        ...

    def delete(self, event_id: str) -> None:
        """Delete the event (a whole series for a recurring one)."""
        ...

    def read_description(self, event_id: str) -> str:
        """The stored description of an event or of one instance of a series."""
        ...

    def count_syncd_reminders(self, event_id: str) -> int:
        """How many reminders syncd wrote on an event or on one instance of a series."""
        ...


def annotation(
    url: str = "https://notes.example/ada", reminder: timedelta | None = timedelta(minutes=5)
) -> Annotation:
    """What the engine writes for Ada's booking."""
    return Annotation(booking_id="booking-1", note_url=url, client_name="Ada Lovelace", reminder=reminder)


def by_id(changes: ChangeSet) -> dict[str, CalendarEvent]:
    """The events of a change set, keyed by id."""
    return {event.id: event for event in changes.events}


class CalendarContract:
    """Tests every calendar source must pass; see the module docstring for the fixtures."""

    # --- sync ---------------------------------------------------------------------------------

    def test_full_sync_returns_events_ending_after_since_only(
        self, calendar: CalendarSource, store: CalendarStore
    ) -> None:
        ahead = store.put(EventSpec("ahead"))
        ongoing = store.put(
            EventSpec("ongoing", start=SINCE - timedelta(minutes=10), end=SINCE + timedelta(minutes=20))
        )
        past = store.put(EventSpec("past", start=SINCE - timedelta(days=3)))
        found = by_id(calendar.changes(None, SINCE))
        assert ahead in found and ongoing in found
        assert past not in found
        assert found[ahead].summary == "Intro: Ada Lovelace"
        assert found[ahead].start == START and found[ahead].end == START + timedelta(minutes=30)

    def test_incremental_sync_without_changes_returns_nothing(
        self, calendar: CalendarSource, store: CalendarStore
    ) -> None:
        store.put(EventSpec("one"))
        first = calendar.changes(None, SINCE)
        assert calendar.changes(first.cursor, SINCE).events == []

    def test_incremental_sync_after_edit_returns_just_that_event(
        self, calendar: CalendarSource, store: CalendarStore
    ) -> None:
        edited = store.put(EventSpec("edited"))
        store.put(EventSpec("untouched", summary="Intro: Grace Hopper"))
        cursor = calendar.changes(None, SINCE).cursor
        store.put(EventSpec("edited", start=START + timedelta(hours=2), summary="Intro: Ada L."))
        changed = calendar.changes(cursor, SINCE).events
        assert [event.id for event in changed] == [edited]
        assert changed[0].summary == "Intro: Ada L." and changed[0].start == START + timedelta(hours=2)

    def test_incremental_sync_after_delete_returns_cancelled_stub(
        self, calendar: CalendarSource, store: CalendarStore
    ) -> None:
        gone = store.put(EventSpec("gone"))
        store.put(EventSpec("stays"))
        cursor = calendar.changes(None, SINCE).cursor
        store.delete(gone)
        changed = calendar.changes(cursor, SINCE).events
        assert [(event.id, event.cancelled) for event in changed] == [(gone, True)]

    def test_event_cancelled_in_place_is_reported_cancelled(
        self, calendar: CalendarSource, store: CalendarStore
    ) -> None:
        event_id = store.put(EventSpec("called-off"))
        cursor = calendar.changes(None, SINCE).cursor
        store.put(EventSpec("called-off", status="cancelled"))
        changed = by_id(calendar.changes(cursor, SINCE))
        assert changed[event_id].cancelled

    def test_cursor_of_each_pass_is_used_by_the_next(
        self, calendar: CalendarSource, store: CalendarStore
    ) -> None:
        store.put(EventSpec("first"))
        cursor = calendar.changes(None, SINCE).cursor
        second = store.put(EventSpec("second"))
        middle = calendar.changes(cursor, SINCE)
        assert [event.id for event in middle.events] == [second]
        assert calendar.changes(middle.cursor, SINCE).events == []

    # --- get ----------------------------------------------------------------------------------

    def test_get_rereads_the_current_event(self, calendar: CalendarSource, store: CalendarStore) -> None:
        event_id = store.put(EventSpec("reread"))
        calendar.changes(None, SINCE)
        store.put(EventSpec("reread", summary="Intro: moved", start=START + timedelta(days=1)))
        event = calendar.get(event_id)
        assert event is not None and event.summary == "Intro: moved"
        assert event.start == START + timedelta(days=1)

    def test_get_of_deleted_event_returns_none(self, calendar: CalendarSource, store: CalendarStore) -> None:
        event_id = store.put(EventSpec("deleted"))
        calendar.changes(None, SINCE)
        store.delete(event_id)
        assert calendar.get(event_id) is None

    # --- mapping ------------------------------------------------------------------------------

    def test_all_day_event_is_flagged(self, calendar: CalendarSource, store: CalendarStore) -> None:
        event_id = store.put(EventSpec("holiday", summary="Holiday", all_day=True))
        event = by_id(calendar.changes(None, SINCE))[event_id]
        assert event.all_day
        assert event.end is not None and event.start is not None
        assert event.end - event.start == timedelta(days=1)

    def test_timed_event_is_not_all_day(self, calendar: CalendarSource, store: CalendarStore) -> None:
        event_id = store.put(EventSpec("timed"))
        assert not by_id(calendar.changes(None, SINCE))[event_id].all_day

    def test_recurring_instances_have_distinct_ids(
        self, calendar: CalendarSource, store: CalendarStore
    ) -> None:
        store.put(EventSpec("weekly", summary="Intro series", rrule="FREQ=DAILY;COUNT=3"))
        instances = [e for e in calendar.changes(None, SINCE).events if e.summary == "Intro series"]
        assert len({event.id for event in instances}) == 3
        assert sorted(event.start for event in instances if event.start) == [
            START + timedelta(days=n) for n in range(3)
        ]

    def test_attendees_carry_name_self_and_organizer_flags(
        self, calendar: CalendarSource, store: CalendarStore
    ) -> None:
        people = (("Ada@Client.example", "Ada Lovelace"), (COACH_EMAIL, "Sam Coach"))
        event_id = store.put(EventSpec("people", attendees=people, organizer=COACH_EMAIL))
        event = by_id(calendar.changes(None, SINCE))[event_id]
        attendees = {attendee.email: attendee for attendee in event.attendees}
        assert event.organizer == COACH_EMAIL
        assert set(attendees) == {"ada@client.example", COACH_EMAIL}
        ada, sam = attendees["ada@client.example"], attendees[COACH_EMAIL]
        assert (ada.name, ada.is_self, ada.organizer) == ("Ada Lovelace", False, False)
        assert (sam.is_self, sam.organizer) == (True, True)

    def test_organizer_missing_from_attendees_is_added_as_one(
        self, calendar: CalendarSource, store: CalendarStore
    ) -> None:
        people = (("ada@client.example", "Ada Lovelace"), (COACH_ALIAS, "Sam Coach"))
        event_id = store.put(EventSpec("booked", attendees=people, organizer="bookings@scheduler.example"))
        event = by_id(calendar.changes(None, SINCE))[event_id]
        attendees = {attendee.email: attendee for attendee in event.attendees}
        assert event.organizer == "bookings@scheduler.example"
        assert attendees["bookings@scheduler.example"].organizer
        assert attendees[COACH_ALIAS].is_self and not attendees[COACH_ALIAS].organizer

    @pytest.mark.parametrize(
        ("local", "utc"),
        [
            (datetime(2030, 6, 3, 10, 0, tzinfo=BERLIN), datetime(2030, 6, 3, 8, 0, tzinfo=UTC)),
            (datetime(2030, 12, 2, 10, 0, tzinfo=BERLIN), datetime(2030, 12, 2, 9, 0, tzinfo=UTC)),
        ],
        ids=["summer", "winter"],
    )
    def test_berlin_time_is_converted_to_utc(
        self, calendar: CalendarSource, store: CalendarStore, local: datetime, utc: datetime
    ) -> None:
        event_id = store.put(EventSpec("berlin", start=local, tz="Europe/Berlin"))
        event = by_id(calendar.changes(None, SINCE))[event_id]
        assert event.start == utc and event.start is not None and event.start.utcoffset() == timedelta(0)
        assert event.end == utc + timedelta(minutes=30)
        assert event.timezone == "Europe/Berlin"

    # --- annotate -----------------------------------------------------------------------------

    def _annotated(self, calendar: CalendarSource, event_id: str, note: Annotation) -> None:
        event = calendar.get(event_id)
        assert event is not None
        calendar.annotate(event, note)

    def test_annotate_twice_leaves_one_block_and_one_reminder(
        self, calendar: CalendarSource, store: CalendarStore
    ) -> None:
        event_id = store.put(EventSpec("annotated", description="Challenge: hiring"))
        calendar.changes(None, SINCE)
        self._annotated(calendar, event_id, annotation())
        self._annotated(calendar, event_id, annotation())
        description = store.read_description(event_id)
        assert description.count(BEGIN) == 1
        assert find_note_url(description) == "https://notes.example/ada"
        assert strip_block(description) == "Challenge: hiring"
        assert store.count_syncd_reminders(event_id) == 1

    def test_annotate_with_new_url_replaces_the_block(
        self, calendar: CalendarSource, store: CalendarStore
    ) -> None:
        event_id = store.put(EventSpec("relinked", description="Challenge: hiring"))
        calendar.changes(None, SINCE)
        self._annotated(calendar, event_id, annotation("https://notes.example/old"))
        self._annotated(calendar, event_id, annotation("https://notes.example/new"))
        description = store.read_description(event_id)
        assert description.count(BEGIN) == 1 and "notes.example/old" not in description
        assert find_note_url(description) == "https://notes.example/new"
        assert store.count_syncd_reminders(event_id) == 1

    def test_annotate_without_reminder_writes_none(
        self, calendar: CalendarSource, store: CalendarStore
    ) -> None:
        event_id = store.put(EventSpec("quiet"))
        calendar.changes(None, SINCE)
        self._annotated(calendar, event_id, annotation(reminder=None))
        assert store.count_syncd_reminders(event_id) == 0
        assert find_note_url(store.read_description(event_id)) == "https://notes.example/ada"

    def test_annotated_event_reads_back_with_its_block(
        self, calendar: CalendarSource, store: CalendarStore
    ) -> None:
        event_id = store.put(EventSpec("readback", description="Background: CTO"))
        calendar.changes(None, SINCE)
        self._annotated(calendar, event_id, annotation())
        event = calendar.get(event_id)
        assert event is not None and find_note_url(event.description) == "https://notes.example/ada"
        assert strip_block(event.description) == "Background: CTO"

    def test_annotating_one_instance_leaves_the_others_alone(
        self, calendar: CalendarSource, store: CalendarStore
    ) -> None:
        spec = EventSpec("series", summary="Intro series", description="Weekly", rrule="FREQ=DAILY;COUNT=3")
        store.put(spec)
        instances = sorted(
            (e for e in calendar.changes(None, SINCE).events if e.summary == spec.summary),
            key=lambda e: e.start or START,
        )
        calendar.annotate(instances[1], annotation())
        assert find_note_url(store.read_description(instances[1].id)) == "https://notes.example/ada"
        for other in (instances[0], instances[2]):
            assert store.read_description(other.id) == "Weekly"
            assert store.count_syncd_reminders(other.id) == 0
        reread = calendar.get(instances[1].id)
        assert reread is not None and reread.start == instances[1].start
