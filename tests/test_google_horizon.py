"""Recurrence bombs on Google Calendar: series are read only up to now + horizon, at most
`SERIES_INSTANCES` instances of each per read, and the window moves on with one full re-read.

Pipeline tests run `syncd` in-process against the fake (as tests/test_google_pipeline.py does);
the source's own tests drive `GoogleCalendar` through the real client with a settable clock.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from syncd.calendars.google import GoogleCalendar, from_config
from syncd.calendars.google_items import in_window, rfc3339
from syncd.calendars.limits import SERIES_INSTANCES
from syncd.errors import CursorExpired
from syncd.linkblock import find_note_url
from tests import test_google_pipeline
from tests.fakegoogle import FakeGoogle
from tests.fakegoogle.helpers import COACH, booking, make_settings, write_token
from tests.test_google_pipeline import GoogleWorkspace, at, lines_with, now

gw = test_google_pipeline.gw  # the pipeline tests' fixture: a GoogleWorkspace on a fake Google

OTHER_CLIENT = "bob@client.test"
NOW = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=2)
DAY = timedelta(days=1)


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle() as server:
        yield server


class Clock:
    """A wall clock the test moves (nanoseconds, as `time.time_ns`)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> int:
        return int(self.moment.timestamp()) * 10**9


def source(tmp_path: Path, fake: FakeGoogle, clock: Clock) -> GoogleCalendar:
    """The Google source as the daemon builds it (60-day horizon), on the test's clock."""
    settings = make_settings(tmp_path, fake)
    write_token(settings, fake)
    coach = settings.coaches[0]
    section = coach.calendar
    return from_config(section, coach, settings, num_retries=1, sleep=lambda _: None, clock=clock)  # type: ignore[arg-type]


def daily_series(series_id: str, first: datetime, **fields: Any) -> dict[str, Any]:
    """An open daily intro series (no COUNT, no UNTIL) from `first`."""
    return booking(series_id, first, recurrence=["RRULE:FREQ=DAILY"], **fields)


def lists(fake: FakeGoogle) -> list[dict[str, list[str]]]:
    return [r.query for r in fake.requests_to(r"/events$", "GET")]


# --- the whole pipeline -----------------------------------------------------------------------


@pytest.mark.slow
def test_an_open_daily_series_gives_at_most_50_notes_and_the_canary_booking_its_note_link_draft(
    gw: GoogleWorkspace,
) -> None:
    """A daily intro series running for a month already and for ever on: the pass takes the
    first 50 instances of its window, warns once naming it, and a booking next to it is served."""
    gw.put(daily_series("bomb00001", now() - timedelta(days=30), summary="Intro session: Ada\nLovelace"))
    canary = {"email": OTHER_CLIENT, "displayName": "Bob Client"}
    gw.put(at("canary001", now() - timedelta(hours=1, minutes=45), attendees=[{"email": COACH}, canary]))
    result = gw.once()

    bomb_notes = [p for p in gw.notes() if "bomb00001" in p.read_text()]
    assert len(bomb_notes) == SERIES_INSTANCES
    assert len(gw.notes()) == SERIES_INSTANCES + 1
    url = find_note_url(gw.event("canary001")["description"])
    assert url in {note.as_uri() for note in gw.notes()}
    assert "Follow-up: draft waiting" in gw.event("canary001")["description"]
    assert any(d["To"].addresses[0].addr_spec == OTHER_CLIENT for d in gw.drafts())
    [warning] = lines_with(result.stderr, "recurring event bomb00001")
    assert "(Intro session: Ada Lovelace)" in warning and "only the first 50" in warning


def test_the_full_sync_asks_google_for_events_up_to_now_plus_the_horizon(gw: GoogleWorkspace) -> None:
    gw.put(at("soon00001", now() + DAY))
    before = datetime.now(UTC).replace(microsecond=0)
    gw.once()
    after = datetime.now(UTC)
    [full] = gw.lists()
    time_max = datetime.fromisoformat(full.query["timeMax"][0].replace("Z", "+00:00"))
    assert before + timedelta(days=60) <= time_max <= after + timedelta(days=60)
    assert "syncToken" not in full.query

    gw.fake.calendar.modify("soon00001", summary="Intro session: Ada (moved)")
    gw.once()
    [incremental] = gw.lists()  # the window stays in the cursor, not in the request
    assert "syncToken" in incremental.query and "timeMax" not in incremental.query


