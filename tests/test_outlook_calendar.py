"""The Outlook calendar on the fake Graph: the calendar contract, and what is Graph's own:
delta paging and expiry, the rolling window, per-user annotations that never touch the shared
body, If-Match and 412, Retry-After, the four-request gate, and HTML bodies for detection."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from syncd.calendars.outlook import OutlookCalendar
from syncd.calendars.outlook_items import BOOKING, NOTE, REMINDER, props_of
from syncd.errors import AuthError, CursorExpired, PreconditionFailed, RateLimited, ReadOnlyEvent, Unavailable
from syncd.linkblock import BEGIN
from syncd.microsoft.graph import MAX_IN_FLIGHT
from tests.calendar_contract import (
    COACH_ALIAS,
    COACH_EMAIL,
    SINCE,
    START,
    CalendarContract,
    EventSpec,
    annotation,
    by_id,
)
from tests.fakegraph import FakeGraph
from tests.fakegraph.fixtures import graph_fixture, graph_server_fixture  # noqa: F401
from tests.outlook_support import OutlookStore, Tokens, graph_client, outlook_calendar, person

OWNER = frozenset({COACH_EMAIL, COACH_ALIAS})
DELTA = r"/calendarView/delta$"
EVENT = r"^/v1\.0/me/events/[^/]+$"


class TestOutlookContract(CalendarContract):
    @pytest.fixture
    def store(self, graph: FakeGraph) -> OutlookStore:
        return OutlookStore(graph, COACH_EMAIL)

    @pytest.fixture
    def calendar(self, graph: FakeGraph, store: OutlookStore) -> OutlookCalendar:
        # A horizon that reaches the contract's winter event (December 2030).
        return outlook_calendar(graph, OWNER, "description", horizon=timedelta(days=400))


@pytest.fixture
def store(graph: FakeGraph) -> OutlookStore:
    return OutlookStore(graph, COACH_EMAIL)


def private_calendar(fake: FakeGraph, **options: object) -> OutlookCalendar:
    """The calendar with its default placement: nothing in the shared body."""
    return outlook_calendar(fake, OWNER, "companion", **options)


# --- reading --------------------------------------------------------------------------------


def test_idle_pass_is_one_request(graph: FakeGraph, store: OutlookStore) -> None:
    store.put(EventSpec("one"))
    calendar = private_calendar(graph)
    cursor = calendar.changes(None, SINCE).cursor
    graph.clear_log()
    assert calendar.changes(cursor, SINCE).events == []
    assert len(graph.graph_requests()) == 1


def test_every_page_is_read_before_the_delta_link_is_kept(graph: FakeGraph, store: OutlookStore) -> None:
    ids = {store.put(EventSpec(f"e{n}", start=START + timedelta(hours=n))) for n in range(5)}
    calendar = private_calendar(graph, page_size=2)
    first = calendar.changes(None, SINCE)
    assert {e.id for e in first.events} == ids
    pages = graph.requests_to(DELTA)
    assert len(pages) == 3
    assert pages[0].headers["prefer"] == "odata.maxpagesize=2"
    assert "startDateTime" in pages[0].query and "$skiptoken" in pages[1].query
    assert "deltatoken" in first.cursor  # the cursor holds the last page's deltaLink
    assert calendar.changes(first.cursor, SINCE).events == []


def test_expired_delta_token_is_cursor_expired_and_a_full_round_duplicates_nothing(
    graph: FakeGraph, store: OutlookStore
) -> None:
    store.put(EventSpec("a"))
    store.put(EventSpec("b", start=START + timedelta(hours=1)))
    calendar = private_calendar(graph)
    first = calendar.changes(None, SINCE)
    graph.outlook.expire_delta_tokens()
    with pytest.raises(CursorExpired, match="SyncStateNotFound"):
        calendar.changes(first.cursor, SINCE)
    again = calendar.changes(None, SINCE)
    assert sorted(e.id for e in again.events) == sorted(e.id for e in first.events)


def test_stale_next_link_mid_round_is_cursor_expired(graph: FakeGraph, store: OutlookStore) -> None:
    for n in range(3):
        store.put(EventSpec(f"e{n}", start=START + timedelta(hours=n)))
    calendar = private_calendar(graph, page_size=1)
    graph.fail(DELTA, 410, code="SyncStateNotFound", times=1)
    with pytest.raises(CursorExpired):
        calendar.changes(None, SINCE)


def test_moved_window_starts_a_new_round(graph: FakeGraph, store: OutlookStore) -> None:
    now = [int(SINCE.timestamp()) * 10**9]
    calendar = private_calendar(graph, clock=lambda: now[0])
    cursor = calendar.changes(None, SINCE).cursor
    now[0] += int(timedelta(hours=12).total_seconds()) * 10**9
    assert calendar.changes(cursor, SINCE).events == []  # within the slack: the same round
    now[0] += int(timedelta(days=2).total_seconds()) * 10**9
    with pytest.raises(CursorExpired, match="full sync"):
        calendar.changes(cursor, SINCE)


def test_deleted_series_reports_each_occurrence_cancelled(graph: FakeGraph, store: OutlookStore) -> None:
    series = store.put(EventSpec("s", summary="Intro series", rrule="FREQ=DAILY;COUNT=3"))
    calendar = private_calendar(graph)
    first = calendar.changes(None, SINCE)
    occurrences = {e.id for e in first.events}
    assert len(occurrences) == 3
    store.delete(series)
    gone = calendar.changes(first.cursor, SINCE).events
    assert {e.id for e in gone} == occurrences and all(e.cancelled for e in gone)


def test_html_body_is_read_as_text_for_detection(graph: FakeGraph, store: OutlookStore) -> None:
    event_id = store.put(EventSpec("html"))
    html = "<html><body><p>Challenge: hiring my first manager</p><p>Company: Acme&amp;Co</p></body></html>"
    graph.outlook.items[event_id]["body"] = {"contentType": "html", "content": html}
    event = private_calendar(graph).get(event_id)
    assert event is not None
    assert "Challenge: hiring my first manager" in event.description
    assert "Company: Acme&Co" in event.description and "<p>" not in event.description


def test_attendee_response_is_mapped(graph: FakeGraph, store: OutlookStore) -> None:
    event_id = store.put(EventSpec("resp", attendees=(("ada@client.example", "Ada"),), organizer=COACH_EMAIL))
    graph.outlook.items[event_id]["attendees"] = [person("ada@client.example", "Ada", "declined")]
    event = private_calendar(graph).get(event_id)
    assert event is not None
    assert {a.email: a.response for a in event.attendees}["ada@client.example"] == "declined"


def test_named_calendar_is_found_by_name(graph: FakeGraph, store: OutlookStore) -> None:
    graph.outlook.put(
        {
            "subject": "Intro: Ada",
            "start": {"dateTime": "2030-06-03T08:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-06-03T08:30:00", "timeZone": "UTC"},
        },
        calendar="AAMkADbookings",
    )
    calendar = private_calendar(graph, calendar="bookings")
    assert [e.summary for e in calendar.changes(None, SINCE).events] == ["Intro: Ada"]
    assert graph.requests_to(r"^/v1\.0/me/calendars/AAMkADbookings/calendarView/delta$")


# --- writing --------------------------------------------------------------------------------


def test_default_placement_never_patches_the_shared_body(graph: FakeGraph, store: OutlookStore) -> None:
    event_id = store.put(
        EventSpec(
            "meeting",
            description="Challenge: hiring",
            organizer=COACH_EMAIL,
            attendees=(("ada@client.example", "Ada"),),
        )
    )
    calendar = private_calendar(graph)
    [event] = calendar.changes(None, SINCE).events
    calendar.annotate(event, annotation())
    [patch] = graph.requests_to(EVENT, "PATCH")
    sent = patch.json()
    assert "body" not in sent
    assert set(sent) <= {"singleValueExtendedProperties", "isReminderOn", "reminderMinutesBeforeStart"}
    assert patch.headers["if-match"] == event.etag
    stored = graph.outlook.instance(event_id)
    assert stored["body"]["content"] == "Challenge: hiring" and BEGIN not in stored["body"]["content"]
    assert props_of(stored)[NOTE] == "https://notes.example/ada" and props_of(stored)[BOOKING] == "booking-1"
    assert stored["reminderMinutesBeforeStart"] == 5 and props_of(stored)[REMINDER] == "5"


def test_annotating_again_after_the_self_write_sends_nothing(graph: FakeGraph, store: OutlookStore) -> None:
    store.put(EventSpec("meeting"))
    calendar = private_calendar(graph)
    first = calendar.changes(None, SINCE)
    calendar.annotate(first.events[0], annotation())
    [self_write] = calendar.changes(first.cursor, SINCE).events  # Graph reports syncd's own write
    graph.clear_log()
    calendar.annotate(self_write, annotation())
    assert graph.graph_requests() == []


def test_first_annotation_of_a_delta_item_is_one_patch_with_every_property(
    graph: FakeGraph, store: OutlookStore
) -> None:
    """Delta leaves extended properties out; no read is needed to write them all."""
    store.put(EventSpec("meeting"))
    calendar = private_calendar(graph)
    [event] = calendar.changes(None, SINCE).events
    graph.clear_log()
    calendar.annotate(event, annotation())
    [patch] = graph.graph_requests()
    assert patch.method == "PATCH"
    names = {p["id"].rsplit(" ", 1)[1] for p in patch.json()["singleValueExtendedProperties"]}
    assert names == {BOOKING, NOTE, REMINDER}


def test_re_read_event_is_read_with_syncd_properties(graph: FakeGraph, store: OutlookStore) -> None:
    event_id = store.put(EventSpec("meeting"))
    private_calendar(graph).get(event_id)
    [read] = graph.requests_to(EVENT, "GET")
    assert "singleValueExtendedProperties" in read.query["$expand"][0]


def test_lost_race_is_re_read_and_applied_once_more(graph: FakeGraph, store: OutlookStore) -> None:
    event_id = store.put(EventSpec("race"))
    calendar = private_calendar(graph)
    event = calendar.get(event_id)
    assert event is not None
    store.put(EventSpec("race", summary="Intro: Ada (moved)"))  # the coach edits it meanwhile
    calendar.annotate(event, annotation())
    statuses = [r.method for r in graph.requests_to(EVENT)]
    assert statuses == ["GET", "PATCH", "GET", "PATCH"]
    assert props_of(graph.outlook.instance(event_id))[NOTE] == "https://notes.example/ada"


def test_two_lost_races_are_precondition_failed(graph: FakeGraph, store: OutlookStore) -> None:
    event_id = store.put(EventSpec("race"))
    calendar = private_calendar(graph)
    event = calendar.get(event_id)
    assert event is not None
    graph.fail(EVENT, 412, code="ErrorIrresolvableConflict", times=2, method="PATCH")
    with pytest.raises(PreconditionFailed):
        calendar.annotate(event, annotation())


def test_refused_write_is_read_only_event(graph: FakeGraph, store: OutlookStore) -> None:
    event_id = store.put(EventSpec("theirs"))
    calendar = private_calendar(graph)
    event = calendar.get(event_id)
    assert event is not None
    graph.fail(EVENT, 403, code="ErrorAccessDenied", method="PATCH")
    with pytest.raises(ReadOnlyEvent):
        calendar.annotate(event, annotation())


# --- transport ------------------------------------------------------------------------------


def test_retry_after_is_honoured_on_429_and_503(graph: FakeGraph, store: OutlookStore) -> None:
    store.put(EventSpec("one"))
    sleeps: list[float] = []
    calendar = private_calendar(graph, graph=graph_client(graph, sleeps))
    graph.fail(DELTA, 429, code="TooManyRequests", retry_after="7")
    graph.fail(DELTA, 503, code="ServiceUnavailable", retry_after="2")
    assert len(calendar.changes(None, SINCE).events) == 1
    assert sleeps == [7.0, 2.0]


def test_retries_are_bounded_then_one_line(graph: FakeGraph) -> None:
    calendar = private_calendar(graph, graph=graph_client(graph, [], retries=2))
    graph.fail(DELTA, 503, code="ServiceUnavailable", times=3)
    with pytest.raises(Unavailable) as caught:
        calendar.changes(None, SINCE)
    assert "HTTP 503 ServiceUnavailable" in str(caught.value) and "\n" not in str(caught.value)
    assert len(graph.requests_to(DELTA)) == 3


def test_long_retry_after_is_left_to_the_next_pass(graph: FakeGraph) -> None:
    sleeps: list[float] = []
    calendar = private_calendar(graph, graph=graph_client(graph, sleeps))
    graph.fail(DELTA, 429, code="TooManyRequests", retry_after="3600")
    with pytest.raises(RateLimited) as caught:
        calendar.changes(None, SINCE)
    assert caught.value.retry_after == 3600 and sleeps == []


def test_dropped_connection_is_retried(graph: FakeGraph, store: OutlookStore) -> None:
    store.put(EventSpec("one"))
    calendar = private_calendar(graph)
    graph.drop(DELTA)
    assert len(calendar.changes(None, SINCE).events) == 1


def test_refused_token_is_renewed_once(graph: FakeGraph, store: OutlookStore) -> None:
    store.put(EventSpec("one"))
    tokens = Tokens(graph)
    calendar = private_calendar(graph, graph=graph_client(graph, tokens=tokens))
    graph.login.expire_access_tokens()
    assert len(calendar.changes(None, SINCE).events) == 1
    assert tokens.forced == 1


def test_token_refused_twice_is_an_auth_error(graph: FakeGraph) -> None:
    calendar = private_calendar(graph)
    graph.fail(DELTA, 401, code="InvalidAuthenticationToken", times=2)
    with pytest.raises(AuthError, match="syncd auth microsoft"):
        calendar.changes(None, SINCE)


def test_at_most_four_requests_in_flight_per_mailbox(graph: FakeGraph, store: OutlookStore) -> None:
    ids = [store.put(EventSpec(f"e{n}", start=START + timedelta(hours=n))) for n in range(10)]
    calendar = private_calendar(graph)
    graph.slow(EVENT, 0.1, times=10)
    threads = [threading.Thread(target=calendar.get, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert graph.max_in_flight == MAX_IN_FLIGHT


def test_all_day_event_in_graph_shape_is_a_whole_day(graph: FakeGraph, store: OutlookStore) -> None:
    event_id = store.put(EventSpec("day", all_day=True))
    event = by_id(private_calendar(graph).changes(None, SINCE))[event_id]
    assert event.all_day and event.start == datetime(2030, 6, 3, tzinfo=UTC)


def test_partial_occurrences_are_filled_from_their_master_read_once(
    graph: FakeGraph, store: OutlookStore
) -> None:
    """Graph's delta gives a plain occurrence without subject or attendees (docs #22197)."""
    series = store.put(
        EventSpec(
            "s", summary="Intro: Ada", rrule="FREQ=DAILY;COUNT=4", attendees=(("ada@client.example", "Ada"),)
        )
    )
    calendar = private_calendar(graph)
    events = calendar.changes(None, SINCE).events
    assert [e.summary for e in events] == ["Intro: Ada"] * 4
    assert all("ada@client.example" in {a.email for a in e.attendees} for e in events)
    [master_read] = graph.requests_to(EVENT, "GET")
    assert master_read.path.endswith(series)


