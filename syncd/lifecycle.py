"""A booking's lifecycle: detected → note_created → linked → followup_queued.

Pure transitions over `Booking` records; the engine performs the side effects they call for
and the state store keeps the records. Times are aware UTC; zones only matter for text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from syncd.linkblock import strip_block
from syncd.model import Annotation, CalendarEvent, Client, Followup, NoteHeader, NoteRef, Phase
from syncd.timefmt import format_moment

# A new booking for a client whose earlier intro was cancelled this recently reuses that note
# (booking tools that reschedule by cancelling and re-creating the event).
REBOOK_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class Booking:
    """What syncd knows and has done about one booking (one event instance of one coach)."""

    id: str
    coach: str
    event_id: str
    phase: Phase
    client: Client
    start: datetime
    end: datetime
    fingerprint: str
    followup: Followup
    followup_due: datetime
    note: NoteRef | None = None
    header: str = ""  # digest of the note header last written
    annotated: str = ""  # digest of the annotation last written into the event
    draft_id: str = ""
    reason: str = ""  # why the follow-up was skipped, the event left alone, ...
    effect: str = ""  # a side effect begun and not yet recorded as done ("note", "draft")

    @property
    def active(self) -> bool:
        return self.phase is not Phase.CANCELLED


class Decision(StrEnum):
    """What to do about a follow-up at a given moment."""

    WAIT = "wait"
    SEND = "send"
    SKIP = "skip"


def booking_id(coach: str, event_id: str) -> str:
    """The stable id of a booking: the coach's key and the event instance's id."""
    return f"{coach}/{event_id}"


def fingerprint(event: CalendarEvent) -> str:
    """A digest of what the coach or client cares about in `event`.

    syncd's own writes (the link block, reminder, private properties, etag) are left out, so
    the change they cause is recognised as nothing new.
    """
    attendees = sorted((a.email.lower(), a.name, a.response) for a in event.attendees)
    return digest(
        event.status,
        event.summary,
        strip_block(event.description),
        event.start.isoformat() if event.start else "",
        event.end.isoformat() if event.end else "",
        attendees,
    )


def digest(*parts: object) -> str:
    """A short stable digest of JSON-able parts."""
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def new_booking(
    coach: str, event: CalendarEvent, client: Client, delay: timedelta, now: datetime, lookback: timedelta
) -> Booking | None:
    """A fresh record for a detected booking, or None when it ended before the look-back window."""
    assert event.start is not None and event.end is not None
    if event.end < now - lookback:
        return None
    return Booking(
        id=booking_id(coach, event.id),
        coach=coach,
        event_id=event.id,
        phase=Phase.DETECTED,
        client=client,
        start=event.start,
        end=event.end,
        fingerprint=fingerprint(event),
        followup=Followup.PENDING,
        followup_due=event.end + delay,
    )


def on_changed(booking: Booking, event: CalendarEvent, client: Client, delay: timedelta) -> Booking:
    """The record after its event changed and still is a booking: times, client, reinstatement."""
    assert event.start is not None and event.end is not None
    changes: dict[str, object] = {
        "client": client,
        "fingerprint": fingerprint(event),
        "start": event.start,
        "end": event.end,
    }
    if event.end != booking.end and booking.followup is Followup.PENDING:
        changes["followup_due"] = event.end + delay
    if booking.phase is Phase.CANCELLED:
        changes["phase"] = Phase.NOTE_CREATED if booking.note else Phase.DETECTED
        changes["annotated"] = ""
        if booking.followup is Followup.WITHDRAWN:
            changes["followup"] = Followup.PENDING
            changes["followup_due"] = event.end + delay
    return dataclasses.replace(booking, **changes)  # type: ignore[arg-type]


def on_cancelled(booking: Booking, reason: str = "cancelled") -> Booking:
    """The record after its event was cancelled, deleted or stopped being an intro."""
    followup = Followup.WITHDRAWN if booking.followup is Followup.PENDING else booking.followup
    return dataclasses.replace(booking, phase=Phase.CANCELLED, followup=followup, reason=reason)


def followup_decision(booking: Booking, now: datetime, max_lateness: timedelta) -> Decision:
    """Whether the follow-up should be drafted now, later, or never (too late)."""
    if booking.followup is not Followup.PENDING or not booking.active or booking.note is None:
        return Decision.WAIT
    if now < booking.followup_due:
        return Decision.WAIT
    if now - booking.followup_due > max_lateness:
        return Decision.SKIP
    return Decision.SEND


def note_header(booking: Booking, timezone: str) -> NoteHeader:
    """The part of the note syncd keeps up to date."""
    date = booking.start.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d")
    return NoteHeader(
        title=f"{booking.client.name} — intro session {date}",
        client_name=booking.client.name,
        start=booking.start,
        end=booking.end,
        timezone=timezone,
        cancelled=booking.phase is Phase.CANCELLED,
        client_timezone=booking.client.timezone,
    )


def annotation(booking: Booking, reminder: timedelta | None, timezone: str) -> Annotation:
    """What the event should carry for this booking (a cancelled session, no reminder)."""
    assert booking.note is not None
    return Annotation(
        booking_id=booking.id,
        note_url=booking.note.url,
        client_name=booking.client.name,
        reminder=reminder if booking.active else None,
        status_line=status_line(booking, timezone),
        attachment=booking.note.attachment(note_header(booking, timezone).title),
    )


def status_line(booking: Booking, timezone: str) -> str:
    """One line for the coach, in the event: where the follow-up stands."""
    if booking.phase is Phase.CANCELLED:
        off = "Session cancelled" if booking.reason == "cancelled" else f"Session off ({booking.reason})"
        if booking.followup is Followup.QUEUED:
            return f"{off}; the follow-up draft made before is still in your drafts folder"
        return f"{off}: follow-up withdrawn"
    if booking.followup is Followup.QUEUED:
        return "Follow-up: draft waiting in your drafts folder"
    if booking.followup is Followup.SKIPPED:
        return f"Follow-up: skipped ({booking.reason})"
    due = format_moment(booking.followup_due, ZoneInfo(timezone))
    return f"Follow-up: draft will be prepared {due}"
