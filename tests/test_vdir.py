"""The vdir calendar source: the calendar contract, plus what only a folder of .ics files has
(stat-based change detection, broken files, raw-text edits that leave other lines alone)."""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import stat
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from syncd.calendars.limits import HORIZON
from syncd.calendars.vdir import VdirCalendar, from_config
from syncd.config import CoachConfig, Settings
from syncd.detection import client_attendee
from syncd.errors import BackendError, CursorExpired, EventGone, NotPermitted, Unavailable
from syncd.linkblock import BEGIN, apply_block, find_note_url
from syncd.model import Annotation
from tests.calendar_contract import (
    COACH_ALIAS,
    COACH_EMAIL,
    COACH_ZONE,
    INSTANCE,
    SINCE,
    START,
    CalendarContract,
    EventSpec,
    IcsStore,
    annotation,
    by_id,
)

# --- writing events the way calendar apps do --------------------------------------------------


def _text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _when(name: str, moment: datetime, ev: EventSpec) -> str:
    if ev.all_day:
        return f"{name};VALUE=DATE:{moment.strftime('%Y%m%d')}"
    if ev.tz:
        local = moment.astimezone(ZoneInfo(ev.tz))
        return f"{name};TZID={ev.tz}:{local.strftime('%Y%m%dT%H%M%S')}"
    return f"{name}:{moment.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def spec_ics(ev: EventSpec) -> str:
    """The .ics text a calendar app would write for `ev` (LF endings)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//vdir//EN", "BEGIN:VEVENT", f"UID:{ev.uid}"]
    lines += ["DTSTAMP:20300101T000000Z", _when("DTSTART", ev.start, ev), _when("DTEND", ev.finish, ev)]
    lines.append(f"SUMMARY:{_text(ev.summary)}")
    if ev.description:
        lines.append(f"DESCRIPTION:{_text(ev.description)}")
    if ev.organizer:
        lines.append(f"ORGANIZER:mailto:{ev.organizer}")
    lines += [f'ATTENDEE;CN="{name}";PARTSTAT=ACCEPTED:mailto:{email}' for email, name in ev.attendees]
    if ev.status != "confirmed":
        lines.append(f"STATUS:{ev.status.upper()}")
    if ev.rrule:
        lines.append(f"RRULE:{ev.rrule}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(line + "\n" for line in lines)


def write_file(path: Path, text: str | bytes) -> None:
    """Write `path` so that a stat-based scan is sure to see the change.

    Two writes within one tick of the file system's clock can share an mtime; a calendar app
    does not write that fast, a test does, so the mtime is moved on when it did not change.
    """
    before = path.stat().st_mtime_ns if path.exists() else None
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    if before is not None and path.stat().st_mtime_ns <= before:
        os.utime(path, ns=(before + 1000, before + 1000))


class VdirStore(IcsStore):
    """The coach's calendar app, acting on the vdir directly."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, event_id: str) -> Path:
        match = INSTANCE.match(event_id)
        return self.folder / f"{match.group('uid') if match else event_id}.ics"

    def put(self, ev: EventSpec) -> str:
        write_file(self.folder / f"{ev.uid}.ics", spec_ics(ev))
        return ev.uid

    def delete(self, event_id: str) -> None:
        self.path(event_id).unlink()

    def text(self, event_id: str) -> str:
        return self.path(event_id).read_text()


def make_calendar(
    folder: Path,
    placement: str = "both",
    clock: Callable[[], int] = time.time_ns,
    horizon: timedelta = timedelta(days=400),  # reaches the series these tests put in autumn 2030
) -> VdirCalendar:
    return VdirCalendar(
        folder,
        coach_addresses={COACH_EMAIL, COACH_ALIAS.upper()},
        coach_timezone=COACH_ZONE,
        link_placement=placement,  # type: ignore[arg-type]
        clock=clock,
        horizon=horizon,
    )


def _age(path: Path) -> None:
    """Make `path` look written an hour ago: settled, as a file a calendar app wrote earlier."""
    hour_ago = time.time_ns() - 3600 * 10**9
    os.utime(path, ns=(hour_ago, hour_ago))


class TestVdirContract(CalendarContract):
    @pytest.fixture
    def calendar(self, tmp_path: Path) -> VdirCalendar:
        return make_calendar(tmp_path)

    @pytest.fixture
    def store(self, tmp_path: Path) -> VdirStore:
        return VdirStore(tmp_path)


# --- raw-text edits ---------------------------------------------------------------------------

RICH = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Example Corp//Calendar 1.0//EN
BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:rich-1
DTSTAMP:20300101T000000Z
DTSTART;TZID=Europe/Berlin:20300603T100000
DTEND;TZID=Europe/Berlin:20300603T103000
SUMMARY:Intro: Ada Lovelace
LOCATION:Room 4\\, Building B\\; a location long enough that the calendar
  app folded it over two lines
