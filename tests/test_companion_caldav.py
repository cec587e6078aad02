"""Companion (prep) events on a real Radicale server: the `CompanionCalendar` contract (put,
found again by UID from a fresh source, moved, dropped) and `changes` never reporting one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest

from syncd.calendars.caldav import CaldavCalendar
from syncd.calendars.caldav_http import DavClient
from syncd.calendars.ics_companion import companion_text, companion_uid
from syncd.model import Companion
from tests.radicale_server import dav, make_calendar, radicale
from tests.support import event_ics
from tests.test_caldav_pipeline import CaldavWorkspace

START = datetime(2030, 3, 4, 10, 0, tzinfo=UTC)
PREP = Companion(
    booking_id="ada@coach.example/up1",
    title="Prep: intro with Jane Client",
    start=START - timedelta(minutes=10),
    end=START,
    note_url="https://notes.example/n1",
    body="Session note: https://notes.example/n1\nFollow-up: draft will be prepared later",
    reminder=timedelta(minutes=10),
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with radicale(tmp_path_factory.mktemp("radicale")) as url:
        yield url


@pytest.fixture
def user() -> str:
    return f"coach-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def collection(server: str, user: str) -> str:
    return make_calendar(server, user, "coaching", "Coaching")


def source(collection: str, user: str) -> CaldavCalendar:
    """A fresh source, as a restarted daemon has: it remembers nothing of earlier writes."""
    return CaldavCalendar(
        DavClient(user, "secret", attempts=1),
        collection,
        coach_addresses=["ada@coach.example"],
        horizon=timedelta(days=3650),
    )


def resources(collection: str, user: str) -> dict[str, str]:
    """href -> text of every event resource in the calendar."""
    status, _, body = dav("PROPFIND", collection, user, headers={"Depth": "1"})
    assert status == 207
    hrefs = [part.split("</")[0] for part in body.decode().split("href>")[1::2]]
    found = {}
    for href in hrefs:
        if href.endswith(".ics"):
            code, _, text = dav("GET", collection + href.rsplit("/", 1)[1], user)
            assert code == 200
            found[unquote(href.rsplit("/", 1)[1])] = text.decode()
    return found


def test_put_twice_from_fresh_sources_makes_one_private_prep_event(collection: str, user: str) -> None:
    source(collection, user).put_companion(PREP)
    source(collection, user).put_companion(PREP)
    [(name, text)] = resources(collection, user).items()
    assert name == f"{companion_uid(PREP.booking_id)}.ics"
    assert "Prep: intro with Jane Client" in text and "BEGIN:VALARM" in text
    assert "ATTENDEE" not in text and "ORGANIZER" not in text


def test_a_moved_prep_event_is_rewritten_where_it_is_found(collection: str, user: str) -> None:
    """Found by its UID under whatever name another client stored it, never made twice."""
    elsewhere = collection + "moved-by-a-client.ics"
    status, _, _ = dav(
        "PUT", elsewhere, user, companion_text(PREP, START).encode(), {"Content-Type": "text/calendar"}
    )
    assert status == 201
    later = replace(PREP, start=PREP.start + timedelta(days=1), end=PREP.end + timedelta(days=1))
    source(collection, user).put_companion(later)
    [(name, text)] = resources(collection, user).items()
    assert name == "moved-by-a-client.ics" and "DTEND:20300305T100000Z" in text


def test_drop_deletes_it_and_dropping_again_is_nothing(collection: str, user: str) -> None:
    calendar = source(collection, user)
    calendar.put_companion(PREP)
    source(collection, user).drop_companion(PREP.booking_id)
    assert resources(collection, user) == {}
    calendar.drop_companion(PREP.booking_id)


def test_changes_never_report_a_prep_event_titled_intro(collection: str, user: str) -> None:
    body = event_ics("up1", "Intro session", START).encode()
    assert dav("PUT", collection + "up1.ics", user, body, {"Content-Type": "text/calendar"})[0] == 201
    calendar = source(collection, user)
    first = calendar.changes(None, START - timedelta(days=1))
    calendar.put_companion(replace(PREP, title="Intro prep with Jane Client"))
    later = calendar.changes(first.cursor, START - timedelta(days=1))
    assert [e.id for e in first.events] == ["up1"] and later.events == []
    assert [e.id for e in source(collection, user).changes(None, START - timedelta(days=1)).events] == ["up1"]


def test_syncd_once_on_caldav_leaves_the_booked_event_and_keeps_one_prep_event(
    tmp_path: Path, server: str
) -> None:
    """The whole pipeline (`syncd once`, Markdown notes): the booked event's ETag never moves,
    the prep event is made once and deleted with the booking."""
    user = f"coach-{uuid.uuid4().hex[:10]}"
    collection = make_calendar(server, user, "coaching", "Coaching")
    ws = CaldavWorkspace(tmp_path, server=server, user=user)
    ws.config.write_text(
        ws.config.read_text().replace("calendar: Coaching}", "calendar: Coaching, link_placement: companion}")
    )
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=1)
    ws.put("up1", "Intro session", start)
    etag = dav("GET", collection + "up1.ics", user)[1]["etag"]
    ws.run("once")
    second = ws.run("once")
    assert dav("GET", collection + "up1.ics", user)[1]["etag"] == etag
    [note] = ws.notes()
    preps = {name: text for name, text in resources(collection, user).items() if name != "up1.ics"}
    [(name, text)] = preps.items()
    assert name.startswith("syncd-companion-") and note.as_uri() in text.replace("\r\n ", "")
    assert "0 links written" in second.stderr
    assert dav("DELETE", collection + "up1.ics", user)[0] in (200, 204)
    ws.run("once")
    assert resources(collection, user) == {}
