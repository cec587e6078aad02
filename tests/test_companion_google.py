"""`link_placement: companion` on Google Calendar, against the fake server through the real
client library: the booked event (which the client is a guest of) is never patched; a prep
event with no attendees, inserted with `sendUpdates=none`, carries link and popup, moves, goes
with a cancel, comes back, is found again by its private property (never two), and is never
taken for a booking itself.

One fake for the module; each test has a calendar of its own on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from syncd.calendars.google import GoogleCalendar, from_config
from syncd.engine import Engine, PassReport, open_engine
from syncd.model import Companion
from tests.fakegoogle import FakeGoogle, LoggedRequest
from tests.fakegoogle.helpers import COACH, booking, make_settings, write_token

BOOKING_ID = "intro0001"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle() as server:
        yield server


def soon() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=1)


@dataclass
class Desk:
    fake: FakeGoogle
    engine: Engine
    calendar_id: str
    make_calendar: Any

    def put(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.fake.calendar.put_event(event, self.calendar_id)

    def run(self) -> PassReport:
        self.fake.clear_log()
        return self.engine.run_pass(datetime.now(UTC))

    def preps(self) -> list[dict[str, Any]]:
        return [
            e
            for e in self.fake.calendar.live_events(self.calendar_id)
            if "syncdCompanion" in ((e.get("extendedProperties") or {}).get("private") or {})
        ]

    def writes(self, method: str) -> list[LoggedRequest]:
        return [r for r in self.fake.requests_to(r"/events", method) if self.calendar_id in unquote(r.path)]


@pytest.fixture
def desk(tmp_path: Path, fake: FakeGoogle) -> Iterator[Desk]:
    calendar_id = f"prep{uuid.uuid4().hex[:8]}@group.calendar.google.com"
    fake.calendar.add_calendar(calendar_id)
    settings = make_settings(tmp_path, fake, placement="companion", calendar_id=calendar_id)
    write_token(settings, fake)

    def make_calendar() -> GoogleCalendar:
        coach = settings.coaches[0]
        return from_config(coach.calendar, coach, settings, num_retries=1, sleep=lambda _: None)  # type: ignore[arg-type]

    engine = open_engine(settings)
    yield Desk(fake, engine, calendar_id, make_calendar)
    engine.close()


def test_the_booked_event_is_not_written_and_the_prep_event_is_inserted_quietly(desk: Desk) -> None:
    start = soon()
    before = desk.put(booking(BOOKING_ID, start))
    report = desk.run()
    assert (report.tally.notes, report.tally.links) == (1, 1)
    assert desk.fake.calendar.event(BOOKING_ID, desk.calendar_id)["etag"] == before["etag"]
    assert desk.writes("PATCH") == []
    [insert] = desk.writes("POST")
    assert insert.query["sendUpdates"] == ["none"]
    body = insert.json()
    assert "attendees" not in body and body["visibility"] == "private"
    [prep] = desk.preps()
    assert prep["summary"] == "Prep: intro with Ada Lovelace"
    assert prep["start"]["dateTime"] == (start - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert prep["end"]["dateTime"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert prep["reminders"] == {"useDefault": False, "overrides": [{"method": "popup", "minutes": 0}]}
    assert prep["extendedProperties"]["private"]["syncdCompanion"] == f"{COACH}/{BOOKING_ID}"
    assert "Session note: file://" in prep["description"]


def test_the_prep_event_read_back_is_no_booking_and_a_quiet_pass_writes_nothing(desk: Desk) -> None:
    desk.put(booking(BOOKING_ID, soon()))
    desk.run()
    report = desk.run()  # the sync token hands back the prep event syncd inserted
    assert report.bookings == 1 and (report.tally.links, report.tally.updates) == (0, 0)
    assert [r.method for r in desk.fake.requests_to("/events") if r.method != "GET"] == []
    full = desk.make_calendar().changes(None, datetime.now(UTC) - timedelta(days=2))
    assert [e.id for e in full.events] == [BOOKING_ID]


def test_a_reschedule_patches_the_one_prep_event(desk: Desk) -> None:
    desk.put(booking(BOOKING_ID, soon()))
    desk.run()
    later = soon() + timedelta(days=1)
    desk.fake.calendar.modify(
        BOOKING_ID,
        desk.calendar_id,
        start={"dateTime": later.isoformat()},
        end={"dateTime": (later + timedelta(minutes=45)).isoformat()},
    )
    desk.run()
    [prep] = desk.preps()
    assert prep["end"]["dateTime"] == later.strftime("%Y-%m-%dT%H:%M:%SZ")
    [patch] = desk.writes("PATCH")
    assert patch.query["sendUpdates"] == ["none"] and "If-Match" in {k.title() for k in patch.headers}


def test_deleting_the_booked_event_deletes_the_prep_event_and_back_on_brings_it_back(desk: Desk) -> None:
    start = soon()
    desk.put(booking(BOOKING_ID, start))
    desk.run()
    desk.fake.calendar.delete_event(BOOKING_ID, desk.calendar_id)
    desk.run()
    assert desk.preps() == []
    [delete] = desk.writes("DELETE")
    assert delete.query["sendUpdates"] == ["none"]
    desk.put(booking(BOOKING_ID, start))
    desk.run()
    assert len(desk.preps()) == 1


def test_put_companion_finds_its_event_again_from_a_fresh_process_and_drop_is_idempotent(desk: Desk) -> None:
    """The contract a crash relies on: a calendar that never saw the insert (a restarted
    daemon) finds the prep event by its booking id, and makes no second one."""
    start = soon()
    prep = Companion(
        booking_id=f"{COACH}/x1",
        title="Prep: intro with Ada Lovelace",
        start=start - timedelta(minutes=10),
        end=start,
        note_url="https://docs.example.com/n1",
        body="Session note: https://docs.example.com/n1",
        reminder=timedelta(minutes=10),
    )
    desk.make_calendar().put_companion(prep)
    desk.make_calendar().put_companion(prep)
    assert len(desk.preps()) == 1
    moved = Companion(**{**prep.__dict__, "end": start + timedelta(hours=1)})
    desk.make_calendar().put_companion(moved)
    [event] = desk.preps()
    assert event["end"]["dateTime"] == (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    desk.make_calendar().drop_companion(prep.booking_id)
    desk.make_calendar().drop_companion(prep.booking_id)
    assert desk.preps() == []
