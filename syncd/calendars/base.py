"""The interface every calendar source implements."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from syncd.model import Annotation, CalendarEvent, ChangeSet, Companion


class CalendarSource(Protocol):
    """A calendar syncd reads bookings from and annotates.

    Every method raises `syncd.errors.BackendError` (or a subclass) on failure; nothing else
    escapes for a service or file problem.
    """

    annotates_cancelled: bool
    """True when a cancelled event stays where the coach sees it (struck through) and `annotate`
    may write into it: syncd then tells, in its block, that the follow-up is withdrawn."""

    def changes(self, cursor: str | None, since: datetime) -> ChangeSet:
        """Return events changed since `cursor`, with the cursor to pass next time.

        With `cursor=None`, return every event that ends after `since` (a full sync).
        Deleted events come back as cancelled stubs. Raises `CursorExpired` when the cursor
        can no longer be used: the caller drops it and calls again with `None`.
        All-day and recurring events are reported as the source sees them (one entry per
        instance for a recurring series).
        """
        ...

    def get(self, event_id: str) -> CalendarEvent | None:
        """Re-read one event; `None` when it no longer exists."""
        ...

    def annotate(self, event: CalendarEvent, annotation: Annotation) -> None:
        """Write the note link block, reminder and status into the event, replacing any
        earlier syncd annotation (never duplicating it) and changing nothing else.

        Idempotent: annotating twice with the same annotation leaves one block and one
        reminder. Raises `ReadOnlyEvent` when the coach may not edit the event.
        """
        ...


class CompanionCalendar(Protocol):
    """A calendar that can keep a booking's private companion event (`link_placement:
    companion`). Both methods raise `syncd.errors.BackendError` subclasses on failure."""

    def put_companion(self, companion: Companion) -> None:
        """Create the companion event, or bring the one found by `companion.booking_id` up to
        it (moved, retitled, relinked). Idempotent: never two for one booking, also after a
        crash between the create and the state record."""
        ...

    def drop_companion(self, booking_id: str) -> None:
        """Delete the booking's companion event; nothing when there is none."""
        ...
