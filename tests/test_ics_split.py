"""`load_calendar` parses a calendar file one VEVENT at a time and remembers each VEVENT by its
text: a series' file read again after syncd added an override parses only the override, and
what comes out is what icalendar makes of the whole file, property for property."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from syncd.calendars import ics_split
from syncd.calendars.ics_annotate import override_block
from syncd.calendars.ics_events import find_occurrence, load_calendar, vevents
from syncd.calendars.ics_text import component_spans, split_lines
from syncd.errors import BadEvent

_ZONES = itertools.count()


def _zone_block(tzid: str) -> str:
    # A TZID no zone database knows, so the VTIMEZONE written in the file decides the offset.
    return (
        f"BEGIN:VTIMEZONE\r\nTZID:{tzid}\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
        "TZOFFSETFROM:+0300\r\nTZOFFSETTO:+0300\r\nTZNAME:X\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
    )


def _series(tzid: str) -> str:
    return (
        "BEGIN:VEVENT\r\nUID:series\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART;TZID={tzid}:20260105T100000\r\nDTEND;TZID={tzid}:20260105T103000\r\n"
        "SUMMARY:Intro session with a summary long enough to be folded by the client that wr\r\n"
        " ote it\r\nRRULE:FREQ=DAILY\r\nRDATE:20260301T100000Z,20260302T100000Z\r\n"
        'ATTENDEE;CN="Bo: Client";PARTSTAT=ACCEPTED:mailto:bo@client.example\r\n'
        "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\nEND:VEVENT\r\n"
    )


def _file(*parts: str) -> str:
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nX-WR-TIMEZONE:Europe/Paris\r\n"
    return head + "".join(parts) + "END:VCALENDAR\r\n"


def _same_as_whole_file(text: str) -> None:
    ours, whole = load_calendar(text), Calendar.from_ical(text)
    assert ours.to_ical(sorted=False) == whole.to_ical(sorted=False)
    assert repr(ours) == repr(whole)  # parsed values too: zones, dates, parameters
    assert [type(c) for c in ours.subcomponents] == [type(c) for c in whole.subcomponents]


def test_reading_a_series_again_after_an_override_was_added_parses_only_the_override() -> None:
    tzid = f"Test Zone {next(_ZONES)}"
    text = _file(_zone_block(tzid), _series(tzid))
    master = vevents(load_calendar(text))[0]
    lines = split_lines(text)
    begin, end = component_spans(lines, "VEVENT", 1)[0]
    original = datetime(2026, 1, 7, 10, 0)
    extra = override_block(lines[begin : end + 1], original, original + timedelta(minutes=30), "\r\n")
    again = "".join([*lines[: end + 1], *extra, *lines[end + 1 :]])

    events = vevents(load_calendar(again))
    assert events[0] is master  # not parsed again
    assert len(events) == 2
    _same_as_whole_file(again)
    # The override's TZID resolves through the file's VTIMEZONE (+03:00) as before.
    found = find_occurrence(load_calendar(again), "series/20260107T070000Z", ZoneInfo("UTC"))
    assert found is not None and found.component is events[1]
    assert found.start == datetime(2026, 1, 7, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "shape",
    [
        "zone first",
        "zone after the events",
        "lf endings",
        "todo and calendar property between events",
        "blank lines and no final line end",
        "lower-case begin and end",
    ],
)
def test_a_file_cut_into_components_parses_as_the_whole_file_does(shape: str) -> None:
    tzid = f"Test Zone {next(_ZONES)}"
    override = (
        f"BEGIN:VEVENT\r\nUID:series\r\nRECURRENCE-ID;TZID={tzid}:20260106T100000\r\n"
        f"DTSTART;TZID={tzid}:20260106T120000\r\nSUMMARY:moved\r\nEND:VEVENT\r\n"
    )
    todo = "BEGIN:VTODO\r\nUID:todo\r\nSUMMARY:not an event\r\nEND:VTODO\r\n"
    texts = {
        "zone first": _file(_zone_block(tzid), _series(tzid), override),
        # icalendar resolves a forward reference by reading the file again: so must we.
        "zone after the events": _file(_series(tzid), override, _zone_block(tzid)),
        "lf endings": _file(_zone_block(tzid), _series(tzid), override).replace("\r\n", "\n"),
        "todo and calendar property between events": _file(
            todo, _series(tzid), "X-LATE-PROPERTY:1\r\n", todo, _zone_block(tzid), override
        ),
        "blank lines and no final line end": _file(
            "\r\n", _zone_block(tzid), _series(tzid), "\r\n\r\n", override
        ).rstrip("\r\n"),
        "lower-case begin and end": _file(_zone_block(tzid), _series(tzid), override)
        .replace("BEGIN:VEVENT", "begin:vevent")
        .replace("END:VEVENT", "end:Vevent"),
    }
    text = texts[shape]
    assert ics_split.layout(text) is not None  # the cut path, not the fallback
    _same_as_whole_file(text)
    _same_as_whole_file(text)  # and again, from the remembered VEVENTs
    start = vevents(load_calendar(text))[0].start
    assert start.utcoffset() == timedelta(hours=3)


@pytest.mark.parametrize(
    "text",
    [
        _file("BEGIN:VEVENT\r\nUID:a\r\nDTSTART:20260101T100000Z\r\nEND:VTODO\r\n"),  # END of another kind
        _file("BEGIN:VEVENT\r\nUID:a\r\nDTSTART:20260101T100000Z\r\nSUMMARY:a\r\n\r\n b\r\nEND:VEVENT\r\n"),
        _file("BEGIN:VEVENT\r\nUID:a\r\nDTSTART:20260101T100000Z\r\nEND:VEVENT\r\n") + "X-COMMENT:after\r\n",
    ],
    ids=["mismatched END", "fold after a blank line", "text after the calendar"],
)
def test_a_file_that_cannot_be_cut_cleanly_is_parsed_whole(text: str) -> None:
    assert ics_split.layout(text) is None
    _same_as_whole_file(text)


def test_a_broken_file_gives_the_same_one_line_error_as_before() -> None:
    two_calendars = _file(_series("UTC")) + _file(_series("UTC"))
    with pytest.raises(BadEvent, match=r"^not a valid iCalendar file: Found multiple components"):
        load_calendar(two_calendars)
    bad_start = _file("BEGIN:VEVENT\r\nUID:a\r\nDTSTART:2026x\r\nEND:VEVENT\r\n")
    with pytest.raises(BadEvent, match=r"^bad DTSTART property: "):
        load_calendar(bad_start)