X-FOO;X-PARAM=1:keep me exactly
DESCRIPTION:Challenge: hiring\\nCompany: Analytical Engines
ATTENDEE;CN=Ada Lovelace;PARTSTAT=ACCEPTED:mailto:ada@client.example
ORGANIZER;CN=Sam:mailto:sam@coach.example
BEGIN:VALARM
ACTION:AUDIO
TRIGGER:-PT1H
X-WR-ALARMUID:coach-own-alarm
END:VALARM
END:VEVENT
END:VCALENDAR
"""


def logical_lines(data: bytes) -> list[bytes]:
    """Logical content lines as written (folds and endings kept)."""
    lines: list[bytes] = []
    for physical in data.splitlines(keepends=True):
        if lines and physical[:1] in (b" ", b"\t"):
            lines[-1] += physical
        else:
            lines.append(physical)
    return lines


def name(line: bytes) -> bytes:
    return re.split(rb"[;:]", line, maxsplit=1)[0]


def changed_lines(before: bytes, after: bytes) -> tuple[list[bytes], list[bytes]]:
    """(removed, inserted) logical lines between two versions of a file."""
    old, new = logical_lines(before), logical_lines(after)
    removed: list[bytes] = []
    inserted: list[bytes] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op != "equal":
            removed += old[i1:i2]
            inserted += new[j1:j2]
    return removed, inserted


SYNCD_NAMES = {b"DESCRIPTION", b"X-SYNCD-BOOKING", b"X-SYNCD-NOTE-URL", b"BEGIN", b"ACTION", b"TRIGGER"}
SYNCD_NAMES |= {b"X-SYNCD-ALARM", b"END"}


@pytest.mark.parametrize("eol", ["\r\n", "\n"], ids=["crlf", "lf"])
def test_annotate_changes_only_syncd_lines_byte_for_byte(tmp_path: Path, eol: str) -> None:
    """VTIMEZONE, LOCATION (folded), X-FOO, the coach's own alarm and the line endings survive."""
    path = tmp_path / "rich-1.ics"
    before = RICH.replace("\n", eol).encode()
    path.write_bytes(before)
    calendar = make_calendar(tmp_path, "both")
    event = calendar.get("rich-1")
    assert event is not None
    calendar.annotate(event, annotation())
    after = path.read_bytes()
    removed, inserted = changed_lines(before, after)
    assert [name(line) for line in removed] == [b"DESCRIPTION"]
    assert {name(line) for line in inserted} <= SYNCD_NAMES
    assert after.count(b"\n") == after.count(eol.encode())  # no line ending mixed in
    assert all(len(line.rstrip(b"\r\n")) <= 75 for line in after.splitlines())
    assert b"X-WR-ALARMUID:coach-own-alarm" in after and after.count(b"BEGIN:VALARM") == 2


def test_annotated_file_reads_back_as_written(tmp_path: Path) -> None:
    (tmp_path / "rich-1.ics").write_text(RICH)
    calendar = make_calendar(tmp_path, "both")
    event = calendar.get("rich-1")
    assert event is not None
    calendar.annotate(event, annotation())
    component = Calendar.from_ical((tmp_path / "rich-1.ics").read_text()).events[0]
    assert str(component["DESCRIPTION"]) == apply_block(event.description, annotation())
    assert str(component["X-SYNCD-NOTE-URL"]) == "https://notes.example/ada"
    assert str(component["X-SYNCD-BOOKING"]) == "booking-1"
    syncd_alarm = [alarm for alarm in component.walk("VALARM") if "X-SYNCD-ALARM" in alarm]
    assert len(syncd_alarm) == 1
    assert syncd_alarm[0].decoded("TRIGGER") == -timedelta(minutes=5)
    assert str(syncd_alarm[0]["ACTION"]) == "DISPLAY"
    assert str(syncd_alarm[0]["DESCRIPTION"]) == "Intro with Ada Lovelace — review the agenda"


def test_long_values_are_folded_escaped_and_read_back_exactly(tmp_path: Path) -> None:
    url = "https://notes.example/" + "ü" * 60 + "?a=1;b=2,c=\\3"
    note = Annotation("booking-1", url, "Zoë; the \\ Ünïcode, person " * 3, timedelta(minutes=10))
    store = VdirStore(tmp_path)
    event_id = store.put(EventSpec("long", description="Ärger, viel; Ärger\\ja\nzweite Zeile"))
    calendar = make_calendar(tmp_path, "both")
    event = calendar.get(event_id)
    assert event is not None
    calendar.annotate(event, note)
    data = (tmp_path / "long.ics").read_bytes()
    assert all(len(line.rstrip(b"\r\n")) <= 75 for line in data.splitlines())
    data.decode("utf-8")  # no multi-byte character was split by a fold
    reread = calendar.get(event_id)
    assert reread is not None and reread.description == apply_block(event.description, note)
    assert find_note_url(reread.description) == url


def test_annotating_again_with_the_same_annotation_does_not_write(tmp_path: Path) -> None:
    (tmp_path / "rich-1.ics").write_text(RICH)
    calendar = make_calendar(tmp_path)
    event = calendar.get("rich-1")
    assert event is not None
    calendar.annotate(event, annotation())
    first = (tmp_path / "rich-1.ics").stat()
    calendar.annotate(event, annotation())
    second = (tmp_path / "rich-1.ics").stat()
    assert (second.st_ino, second.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)


def test_annotate_keeps_the_file_mode_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "rich-1.ics"
    path.write_text(RICH)
    path.chmod(0o640)
    calendar = make_calendar(tmp_path)
    calendar.annotate(calendar.get("rich-1"), annotation())  # type: ignore[arg-type]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rich-1.ics"]


def test_private_placement_leaves_the_description_alone(tmp_path: Path) -> None:
    path = tmp_path / "rich-1.ics"
    path.write_text(RICH)
    calendar = make_calendar(tmp_path, "private")
    calendar.annotate(calendar.get("rich-1"), annotation())  # type: ignore[arg-type]
    text = path.read_text()
    assert "DESCRIPTION:Challenge: hiring\\nCompany: Analytical Engines\n" in text
    assert "X-SYNCD-NOTE-URL:https://notes.example/ada\n" in text and BEGIN not in text