def test_a_horizon_moved_past_the_read_window_rereads_once_and_doubles_nothing(gw: GoogleWorkspace) -> None:
    """The window's end moving on by more than a day (here: the coach lengthens `horizon`)
    expires the cursor: one full read of the new window, no note, write or draft twice."""
    gw.put(at("past00001", now() - timedelta(hours=2)))
    gw.put(at("soon00001", now() + DAY))
    # A series wholly inside both windows (the cap is the other test's business, and 50 notes
    # cost seconds): the longer window finds nothing new, so everything must stay as it was.
    weekly = ["RRULE:FREQ=WEEKLY;COUNT=4"]
    gw.put(booking("serie0001", now() + DAY + timedelta(hours=3), recurrence=weekly))
    gw.once()
    seen = {p: p.read_bytes() for p in [*gw.notes(), *gw.draft_files()]}
    assert len(gw.notes()) == 2 + 4 and len(gw.draft_files()) == 1

    gw.extra_coach = "horizon: 70d\n"
    gw.write_config()
    result = gw.once()
    [full] = gw.lists()
    assert "syncToken" not in full.query and {"timeMin", "timeMax"} <= set(full.query)
    assert len(lines_with(result.stderr, "a full sync is needed")) == 1
    assert {p: p.read_bytes() for p in [*gw.notes(), *gw.draft_files()]} == seen
    assert gw.writes() == []

    gw.once()
    [incremental] = gw.fake.requests
    assert "syncToken" in incremental.query  # the new window's cursor was kept


def test_a_state_with_a_plain_token_cursor_reads_on_incrementally(gw: GoogleWorkspace) -> None:
    """State kept by a syncd from before windows holds the bare sync token: the next pass uses
    it (no full read), takes the change, and stores a cursor with the window's end."""
    gw.put(at("soon00001", now() + DAY))
    gw.once()
    with sqlite3.connect(gw.root / "state" / "syncd.sqlite3") as db:
        [(cursor,)] = db.execute("SELECT cursor FROM cursors").fetchall()
        db.execute("UPDATE cursors SET cursor = ?", (json.loads(cursor)["sync"],))
    db.close()
    gw.put(at("soon00002", now() + 2 * DAY))
    gw.once()
    [request] = gw.lists()
    assert request.query["syncToken"] == [json.loads(cursor)["sync"]]
    assert len(gw.notes()) == 2 and len(gw.patches("soon00001")) == 0
    with sqlite3.connect(gw.root / "state" / "syncd.sqlite3") as db:
        assert "until" in json.loads(db.execute("SELECT cursor FROM cursors").fetchone()[0])
    db.close()


# --- the source -------------------------------------------------------------------------------


def test_a_full_sync_sends_time_max_and_keeps_the_window_end_in_the_cursor(
    tmp_path: Path, fake: FakeGoogle
) -> None:
    fake.calendar.put_event(booking("inside001", NOW + timedelta(days=59)))
    fake.calendar.put_event(booking("outside01", NOW + timedelta(days=61)))
    result = source(tmp_path, fake, Clock(NOW)).changes(None, SINCE)
    assert [e.id for e in result.events] == ["inside001"]
    [query] = lists(fake)
    assert query["timeMin"] == [rfc3339(SINCE)] and query["timeMax"] == [rfc3339(NOW + timedelta(days=60))]
    assert json.loads(result.cursor)["until"] == rfc3339(NOW + timedelta(days=60))


def test_instances_changed_past_the_window_end_wait_for_the_window_that_reaches_them(
    tmp_path: Path, fake: FakeGoogle
) -> None:
    """A sync token reports changes anywhere in time; instances starting after the recorded
    end are left to the next window, single events and cancellations come through."""
    calendar = source(tmp_path, fake, Clock(NOW))
    cursor = calendar.changes(None, SINCE).cursor
    fake.calendar.put_event(daily_series("late00001", NOW + timedelta(days=58)))
    fake.calendar.put_event(booking("single001", NOW + timedelta(days=90)))
    changed = calendar.changes(cursor, SINCE)
    ids = sorted(e.id for e in changed.events)
    assert ids == ["late00001_20300428T090000Z", "late00001_20300429T090000Z", "single001"]
    assert json.loads(changed.cursor)["until"] == json.loads(cursor)["until"]


def test_an_old_plain_token_cursor_reads_on_and_gets_a_window(tmp_path: Path, fake: FakeGoogle) -> None:
    """A cursor saved before windows (the bare sync token) is used as it is, not re-read."""
    calendar = source(tmp_path, fake, Clock(NOW))
    token = json.loads(calendar.changes(None, SINCE).cursor)["sync"]
    fake.calendar.put_event(booking("new000001", NOW + DAY))
    fake.clear_log()
    result = calendar.changes(token, SINCE)
    assert [e.id for e in result.events] == ["new000001"]
    [query] = lists(fake)
    assert query["syncToken"] == [token] and "timeMax" not in query
    assert json.loads(result.cursor)["until"] == rfc3339(NOW + timedelta(days=60))


