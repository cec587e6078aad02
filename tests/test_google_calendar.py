"""GoogleCalendar driven through the real googleapiclient client against the local fake."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from syncd.calendars.google import GoogleCalendar, from_config
from syncd.calendars.google_items import (
    PROP_BOOKING,
    PROP_NOTE,
    PROP_REMINDER,
    annotation_patch,
    event_from_item,
)
from syncd.config import Settings
from syncd.errors import (
    AuthError,
    BackendError,
    CursorExpired,
    PreconditionFailed,
    ReadOnlyEvent,
)
from syncd.linkblock import BEGIN, find_note_url
from syncd.model import Annotation, CalendarEvent
from tests import calendar_contract as contract
from tests.calendar_contract import CalendarContract, EventSpec
from tests.fakegoogle import FakeGoogle
from tests.fakegoogle.helpers import CLIENT, COACH, SINCE, booking, make_settings, write_token

START = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
NOTE_URL = "https://docs.example.com/notes/ada"
EVENTS = r"^/calendars/[^/]+/events$"
EVENT = r"^/calendars/[^/]+/events/[^/]+$"
TIMEOUT = 0.3


def note(reminder: timedelta | None = timedelta(minutes=5), url: str = NOTE_URL) -> Annotation:
    return Annotation(booking_id="b-1", note_url=url, client_name="Ada Lovelace", reminder=reminder)


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle() as server:
        yield server


def make_calendar(tmp_path: Path, fake: FakeGoogle, placement: str = "both") -> GoogleCalendar:
    """The backend as the daemon builds it, from config and a stored token, with fast retries."""
    settings = make_settings(tmp_path, fake, placement=placement)
    write_token(settings, fake)
    coach = settings.coaches[0]
    calendar = from_config(
        coach.calendar,  # type: ignore[arg-type]
        coach,
        settings,
        timeout=TIMEOUT,
        num_retries=2,
        sleep=lambda seconds: None,
    )
    calendar.horizon = timedelta(days=400)  # reaches the events these tests put in 2030
    return calendar


@pytest.fixture
def calendar(tmp_path: Path, fake: FakeGoogle) -> GoogleCalendar:
    return make_calendar(tmp_path, fake)


def seed(fake: FakeGoogle, count: int) -> list[str]:
    ids = [f"intro{n:04d}" for n in range(count)]
    for n, event_id in enumerate(ids):
        fake.calendar.put_event(booking(event_id, START + timedelta(days=n)))
    return ids


def listed(calendar: GoogleCalendar, fake: FakeGoogle, event_id: str) -> CalendarEvent:
    """The event as a full sync reports it (also primes the backend's cache)."""
    return next(e for e in calendar.changes(None, SINCE).events if e.id == event_id)


# --- reading ----------------------------------------------------------------------------------


def test_full_sync_reads_every_page_even_short_and_empty_ones(
    calendar: GoogleCalendar, fake: FakeGoogle
) -> None:
    """All pages are read before the sync token (only on the last page) becomes the cursor."""
    ids = seed(fake, 7)
    fake.calendar.page_plan = [2, 0, 1, 0, 3, 1]
    result = calendar.changes(None, SINCE)
    assert [e.id for e in result.events] == ids
    assert json.loads(result.cursor)["sync"].startswith("sync-")  # and the window's end
    pages = fake.requests_to(EVENTS)
    assert len(pages) == 6
    assert "pageToken" not in pages[0].query
    assert all("pageToken" in page.query for page in pages[1:])
    assert {page.query["timeMin"][0] for page in pages} == {"2030-01-01T00:00:00Z"}
    assert pages[0].query["maxResults"] == ["2500"]
    assert pages[0].query["singleEvents"] == ["true"] and pages[0].query["showDeleted"] == ["true"]


def test_full_sync_leaves_out_events_that_ended_before_since(
    calendar: GoogleCalendar, fake: FakeGoogle
) -> None:
    fake.calendar.put_event(booking("oldintro1", SINCE - timedelta(days=3)))
    seed(fake, 1)
    assert [e.id for e in calendar.changes(None, SINCE).events] == ["intro0000"]


def test_a_pass_without_changes_costs_exactly_one_request(calendar: GoogleCalendar, fake: FakeGoogle) -> None:
    seed(fake, 3)
    cursor = calendar.changes(None, SINCE).cursor
    fake.clear_log()
    result = calendar.changes(cursor, SINCE)
    assert result.events == []
    assert len(fake.requests) == 1
    query = fake.requests[0].query
    assert query["syncToken"] == [json.loads(cursor)["sync"]]
    assert "timeMin" not in query  # Google refuses it next to a sync token


def test_incremental_sync_reports_edits_and_deletions_as_cancelled_stubs(
    calendar: GoogleCalendar, fake: FakeGoogle
) -> None:
    first, second, _ = seed(fake, 3)
    cursor = calendar.changes(None, SINCE).cursor
    fake.calendar.modify(first, summary="Intro session: Ada (moved)")
    fake.calendar.delete_event(second)
    result = calendar.changes(cursor, SINCE)
    by_id = {e.id: e for e in result.events}
    assert set(by_id) == {first, second}
    assert by_id[first].summary == "Intro session: Ada (moved)"
    assert by_id[second].cancelled and by_id[second].summary == ""
    assert calendar.changes(result.cursor, SINCE).events == []


def test_incremental_sync_pages_with_the_same_sync_token(calendar: GoogleCalendar, fake: FakeGoogle) -> None:
    cursor = calendar.changes(None, SINCE).cursor
    ids = seed(fake, 5)
    fake.calendar.page_size = 2
    fake.clear_log()
    result = calendar.changes(cursor, SINCE)
    assert [e.id for e in result.events] == ids
    assert [r.query["syncToken"] for r in fake.requests] == [[json.loads(cursor)["sync"]]] * 3


def test_expired_sync_token_raises_cursor_expired_and_a_full_sync_recovers(
    calendar: GoogleCalendar, fake: FakeGoogle
) -> None:
    ids = seed(fake, 2)
    cursor = calendar.changes(None, SINCE).cursor
    fake.calendar.expire_sync_tokens()
    with pytest.raises(CursorExpired) as caught:
        calendar.changes(cursor, SINCE)
    assert "Google calendar primary" in str(caught.value)
    assert len(fake.requests_to(EVENTS)) == 2  # 410 is not retried
    result = calendar.changes(None, SINCE)
    assert [e.id for e in result.events] == ids
    assert calendar.changes(result.cursor, SINCE).events == []


def test_items_map_to_calendar_events_in_utc() -> None:
    item = booking("intro0001", START)
    item["etag"] = '"42"'
    item["start"] = {"dateTime": "2030-03-04T10:00:00+01:00", "timeZone": "Europe/Berlin"}
    item["attendees"][0]["self"] = True
    event = event_from_item(item, "America/New_York")
    assert event.start == START and event.end == START + timedelta(minutes=45)
    assert event.start.tzinfo is UTC
    assert event.timezone == "Europe/Berlin"
    assert event.organizer == COACH and event.etag == '"42"'
    coach, client = event.attendees
    assert (coach.is_self, coach.organizer, coach.response) == (True, True, "accepted")
    assert (client.email, client.name, client.response) == (CLIENT, "Ada Lovelace", "needsAction")


def test_all_day_events_are_flagged() -> None:
    item = {"id": "holiday01", "start": {"date": "2030-03-04"}, "end": {"date": "2030-03-05"}}
    event = event_from_item(item, "Europe/Berlin")
    assert event.all_day and event.start == datetime(2030, 3, 4, tzinfo=UTC)
    assert event.timezone == "Europe/Berlin"  # the calendar's zone when the event names none


def test_a_cancelled_stub_needs_only_an_id() -> None:
    event = event_from_item({"id": "gone00001", "status": "cancelled"})
    assert event.cancelled and event.start is None and event.attendees == ()


def test_get_rereads_and_returns_none_for_a_vanished_event(
    calendar: GoogleCalendar, fake: FakeGoogle
) -> None:
    """Purged (404) and deleted (410) events are gone; an event cancelled in place is a stub."""
    purged, deleted, called_off, live = seed(fake, 4)
    fake.calendar.purge(purged)
    fake.calendar.delete_event(deleted)
    fake.calendar.modify(called_off, status="cancelled")
    assert calendar.get(purged) is None
    assert calendar.get(deleted) is None
    stub = calendar.get(called_off)
    assert stub is not None and stub.cancelled
    event = calendar.get(live)
    assert event is not None and event.summary.startswith("Intro") and not event.cancelled


def test_get_of_a_deleted_event_read_back_as_cancelled_is_a_stub(
    calendar: GoogleCalendar, fake: FakeGoogle
) -> None:
    """Whether Google answers 410 or 200 + cancelled for a deleted event, the booking is off."""
    (event_id,) = seed(fake, 1)
    fake.calendar.deleted_events_readable = True
    fake.calendar.delete_event(event_id)
    stub = calendar.get(event_id)
    assert stub is not None and stub.cancelled


# --- annotating -------------------------------------------------------------------------------


def test_annotate_sends_one_guarded_quiet_patch(calendar: GoogleCalendar, fake: FakeGoogle) -> None:
    """sendUpdates=none, If-Match with the etag read, link block, private keys, popup reminder."""
    (event_id,) = seed(fake, 1)
    event = listed(calendar, fake, event_id)
    fake.clear_log()
    calendar.annotate(event, note())
    (patch,) = fake.requests
    assert patch.method == "PATCH"
    assert patch.query["sendUpdates"] == ["none"]
    assert patch.headers.get("if-match") == event.etag
    body = patch.json()
    assert find_note_url(body["description"]) == NOTE_URL
    assert body["description"].startswith("Company/Team: Analytical Engines")
    assert body["extendedProperties"]["private"] == {
        PROP_BOOKING: "b-1",
        PROP_NOTE: NOTE_URL,
        PROP_REMINDER: "5",
    }
    # The event used the calendar's defaults; they are kept next to syncd's popup.
    assert body["reminders"] == {
        "useDefault": False,
        "overrides": [{"method": "popup", "minutes": 5}, {"method": "popup", "minutes": 10}],
    }
    stored = fake.calendar.event(event_id)
    assert stored["summary"] == "Intro session: Ada Lovelace" and len(stored["attendees"]) == 2


def test_annotate_twice_writes_once(calendar: GoogleCalendar, fake: FakeGoogle) -> None:
    """Re-annotating an annotated event sends nothing, so syncd's write never comes back as work."""
    (event_id,) = seed(fake, 1)
    cursor = calendar.changes(None, SINCE).cursor
    calendar.annotate(listed(calendar, fake, event_id), note())
    changed = calendar.changes(cursor, SINCE).events
    fake.clear_log()
    calendar.annotate(changed[0], note())
    calendar.annotate(changed[0], note())
    assert fake.requests_to(EVENT, method="PATCH") == []
    stored = fake.calendar.event(event_id)
    assert stored["description"].count(BEGIN) == 1
    assert len(stored["reminders"]["overrides"]) == 2


def test_a_new_reminder_replaces_syncds_old_one_and_keeps_the_coaches(
    calendar: GoogleCalendar, fake: FakeGoogle
) -> None:
    (event_id,) = seed(fake, 1)
    fake.calendar.modify(
        event_id, reminders={"useDefault": False, "overrides": [{"method": "email", "minutes": 60}]}
    )
    calendar.annotate(listed(calendar, fake, event_id), note(timedelta(minutes=5)))
    calendar.annotate(listed(calendar, fake, event_id), note(timedelta(minutes=15), url=NOTE_URL + "-v2"))
    stored = fake.calendar.event(event_id)
    assert stored["reminders"]["overrides"] == [
        {"method": "popup", "minutes": 15},
        {"method": "email", "minutes": 60},
    ]
    assert stored["extendedProperties"]["private"][PROP_NOTE] == NOTE_URL + "-v2"
    assert find_note_url(stored["description"]) == NOTE_URL + "-v2"


def test_at_most_five_reminders_are_sent() -> None:
    overrides = [{"method": "email", "minutes": m} for m in (10, 20, 30, 40, 50)]
    raw = {"id": "x0001", "etag": '"1"', "reminders": {"useDefault": False, "overrides": overrides}}
    body = annotation_patch(raw, note(), "private")
    assert body["reminders"]["overrides"][0] == {"method": "popup", "minutes": 5}
    assert len(body["reminders"]["overrides"]) == 5


def test_private_placement_keeps_the_link_out_of_the_description(tmp_path: Path, fake: FakeGoogle) -> None:
    """Guests can read the description: with `private` an earlier block is even removed."""
    calendar = make_calendar(tmp_path, fake, placement="private")
    (event_id,) = seed(fake, 1)
    fake.calendar.modify(event_id, description="Agenda\n\n" + BEGIN + "\nSession note: x\n--- end syncd ---")
    calendar.annotate(listed(calendar, fake, event_id), note())
    stored = fake.calendar.event(event_id)
    assert stored["description"] == "Agenda"
    assert stored["extendedProperties"]["private"][PROP_NOTE] == NOTE_URL


def test_description_placement_writes_no_link_property(tmp_path: Path, fake: FakeGoogle) -> None:
    calendar = make_calendar(tmp_path, fake, placement="description")
    (event_id,) = seed(fake, 1)
    calendar.annotate(listed(calendar, fake, event_id), note())
    stored = fake.calendar.event(event_id)
    assert find_note_url(stored["description"]) == NOTE_URL
    assert PROP_NOTE not in stored["extendedProperties"]["private"]


def test_412_rereads_the_event_and_applies_again(calendar: GoogleCalendar, fake: FakeGoogle) -> None:
    """A coach's edit between read and write is kept; the annotation lands on top of it."""
    (event_id,) = seed(fake, 1)
    event = listed(calendar, fake, event_id)
    fake.calendar.modify(event_id, description="Edited by the coach", location="Room 2")
    fake.clear_log()
    calendar.annotate(event, note())
    assert fake.requests[0].headers.get("if-match") == event.etag
    assert [r.method for r in fake.requests] == ["PATCH", "GET", "PATCH"]
    stored = fake.calendar.event(event_id)
    assert stored["description"].startswith("Edited by the coach\n\n" + BEGIN)
    assert stored["location"] == "Room 2"


def test_a_second_412_gives_up_retryably(calendar: GoogleCalendar, fake: FakeGoogle) -> None:
    (event_id,) = seed(fake, 1)
    event = listed(calendar, fake, event_id)
    fake.fail(EVENT, 412, method="PATCH", times=2)
    with pytest.raises(PreconditionFailed) as caught:
        calendar.annotate(event, note())
    assert not caught.value.final and event_id in str(caught.value)


def test_an_event_the_coach_may_not_edit_keeps_the_link_on_the_private_copy(
    calendar: GoogleCalendar, fake: FakeGoogle
) -> None:
    (event_id,) = seed(fake, 1)
    fake.calendar.set_read_only(event_id)  # the coach is a guest: shared fields are the organizer's
    before = fake.calendar.event(event_id).get("description", "")
    calendar.annotate(listed(calendar, fake, event_id), note())
    stored = fake.calendar.event(event_id)
    assert stored["extendedProperties"]["private"][PROP_NOTE] == NOTE_URL
    assert stored.get("description", "") == before
    assert len(fake.requests_to(EVENT, method="PATCH")) == 2  # refused in full, then private only


def test_an_event_refusing_even_the_private_copy_raises_read_only(tmp_path: Path, fake: FakeGoogle) -> None:
    calendar = make_calendar(tmp_path, fake, placement="private")
    (event_id,) = seed(fake, 1)
    event = listed(calendar, fake, event_id)
    fake.fail(EVENT, 403, reason="forbiddenForNonOrganizer", method="PATCH", times=5)
    with pytest.raises(ReadOnlyEvent) as caught:
        calendar.annotate(event, note())
    assert caught.value.final
    assert event_id in str(caught.value) and "forbiddenForNonOrganizer" in str(caught.value)


def test_a_guest_copy_still_takes_the_private_link(tmp_path: Path, fake: FakeGoogle) -> None:
    calendar = make_calendar(tmp_path, fake, placement="private")
    (event_id,) = seed(fake, 1)
    fake.calendar.set_read_only(event_id)
    calendar.annotate(listed(calendar, fake, event_id), note())
    assert fake.calendar.event(event_id)["extendedProperties"]["private"][PROP_NOTE] == NOTE_URL


def test_a_plain_403_on_patch_is_read_only_and_not_retried(
    calendar: GoogleCalendar, fake: FakeGoogle
) -> None:
    (event_id,) = seed(fake, 1)
    event = listed(calendar, fake, event_id)
    fake.fail(EVENT, 403, reason="forbidden", method="PATCH", times=5)
    with pytest.raises(ReadOnlyEvent):
        calendar.annotate(event, note())
    # Not retried: one full attempt and one with the private copy only.
    assert len(fake.requests_to(EVENT, method="PATCH")) == 2


def test_annotating_a_deleted_event_says_so(calendar: GoogleCalendar, fake: FakeGoogle) -> None:
    (event_id,) = seed(fake, 1)
    fake.calendar.purge(event_id)
    with pytest.raises(BackendError, match="no longer exists") as caught:
        calendar.annotate(CalendarEvent(id=event_id), note())
    assert caught.value.final


# --- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"),
    [(429, None), (500, None), (503, None), (403, "rateLimitExceeded"), (403, "userRateLimitExceeded")],
)
def test_transient_errors_are_retried_until_they_pass(
    calendar: GoogleCalendar, fake: FakeGoogle, status: int, reason: str | None
) -> None:
    seed(fake, 1)
    fake.fail(EVENTS, status, reason=reason, times=2)
    assert len(calendar.changes(None, SINCE).events) == 1
    assert len(fake.requests_to(EVENTS)) == 3


