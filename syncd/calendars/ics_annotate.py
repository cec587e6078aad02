"""syncd's own marks in an iCalendar VEVENT, written into its raw lines.

What syncd owns in an event: the link block at the end of DESCRIPTION (and in the HTML of an
Outlook-style `X-ALT-DESC;FMTTYPE=text/html`, which Outlook shows instead), the X-SYNCD-BOOKING and
X-SYNCD-NOTE-URL properties, and one VALARM marked `X-SYNCD-ALARM:1`. Each is replaced as a
whole (never duplicated); every other line of the event is left exactly as written.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from icalendar.prop import vDuration

from syncd.calendars.ics_carriers import OVERRIDE_MARK, mark_line
from syncd.calendars.ics_events import load_calendar, vevents
from syncd.calendars.ics_text import (
    component_spans,
    date_value,
    escape_text,
    fold,
    parse_line,
    replace_subcomponents,
    set_single_property,
    top_level_indices,
    unescape_text,
    unfold,
)
from syncd.linkblock import BEGIN, apply_block, apply_html_block, strip_block, strip_html_block
from syncd.model import Annotation

# With "companion" the pass never annotates the booked event (a companion event carries the
# link): were it asked to, nothing of syncd's but the alarm would stay in the event.
Placement = Literal["description", "private", "both", "companion"]
ALARM_MARK = "X-SYNCD-ALARM"
BOOKING_PROPERTY = "X-SYNCD-BOOKING"
NOTE_URL_PROPERTY = "X-SYNCD-NOTE-URL"
ALT_DESCRIPTION = "X-ALT-DESC"
# Properties that make a VEVENT a series; an override describes one instance, so drops them.
_SERIES_ONLY = {
    "RRULE",
    "RDATE",
    "EXDATE",
    "EXRULE",
    "RECURRENCE-ID",
    BOOKING_PROPERTY,
    NOTE_URL_PROPERTY,
    OVERRIDE_MARK,
}


def annotate_block(block: list[str], annotation: Annotation, placement: Placement, eol: str) -> list[str]:
    """The VEVENT `block` (its logical lines) carrying `annotation` and nothing else of syncd's.

    The description gets the link block when `placement` says so and loses an old one when it
    does not; likewise the private properties. The syncd alarm follows `annotation.reminder`.
    """
    in_description = placement in ("description", "both")
    in_properties = placement in ("private", "both")
    block = _with_description(block, annotation if in_description else None, eol)
    block = _with_html_description(block, annotation if in_description else None, eol)
    for name, value in ((BOOKING_PROPERTY, annotation.booking_id), (NOTE_URL_PROPERTY, annotation.note_url)):
        block = set_single_property(block, name, _text_line(name, value, eol) if in_properties else None)
    return _with_alarm(block, annotation, eol)


def description_of(block: list[str]) -> str:
    """The DESCRIPTION text of a VEVENT block ("" when it has none)."""
    found = top_level_indices(block, "DESCRIPTION")
    return unescape_text(parse_line(block[found[0]])[2]) if found else ""


def syncd_alarm_spans(block: list[str]) -> list[tuple[int, int]]:
    """The spans of the VALARMs syncd wrote into a VEVENT block."""
    return [
        (begin, end)
        for begin, end in component_spans(block, "VALARM", 1)
        if any(parse_line(line)[0] == ALARM_MARK for line in block[begin : end + 1])
    ]


def override_block(master: list[str], original: date | datetime, end: date | datetime, eol: str) -> list[str]:
    """A RECURRENCE-ID override for one instance, copied from the series' `master` block.

    `original` is the instance's start and `end` its end, each already in the zone (and type)
    of the master's DTSTART and DTEND. syncd's alarm is dropped: `annotate_block` adds it back.
    """
    spans = syncd_alarm_spans(master)
    block = replace_subcomponents(master, spans, []) if spans else list(master)
    series_only = {i for name in _SERIES_ONLY for i in top_level_indices(block, name)}
    block = [line for index, line in enumerate(block) if index not in series_only]
    block = _with_date(block, "DTEND", end, eol)
    start_index = top_level_indices(block, "DTSTART")[0]
    params = parse_line(block[start_index])[1]
    block[start_index] = fold(f"DTSTART{params}:{date_value(original, params)}", eol)
    recurrence = fold(f"RECURRENCE-ID{params}:{date_value(original, params)}", eol)
    return [*block[: start_index + 1], recurrence, *block[start_index + 1 :]]


def mark_carrier(
    block: list[str], lines: list[str], spans: list[tuple[int, int]], series_start: str, eol: str
) -> list[str]:
    """`block`, an override syncd made from its series to carry the annotation, with the mark
    that says so (see `ics_carriers`). `lines` and `spans` are the file's lines and VEVENTs:
    the block is read as it will be, among the file's time zones."""
    inside = {number for begin, end in spans for number in range(begin, end + 1)}
    outside = [line for number, line in enumerate(lines) if number not in inside]
    closing = [n for n, line in enumerate(outside) if unfold(line).strip().upper() == "END:VCALENDAR"]
    at = closing[-1] if closing else len(outside)
    event = vevents(load_calendar("".join([*outside[:at], *block, *outside[at:]])))[0]
    after = top_level_indices(block, "RECURRENCE-ID")[0] + 1
    return [*block[:after], fold(mark_line(event, series_start), eol), *block[after:]]