def test_moving_placement_to_private_takes_the_block_back_out(tmp_path: Path) -> None:
    path = tmp_path / "rich-1.ics"
    path.write_text(RICH)
    store = VdirStore(tmp_path)
    for placement in ("description", "private"):
        calendar = make_calendar(tmp_path, placement)
        calendar.annotate(calendar.get("rich-1"), annotation())  # type: ignore[arg-type]
        has_block = BEGIN in store.read_description("rich-1")
        assert has_block == (placement == "description")
        assert ("X-SYNCD-NOTE-URL" in store.component("rich-1")) == (placement == "private")
    assert store.read_description("rich-1") == "Challenge: hiring\nCompany: Analytical Engines"


def test_reminder_removed_when_annotation_has_none(tmp_path: Path) -> None:
    store = VdirStore(tmp_path)
    event_id = store.put(EventSpec("remind"))
    calendar = make_calendar(tmp_path)
    calendar.annotate(calendar.get(event_id), annotation())  # type: ignore[arg-type]
    calendar.annotate(calendar.get(event_id), annotation(reminder=None))  # type: ignore[arg-type]
    assert store.count_syncd_reminders(event_id) == 0


# Outlook/Exchange export: an HTML description (folded where Outlook folds) shown instead of DESCRIPTION.
OUTLOOK_HTML = (
    'X-ALT-DESC;FMTTYPE=text/html:<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2//E\n'
    ' N">\\n<HTML>\\n<HEAD>\\n<TITLE></TITLE>\\n</HEAD>\\n<BODY>\\n<P>Challenge: hiri\n'
    " ng</P>\\n</BODY>\\n</HTML>\n"
)
OUTLOOK = RICH.replace(
    "X-FOO;X-PARAM=1:keep me exactly\n", "X-FOO;X-PARAM=1:keep me exactly\n" + OUTLOOK_HTML
)
ORIGINAL_HTML = '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2//EN">\n<HTML>\n<HEAD>\n<TITLE></TITLE>\n</HEAD>\n<BODY>\n<P>Challenge: hiring</P>\n</BODY>\n</HTML>'


def html_description(path: Path) -> str:
    """The X-ALT-DESC HTML (icalendar leaves an X- property's TEXT escapes as written)."""
    raw = Calendar.from_ical(path.read_text()).events[0]["X-ALT-DESC"].to_ical().decode()
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), raw)


def test_outlook_html_description_carries_the_block_with_a_real_link(tmp_path: Path) -> None:
    """Outlook shows X-ALT-DESC instead of DESCRIPTION: the block goes into both, and every
    other line of the file survives byte for byte."""
    path = tmp_path / "rich-1.ics"
    before = OUTLOOK.replace("\n", "\r\n").encode()
    path.write_bytes(before)
    calendar = make_calendar(tmp_path, "description")
    calendar.annotate(calendar.get("rich-1"), annotation("https://notes.example/ada?a=1&b=<2>"))  # type: ignore[arg-type]
    removed, inserted = changed_lines(before, path.read_bytes())
    assert sorted(name(line) for line in removed) == [b"DESCRIPTION", b"X-ALT-DESC"]
    assert {name(line) for line in inserted} <= SYNCD_NAMES | {b"X-ALT-DESC"}
    markup = html_description(path)
    link = "https://notes.example/ada?a=1&amp;b=&lt;2&gt;"
    assert f'Session note: <a href="{link}">{link}</a>' in markup
    assert markup.startswith(ORIGINAL_HTML.split("</BODY>")[0]) and markup.endswith("</div></BODY>\n</HTML>")
    assert "b=<2>" not in markup


def test_outlook_html_block_is_replaced_not_duplicated_and_unchanged_means_no_write(tmp_path: Path) -> None:
    path = tmp_path / "rich-1.ics"
    path.write_text(OUTLOOK)
    calendar = make_calendar(tmp_path, "both")
    calendar.annotate(calendar.get("rich-1"), annotation())  # type: ignore[arg-type]
    calendar.annotate(calendar.get("rich-1"), annotation("https://notes.example/moved"))  # type: ignore[arg-type]
    markup = html_description(path)
    assert markup.count(BEGIN) == 1 and "notes.example/moved" in markup and "notes.example/ada" not in markup
    first = path.stat()
    calendar.annotate(calendar.get("rich-1"), annotation("https://notes.example/moved"))  # type: ignore[arg-type]
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (first.st_ino, first.st_mtime_ns)


def test_moving_placement_to_private_restores_the_outlook_html(tmp_path: Path) -> None:
    path = tmp_path / "rich-1.ics"
    path.write_text(OUTLOOK)
    for placement in ("description", "private"):
        calendar = make_calendar(tmp_path, placement)
        calendar.annotate(calendar.get("rich-1"), annotation())  # type: ignore[arg-type]
        assert (BEGIN in html_description(path)) == (placement == "description")
    assert html_description(path) == ORIGINAL_HTML


def test_annotate_read_only_file_raises_unavailable_not_a_final_error(tmp_path: Path) -> None:
    """A file made read-only (by permissions) is left alone, but only for now: permissions may
    be given back, so the error is retried next pass rather than recorded as final."""
    path = tmp_path / "rich-1.ics"
    path.write_text(RICH)
    path.chmod(0o444)
    calendar = make_calendar(tmp_path)
    with pytest.raises(Unavailable) as caught:
        calendar.annotate(calendar.get("rich-1"), annotation())  # type: ignore[arg-type]
    assert not caught.value.final and not isinstance(caught.value, NotPermitted)
    assert path.read_text() == RICH


def test_annotate_vanished_event_raises_event_gone(tmp_path: Path) -> None:
    path = tmp_path / "rich-1.ics"
    path.write_text(RICH)
    calendar = make_calendar(tmp_path)
    event = calendar.get("rich-1")
    path.unlink()
    with pytest.raises(EventGone):
        calendar.annotate(event, annotation())  # type: ignore[arg-type]


# --- recurring series -------------------------------------------------------------------------

