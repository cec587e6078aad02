"""A CalendarSource held in memory: a test double with the contract of the real sources.

Tests act on it as the coach's other tools would (`put`, `delete`, `cancel`) and hand it to the
engine, which reads and annotates it through the `CalendarSource` methods. Every change gets
the next revision number; a cursor is the revision it was taken at, so `changes` returns what
changed since, deletions as cancelled stubs. `expire_cursors` makes every earlier cursor
`CursorExpired`, as a service dropping its sync tokens does. An annotation's attachment is not
kept (no test double needs it yet). Companion events (`CompanionCalendar`) are kept apart from
the events, by booking id, so `changes` never reports them. Not a config type.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from syncd.errors import BackendError, CursorExpired, EventGone, PreconditionFailed, ReadOnlyEvent
from syncd.linkblock import apply_block
from syncd.model import Annotation, Attendee, CalendarEvent, ChangeSet, Companion

MAX_INSTANCES = 500  # of one recurring series: enough for any test, finite for an endless rule


@dataclass
class _Entry:
    """One stored event instance, or the tombstone of a deleted one (`event is None`)."""

    series: str
    revision: int
    event: CalendarEvent | None
    read_only: bool = False
    reminder: timedelta | None = None


class MemoryCalendar:
    """The calendar of a coach known by `coach_addresses`; see the module docstring."""

    def __init__(self, coach_addresses: Iterable[str], *, annotates_cancelled: bool = True) -> None:
        self.annotates_cancelled = annotates_cancelled
        self.coach_addresses = frozenset(address.lower() for address in coach_addresses)
        self._entries: dict[str, _Entry] = {}
        self._revision = 0
        self._generation = 0
        self._failures: list[BackendError] = []
        self._lock = threading.Lock()
        self._companions: dict[str, Companion] = {}
        self.companion_writes = 0  # puts that created or changed a companion

    # --- CalendarSource -----------------------------------------------------------------------

    def changes(self, cursor: str | None, since: datetime) -> ChangeSet:
        """Every live event ending after `since` (cursor None), else every change since `cursor`."""
        with self._lock:
            self._maybe_fail()
            if cursor is None:
                events = [
                    entry.event
                    for entry in self._entries.values()
                    if entry.event is not None and _ends_after(entry.event, since)
                ]
            else:
                after = self._decode(cursor)
                events = [
                    entry.event or CalendarEvent(id=event_id, status="cancelled")
                    for event_id, entry in self._entries.items()
                    if entry.revision > after
                ]
            return ChangeSet(events=events, cursor=f"memory:{self._generation}:{self._revision}")

    def get(self, event_id: str) -> CalendarEvent | None:
        """The event as it is now; None once it was deleted."""
        with self._lock:
            self._maybe_fail()
            entry = self._entries.get(event_id)
            return entry.event if entry else None

    def annotate(self, event: CalendarEvent, annotation: Annotation) -> None:
        """Put syncd's block into the description (replacing an earlier one) and set syncd's
        reminder; refused for a read-only event, a deleted one, or one changed since it was read."""
        with self._lock:
            self._maybe_fail()
            entry = self._entries.get(event.id)
            if entry is None or entry.event is None:
                raise EventGone(f"calendar: event {event.id} no longer exists")
            if entry.read_only:
                raise ReadOnlyEvent(f"calendar: event {event.id}: the coach may not edit it")
            if event.etag and event.etag != entry.event.etag:
                raise PreconditionFailed(f"calendar: event {event.id} changed since it was read")
            described = replace(entry.event, description=apply_block(entry.event.description, annotation))
            self._store(event.id, entry.series, described, entry.read_only, annotation.reminder)

    # --- CompanionCalendar --------------------------------------------------------------------

    def put_companion(self, companion: Companion) -> None:
        """Keep `companion` as the booking's one prep event (replacing an earlier one)."""
        with self._lock:
            self._maybe_fail()
            if self._companions.get(companion.booking_id) != companion:
                self.companion_writes += 1
            self._companions[companion.booking_id] = companion

    def drop_companion(self, booking_id: str) -> None:
        """Forget the booking's prep event; nothing when there is none."""
        with self._lock:
            self._maybe_fail()
            self._companions.pop(booking_id, None)

    def companions(self) -> dict[str, Companion]:
        """The prep events kept, by booking id (for tests)."""
        with self._lock:
            return dict(self._companions)

    # --- for tests: the coach's other tools -----------------------------------------------------

    def put(self, event: CalendarEvent, *, rrule: str = "", read_only: bool = False) -> str:
        """Create `event`, or replace the one with its id (every instance, for a series); return
        its id. With `rrule` (e.g. "FREQ=DAILY;COUNT=3") the event is a series whose instances
        are `ID/YYYYmmddTHHMMSSZ`, expanded in `event.timezone` (UTC when none)."""
        with self._lock:
            instances = self._expand(self._normalised(event), rrule) if rrule else [self._normalised(event)]
            kept = {instance.id for instance in instances}
            for old in self._series_ids(event.id) - kept:
                self._store(old, event.id, None)
            for instance in instances:
                previous = self._entries.get(instance.id)
                reminder = previous.reminder if previous else None
                self._store(instance.id, event.id, instance, read_only, reminder)
            return event.id

    def delete(self, event_id: str) -> None:
        """Delete an event, an instance, or every instance of the series `event_id`."""
        with self._lock:
            entry = self._entries.get(event_id)
            alone = {event_id} if entry is not None and entry.event is not None else set()
            for gone in self._series_ids(event_id) | alone:
                self._store(gone, self._entries[gone].series, None)

    def cancel(self, event_id: str) -> None:
        """Mark the event cancelled in place (it stays, struck through)."""
        with self._lock:
            entry = self._entries[event_id]
            assert entry.event is not None, f"{event_id} was deleted"
            cancelled = replace(entry.event, status="cancelled")
            self._store(event_id, entry.series, cancelled, entry.read_only, entry.reminder)

    def reminder(self, event_id: str) -> timedelta | None:
        """The reminder syncd set on the event, if any."""
        entry = self._entries.get(event_id)
        return entry.reminder if entry else None

    def ids(self) -> list[str]:
        """The ids of every live event and instance."""
        return [event_id for event_id, entry in self._entries.items() if entry.event is not None]

    def expire_cursors(self) -> None:
        """Make every cursor handed out so far `CursorExpired`."""
        with self._lock:
            self._generation += 1

    def fail_with(self, error: BackendError) -> None:
        """Make the next call of a CalendarSource method raise `error`."""
        self._failures.append(error)

    # --- internals ----------------------------------------------------------------------------

    def _store(
        self,
        event_id: str,
        series: str,
        event: CalendarEvent | None,
        read_only: bool = False,
        reminder: timedelta | None = None,
    ) -> None:
        self._revision += 1
        if event is not None:
            event = replace(event, etag=f'"{self._revision}"')
        self._entries[event_id] = _Entry(series, self._revision, event, read_only, reminder)

    def _series_ids(self, series: str) -> set[str]:
        return {
            event_id
            for event_id, entry in self._entries.items()
            if entry.series == series and entry.event is not None
        }

    def _normalised(self, event: CalendarEvent) -> CalendarEvent:
        """Times in UTC, addresses in lower case, the coach's flagged `is_self`, the organizer
        an attendee: what a real source reports."""
        organizer = event.organizer.lower()
        attendees = [
            replace(a, email=a.email.lower(), is_self=a.is_self or a.email.lower() in self.coach_addresses)
            for a in event.attendees
        ]
        attendees = [replace(a, organizer=a.organizer or a.email == organizer) for a in attendees]
        if organizer and organizer not in {a.email for a in attendees}:
            is_self = organizer in self.coach_addresses
            attendees.append(Attendee(email=organizer, is_self=is_self, organizer=True))
        return replace(
            event,
            organizer=organizer,
            attendees=tuple(attendees),
            start=_utc(event.start),
            end=_utc(event.end),
        )

    def _expand(self, master: CalendarEvent, rrule: str) -> list[CalendarEvent]:
        assert master.start is not None, "a series needs a start"
        zone = ZoneInfo(master.timezone) if master.timezone else UTC
        first = master.start.astimezone(zone).replace(tzinfo=None)  # the rule runs on wall time
        length = (master.end - master.start) if master.end else timedelta(0)
        instances = []
        for wall in itertools.islice(rrulestr(rrule, dtstart=first), MAX_INSTANCES):
            start = wall.replace(tzinfo=zone).astimezone(UTC)
            stamp = start.strftime("%Y%m%dT%H%M%SZ")
            instances.append(replace(master, id=f"{master.id}/{stamp}", start=start, end=start + length))
        return instances

    def _decode(self, cursor: str) -> int:
        kind, _, rest = cursor.partition(":")
        generation, _, revision = rest.partition(":")
        if kind != "memory" or generation != str(self._generation) or not revision.isdigit():
            raise CursorExpired(f"calendar: sync cursor {cursor!r} is no longer valid")
        return int(revision)

    def _maybe_fail(self) -> None:
        if self._failures:
            raise self._failures.pop(0)


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


def _ends_after(event: CalendarEvent, since: datetime) -> bool:
    end = event.end or event.start
    return end is None or end > since
