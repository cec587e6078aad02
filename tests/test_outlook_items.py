"""Graph event resources as plain data (`syncd.calendars.outlook_items`), without any server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncd.calendars.outlook_items import (
    BOOKING,
    NOTE,
    REMINDER,
    annotation_patch,
    cap_series,
    companion_item,
    companion_patch,
    event_from_item,
    graph_time,
    is_companion,
    prop_id,
    props_of,
    read_window_cursor,
    remembered,
    window_cursor,
    zone_name,
)
from syncd.model import Annotation, Companion

NOTE_URL = "https://notes.example/ada"


def note(reminder: timedelta | None = timedelta(minutes=5), status: str = "") -> Annotation:
    return Annotation("b-1", NOTE_URL, "Ada Lovelace", reminder, status_line=status)


def meeting(**changes: object) -> dict[str, object]:
    item: dict[str, object] = {
        "id": "AAMk1",
        "@odata.etag": 'W/"1"',
        "subject": "Intro: Ada",
        "body": {"contentType": "text", "content": "Challenge: hiring"},
        "start": {"dateTime": "2030-06-03T08:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2030-06-03T08:30:00.0000000", "timeZone": "UTC"},
        "organizer": {"emailAddress": {"name": "Calendly", "address": "no-reply@calendly.com"}},
        "attendees": [
            {
                "status": {"response": "accepted"},
                "emailAddress": {"name": "Ada", "address": "Ada@Client.example"},
            },
            {"status": {"response": "none"}, "emailAddress": {"name": "Sam", "address": "sam@coach.example"}},
        ],
        "isReminderOn": True,
        "reminderMinutesBeforeStart": 15,
    }
    item.update(changes)
    return item


@pytest.mark.parametrize(
    ("graph_zone", "iana"),
    [
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("Eastern Standard Time", "America/New_York"),
        ("Europe/Lisbon", "Europe/Lisbon"),
        ("tzone://Microsoft/Utc", "UTC"),
        ("tzone://Microsoft/Custom", ""),
        ("Not A Zone", ""),
    ],
)
def test_graph_zone_names_become_iana_names(graph_zone: str, iana: str) -> None:
    assert zone_name(graph_zone) == iana


def test_times_in_a_windows_zone_are_converted_to_utc() -> None:
    local = {"dateTime": "2030-12-02T10:00:00.0000000", "timeZone": "W. Europe Standard Time"}
    assert graph_time(local) == datetime(2030, 12, 2, 9, 0, tzinfo=UTC)


def test_attendees_responses_and_the_organizer_are_mapped() -> None:
    event = event_from_item(meeting(), frozenset({"sam@coach.example"}))
    people = {a.email: a for a in event.attendees}
    assert people["ada@client.example"].response == "accepted" and not people["ada@client.example"].is_self
    assert people["sam@coach.example"].is_self and people["sam@coach.example"].response == "needsAction"
    assert people["no-reply@calendly.com"].organizer and event.organizer == "no-reply@calendly.com"


def test_removed_entry_is_a_cancelled_stub() -> None:
    event = event_from_item({"id": "AAMk1", "@removed": {"reason": "deleted"}})
    assert event.cancelled and event.id == "AAMk1"


def test_patch_holds_only_per_user_fields_by_default() -> None:
    patch = annotation_patch(meeting(), note(), "companion")
    assert set(patch) == {"singleValueExtendedProperties", "isReminderOn", "reminderMinutesBeforeStart"}
    assert {p["id"] for p in patch["singleValueExtendedProperties"]} == {
        prop_id(n) for n in (BOOKING, NOTE, REMINDER)
    }


def test_status_line_alone_changes_nothing_without_the_description_placement() -> None:
    done = remembered(
        meeting(), annotation_patch(meeting(), note(), "private"), meeting(reminderMinutesBeforeStart=5)
    )
    assert annotation_patch(done, note(status="Follow-up: draft waiting"), "private") == {}
    assert "body" in annotation_patch(done, note(status="Follow-up: draft waiting"), "description")


def test_annotation_without_reminder_leaves_the_coachs_reminder() -> None:
    patch = annotation_patch(meeting(), note(reminder=None), "private")
    assert "reminderMinutesBeforeStart" not in patch and "isReminderOn" not in patch


def test_series_are_capped_to_their_earliest_occurrences() -> None:
    items = [
        {"id": f"o{n}", "seriesMasterId": "m", "start": {"dateTime": f"2030-06-{10 - n:02d}T08:00:00"}}
        for n in range(5)
    ] + [{"id": "single"}]
    kept, capped = cap_series(items, 2)
    assert [i["id"] for i in kept] == ["o3", "o4", "single"] and capped == {"m": 5}


def test_cursor_round_trips_and_refuses_a_foreign_one() -> None:
    until = datetime(2030, 8, 1, tzinfo=UTC)
    assert read_window_cursor(window_cursor("https://graph/delta?$deltatoken=x", until)) == (
        "https://graph/delta?$deltatoken=x",
        until,
    )
    with pytest.raises(ValueError):
        read_window_cursor('{"sync": "google"}')


def test_companion_is_marked_and_a_second_put_changes_nothing() -> None:
    start = datetime(2030, 6, 3, 7, 55, tzinfo=UTC)
    companion = Companion(
        "b-1",
        "Prep: intro with Ada",
        start,
        start + timedelta(minutes=5),
        NOTE_URL,
        "Session note: x",
        timedelta(minutes=5),
    )
    item = {**companion_item(companion), "id": "c1"}
    assert is_companion(item) and item["attendees"] == []
    # Graph hands a text body back as HTML: still no change.
    item["body"] = {"contentType": "html", "content": "<html><body><p>Session note: x</p></body></html>"}
    assert companion_patch(item, companion) == {}
    assert props_of(item)[NOTE] == NOTE_URL
