"""`link_placement: companion` on a vdir folder through the real `syncd` command: the booked
event's file is never written; a prep event file of its own (no attendee, no organizer, a
VALARM) carries the link, moves with the booking, goes with a cancel or deletion, comes back,
and is never taken for a booking itself."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar

from syncd.calendars.ics_companion import companion_text, companion_uid, is_companion
from syncd.calendars.vdir import VdirCalendar
from syncd.model import Companion
from tests.support import COACH, Workspace, event_ics, ics_time

BOOKING = f"{COACH}/up1"


def now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path, link_placement="companion")


def prep_files(ws: Workspace) -> list[Path]:
    return sorted(ws.calendar.glob("syncd-companion-*.ics"))


def prep_text(ws: Workspace) -> str:
    [path] = prep_files(ws)
    return path.read_bytes().decode().replace("\r\n ", "").replace("\r\n", "\n")


def test_the_booked_file_is_untouched_and_the_prep_file_carries_link_and_reminder(ws: Workspace) -> None:
    start = now() + timedelta(days=1)
    booked = ws.put("up1", "Intro session", start)
    before = booked.read_bytes()
    result = ws.run("once")
    assert booked.read_bytes() == before
    [note] = ws.notes()
    [path] = prep_files(ws)
    assert path.name == f"{companion_uid(BOOKING)}.ics"
    text = prep_text(ws)
    assert "SUMMARY:Prep: intro with Jane Client" in text
    assert f"DTSTART:{ics_time(start - timedelta(minutes=5))}" in text and f"DTEND:{ics_time(start)}" in text
    assert note.as_uri() in text and "BEGIN:VALARM" in text and "TRIGGER:PT0S" in text
    assert "ATTENDEE" not in text and "ORGANIZER" not in text and "CLASS:PRIVATE" in text
    assert "1 link written" in result.stderr


def test_the_prep_event_is_never_detected_as_a_booking(ws: Workspace) -> None:
    """Its title says "intro" and it sits in the watched folder: read back on the next pass
    (and on a full read), it is no event at all, so no second note, no warning."""
    ws.put("up1", "Intro session", now() + timedelta(days=1))
    ws.run("once")
    again = ws.run("once")
    assert len(ws.notes()) == 1 and "detected" not in again.stderr and "WARNING" not in again.stderr
    assert "0 links written" in again.stderr
    calendar = VdirCalendar(ws.calendar, coach_addresses=[COACH])
    events = calendar.changes(None, now() - timedelta(days=2)).events
    assert [event.id for event in events] == ["up1"]
    status = ws.run("status").stdout
    assert len([line for line in status.splitlines() if line.startswith("Jane Client")]) == 1
    assert f"{COACH}: note links and reminders are in private prep events" in status


def test_a_prep_event_of_a_booking_unknown_here_is_not_read_as_an_intro(ws: Workspace) -> None:
    start = now() + timedelta(days=1)
    prep = Companion(
        booking_id="someone@else.example/e9",
        title="Prep: intro with Mallory",
        start=start - timedelta(minutes=5),
        end=start,
        note_url="file:///x.md",
        body="Session note: file:///x.md",
        reminder=None,
    )
    (ws.calendar / "stray.ics").write_text(companion_text(prep, now()))
    result = ws.run("once")
    assert ws.notes() == [] and "Mallory" not in result.stderr
    assert is_companion(companion_uid("anything")) and not is_companion("up1")


def test_a_reschedule_moves_the_one_prep_event(ws: Workspace) -> None:
    ws.put("up1", "Intro session", now() + timedelta(days=1))
    ws.run("once")
    later = now() + timedelta(days=2)
    ws.put("up1", "Intro session", later)
    ws.run("once")
    assert len(prep_files(ws)) == 1
    assert f"DTEND:{ics_time(later)}" in prep_text(ws)


@pytest.mark.parametrize("how", ["cancelled", "deleted"])
def test_a_cancel_removes_the_prep_event_and_back_on_brings_it_back(ws: Workspace, how: str) -> None:
    start = now() + timedelta(days=1)
    booked = ws.put("up1", "Intro session", start)
    ws.run("once")
    if how == "deleted":
        booked.unlink()
    else:
        ws.put("up1", "Intro session", start, status="CANCELLED")
    ws.run("once")
    assert prep_files(ws) == []
    ws.put("up1", "Intro session", start)
    ws.run("once")
    assert len(prep_files(ws)) == 1 and len(ws.notes()) == 1
    assert "SEQUENCE" not in ws.event_text("up1")  # the booked file: as the test wrote it
    assert ws.event_text("up1") == event_ics("up1", "Intro session", start).replace("\r\n", "\n")


def test_the_prep_file_parses_as_one_private_event(ws: Workspace) -> None:
    ws.put("up1", "Intro session", now() + timedelta(days=1))
    ws.run("once")
    [path] = prep_files(ws)
    [event] = Calendar.from_ical(path.read_bytes()).walk("VEVENT")
    assert str(event["UID"]) == companion_uid(BOOKING)
    assert str(event["X-SYNCD-COMPANION"]) == BOOKING
    assert [alarm["ACTION"] for alarm in event.walk("VALARM")] == ["DISPLAY"]


def test_a_file_holding_a_booking_beside_a_prep_uid_is_never_replaced(tmp_path: Path) -> None:
    """put_companion replaces only a file that holds its prep event alone: the coach's other
    events in a merged file are never lost."""
    start = now() + timedelta(days=1)
    prep = Companion(
        BOOKING,
        "Prep: intro with Jane Client",
        start - timedelta(minutes=5),
        start,
        "file:///n.md",
        "x",
        None,
    )
    booking = event_ics("up1", "Intro session", start)
    companion = companion_text(prep, now())
    vevent = companion[companion.index("BEGIN:VEVENT") : companion.index("END:VCALENDAR")]
    merged = booking.replace("END:VCALENDAR", vevent + "END:VCALENDAR")
    (tmp_path / "merged.ics").write_bytes(merged.encode())
    calendar = VdirCalendar(tmp_path, coach_addresses=[COACH])
    assert [e.id for e in calendar.changes(None, now() - timedelta(days=1)).events] == ["up1"]
    calendar.put_companion(replace(prep, body="moved"))
    assert (tmp_path / "merged.ics").read_bytes() == merged.encode()
    assert (tmp_path / f"{companion_uid(BOOKING)}.ics").exists()


def test_a_dry_run_says_it_would_put_the_prep_event_and_writes_nothing(ws: Workspace) -> None:
    ws.put("up1", "Intro session", now() + timedelta(days=1))
    result = ws.run("once", "--dry-run")
    assert 'would put the prep event "Prep: intro with Jane Client" beside the session' in result.stderr
    assert prep_files(ws) == [] and ws.notes() == []
