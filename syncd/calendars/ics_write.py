"""The annotated text of one event's .ics, shared by every source that stores raw iCalendar
(the vdir folder, a CalDAV server): lines syncd does not own stay byte for byte as they were."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from syncd.calendars.ics_annotate import Placement, annotate_block, mark_carrier, override_block
from syncd.calendars.ics_events import Occurrence, recurrence_id, stamp, vevents
from syncd.calendars.ics_text import component_spans, line_ending, split_lines
from syncd.errors import Rejected
from syncd.model import Annotation


def annotated_text(
    text: str,
    calendar: Calendar,
    occurrence: Occurrence,
    annotation: Annotation,
    *,
    placement: Placement,
    zone: ZoneInfo,
    where: str,
) -> str:
    """`text` (which parses to `calendar`) with `annotation` written into `occurrence`.

    A recurring instance gets (or reuses) its own RECURRENCE-ID override. Raises `Rejected`
    (naming `where`) when the text's VEVENTs cannot be matched to the parsed ones.
    """
    lines = split_lines(text)
    eol = line_ending(text)
    spans = component_spans(lines, "VEVENT", 1)
    components = vevents(calendar)
    if len(spans) != len(components):
        raise Rejected(f"{where}: cannot match its VEVENTs")
    begin, end = spans[_position(components, occurrence.component)]
    block = lines[begin : end + 1]
    if occurrence.recurrence is None or recurrence_id(occurrence.component) is not None:
        block = annotate_block(block, annotation, placement, eol)
        return "".join([*lines[:begin], *block, *lines[end + 1 :]])
    # An instance still described by its series gets an override of its own, after it; the
    # one syncd wrote where the instance was before its series moved goes in the same write.
    block = override_block(block, occurrence.recurrence, _instance_end(occurrence), eol)
    block = annotate_block(block, annotation, placement, eol)
    block = mark_carrier(block, lines, spans, stamp(occurrence.component.start, zone), eol)
    after = end + 1
    if occurrence.replaces is None:
        return "".join([*lines[:after], *block, *lines[after:]])
    first, last = spans[_position(components, occurrence.replaces)]
    if first > end:
        return "".join([*lines[:after], *block, *lines[after:first], *lines[last + 1 :]])
    return "".join([*lines[:first], *lines[last + 1 : after], *block, *lines[after:]])


def _position(components: list[Event], component: Event) -> int:
    # By identity: two VEVENTs of a file may be equal, and only the one found is to be edited.
    return next(number for number, candidate in enumerate(components) if candidate is component)


def _instance_end(occurrence: Occurrence) -> date | datetime:
    """An instance's end in the type and zone of its series' DTEND, for a new override."""
    original = occurrence.recurrence
    assert original is not None  # only instances of a series get here
    series_end = occurrence.component.end
    end = original + occurrence.component.duration
    if isinstance(end, datetime) and end.tzinfo and isinstance(series_end, datetime) and series_end.tzinfo:
        return end.astimezone(series_end.tzinfo)
    return end


_SCHEDULE_AGENT = re.compile(r"^ATTENDEE[;:]", re.IGNORECASE)


def client_scheduled(text: str) -> str:
    """`text` with `SCHEDULE-AGENT=CLIENT` on every ATTENDEE that names no schedule agent, so a
    CalDAV server that schedules (RFC 6638) sends no invitation or update mail for syncd's
    write. Every other byte stays as it was."""
    lines = split_lines(text)
    for number, line in enumerate(lines):
        if not _SCHEDULE_AGENT.match(line):
            continue
        logical = line.rstrip("\r\n")
        for following in lines[number + 1 :]:  # a folded property continues on indented lines
            if following[:1] not in (" ", "\t"):
                break
            logical += following.rstrip("\r\n")[1:]
        # The whole property, not its parameters cut at the first colon: a quoted CN may hold one.
        if "SCHEDULE-AGENT=" not in logical.upper():
            lines[number] = f"{line[:8]};SCHEDULE-AGENT=CLIENT{line[8:]}"
    return "".join(lines)