def test_persistent_503_becomes_a_retryable_backend_error(calendar: GoogleCalendar, fake: FakeGoogle) -> None:
    fake.fail(EVENTS, 503, times=10)
    with pytest.raises(BackendError) as caught:
        calendar.changes(None, SINCE)
    assert not caught.value.final
    assert "Google calendar primary" in str(caught.value) and "503" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_forbidden_read_is_not_retried(calendar: GoogleCalendar, fake: FakeGoogle) -> None:
    fake.fail(EVENTS, 403, reason="forbidden", times=5)
    with pytest.raises(BackendError) as caught:
        calendar.changes(None, SINCE)
    assert caught.value.final and not isinstance(caught.value, ReadOnlyEvent)
    assert len(fake.requests_to(EVENTS)) == 1


def test_an_unknown_calendar_is_a_clear_permanent_error(calendar: GoogleCalendar, fake: FakeGoogle) -> None:
    calendar.calendar_id = "nobody@example.com"
    with pytest.raises(BackendError, match=r"Google calendar nobody@example\.com.*404") as caught:
        calendar.changes(None, SINCE)
    assert caught.value.final


def test_a_dropped_connection_is_a_retryable_backend_error(
    calendar: GoogleCalendar, fake: FakeGoogle
) -> None:
    fake.drop(EVENTS, times=50)
    with pytest.raises(BackendError, match="network problem") as caught:
        calendar.changes(None, SINCE)
    assert not caught.value.final
    fake.clear_faults()
    assert calendar.changes(None, SINCE).events == []  # the next pass just works