SERIES = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//vdir//EN
BEGIN:VEVENT
UID:series-1
DTSTAMP:20300101T000000Z
DTSTART;TZID=Europe/Berlin:20300603T100000
DTEND;TZID=Europe/Berlin:20300603T103000
SUMMARY:Intro series
DESCRIPTION:Weekly
RRULE:FREQ=WEEKLY;COUNT=4
EXDATE;TZID=Europe/Berlin:20300617T100000
RDATE;TZID=Europe/Berlin:20300605T150000
END:VEVENT
BEGIN:VEVENT
UID:series-1
DTSTAMP:20300101T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20300610T100000
DTSTART;TZID=Europe/Berlin:20300610T120000
DTEND;TZID=Europe/Berlin:20300610T123000
SUMMARY:Intro series (moved)
DESCRIPTION:Moved one
END:VEVENT
BEGIN:VEVENT
UID:series-1
DTSTAMP:20300101T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20300624T100000
DTSTART;TZID=Europe/Berlin:20300624T100000
DTEND;TZID=Europe/Berlin:20300624T103000
SUMMARY:Intro series
STATUS:CANCELLED
END:VEVENT
END:VCALENDAR
"""


def test_series_expands_with_exdate_rdate_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "series-1.ics").write_text(SERIES)
    found = by_id(make_calendar(tmp_path).changes(None, SINCE))
    # 06-03, 06-05 (RDATE), 06-10 (moved to 12:00); 06-17 excluded; 06-24 cancelled (not on a full sync).
    assert sorted(found) == [
        "series-1/20300603T080000Z",
        "series-1/20300605T130000Z",
        "series-1/20300610T080000Z",
    ]
    moved = found["series-1/20300610T080000Z"]
    assert moved.summary == "Intro series (moved)" and moved.start == datetime(2030, 6, 10, 10, 0, tzinfo=UTC)
    assert found["series-1/20300603T080000Z"].timezone == "Europe/Berlin"


def test_cancelled_override_is_reported_on_incremental_sync(tmp_path: Path) -> None:
    path = tmp_path / "series-1.ics"
    write_file(path, SERIES.replace("STATUS:CANCELLED\n", ""))
    calendar = make_calendar(tmp_path)
    cursor = calendar.changes(None, SINCE).cursor
    write_file(path, SERIES)
    found = by_id(calendar.changes(cursor, SINCE))
    assert found["series-1/20300624T080000Z"].cancelled
    assert not found["series-1/20300603T080000Z"].cancelled


def test_endless_series_is_expanded_over_the_60_day_horizon(tmp_path: Path) -> None:
    """The window ends `horizon` (60 days) after now, or after `since` when that is later."""
    VdirStore(tmp_path).put(EventSpec("daily", summary="Daily", rrule="FREQ=DAILY;INTERVAL=2"))
    found = make_calendar(tmp_path, horizon=HORIZON).changes(None, SINCE).events
    starts = sorted(event.start for event in found if event.start)
    assert timedelta(days=60) == HORIZON
    assert starts[0] == START and starts[-1] < SINCE + timedelta(days=60)
    assert len(starts) == 30  # every other day (a daily series would pass the cap of 50)


def test_annotating_an_instance_creates_an_override_for_it_only(tmp_path: Path) -> None:
    path = tmp_path / "series-1.ics"
    path.write_text(SERIES)
    calendar = make_calendar(tmp_path)
    cursor = calendar.changes(None, SINCE).cursor
    target = "series-1/20300603T080000Z"
    for _ in range(2):  # the second time reuses the override
        calendar.annotate(calendar.get(target), annotation())  # type: ignore[arg-type]
    text = path.read_text()
    master_end = SERIES.index("END:VEVENT\n") + len("END:VEVENT\n")
    assert text.startswith(SERIES[:master_end]) and text.endswith(SERIES[master_end:])
    override = Calendar.from_ical(text).events[1]
    original = override.RECURRENCE_ID
    assert original == datetime(2030, 6, 3, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert override.start == original and override.duration == timedelta(minutes=30)
    assert "RRULE" not in override and "EXDATE" not in override
    assert text.count("BEGIN:VEVENT") == 4 and text.count("X-SYNCD-ALARM") == 1
    changed = by_id(calendar.changes(cursor, SINCE))
    assert find_note_url(changed[target].description) == "https://notes.example/ada"
    assert changed[target].start == START
    assert find_note_url(changed["series-1/20300605T130000Z"].description) == ""


def test_annotating_an_overridden_instance_writes_into_its_override(tmp_path: Path) -> None:
    path = tmp_path / "series-1.ics"
    path.write_text(SERIES)
    calendar = make_calendar(tmp_path)
    calendar.annotate(calendar.get("series-1/20300610T080000Z"), annotation())  # type: ignore[arg-type]
    text = path.read_text()
    assert text.count("BEGIN:VEVENT") == 3
    moved = VdirStore(tmp_path).component("series-1/20300610T080000Z")
    assert find_note_url(str(moved["DESCRIPTION"])) == "https://notes.example/ada"
    assert str(moved["SUMMARY"]) == "Intro series (moved)"


def test_series_shortened_reports_the_lost_instances_cancelled(tmp_path: Path) -> None:
    store = VdirStore(tmp_path)
    store.put(EventSpec("short", summary="Short", rrule="FREQ=DAILY;COUNT=3"))
    calendar = make_calendar(tmp_path)
    cursor = calendar.changes(None, SINCE).cursor
    store.put(EventSpec("short", summary="Short", rrule="FREQ=DAILY;COUNT=2"))
    found = by_id(calendar.changes(cursor, SINCE))
    assert found["short/20300605T080000Z"].cancelled
    assert not found["short/20300604T080000Z"].cancelled


def test_instances_left_behind_since_are_not_reported_cancelled(tmp_path: Path) -> None:
    store = VdirStore(tmp_path)
    store.put(EventSpec("daily", summary="Daily", rrule="FREQ=DAILY;COUNT=5"))
    calendar = make_calendar(tmp_path)
    cursor = calendar.changes(None, SINCE).cursor
    store.put(EventSpec("daily", summary="Daily!", rrule="FREQ=DAILY;COUNT=5"))
    later = SINCE + timedelta(days=3)
    assert not any(event.cancelled for event in calendar.changes(cursor, later).events)


def test_vanished_series_file_gives_a_stub_per_instance(tmp_path: Path) -> None:
    store = VdirStore(tmp_path)
    store.put(EventSpec("trio", rrule="FREQ=DAILY;COUNT=3"))
    calendar = make_calendar(tmp_path)
    cursor = calendar.changes(None, SINCE).cursor
    store.delete("trio")
    changed = calendar.changes(cursor, SINCE).events
    assert len(changed) == 3 and all(event.cancelled for event in changed)


WEEKLY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//vdir//EN
BEGIN:VEVENT
UID:weekly
DTSTAMP:20300101T000000Z
DTSTART;TZID=Europe/Berlin:20301020T100000
DTEND;TZID=Europe/Berlin:20301020T103000
SUMMARY:Intro: Ada Lovelace
RRULE:FREQ=WEEKLY;COUNT=3
END:VEVENT
END:VCALENDAR
"""
# Sunday 10:00 in Berlin, across the end of summer time (27 October 2030).
WEEKLY_IDS = ["weekly/20301020T080000Z", "weekly/20301027T090000Z", "weekly/20301103T090000Z"]