def test_an_unreadable_cursor_asks_for_a_full_sync(tmp_path: Path, fake: FakeGoogle) -> None:
    calendar = source(tmp_path, fake, Clock(NOW))
    with pytest.raises(CursorExpired, match="cannot be used"):
        calendar.changes('{"until": "2030-01-01T00:00:00Z"}', SINCE)
    assert fake.requests == []


def test_the_window_moves_on_only_after_more_than_a_day(tmp_path: Path, fake: FakeGoogle) -> None:
    clock = Clock(NOW)
    calendar = source(tmp_path, fake, clock)
    cursor = calendar.changes(None, SINCE).cursor
    clock.moment = NOW + timedelta(hours=23)
    cursor = calendar.changes(cursor, SINCE + timedelta(hours=23)).cursor
    clock.moment = NOW + timedelta(hours=25)
    fake.clear_log()
    with pytest.raises(CursorExpired, match="a full sync is needed"):
        calendar.changes(cursor, SINCE + timedelta(hours=25))
    assert fake.requests == []  # decided before asking Google anything


def test_the_cap_is_per_series_keeps_the_earliest_and_warns_once(
    tmp_path: Path, fake: FakeGoogle, caplog: pytest.LogCaptureFixture
) -> None:
    fake.calendar.put_event(daily_series("serieaaaa", NOW + timedelta(hours=1)))
    fake.calendar.put_event(daily_series("seriebbbb", NOW + timedelta(hours=2)))
    calendar = source(tmp_path, fake, Clock(NOW))
    events = calendar.changes(None, SINCE).events
    for series in ("serieaaaa", "seriebbbb"):
        starts = sorted(e.start for e in events if e.id.startswith(series) and e.start)
        assert len(starts) == SERIES_INSTANCES and starts[-1] < NOW + timedelta(days=SERIES_INSTANCES)
    calendar.changes(None, SINCE)
    assert len([r for r in caplog.records if "serieaaaa" in r.getMessage()]) == 1


def test_the_fake_refuses_time_max_next_to_a_sync_token(fake: FakeGoogle) -> None:
    """As Google does, so syncd cannot send it by mistake and pass the tests."""
    creds = fake.oauth.credentials(["https://www.googleapis.com/auth/calendar.events"])
    options = {"api_endpoint": fake.api_endpoint}
    events = build(
        "calendar", "v3", credentials=creds, client_options=options, static_discovery=True
    ).events()
    token = events.list(calendarId="primary", timeMax=rfc3339(NOW)).execute()["nextSyncToken"]
    with pytest.raises(HttpError) as caught:
        events.list(calendarId="primary", syncToken=token, timeMax=rfc3339(NOW)).execute()
    assert caught.value.status_code == 400


# --- the rule, on plain data --------------------------------------------------------------------


def instance(series: str, start: datetime, **fields: Any) -> dict[str, Any]:
    end = start + timedelta(minutes=45)
    return {
        "id": f"{series}_{start:%Y%m%dT%H%M%SZ}",
        "recurringEventId": series,
        "start": {"dateTime": start.isoformat()},
        "end": {"dateTime": end.isoformat()},
        **fields,
    }


def test_in_window_drops_live_instances_outside_and_keeps_singles_and_cancellations() -> None:
    until = NOW + timedelta(days=60)
    items = [
        instance("s", SINCE - DAY),  # over before the window
        instance("s", NOW),
        instance("s", until),  # starts at the (exclusive) end
        {"id": "s_20400101T000000Z", "recurringEventId": "s", "status": "cancelled"},
        booking("single001", until + DAY),
    ]
    kept, capped = in_window(items, SINCE, until, SERIES_INSTANCES)
    assert [i["id"] for i in kept] == [items[1]["id"], "s_20400101T000000Z", "single001"]
    assert capped == {}


def test_in_window_caps_each_series_to_its_earliest_instances_in_their_order() -> None:
    items = [instance("s", NOW + DAY * n) for n in reversed(range(5))] + [instance("t", NOW)]
    kept, capped = in_window(items, SINCE, NOW + timedelta(days=60), 3)
    assert [i["id"] for i in kept] == [i["id"] for i in items[2:]]
    assert capped == {"s": 5}