def test_one_dropped_connection_is_absorbed_by_the_retries(
    calendar: GoogleCalendar, fake: FakeGoogle
) -> None:
    seed(fake, 1)
    fake.drop(EVENTS, times=1)
    assert len(calendar.changes(None, SINCE).events) == 1


def test_a_timeout_is_a_retryable_backend_error(calendar: GoogleCalendar, fake: FakeGoogle) -> None:
    fake.slow(EVENTS, TIMEOUT * 3, times=3)
    with pytest.raises(BackendError, match="network problem") as caught:
        calendar.changes(None, SINCE)
    assert not caught.value.final
    assert len(fake.requests_to(EVENTS)) == 3  # the first try and num_retries=2


def test_a_401_refreshes_the_token_and_succeeds(calendar: GoogleCalendar, fake: FakeGoogle) -> None:
    seed(fake, 1)
    calendar.changes(None, SINCE)
    fake.oauth.expire_access_tokens()
    assert len(calendar.changes(None, SINCE).events) == 1
    assert fake.oauth.refreshes == 1
    assert [r.path for r in fake.requests[-3:]] == [
        "/calendars/primary/events",
        "/token",
        "/calendars/primary/events",
    ]


def test_a_revoked_refresh_token_is_an_auth_error_with_the_7_day_hint(
    calendar: GoogleCalendar, fake: FakeGoogle
) -> None:
    calendar.changes(None, SINCE)
    fake.oauth.revoke()
    with pytest.raises(AuthError) as caught:
        calendar.changes(None, SINCE)
    message = str(caught.value)
    assert "invalid_grant" in message and "7 days" in message and "syncd auth google" in message
    assert "\n" not in message