def _annotate_all(calendar: VdirCalendar, ids: list[str]) -> None:
    for number, event_id in enumerate(ids):
        calendar.annotate(calendar.get(event_id), annotation(f"https://notes.example/{number}"))  # type: ignore[arg-type]


def _move_master(path: Path, old: str, new: str) -> None:
    """The coach moves "all events" of the series: only its master (the first VEVENT) changes."""
    text = path.read_text()
    split = text.index("END:VEVENT")
    write_file(path, text[:split].replace(old, new) + text[split:])


def _put_series_last(path: Path) -> None:
    """As a calendar app may store them: the overrides before their series."""
    text = path.read_text()
    begin, end = text.index("BEGIN:VEVENT"), text.index("END:VEVENT\n") + len("END:VEVENT\n")
    tail = text.index("END:VCALENDAR")
    write_file(path, text[:begin] + text[end:tail] + text[begin:end] + text[tail:])


@pytest.mark.parametrize("series_last", [False, True])
def test_moving_a_whole_series_carries_syncds_overrides_to_the_moved_instances(
    tmp_path: Path, series_last: bool
) -> None:
    """Each instance of the moved series names the one it was (the same session), and syncd's
    override at the old time, which only carried its annotation, goes when the new one is
    annotated: no ghost event is left at the old time (wherever the file has the overrides)."""
    path = tmp_path / "weekly.ics"
    write_file(path, WEEKLY)
    calendar = make_calendar(tmp_path)
    calendar.changes(None, SINCE)
    _annotate_all(calendar, WEEKLY_IDS)
    cursor = calendar.changes(None, SINCE).cursor
    _move_master(path, "T100000", "T110000")
    if series_last:
        _put_series_last(path)
    changed = calendar.changes(cursor, SINCE).events
    moved = ["weekly/20301020T090000Z", "weekly/20301027T100000Z", "weekly/20301103T100000Z"]
    assert [(e.id, e.moved_from, e.cancelled) for e in changed] == [
        (m, o, False) for m, o in zip(moved, WEEKLY_IDS, strict=True)
    ]
    assert all(find_note_url(e.description) == "" for e in changed)
    _annotate_all(calendar, moved)
    text = path.read_text()
    assert text.count("BEGIN:VEVENT") == 4 and "RECURRENCE-ID;TZID=Europe/Berlin:20301020T100000" not in text
    assert [find_note_url(calendar.get(m).description) for m in moved] == [  # type: ignore[union-attr]
        f"https://notes.example/{n}" for n in range(3)
    ]
    assert [e.id for e in calendar.changes(None, SINCE).events] == moved


def test_overrides_the_coach_made_or_edited_stay_when_the_series_moves(tmp_path: Path) -> None:
    """Only an override syncd made and nobody changed since may go: one the coach wrote, or
    one of syncd's the coach then edited, stays an event of its own, byte for byte."""
    path = tmp_path / "weekly.ics"
    coach_override = (
        "BEGIN:VEVENT\nUID:weekly\nDTSTAMP:20300101T000000Z\n"
        "RECURRENCE-ID;TZID=Europe/Berlin:20301027T100000\nDTSTART;TZID=Europe/Berlin:20301027T100000\n"
        "DTEND;TZID=Europe/Berlin:20301027T103000\nSUMMARY:Intro: Ada Lovelace\nEND:VEVENT\n"
    )
    write_file(path, WEEKLY.replace("END:VCALENDAR", coach_override + "END:VCALENDAR"))
    calendar = make_calendar(tmp_path)
    calendar.changes(None, SINCE)
    _annotate_all(calendar, [WEEKLY_IDS[0], WEEKLY_IDS[2]])
    edited = path.read_text().replace(
        "RECURRENCE-ID;TZID=Europe/Berlin:20301103T100000\n",
        "RECURRENCE-ID;TZID=Europe/Berlin:20301103T100000\nLOCATION:Room 4\n",
    )
    write_file(path, edited)
    cursor = calendar.changes(None, SINCE).cursor
    _move_master(path, "T100000", "T110000")
    found = by_id(calendar.changes(cursor, SINCE))
    assert found["weekly/20301020T090000Z"].moved_from == WEEKLY_IDS[0]
    assert not found["weekly/20301027T090000Z"].cancelled and not found["weekly/20301103T090000Z"].cancelled
    assert found["weekly/20301103T100000Z"].moved_from == ""
    calendar.annotate(calendar.get("weekly/20301020T090000Z"), annotation())  # type: ignore[arg-type]
    text = path.read_text()
    assert coach_override in text and "LOCATION:Room 4" in text
    assert "RECURRENCE-ID;TZID=Europe/Berlin:20301020T100000" not in text


