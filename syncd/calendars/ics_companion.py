"""A booking's companion (prep) event as iCalendar text, for the sources that store raw
iCalendar (the vdir folder, a CalDAV server).

A companion is a VEVENT of its own: a UID derived from the booking id (so a retry after a
crash finds it instead of making a second one), no ORGANIZER and no ATTENDEE (so no server
schedules it and no client is ever told of it), `CLASS:PRIVATE`, `TRANSP:TRANSPARENT` (prep
time does not block what a booking page offers), the note link in DESCRIPTION and URL, and a
DISPLAY alarm at its start. Sources never report such a UID as an event (see `is_companion`).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from syncd.calendars.ics_annotate import ALARM_MARK
from syncd.calendars.ics_events import PARSE_ERRORS, load_calendar, uid_of, vevents
from syncd.calendars.ics_text import escape_text, fold
from syncd.errors import BadEvent
from syncd.model import Companion

COMPANION_PROPERTY = "X-SYNCD-COMPANION"  # the booking id, for a reader of the file
_UID_PREFIX = "syncd-companion-"
_UID_SUFFIX = "@syncd"
_EOL = "\r\n"


def companion_uid(booking_id: str) -> str:
    """The UID of the booking's companion event, the same on every call."""
    return f"{_UID_PREFIX}{hashlib.sha256(booking_id.encode()).hexdigest()[:32]}{_UID_SUFFIX}"


def is_companion(event_id: str) -> bool:
    """Whether `event_id` (a UID, or an instance id) is one of syncd's companion events: never
    a booking, whatever its title says."""
    if not event_id.startswith(_UID_PREFIX):  # the usual case, decided without parsing
        return False
    return uid_of(event_id).endswith(_UID_SUFFIX)


def companion_text(companion: Companion, stamp: datetime) -> str:
    """A VCALENDAR holding `companion` alone, CRLF line ends; `stamp` is its DTSTAMP."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//syncd//companion event//EN",
        "BEGIN:VEVENT",
        f"UID:{companion_uid(companion.booking_id)}",
        f"DTSTAMP:{_utc(stamp)}",
        f"DTSTART:{_utc(companion.start)}",
        f"DTEND:{_utc(companion.end)}",
        f"SUMMARY:{escape_text(companion.title)}",
        f"DESCRIPTION:{escape_text(companion.body)}",
        f"URL:{escape_text(companion.note_url)}",
        "CLASS:PRIVATE",
        "TRANSP:TRANSPARENT",
        f"{COMPANION_PROPERTY}:{escape_text(companion.booking_id)}",
    ]
    if companion.reminder is not None:
        lines += [
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            "TRIGGER:PT0S",
            f"DESCRIPTION:{escape_text(companion.title)}",
            f"{ALARM_MARK}:1",
            "END:VALARM",
        ]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(fold(line, _EOL) for line in lines)


def shows(text: str, companion: Companion) -> bool:
    """Whether the iCalendar `text` already holds `companion` as syncd would write it (compared
    parsed, since a server may re-serialise what it stores); False for text it cannot read."""
    try:
        events = vevents(load_calendar(text))
    except (BadEvent, *PARSE_ERRORS):
        return False
    if len(events) != 1:
        return False
    event = events[0]
    start, end = event.get("DTSTART"), event.get("DTEND")
    alarms = [alarm for alarm in event.subcomponents if alarm.name == "VALARM"]
    return (
        str(event.get("UID")) == companion_uid(companion.booking_id)
        and start is not None
        and end is not None
        and start.dt == companion.start
        and end.dt == companion.end
        and str(event.get("SUMMARY", "")) == companion.title
        and str(event.get("DESCRIPTION", "")) == companion.body
        and not event.get("ATTENDEE")
        and len(alarms) == (0 if companion.reminder is None else 1)
    )


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