def test_a_401_that_survives_refreshing_is_an_auth_error(calendar: GoogleCalendar, fake: FakeGoogle) -> None:
    fake.fail(EVENTS, 401, times=10)
    with pytest.raises(AuthError, match="syncd auth google"):
        calendar.changes(None, SINCE)


def test_a_missing_token_is_an_auth_error_on_first_use(tmp_path: Path, fake: FakeGoogle) -> None:
    settings = make_settings(tmp_path, fake)
    coach = settings.coaches[0]
    calendar = from_config(coach.calendar, coach, settings)  # type: ignore[arg-type]
    with pytest.raises(AuthError, match="syncd auth google"):
        calendar.changes(None, SINCE)
    assert fake.requests == []


def test_each_thread_gets_its_own_service(calendar: GoogleCalendar, fake: FakeGoogle) -> None:
    """httplib2 is not thread-safe, so concurrent passes must not share a connection."""
    seed(fake, 2)
    services: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            services.append(calendar._service())
            calendar.changes(None, SINCE)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({id(s) for s in services}) == 3


# --- the fake refuses what Google refuses -----------------------------------------------------


def raw_request(fake: FakeGoogle, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    """Bypass the client library (which checks enums itself) to hit the fake's validation."""
    data = None if body is None else json.dumps(body).encode()
    headers = {
        "Authorization": f"Bearer {fake.oauth.issue_access_token()}",
        "Content-Type": "application/json",
    }
    request = urllib.request.Request(fake.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/calendars/primary/events?singleEvent=true"),  # misspelt parameter
        ("GET", "/calendars/primary/events?maxResults=0"),  # below the minimum
        ("GET", "/calendars/primary/events?showDeleted=yes"),  # not a boolean
        ("GET", "/calendars/primary/events?orderBy=title"),  # not in the enum
        ("GET", "/calendars/primary/events?syncToken=x&timeMin=2030-01-01T00:00:00Z"),  # refused pair
        ("GET", "/calendars/primary/events?timeMin=2030-01-01T00:00:00"),  # no offset
        ("PATCH", "/calendars/primary/events/intro0000?sendUpdates=nobody"),  # not in the enum
    ],
)
def test_the_fake_rejects_what_the_real_api_rejects(fake: FakeGoogle, method: str, path: str) -> None:
    seed(fake, 1)
    status, body = raw_request(fake, method, path, {} if method == "PATCH" else None)
    assert status == 400
    assert body["error"]["code"] == 400 and body["error"]["errors"][0]["reason"]