def test_an_instance_the_series_dropped_is_cancelled_though_syncd_annotated_it(tmp_path: Path) -> None:
    """syncd's override of an instance the coach then removed from the series (COUNT 3 -> 2)
    is not an event any more: the session is reported cancelled."""
    path = tmp_path / "weekly.ics"
    write_file(path, WEEKLY)
    calendar = make_calendar(tmp_path)
    calendar.changes(None, SINCE)
    _annotate_all(calendar, WEEKLY_IDS[2:])
    cursor = calendar.changes(None, SINCE).cursor
    _move_master(path, "COUNT=3", "COUNT=2")
    found = by_id(calendar.changes(cursor, SINCE))
    assert found[WEEKLY_IDS[2]].cancelled and not found[WEEKLY_IDS[1]].cancelled


# --- change detection -------------------------------------------------------------------------


def test_change_detection_of_a_settled_file_is_by_stat_alone(tmp_path: Path) -> None:
    """A file last written well before the scan, rewritten in place with the same size and its
    mtime_ns put back, is not read again: only its stat is looked at."""
    store = VdirStore(tmp_path)
    store.put(EventSpec("same", summary="Intro: AAAA"))
    path = tmp_path / "same.ics"
    _age(path)
    calendar = make_calendar(tmp_path)
    cursor = calendar.changes(None, SINCE).cursor
    before = path.stat()
    path.write_text(spec_ics(EventSpec("same", summary="Intro: BBBB")))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_ino == before.st_ino
    assert calendar.changes(cursor, SINCE).events == []
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1))
    assert [event.summary for event in calendar.changes(cursor, SINCE).events] == ["Intro: BBBB"]


def test_rewrite_in_the_same_timestamp_tick_as_the_scan_is_seen(tmp_path: Path) -> None:
    """On a file system with 1-2 s timestamps (SMB, FAT, some FUSE) a same-size rewrite just
    after a scan keeps the mtime the scan saw: a file that fresh is checked again by content."""
    store = VdirStore(tmp_path)
    store.put(EventSpec("tick"))
    path = tmp_path / "tick.ics"
    calendar = make_calendar(tmp_path)
    cursor = calendar.changes(None, SINCE).cursor
    before = path.stat()
    path.write_text(spec_ics(EventSpec("tick", start=START + timedelta(hours=1))))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    changed = calendar.changes(cursor, SINCE)
    assert [(event.id, event.start) for event in changed.events] == [("tick", START + timedelta(hours=1))]
    assert calendar.changes(changed.cursor, SINCE).events == []  # seen once, not again


def test_atomic_rewrite_with_the_same_mtime_and_size_is_seen(tmp_path: Path) -> None:
    """vdirsyncer, khal and syncd replace a file by renaming a new one over it: a new inode,
    even when mtime and size come out the same."""
    store = VdirStore(tmp_path)
    store.put(EventSpec("swap"))
    path = tmp_path / "swap.ics"
    _age(path)
    calendar = make_calendar(tmp_path)
    cursor = calendar.changes(None, SINCE).cursor
    before = path.stat()
    temp = tmp_path / ".swap.ics.tmp"
    temp.write_text(spec_ics(EventSpec("swap", start=START + timedelta(hours=1))))
    os.utime(temp, ns=(before.st_atime_ns, before.st_mtime_ns))
    temp.replace(path)
    assert path.stat().st_ino != before.st_ino
    assert [event.start for event in calendar.changes(cursor, SINCE).events] == [START + timedelta(hours=1)]


def test_a_fresh_file_is_checked_by_content_until_it_settles_then_not_read(
    tmp_path: Path, opened: list[str]
) -> None:
    """A file written within 2 s of a scan is read once more on the next pass (nothing is
    reported when its content is as it was); once older than that, it is not read at all."""
    VdirStore(tmp_path).put(EventSpec("fresh"))
    written = (tmp_path / "fresh.ics").stat().st_mtime_ns
    clock = [written + 500_000_000]
    calendar = make_calendar(tmp_path, clock=lambda: clock[0])
    cursor = calendar.changes(None, SINCE).cursor
    clock[0] = written + 10_000_000_000
    opened.clear()
    second = calendar.changes(cursor, SINCE)
    assert second.events == [] and opened == [str(tmp_path / "fresh.ics")]
    opened.clear()
    assert calendar.changes(second.cursor, SINCE).events == [] and opened == []


def test_etag_is_mtime_and_size(tmp_path: Path) -> None:
    VdirStore(tmp_path).put(EventSpec("tagged"))
    info = (tmp_path / "tagged.ics").stat()
    event = make_calendar(tmp_path).get("tagged")
    assert event is not None and event.etag == f"{info.st_mtime_ns}-{info.st_size}"


def test_other_files_are_ignored(tmp_path: Path) -> None:
    text = spec_ics(EventSpec("x"))
    for junk in (".hidden.ics", "notes.txt", "x.ics~", "#x.ics#", ".x.ics.tmp", "~x.ics"):
        (tmp_path / junk).write_text(text)
    (tmp_path / "folder.ics").mkdir()
    assert make_calendar(tmp_path).changes(None, SINCE).events == []


