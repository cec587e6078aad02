"""A CalDAV calendar moved or deleted on the server while syncd runs: the 404 on the
collection is one `Unavailable` line and drops the cached discovery, so the next pass finds the
calendar again (by its display name) and reads it afresh, duplicating nothing."""

from __future__ import annotations

import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd.calendars.caldav import CaldavCalendar
from syncd.calendars.caldav_http import DavClient
from syncd.errors import ConfigError, CursorExpired, Unavailable
from tests.radicale_server import dav, make_calendar
from tests.support import event_ics, kill, wait_for
from tests.test_caldav_calendar import server  # noqa: F401 (the shared Radicale fixture)
from tests.test_caldav_pipeline import CaldavWorkspace


def _put(collection: str, user: str, uid: str, start: datetime) -> None:
    body = event_ics(uid, "Intro session", start).encode()
    status, _, _ = dav("PUT", f"{collection}{uid}.ics", user, body, {"Content-Type": "text/calendar"})
    assert status in (201, 204)


def _text(collection: str, user: str, uid: str) -> str:
    return dav("GET", f"{collection}{uid}.ics", user)[2].decode()


def test_a_calendar_moved_on_the_server_is_found_again_on_the_next_pass(server: str) -> None:  # noqa: F811
    user = f"coach-{uuid.uuid4().hex[:10]}"
    old = make_calendar(server, user, "coaching", "Coaching")
    soon = datetime.now(UTC) + timedelta(hours=3)
    _put(old, user, "e1", soon)
    source = CaldavCalendar(DavClient(user, "secret", attempts=1), server, name="Coaching")
    since = datetime.now(UTC) - timedelta(days=1)
    first = source.changes(None, since)
    assert [e.id for e in first.events] == ["e1"]

    # The coach's other tool moves the calendar: the old collection goes, a new one holds it.
    assert dav("DELETE", old, user)[0] in (200, 204)
    new = make_calendar(server, user, "coaching-moved", "Coaching")
    _put(new, user, "e1", soon)
    _put(new, user, "e2", soon + timedelta(hours=1))

    with pytest.raises(Unavailable, match=r"coaching/ is no longer there \(moved or deleted"):
        source.changes(first.cursor, since)
    # The next pass discovers the calendar again; its cursor was for the old one.
    with pytest.raises(CursorExpired):
        source.changes(first.cursor, since)
    again = source.changes(None, since)
    assert source.calendar_url() == new
    assert sorted(e.id for e in again.events) == ["e1", "e2"]
    assert source.changes(again.cursor, since).events == []


def test_a_calendar_deleted_for_good_is_one_unavailable_then_a_not_found_line(server: str) -> None:  # noqa: F811
    user = f"coach-{uuid.uuid4().hex[:10]}"
    old = make_calendar(server, user, "coaching", "Coaching")
    source = CaldavCalendar(DavClient(user, "secret", attempts=1), server, name="Coaching")
    since = datetime.now(UTC) - timedelta(days=1)
    cursor = source.changes(None, since).cursor
    assert dav("DELETE", old, user)[0] in (200, 204)
    with pytest.raises(Unavailable, match="no longer there"):
        source.changes(cursor, since)
    with pytest.raises(ConfigError, match="'Coaching' not found") as caught:
        source.changes(cursor, since)
    assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_a_running_daemon_follows_its_calendar_to_its_new_place_with_one_line(
    tmp_path: Path,
    server: str,  # noqa: F811
) -> None:
    user = f"coach-{uuid.uuid4().hex[:10]}"
    old = make_calendar(server, user, "coaching", "Coaching")
    ws = CaldavWorkspace(tmp_path, server=server, user=user)
    soon = datetime.now(UTC) + timedelta(hours=3)
    _put(old, user, "e1", soon)
    log = tmp_path / "syncd.log"
    process = ws.start("run", log=log)
    try:
        assert wait_for(lambda: "--- syncd:" in ws.event_text("e1"), timeout=20)
        annotated = dav("GET", f"{old}e1.ics", user)[2]
        assert dav("DELETE", old, user)[0] in (200, 204)
        new = make_calendar(server, user, "coaching-moved", "Coaching")
        assert dav("PUT", f"{new}e1.ics", user, annotated, {"Content-Type": "text/calendar"})[0] == 201
        _put(new, user, "e2", soon + timedelta(hours=1))
        assert wait_for(lambda: "--- syncd:" in _text(new, user, "e2"), timeout=20)
    finally:
        kill(process, signal.SIGTERM)
    text = log.read_text()
    assert len([line for line in text.splitlines() if "no longer there" in line]) == 1, text
    assert "Traceback" not in text
    assert len(ws.notes()) == 2
    assert [_text(new, user, uid).count("--- syncd:") for uid in ("e1", "e2")] == [1, 1]