def test_the_fake_rejects_unknown_body_fields_and_too_many_reminders(fake: FakeGoogle) -> None:
    seed(fake, 1)
    path = "/calendars/primary/events/intro0000?sendUpdates=none"
    assert raw_request(fake, "PATCH", path, {"extendedProperty": {}})[0] == 400
    six = [{"method": "popup", "minutes": m} for m in range(6)]
    assert raw_request(fake, "PATCH", path, {"reminders": {"useDefault": False, "overrides": six}})[0] == 400
    assert raw_request(fake, "PATCH", path, {"summary": "fine"})[0] == 200


def test_the_fake_answers_410_in_googles_shape(fake: FakeGoogle) -> None:
    status, body = raw_request(fake, "GET", "/calendars/primary/events?syncToken=stale")
    assert status == 410
    assert body["error"]["errors"][0]["reason"] == "fullSyncRequired"
    assert body["error"]["message"] == "Sync token is no longer valid, a full sync is required."


def test_the_fake_wants_a_live_bearer_token(fake: FakeGoogle) -> None:
    request = urllib.request.Request(fake.url + "/calendars/primary/events")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 401


def test_the_fake_truncates_private_properties_like_google(fake: FakeGoogle) -> None:
    seed(fake, 1)
    private = {"k" * 45: "dropped", "long": "v" * 2000}
    path = "/calendars/primary/events/intro0000?sendUpdates=none"
    status, event = raw_request(fake, "PATCH", path, {"extendedProperties": {"private": private}})
    assert status == 200
    assert event["extendedProperties"]["private"] == {"long": "v" * 1024}


