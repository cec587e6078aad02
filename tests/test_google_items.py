"""The pure half of the Google Calendar backend: events resources read into CalendarEvents,
and the patch that puts syncd's annotation into an event (no server involved)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from syncd.calendars.google_items import (
    MAX_ATTACHMENTS,
    MAX_PROP_VALUE,
    PROP_BOOKING,
    PROP_NOTE,
    PROP_REMINDER,
    annotation_patch,
    event_from_item,
    rfc3339,
    self_addresses,
)
from syncd.linkblock import BEGIN, find_note_url
from syncd.model import Annotation

URL = "https://docs.google.com/document/d/doc1/edit"
DOC = (URL, "Ada — intro session 2026-12-01", "application/vnd.google-apps.document")


def note(reminder: timedelta | None = timedelta(minutes=5), **extra: Any) -> Annotation:
    return Annotation(booking_id="b-1", note_url=URL, client_name="Ada", reminder=reminder, **extra)


def applied(raw: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """`raw` after Google applied the patch `body` (top-level fields replace)."""
    return {**raw, **body}


# --- reading ----------------------------------------------------------------------------------


def test_an_organizer_who_is_not_an_attendee_is_listed_as_one() -> None:
    """Booking tools organise without attending; detection needs them among the attendees."""
    item = {
        "id": "e1",
        "organizer": {"email": "Bookings@Tool.example", "displayName": "Tool"},
        "attendees": [{"email": "ada@client.example", "responseStatus": "accepted"}],
    }
    event = event_from_item(item)
    assert [(a.email, a.organizer) for a in event.attendees] == [
        ("ada@client.example", False),
        ("bookings@tool.example", True),
    ]
    assert event.organizer == "bookings@tool.example" and event.status == "confirmed"


def test_a_time_without_offset_is_read_in_the_events_zone_then_utc() -> None:
    item = {
        "id": "e1",
        "start": {"dateTime": "2026-12-01T10:00:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-12-01T10:30:00Z"},
    }
    event = event_from_item(item, "America/New_York")
    assert event.start == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert event.end == datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
    assert event.timezone == "Europe/Berlin"


def test_an_unreadable_time_is_unknown_rather_than_an_error() -> None:
    event = event_from_item({"id": "e1", "start": {"dateTime": "tomorrow-ish"}})
    assert event.start is None and not event.all_day


def test_self_addresses_are_the_attendees_organizers_and_creators_marked_self() -> None:
    items = [
        {"attendees": [{"email": "Coach@X.example", "self": True}, {"email": "c@y.example"}]},
        {"organizer": {"email": "other@x.example", "self": True}, "creator": {"email": "z@x.example"}},
    ]
    assert self_addresses(items) == {"coach@x.example", "other@x.example"}


def test_rfc3339_is_utc_with_a_z_and_a_naive_time_is_taken_as_utc() -> None:
    berlin = datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert rfc3339(berlin) == "2026-12-01T09:00:00Z"
    assert rfc3339(datetime(2026, 12, 1, 9, 0)) == "2026-12-01T09:00:00Z"


# --- the patch --------------------------------------------------------------------------------


def test_a_second_patch_after_the_first_is_empty() -> None:
    """Re-annotating an annotated event sends nothing, so syncd's write is not new work."""
    raw = {"id": "e1", "description": "Agenda", "reminders": {"useDefault": True}}
    first = annotation_patch(raw, note(attachment=DOC), "both", [{"method": "email", "minutes": 30}])
    assert set(first) == {"description", "extendedProperties", "reminders", "attachments"}
    assert find_note_url(first["description"]) == URL and first["description"].startswith("Agenda\n\n")
    assert first["reminders"]["overrides"] == [
        {"method": "popup", "minutes": 5},
        {"method": "email", "minutes": 30},
    ]
    assert annotation_patch(applied(raw, first), note(attachment=DOC), "both") == {}


def test_a_changed_reminder_replaces_syncds_popup_and_keeps_the_coachs() -> None:
    raw = applied({"id": "e1"}, annotation_patch({"id": "e1"}, note(), "private"))
    raw["reminders"]["overrides"].append({"method": "popup", "minutes": 60})
    body = annotation_patch(raw, note(timedelta(minutes=10)), "private")
    assert body["reminders"]["overrides"] == [
        {"method": "popup", "minutes": 10},
        {"method": "popup", "minutes": 60},
    ]
    assert body["extendedProperties"]["private"][PROP_REMINDER] == "10"


def test_no_reminder_takes_syncds_popup_away_and_forgets_it() -> None:
    raw = applied({"id": "e1"}, annotation_patch({"id": "e1"}, note(), "private"))
    body = annotation_patch(raw, note(None), "private")
    assert body["reminders"] == {"useDefault": False, "overrides": []}
    assert body["extendedProperties"]["private"][PROP_REMINDER] == ""


def test_a_popup_the_coach_already_has_is_not_claimed_as_syncds() -> None:
    """Taking it over would delete the coach's own reminder when the session is cancelled."""
    own = {"method": "popup", "minutes": 5}
    raw = {"id": "e1", "reminders": {"useDefault": False, "overrides": [own]}}
    body = annotation_patch(raw, note(), "private")
    assert "reminders" not in body
    assert PROP_REMINDER not in body["extendedProperties"]["private"]


def test_private_properties_are_cut_to_what_google_keeps_and_other_keys_stay() -> None:
    long = Annotation(
        booking_id="b" * 2000, note_url=URL + "?" + "x" * 2000, client_name="Ada", reminder=None
    )
    raw = {"id": "e1", "extendedProperties": {"private": {"coachKey": "kept"}}}
    private = annotation_patch(raw, long, "private")["extendedProperties"]["private"]
    assert len(private[PROP_BOOKING]) == len(private[PROP_NOTE]) == MAX_PROP_VALUE
    assert private["coachKey"] == "kept"


def test_private_placement_removes_an_old_block_and_attaches_nothing() -> None:
    raw = {"id": "e1", "description": f"Agenda\n\n{BEGIN}\nSession note: x\n--- end syncd ---"}
    body = annotation_patch(raw, note(None, attachment=DOC), "private")
    assert body["description"] == "Agenda"
    assert "attachments" not in body


def test_a_renamed_note_renames_its_attachment_and_keeps_the_coachs() -> None:
    coach_file = {"fileUrl": "https://drive.example/f", "title": "Slides"}
    raw = {"id": "e1", "attachments": [coach_file, {"fileUrl": URL, "title": "old", "mimeType": DOC[2]}]}
    body = annotation_patch(raw, note(None, attachment=DOC), "description")
    assert body["attachments"] == [coach_file, {"fileUrl": URL, "title": DOC[1], "mimeType": DOC[2]}]


def test_an_event_with_the_most_attachments_gets_the_link_but_no_attachment() -> None:
    full = [{"fileUrl": f"https://drive.example/{i}", "title": str(i)} for i in range(MAX_ATTACHMENTS)]
    body = annotation_patch({"id": "e1", "attachments": full}, note(None, attachment=DOC), "both")
    assert "attachments" not in body and find_note_url(body["description"]) == URL
