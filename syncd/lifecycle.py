"""A booking's lifecycle: detected → note_created → linked → followup_queued.

Pure transitions over `Booking` records: every change of a record's phase, follow-up or
bookkeeping is one typed function here, used by `syncd.plan` (which decides when) and by the
pass (which records an effect's result). Times are aware UTC; zones only matter for text.
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
from syncd.model import Annotation, CalendarEvent, Client, Companion, Followup, NoteHeader, NoteRef, Phase
from syncd.text import one_line
from syncd.timefmt import format_date, format_moment

# A new booking for a client whose earlier intro was cancelled this recently reuses that note
# (booking tools that reschedule by cancelling and re-creating the event).
REBOOK_WINDOW = timedelta(days=30)

# How long a companion (prep) event is when the coach set no reminder: it still has to end at
# the session's start and be long enough to be seen in a day view.
PREP_LENGTH = timedelta(minutes=15)
# With `link_placement: companion`, `Booking.annotated` holds the digest of the companion last
# written, or one of these: a companion is being written (recorded before the write, so a
# crash right after it still has it deleted on a cancel), or it was deleted (or never made).
COMPANION_PENDING = "companion:pending"
NO_COMPANION = "companion:none"


class Effect(StrEnum):
    """A side effect begun and not yet recorded as done; the values are what the state keeps."""

    NONE = ""
    NOTE = "note"
    DRAFT = "draft"


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
    effect: Effect = Effect.NONE  # a side effect begun and not yet recorded as done

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
    phase, followup, annotated = booking.phase, booking.followup, booking.annotated
    due = booking.followup_due
    if event.end != booking.end and followup is Followup.PENDING:
        due = event.end + delay
    if phase is Phase.CANCELLED:
        phase = Phase.NOTE_CREATED if booking.note else Phase.DETECTED
        annotated = ""  # the event carries the block of a cancelled session: written again
        if followup is Followup.WITHDRAWN:
            followup, due = Followup.PENDING, event.end + delay
    return dataclasses.replace(
        booking,
        client=client,
        fingerprint=fingerprint(event),
        start=event.start,
        end=event.end,
        phase=phase,
        followup=followup,
        followup_due=due,
        annotated=annotated,
    )


def on_cancelled(booking: Booking, reason: str = "cancelled") -> Booking:
    """The record after its event was cancelled, deleted or stopped being an intro."""
    followup = Followup.WITHDRAWN if booking.followup is Followup.PENDING else booking.followup
    return dataclasses.replace(booking, phase=Phase.CANCELLED, followup=followup, reason=reason)


def follows_event(booking: Booking, event_id: str) -> Booking:
    """The record of a session whose series moved: it is now (or again) event `event_id`."""
    return dataclasses.replace(booking, event_id=event_id)


def begun(booking: Booking, effect: Effect) -> Booking:
    """The record of the intent, committed before `effect` is done (a crash then looks for it)."""
    return dataclasses.replace(booking, effect=effect)


def note_created(booking: Booking, note: NoteRef, header: str) -> Booking:
    """The record after its note was made (or found, or taken over) with header digest `header`."""
    phase = Phase.NOTE_CREATED if booking.phase is Phase.DETECTED else booking.phase
    return dataclasses.replace(booking, note=note, phase=phase, effect=Effect.NONE, header=header)


def note_moved(booking: Booking, note: NoteRef) -> Booking:
    """The record after its note was found elsewhere (or made again): the coach moved it."""
    return dataclasses.replace(booking, note=note)


def note_handed_over(booking: Booking, event_id: str) -> Booking:
    """The cancelled booking whose note the client's new booking (event `event_id`) took."""
    return dataclasses.replace(booking, note=None, reason=f"rebooked as {event_id}")


def header_written(booking: Booking, header: str) -> Booking:
    """The record after the note's header with digest `header` was written."""
    return dataclasses.replace(booking, header=header)


def linked(booking: Booking, annotated: str) -> Booking:
    """The record after the annotation with digest `annotated` went into the event."""
    phase = Phase.LINKED if booking.phase in (Phase.DETECTED, Phase.NOTE_CREATED) else booking.phase
    return dataclasses.replace(booking, annotated=annotated, phase=phase)


def link_refused(booking: Booking, annotated: str, reason: str) -> Booking:
    """The record when the coach may not write into the event: the note still stands, and the
    annotation (digest `annotated`) is not tried again until it changes."""
    return dataclasses.replace(booking, annotated=annotated, reason=reason)


def event_marked(booking: Booking, annotated: str) -> Booking:
    """The record of an off booking after its event was told (or had nothing to tell)."""
    return dataclasses.replace(booking, annotated=annotated)


def companion_begun(booking: Booking) -> Booking:
    """The record of the intent, committed before the companion event is written: from here
    on a cancel deletes it, even if the write's result was never recorded."""
    return dataclasses.replace(booking, annotated=COMPANION_PENDING)


def companion_placed(booking: Booking, placed: str) -> Booking:
    """The record after the companion event with digest `placed` was written."""
    return linked(booking, placed)


def companion_refused(booking: Booking, placed: str, reason: str) -> Booking:
    """The record when the calendar refuses the companion event for good (digest `placed`):
    not tried again until it changes."""
    return dataclasses.replace(booking, annotated=placed, reason=reason)


def companion_dropped(booking: Booking) -> Booking:
    """The record of an off booking after its companion event was deleted (or was not there)."""
    return dataclasses.replace(booking, annotated=NO_COMPANION)


def may_have_companion(booking: Booking) -> bool:
    """Whether a companion event may exist for the booking (written, or begun)."""
    return booking.annotated not in ("", NO_COMPANION)


def followup_skipped(booking: Booking, reason: str) -> Booking:
    """The record when the follow-up will never be drafted, and why."""
    return dataclasses.replace(booking, followup=Followup.SKIPPED, reason=reason)


def draft_queued(booking: Booking, draft_id: str) -> Booking:
    """The record after the follow-up draft went into the drafts folder."""
    return dataclasses.replace(
        booking, followup=Followup.QUEUED, phase=Phase.FOLLOWUP_QUEUED, draft_id=draft_id, effect=Effect.NONE
    )


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
    date = format_date(booking.start, ZoneInfo(timezone))
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


def companion(booking: Booking, reminder: timedelta | None, timezone: str) -> Companion:
    """The private prep event the booking should have beside it: `reminder` long (the coach's
    setting; `PREP_LENGTH` without one), ending as the session starts, carrying the note
    link, the status line and a popup at its start."""
    assert booking.note is not None
    length = reminder if reminder is not None and reminder > timedelta(0) else PREP_LENGTH
    name = one_line(booking.client.name, 100)
    return Companion(
        booking_id=booking.id,
        title=f"Prep: intro with {name}" if name else "Prep: intro session",
        start=booking.start - length,
        end=booking.start,
        note_url=booking.note.url,
        body=f"Session note: {booking.note.url}\n{status_line(booking, timezone)}",
        reminder=reminder,
    )