def test_settings_point_at_the_fake(tmp_path: Path, fake: FakeGoogle) -> None:
    settings: Settings = make_settings(tmp_path, fake)
    assert settings.google.api_endpoint == fake.api_endpoint
    assert settings.google.token_uri == fake.token_uri


# --- the CalendarSource contract --------------------------------------------------------------


class GoogleStore:
    """The coach's other tools acting on the fake's calendar, without going through syncd."""

    def __init__(self, fake: FakeGoogle) -> None:
        self.fake = fake

    def put(self, ev: EventSpec) -> str:
        event_id = ev.uid.encode().hex()  # Google ids are base32hex: hex digits are valid
        organizer = ev.organizer or contract.COACH_EMAIL
        coach = {contract.COACH_EMAIL, contract.COACH_ALIAS}
        event: dict[str, Any] = {
            "id": event_id,
            "summary": ev.summary,
            "description": ev.description,
            "status": ev.status,
            "start": _when(ev.start, ev.tz, ev.all_day),
            "end": _when(ev.finish, ev.tz, ev.all_day),
            "organizer": {"email": organizer, "self": organizer in coach},
        }
        if ev.attendees:
            event["attendees"] = [
                {
                    "email": email,
                    "displayName": name,
                    "self": email.lower() in coach,
                    "organizer": email == organizer,
                }
                for email, name in ev.attendees
            ]
        if ev.rrule:
            event["recurrence"] = [f"RRULE:{ev.rrule}"]
        self.fake.calendar.put_event(event)
        return event_id

    def delete(self, event_id: str) -> None:
        self.fake.calendar.delete_event(event_id)

    def read_description(self, event_id: str) -> str:
        return str(self.fake.calendar.event(event_id).get("description", ""))

    def count_syncd_reminders(self, event_id: str) -> int:
        event = self.fake.calendar.event(event_id)
        minutes = ((event.get("extendedProperties") or {}).get("private") or {}).get(PROP_REMINDER)
        overrides = (event.get("reminders") or {}).get("overrides") or []
        return sum(1 for o in overrides if minutes and o == {"method": "popup", "minutes": int(minutes)})


