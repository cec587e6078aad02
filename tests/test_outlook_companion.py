"""Companion events on the Outlook calendar (`CompanionCalendar`): a private prep event with no
attendees, found again by its own extended property after a crash, never created twice, moved
with the booking, deleted on cancel, and never reported by the delta feed as a booking."""

from __future__ import annotations

from datetime import timedelta

from syncd.calendars.base import CompanionCalendar
from syncd.calendars.outlook import OutlookCalendar
from syncd.calendars.outlook_items import COMPANION, NOTE, props_of
from syncd.model import Companion
from tests.calendar_contract import COACH_EMAIL, SINCE, START
from tests.fakegraph import FakeGraph
from tests.fakegraph.fixtures import graph_fixture, graph_server_fixture  # noqa: F401
from tests.outlook_support import OutlookStore, outlook_calendar

OWNER = frozenset({COACH_EMAIL})


def prep(start_shift: timedelta = timedelta(0), url: str = "https://notes.example/ada") -> Companion:
    start = START + start_shift
    return Companion(
        booking_id="booking-1",
        title="Prep: intro with Ada Lovelace",
        start=start - timedelta(minutes=5),
        end=start,
        note_url=url,
        body=f"Session note: {url}",
        reminder=timedelta(minutes=5),
    )


def calendar(fake: FakeGraph) -> OutlookCalendar:
    OutlookStore(fake, COACH_EMAIL)
    return outlook_calendar(fake, OWNER, "companion")


def companions(fake: FakeGraph) -> list[dict[str, object]]:
    return [item for item in fake.outlook.live() if COMPANION in props_of(item)]


def test_outlook_calendar_is_a_companion_calendar(graph: FakeGraph) -> None:
    source: CompanionCalendar = calendar(graph)
    assert source is not None


def test_companion_has_no_attendees_is_free_and_carries_the_link(graph: FakeGraph) -> None:
    calendar(graph).put_companion(prep())
    [item] = companions(graph)
    assert item["attendees"] == [] and item["showAs"] == "free" and item["sensitivity"] == "private"
    assert item["subject"] == "Prep: intro with Ada Lovelace"
    assert props_of(item)[NOTE] == "https://notes.example/ada"
    assert item["isReminderOn"] is True and item["reminderMinutesBeforeStart"] == 0
    assert item["start"]["dateTime"].startswith("2030-06-03T07:55:00")


def test_put_twice_makes_one_and_sends_nothing_the_second_time(graph: FakeGraph) -> None:
    source = calendar(graph)
    source.put_companion(prep())
    graph.clear_log()
    source.put_companion(prep())
    assert len(companions(graph)) == 1
    assert graph.graph_requests() == []


def test_after_a_crash_the_companion_is_found_by_its_property_not_created_again(graph: FakeGraph) -> None:
    calendar(graph).put_companion(prep())
    restarted = calendar(graph)  # a new process: nothing remembered
    restarted.put_companion(prep())
    assert len(companions(graph)) == 1
    [lookup] = graph.requests_to(r"/me/events$", "GET")[-1:]
    assert "singleValueExtendedProperties/Any" in lookup.query["$filter"][0]
    assert not graph.requests_to(r"/me/events$", "POST")[1:]


def test_rescheduled_booking_moves_the_companion(graph: FakeGraph) -> None:
    source = calendar(graph)
    source.put_companion(prep())
    calendar(graph).put_companion(prep(timedelta(days=1), url="https://notes.example/ada-2"))
    [item] = companions(graph)
    assert item["start"]["dateTime"].startswith("2030-06-04T07:55:00")
    assert props_of(item)[NOTE] == "https://notes.example/ada-2"
    [patch] = graph.requests_to(r"^/v1\.0/me/events/[^/]+$", "PATCH")
    assert "if-match" in patch.headers


def test_drop_deletes_it_and_dropping_none_is_quiet(graph: FakeGraph) -> None:
    source = calendar(graph)
    source.put_companion(prep())
    calendar(graph).drop_companion("booking-1")
    assert companions(graph) == []
    source.drop_companion("booking-1")  # remembered one is gone: still nothing to do
    calendar(graph).drop_companion("never-booked")


def test_delta_feed_leaves_companions_out(graph: FakeGraph) -> None:
    source = calendar(graph)
    source.put_companion(prep())
    first = source.changes(None, SINCE)
    assert first.events == []
    source.put_companion(prep(timedelta(hours=2)))
    assert source.changes(first.cursor, SINCE).events == []


def test_companion_the_coach_deleted_is_made_again_when_the_booking_moves(graph: FakeGraph) -> None:
    source = calendar(graph)
    source.put_companion(prep())
    [item] = companions(graph)
    graph.outlook.remove(str(item["id"]))
    source.put_companion(prep(timedelta(hours=3)))
    [again] = companions(graph)
    assert again["start"]["dateTime"].startswith("2030-06-03T10:55:00")
