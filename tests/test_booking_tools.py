"""Bookings as the common booking tools write them, through the real `syncd` command: what the
client answered on the booking page must reach the note without any `answers:` config."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.support import Workspace, ics_time

CALENDLY = """Event Name: Coaching Intro

Location: This is a Google Meet web conference. https://meet.google.com/abc-defg-hij

Please share anything that will help prepare for our meeting.: I lead six engineers and struggle with delegation.

Invitee Time Zone: America/Chicago

Need to make changes to this event?
Cancel: https://calendly.com/cancellations/8c1f2b7e
Reschedule: https://calendly.com/reschedulings/8c1f2b7e

Powered by Calendly.com"""

CAL_COM = """What:
Intro Session between Ada Coach and John Smith

Who:
Ada Coach - Organizer
ada@coach.example

Where:
Cal Video https://app.cal.com/video/abc123

What is your name?
John Smith

Additional notes
Moving from senior developer into product management.

Need to make a change? Cancel or reschedule: https://app.cal.com/booking/abc123?changes=true"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def soon() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=1)


def test_calendlys_default_question_is_the_clients_challenge(ws: Workspace) -> None:
    ws.put("calendly", "Coaching Intro between Ada Coach and Jane Client", soon(), description=CALENDLY)
    ws.run("once")
    [note] = ws.notes()
    challenge = next(line for line in note.read_text().splitlines() if "Top-of-mind challenge" in line)
    assert "I lead six engineers and struggle with delegation." in challenge


def test_cal_coms_additional_notes_are_the_clients_challenge(ws: Workspace) -> None:
    # The guest's display name is missing (as in a calendar that keeps only the address):
    # "What is your name?" names the client.
    guest = ("", "john@smith.example")
    ws.put(
        "calcom", "Intro Session between Ada Coach and John Smith", soon(), client=guest, description=CAL_COM
    )
    ws.run("once")
    [note] = ws.notes()
    text = note.read_text()
    challenge = next(line for line in text.splitlines() if "Top-of-mind challenge" in line)
    assert "Moving from senior developer into product management." in challenge
    assert "John Smith" in note.name


def test_rescheduled_note_gives_the_new_time_in_the_clients_zone_too(ws: Workspace) -> None:
    description = "Invitee Time Zone: America/Chicago"
    ws.put("moved", "Intro session", soon(), description=description)
    ws.run("once")
    later = soon() + timedelta(days=2, hours=3)
    ws.put("moved", "Intro session", later, description=description)
    ws.run("once")
    [note] = ws.notes()
    banner = next(line for line in note.read_text().splitlines() if "Rescheduled" in line)
    chicago = later.astimezone(ZoneInfo("America/Chicago"))
    assert f"{chicago:%H:%M}" in banner and "America/Chicago" in banner


def test_a_reminder_that_came_back_from_the_server_without_syncds_mark_is_not_added_again(
    ws: Workspace,
) -> None:
    """Google (through vdirsyncer) and DAVx5 keep an alarm as "popup, N minutes" and hand it
    back without X-SYNCD-ALARM: the next write must not add a second popup at the same time."""
    ws.put("g1", "Intro session", soon())
    ws.run("once")
    path = ws.calendar / "g1.ics"
    served = (
        path.read_bytes()
        .decode()
        .replace("TRIGGER:-PT5M", "TRIGGER:-P0DT0H5M0S")
        .replace("X-SYNCD-ALARM:1\r\n", "")
        .replace(
            "DESCRIPTION:Intro with Jane Client — review the agenda", "DESCRIPTION:This is an event reminder"
        )
    )
    moved = soon() + timedelta(hours=2)  # and the client moved it: syncd writes again
    served = re.sub(r"DTSTART:\S+", f"DTSTART:{ics_time(moved)}", served)
    served = re.sub(r"DTEND:\S+", f"DTEND:{ics_time(moved + timedelta(minutes=30))}", served)
    path.write_bytes(served.encode())
    ws.run("once")
    text = ws.event_text("g1")
    assert "Follow-up: draft will be prepared" in text and text.count("BEGIN:VALARM") == 1, text


def test_a_client_who_declines_the_invitation_cancels_the_booking_with_a_line_saying_so(
    ws: Workspace,
) -> None:
    path = ws.put("d1", "Intro session", soon())
    ws.run("once")
    path.write_bytes(path.read_bytes().replace(b"PARTSTAT=ACCEPTED", b"PARTSTAT=DECLINED"))
    result = ws.run("once")
    assert "Jane Client (d1): declined by the client; follow-up withdrawn" in result.stderr, result.stderr
    assert "names no client" not in result.stderr
    [note] = ws.notes()
    assert "status: cancelled" in note.read_text()
    event = ws.event_text("d1")  # still in the calendar: its block says the session is off
    assert "Session off (declined by the client): follow-up withdrawn" in event
    assert "draft will be prepared" not in event and "X-SYNCD-ALARM" not in event
    assert str(note.name).replace(" ", "%20") in event