def _when(moment: datetime, zone: str, all_day: bool) -> dict[str, str]:
    if all_day:
        return {"date": moment.date().isoformat()}
    if zone:
        return {"dateTime": moment.astimezone(ZoneInfo(zone)).isoformat(), "timeZone": zone}
    return {"dateTime": moment.astimezone(UTC).isoformat().replace("+00:00", "Z")}


class TestGoogleContract(CalendarContract):
    """The shared CalendarSource behaviour, on Google Calendar through the real client and the fake."""

    @pytest.fixture
    def store(self, fake: FakeGoogle) -> GoogleStore:
        fake.calendar.add_calendar(contract.COACH_EMAIL, time_zone=contract.COACH_ZONE)
        fake.calendar.primary = contract.COACH_EMAIL
        return GoogleStore(fake)

    @pytest.fixture
    def calendar(self, tmp_path: Path, fake: FakeGoogle, store: GoogleStore) -> GoogleCalendar:
        return make_calendar(tmp_path, fake, placement="both")


def test_the_fake_refuses_a_method_outside_the_tokens_scopes(fake: FakeGoogle) -> None:
    """As Google does: 403 insufficientPermissions, which the client library does not retry."""
    from googleapiclient.discovery import build
    from googleapiclient.errors import HttpError

    creds = fake.oauth.credentials(["https://www.googleapis.com/auth/gmail.compose"])
    options = {"api_endpoint": fake.api_endpoint}
    service = build("calendar", "v3", credentials=creds, client_options=options, static_discovery=True)
    with pytest.raises(HttpError) as caught:
        service.events().list(calendarId="primary").execute(num_retries=3)
    assert caught.value.status_code == 403 and b"insufficientPermissions" in caught.value.content
    assert len(fake.requests_to(EVENTS)) == 1


def test_the_fake_says_an_api_is_not_enabled_as_google_does(fake: FakeGoogle) -> None:
    fake.disabled_apis.add("calendar")
    request = urllib.request.Request(
        fake.url + "/calendars/primary/events",
        headers={"Authorization": f"Bearer {fake.oauth.issue_access_token()}"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    error = json.loads(caught.value.read())["error"]
    assert caught.value.code == 403 and error["errors"][0]["reason"] == "accessNotConfigured"
    assert error["message"].startswith("Google Calendar API has not been used in project")