def test_a_new_instance_resumes_from_a_stored_cursor(tmp_path: Path) -> None:
    """After a restart the cursor alone says what changed; get() finds events by scanning."""
    store = VdirStore(tmp_path)
    store.put(EventSpec("kept"))
    cursor = make_calendar(tmp_path).changes(None, SINCE).cursor
    restarted = make_calendar(tmp_path)
    assert restarted.changes(cursor, SINCE).events == []
    assert make_calendar(tmp_path).get("kept") is not None
    (tmp_path / "kept.ics").rename(tmp_path / "renamed-by-app.ics")
    assert make_calendar(tmp_path).get("kept") is not None


def test_first_pass_clears_temp_files_a_killed_syncd_left(tmp_path: Path) -> None:
    stale, fresh = tmp_path / ".syncd-abc.tmp", tmp_path / ".syncd-def.tmp"
    stale.write_text("half an event")
    fresh.write_text("being written right now")
    os.utime(stale, (0, 0))
    assert make_calendar(tmp_path).changes(None, SINCE).events == []
    assert not stale.exists() and fresh.exists()


def test_missing_folder_raises_backend_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError):
        make_calendar(tmp_path / "nowhere").changes(None, SINCE)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not json",
        "[]",
        '{"v": 99}',
        '{"v": 2, "dir": "/elsewhere", "files": {}}',
        "{DIR_FILES_BAD}",
        "{VERSION_1}",
    ],
)
def test_unusable_cursor_raises_cursor_expired(tmp_path: Path, cursor: str) -> None:
    """Including a cursor of the first version (no inode, no content check): it cannot say
    which files were still unsettled, so the folder is read again from scratch."""
    cursor = cursor.replace(
        "{DIR_FILES_BAD}", json.dumps({"v": 2, "dir": str(tmp_path), "files": {"a.ics": [1]}})
    ).replace("{VERSION_1}", json.dumps({"v": 1, "dir": str(tmp_path), "files": {"a.ics": [1, 2, ["a"], 0]}}))
    with pytest.raises(CursorExpired):
        make_calendar(tmp_path).changes(cursor, SINCE)


# --- mapping details --------------------------------------------------------------------------


def _event_file(tmp_path: Path, body: str) -> None:
    head = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nBEGIN:VEVENT\nUID:m\nDTSTAMP:20300101T000000Z\n"
    text = f"{head}{body}END:VEVENT\nEND:VCALENDAR\n"
    (tmp_path / "m.ics").write_text(text)


@pytest.mark.parametrize(
    ("body", "start", "end"),
    [
        (
            "DTSTART:20300603T100000\nDTEND:20300603T110000\n",
            datetime(2030, 6, 3, 8, tzinfo=UTC),
            datetime(2030, 6, 3, 9, tzinfo=UTC),
        ),
        (
            "DTSTART:20300603T100000Z\nDURATION:PT45M\n",
            datetime(2030, 6, 3, 10, tzinfo=UTC),
            datetime(2030, 6, 3, 10, 45, tzinfo=UTC),
        ),
        (
            "DTSTART:20300603T100000Z\n",
            datetime(2030, 6, 3, 10, tzinfo=UTC),
            datetime(2030, 6, 3, 10, tzinfo=UTC),
        ),
        (
            "DTSTART;VALUE=DATE:20300603\n",
            datetime(2030, 6, 2, 22, tzinfo=UTC),
            datetime(2030, 6, 3, 22, tzinfo=UTC),
        ),
    ],
    ids=["floating-in-coach-zone", "duration", "no-end", "all-day-without-end"],
)
def test_start_and_end_become_utc(tmp_path: Path, body: str, start: datetime, end: datetime) -> None:
    _event_file(tmp_path, body)
    event = make_calendar(tmp_path).get("m")
    assert event is not None and (event.start, event.end) == (start, end)
    assert event.timezone == ""


def test_windows_zone_names_are_reported_as_iana_names(tmp_path: Path) -> None:
    """Outlook's TZID (with its own VTIMEZONE) is resolved, and named the IANA way."""
    text = RICH.replace("Europe/Berlin", "W. Europe Standard Time")
    (tmp_path / "rich-1.ics").write_text(text)
    event = make_calendar(tmp_path).get("rich-1")
    assert event is not None and event.timezone == "Europe/Berlin"
    assert event.start == datetime(2030, 6, 3, 8, 0, tzinfo=UTC)


def test_responses_and_duplicate_attendees(tmp_path: Path) -> None:
    _event_file(
        tmp_path,
        "DTSTART:20300603T100000Z\n"
        "ATTENDEE;CN=Ada;PARTSTAT=DECLINED:MAILTO:Ada@Client.example\n"
        "ATTENDEE;CN=Ada again:mailto:ada@client.example\n"
        "ATTENDEE:mailto:grace@client.example\n",
    )
    event = make_calendar(tmp_path).get("m")
    assert event is not None
    assert [(a.email, a.name, a.response) for a in event.attendees] == [
        ("ada@client.example", "Ada", "declined"),
        ("grace@client.example", "", "needsAction"),
    ]


