"""Plain data that crosses the boundary between the engine and the backends.

Every datetime here is timezone-aware and in UTC; zones are applied only when rendering.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Attendee:
    """One attendee of an event, as the calendar reports it."""

    email: str
    name: str = ""
    is_self: bool = False
    organizer: bool = False
    response: str = ""


@dataclass(frozen=True)
class CalendarEvent:
    """One event instance read from a calendar source.

    `id` is unique within the source and stable across edits (for an instance of a recurring
    series it includes the instance's original start). A deleted or cancelled event may carry
    nothing but `id` and `status == "cancelled"`. `moved_from` is the id an instance had before
    its whole series was moved (the same session, rescheduled), where the source can tell.
    `copy_of` is the id of the event this one repeats (its UID is held by another file: a copy,
    a sync conflict, a hostile file): a copy is never a booking of its own, so a client is never
    booked, noted and followed up twice, and nothing the copy says reaches the booking's event.
    """

    id: str
    status: str = "confirmed"
    summary: str = ""
    description: str = ""
    start: datetime | None = None
    end: datetime | None = None
    all_day: bool = False
    timezone: str = ""
    organizer: str = ""
    attendees: tuple[Attendee, ...] = ()
    etag: str = ""
    moved_from: str = ""
    copy_of: str = ""

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"


@dataclass(frozen=True)
class ChangeSet:
    """What changed in a calendar since the last cursor.

    Deleted events are reported as cancelled stubs, so callers see one kind of change.
    """

    events: list[CalendarEvent]
    cursor: str


# A note kept as a Google Doc has the locator `drive:FILE_ID` (the state store keeps only a
# note's locator and URL, so whatever else is needed is rebuilt from these).
DRIVE_LOCATOR_PREFIX = "drive:"
GOOGLE_DOC_MIME = "application/vnd.google-apps.document"


@dataclass(frozen=True)
class Annotation:
    """What syncd writes into a booking's event: the note link, a reminder and a status line.

    `attachment` is (fileUrl, title, mimeType) of a note that is a Drive file, for calendars
    that can attach one to the event.
    """

    booking_id: str
    note_url: str
    client_name: str
    reminder: timedelta | None
    status_line: str = ""
    attachment: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class Companion:
    """A private event beside a booking, on the coach's own calendar: no attendees, so no
    client ever sees it. It carries the note link and the reminder where writing into the
    booked event itself could mail the client (Outlook) or show them the link.

    It starts `reminder` before the session and ends at its start; a calendar finds it again
    by `booking_id` (its own UID or extended property), so it is never created twice.
    """

    booking_id: str
    title: str  # e.g. "Prep: intro with Maya Lopez"
    start: datetime
    end: datetime
    note_url: str
    body: str  # plain text: the note link and the status line
    reminder: timedelta | None  # a popup at the companion's start; None for none


@dataclass(frozen=True)
class NoteHeader:
    """The part of a note syncd owns and may rewrite: when the session is, and whether it is on."""

    title: str
    client_name: str
    start: datetime
    end: datetime
    timezone: str
    cancelled: bool = False
    client_timezone: str = ""  # the client's zone where the booking says it, for a moved session


@dataclass(frozen=True)
class NoteRequest:
    """Everything a note backend needs to create a session note.

    `body` is the note rendered from the coach's template; `fields` the same values as plain
    strings, for backends that fill placeholders in a document of their own.
    """

    booking_id: str
    header: NoteHeader
    body: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NoteRef:
    """Where a note lives: `locator` is the backend's own handle, `url` what the coach clicks."""

    locator: str
    url: str

    @property
    def drive_file_id(self) -> str:
        """The Drive file id of a note kept as a Google Doc; "" for any other note."""
        return self.locator.removeprefix(DRIVE_LOCATOR_PREFIX) if self.is_drive_file else ""

    @property
    def is_drive_file(self) -> bool:
        return self.locator.startswith(DRIVE_LOCATOR_PREFIX)

    def attachment(self, title: str) -> tuple[str, str, str] | None:
        """(fileUrl, title, mimeType) to attach the note to a calendar event, when it is a
        Google Doc; None otherwise."""
        return (self.url, title, GOOGLE_DOC_MIME) if self.is_drive_file else None


@dataclass(frozen=True)
class DraftMessage:
    """A follow-up email ready to be stored as a draft; `raw` is the RFC 5322 message."""

    booking_id: str
    message_id: str
    raw: bytes


class Phase(enum.StrEnum):
    """Where a booking stands in its lifecycle."""

    DETECTED = "detected"
    NOTE_CREATED = "note_created"
    LINKED = "linked"
    FOLLOWUP_QUEUED = "followup_queued"
    CANCELLED = "cancelled"


class Followup(enum.StrEnum):
    """The state of a booking's follow-up draft."""

    PENDING = "pending"
    QUEUED = "queued"
    SKIPPED = "skipped"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class Coach:
    """The coach a booking belongs to, as templates and messages need it."""

    name: str
    email: str
    timezone: str
    pricing_url: str
    specialties: tuple[str, ...] = ()


@dataclass(frozen=True)
class Client:
    """What a booking says about the client: who they are and their booking-form answers."""

    name: str
    email: str = ""
    timezone: str = ""
    background: str = ""
    company: str = ""
    challenge: str = ""
    preferences: str = ""


@dataclass(frozen=True)
class Session:
    """One intro session: who, when (UTC) and the booking it belongs to."""

    booking_id: str
    coach: Coach
    client: Client
    start: datetime
    end: datetime
    followup_delay: timedelta = timedelta(minutes=15)