def _with_date(block: list[str], name: str, value: date | datetime, eol: str) -> list[str]:
    found = top_level_indices(block, name)
    if not found:
        return block
    params = parse_line(block[found[0]])[1]
    return set_single_property(block, name, fold(f"{name}{params}:{date_value(value, params)}", eol))


def _text_line(name: str, value: str, eol: str, params: str = "") -> str:
    return fold(f"{name}{params}:{escape_text(value)}", eol)


def _with_description(block: list[str], annotation: Annotation | None, eol: str) -> list[str]:
    current = description_of(block)
    if annotation is not None:
        wanted = apply_block(current, annotation)
    else:
        # Placement moved away from the description: take back the block syncd left there.
        wanted = strip_block(current) if BEGIN in current else current
    if wanted == current:
        return block
    found = top_level_indices(block, "DESCRIPTION")
    params = parse_line(block[found[0]])[1] if found else ""
    # Emptied by taking the block out: drop the line rather than leave "DESCRIPTION:".
    line = _text_line("DESCRIPTION", wanted, eol, params) if wanted else None
    return set_single_property(block, "DESCRIPTION", line)


def _with_html_description(block: list[str], annotation: Annotation | None, eol: str) -> list[str]:
    """Each HTML X-ALT-DESC carrying the block as DESCRIPTION does; other lines untouched."""
    block = list(block)
    for index in top_level_indices(block, ALT_DESCRIPTION):
        _, params, value = parse_line(block[index])
        if "FMTTYPE=TEXT/HTML" not in params.upper():
            continue
        current = unescape_text(value)
        wanted = apply_html_block(current, annotation) if annotation else strip_html_block(current)
        if wanted != current:
            block[index] = _text_line(ALT_DESCRIPTION, wanted, eol, params)
    return block


def alarm_lines(annotation: Annotation, eol: str) -> list[str]:
    """syncd's VALARM for `annotation` (empty when it asks for no reminder)."""
    if annotation.reminder is None:
        return []
    who = annotation.client_name.strip()
    what = f"Intro with {who} — review the agenda" if who else "Intro session — review the agenda"
    lines = [
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        f"TRIGGER:{_trigger(annotation.reminder)}",
        f"DESCRIPTION:{escape_text(what)}",
        f"{ALARM_MARK}:1",
        "END:VALARM",
    ]
    return [fold(line, eol) for line in lines]


def _trigger(reminder: timedelta) -> str:
    minutes = max(0, round(reminder.total_seconds() / 60))
    return f"-PT{minutes}M"


def _with_alarm(block: list[str], annotation: Annotation, eol: str) -> list[str]:
    spans = syncd_alarm_spans(block)
    wanted = alarm_lines(annotation, eol)
    if len(spans) == 1:
        begin, end = spans[0]
        if [unfold(line) for line in block[begin : end + 1]] == [unfold(line) for line in wanted]:
            return block
    if not spans and not wanted:
        return block
    if not spans and annotation.reminder is not None and _has_popup(block, annotation.reminder):
        # Google (through vdirsyncer) and DAVx5 keep an alarm as "popup, N minutes before" and
        # hand it back without syncd's mark: that popup is there already; a second would
        # show at the same moment.
        return block
    return replace_subcomponents(block, spans, wanted)


def _has_popup(block: list[str], reminder: timedelta) -> bool:
    """True when a VALARM of the VEVENT `block` pops up `reminder` before the start."""
    for begin, end in component_spans(block, "VALARM", 1):
        props = {
            name: (params.upper(), value.strip()) for name, params, value in map(parse_line, block[begin:end])
        }
        action = props.get("ACTION", ("", ""))[1].upper()
        params, trigger = props.get("TRIGGER", ("", ""))
        if action != "DISPLAY" or "RELATED=END" in params or "VALUE=DATE-TIME" in params:
            continue
        try:
            if vDuration.from_ical(trigger) == -reminder:  # type: ignore[no-untyped-call]
                return True
        except ValueError:
            continue
    return False