def test_apple_urn_uuid_addresses_take_the_email_param(tmp_path: Path) -> None:
    """iCloud writes `urn:uuid:` values with the address in EMAIL=: the coach stays the coach."""
    _event_file(
        tmp_path,
        "DTSTART:20300603T100000Z\n"
        f'ORGANIZER;CN="Jordan Rivera";EMAIL="{COACH_EMAIL}":urn:uuid:00000000-0000-0000-0000-000000000000\n'
        f'ATTENDEE;CN="Jordan Rivera";EMAIL="{COACH_EMAIL}";PARTSTAT=ACCEPTED:urn:uuid:00000000-0000-0000-0000-000000000000\n'
        'ATTENDEE;CN="Uuid Client";EMAIL="Uuid.Client@me.com";PARTSTAT=ACCEPTED:urn:uuid:99999999-9999-9999-9999-999999999999\n'
        'ATTENDEE;CN="No Address":urn:uuid:11111111-1111-1111-1111-111111111111\n',
    )
    event = make_calendar(tmp_path).get("m")
    assert event is not None and event.organizer == COACH_EMAIL
    assert [(a.email, a.name, a.is_self, a.organizer) for a in event.attendees] == [
        (COACH_EMAIL, "Jordan Rivera", True, True),
        ("uuid.client@me.com", "Uuid Client", False, False),
        ("", "No Address", False, False),
    ]
    client = client_attendee(event, frozenset({COACH_EMAIL}))
    assert client is not None and (client.email, client.name) == ("uuid.client@me.com", "Uuid Client")


def test_control_characters_in_a_name_do_not_cost_the_booking(tmp_path: Path) -> None:
    _event_file(
        tmp_path, 'DTSTART:20300603T100000Z\nATTENDEE;CN="Eve\x1b[31m Red\x07":mailto:eve@x.example\n'
    )
    event = make_calendar(tmp_path).get("m")
    assert event is not None and [(a.email, a.name) for a in event.attendees] == [
        ("eve@x.example", "Eve[31m Red")
    ]


# --- bad input --------------------------------------------------------------------------------


def test_broken_file_is_logged_once_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    VdirStore(tmp_path).put(EventSpec("good"))
    (tmp_path / "broken.ics").write_text("this is not a calendar\n")
    calendar = make_calendar(tmp_path)
    with caplog.at_level(logging.WARNING, logger="syncd.calendars.vdir"):
        first = calendar.changes(None, SINCE)
        assert calendar.changes(first.cursor, SINCE).events == []
    assert [event.id for event in first.events] == ["good"]
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "broken.ics" in warnings[0].getMessage()
    assert warnings[0].exc_info is None and "\n" not in warnings[0].getMessage()


def test_bad_property_is_reported_by_name(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _event_file(tmp_path, "DTSTART:garbage\nSUMMARY:Intro\n")
    with caplog.at_level(logging.WARNING, logger="syncd.calendars.vdir"):
        assert make_calendar(tmp_path).changes(None, SINCE).events == []
    assert "m.ics" in caplog.text and "DTSTART" in caplog.text


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe not utf-8",
        b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:-\nDTSTART:20300603T100000Z\nEND:VEVENT\nEND:VCALENDAR\n",
        b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20300603T100000Z\nRRULE:FREQ=SECONDLY\nEND:VEVENT\nEND:VCALENDAR\n",
        b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20300603T100000Z\nRRULE:FREQ=DAILY;BYDAY=XX\nEND:VEVENT\nEND:VCALENDAR\n",
        b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\n",
        b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20300603T100000Z\nDTSTART:20300604T100000Z\nEND:VEVENT\nEND:VCALENDAR\n",
        b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20300603T100000Z\nX-\x1b[31mBAD\nEND:VEVENT\nEND:VCALENDAR\n",
    ],
    ids=["not-utf8", "no-uid", "too-frequent", "bad-rrule", "truncated", "two-starts", "bad-line"],
)
def test_unusable_files_are_skipped_with_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    (tmp_path / "bad.ics").write_bytes(content)
    VdirStore(tmp_path).put(EventSpec("good"))
    with caplog.at_level(logging.WARNING, logger="syncd.calendars.vdir"):
        assert [event.id for event in make_calendar(tmp_path).changes(None, SINCE).events] == ["good"]
    assert len(caplog.records) == 1 and "bad.ics" in caplog.text and caplog.records[0].exc_info is None
    assert not re.search(r"[\x00-\x1f\x7f]", caplog.records[0].getMessage())  # one line, no escapes


def test_repaired_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "fixme.ics"
    write_file(path, "garbage\n")
    calendar = make_calendar(tmp_path)
    cursor = calendar.changes(None, SINCE).cursor
    write_file(path, spec_ics(EventSpec("fixme")))
    assert [event.id for event in calendar.changes(cursor, SINCE).events] == ["fixme"]


def test_from_config_builds_the_calendar(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    coach = CoachConfig.model_validate(
        {
            "name": "Sam",
            "email": COACH_EMAIL,
            "aliases": [COACH_ALIAS],
            "timezone": COACH_ZONE,
            "pricing_url": "https://coach.example/pricing",
            "calendar": {"type": "vdir", "path": str(tmp_path), "link_placement": "private"},
            "notes": {"type": "markdown", "path": str(tmp_path / "notes")},
            "drafts": {"type": "maildir", "path": str(tmp_path / "Drafts")},
        }
    )
    settings = Settings.model_construct(coaches=[coach])
    calendar = from_config(coach.calendar, coach, settings)  # type: ignore[arg-type]
    assert calendar.path == tmp_path and calendar.link_placement == "private"
    assert calendar.coach_addresses == {COACH_EMAIL, COACH_ALIAS}
    assert str(calendar.zone) == COACH_ZONE


def test_all_day_series_instances_are_named_by_date(tmp_path: Path) -> None:
    VdirStore(tmp_path).put(EventSpec("days", all_day=True, rrule="FREQ=DAILY;COUNT=2"))
    ids = sorted(event.id for event in make_calendar(tmp_path).changes(None, SINCE).events)
    assert ids == ["days/20300603", "days/20300604"]
    assert date(2030, 6, 3).strftime("%Y%m%d") in ids[0]