# --- the fake refuses what real Graph refuses -------------------------------------------------


def test_fake_refuses_query_options_on_delta(graph: FakeGraph) -> None:
    client = graph_client(graph)
    answer = client.call(
        "GET",
        "/me/calendarView/delta",
        "test",
        params={
            "$select": "subject",
            "startDateTime": "2030-01-01T00:00:00Z",
            "endDateTime": "2030-02-01T00:00:00Z",
        },
        expect=(400,),
    )
    assert answer.status == 400


def test_fake_refuses_read_only_properties_in_a_patch(graph: FakeGraph, store: OutlookStore) -> None:
    event_id = store.put(EventSpec("x"))
    answer = graph_client(graph).call(
        "PATCH", f"/me/events/{event_id}", "test", body={"id": "other"}, expect=(400,)
    )
    assert answer.status == 400


def test_fake_refuses_a_malformed_extended_property_id(graph: FakeGraph, store: OutlookStore) -> None:
    event_id = store.put(EventSpec("x"))
    body = {"singleValueExtendedProperties": [{"id": "syncdNote", "value": "x"}]}
    answer = graph_client(graph).call("PATCH", f"/me/events/{event_id}", "test", body=body, expect=(400,))
    assert answer.status == 400


def test_a_request_that_times_out_is_tried_again(graph: FakeGraph, store: OutlookStore) -> None:
    store.put(EventSpec("one"))
    calendar = private_calendar(graph, graph=graph_client(graph, timeout=0.3))
    graph.slow(DELTA, 0.8)
    assert len(calendar.changes(None, SINCE).events) == 1
    assert len(graph.requests_to(DELTA)) == 2


def test_description_placement_on_an_html_body_adds_one_html_block(
    graph: FakeGraph, store: OutlookStore
) -> None:
    """The opt-in placement: the block goes into the HTML before </body>, once."""
    event_id = store.put(EventSpec("html"))
    html = "<html><body><p>Challenge: hiring</p></body></html>"
    graph.outlook.items[event_id]["body"] = {"contentType": "html", "content": html}
    calendar = outlook_calendar(graph, OWNER, "description")
    for _ in range(2):
        event = calendar.get(event_id)
        assert event is not None
        calendar.annotate(event, annotation())
    body = graph.outlook.instance(event_id)["body"]
    assert body["contentType"] == "html" and body["content"].count('class="syncd-note"') == 1
    assert body["content"].endswith("</div></body></html>")
    assert len(graph.requests_to(EVENT, "PATCH")) == 1
