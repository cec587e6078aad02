"""Microsoft Graph event resources as plain data: reading them into `CalendarEvent`s, and the
PATCH and POST bodies for syncd's annotation and companion events. No requests are made here;
`syncd.calendars.outlook` sends them.

What syncd keeps on an event lives in `singleValueExtendedProperties` under one GUID of its
own: per-user data that Graph never sends to attendees. Delta answers leave them out, so
readers that need them ask for `$expand=EXPAND`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from syncd.calendars import window
from syncd.calendars.limits import past_the_cap
from syncd.detection import description_text
from syncd.linkblock import apply_block, apply_html_block
from syncd.model import Annotation, Attendee, CalendarEvent, Companion
from syncd.zones import find_zone

GUID = "{7d4cf4e1-5a8e-4a5e-9d1b-2f0c5b1e9a63}"  # syncd's own property set
BOOKING, NOTE, REMINDER, COMPANION = "syncdBooking", "syncdNote", "syncdReminder", "syncdCompanion"
PROPERTIES = (BOOKING, NOTE, REMINDER, COMPANION)
# Delta does not return categories' meaning, but it returns categories: the mark that lets a
# read tell syncd's companion events from bookings without another request.
COMPANION_CATEGORY = "syncd prep"
MAX_REMINDER_MINUTES = 40_320
_RESPONSES = {
    "accepted": "accepted",
    "organizer": "accepted",
    "declined": "declined",
    "tentativelyAccepted": "tentative",
}


def prop_id(name: str) -> str:
    """The extended property id Graph knows syncd's `name` by."""
    return f"String {GUID} Name {name}"


EXPAND = (
    "singleValueExtendedProperties($filter=" + " or ".join(f"id eq '{prop_id(n)}'" for n in PROPERTIES) + ")"
)


def props_of(item: Mapping[str, Any]) -> dict[str, str]:
    """syncd's extended properties on `item`, by name (Graph may change the id's case)."""
    found: dict[str, str] = {}
    for prop in item.get("singleValueExtendedProperties") or ():
        text = str(prop.get("id") or "")
        for name in PROPERTIES:
            if text.lower() == prop_id(name).lower():
                found[name] = str(prop.get("value") or "")
    return found


def read_with_props(item: Mapping[str, Any]) -> dict[str, Any]:
    """`item`, read with `$expand=EXPAND`, marked so: Graph leaves the list out when none of
    syncd's properties is set, which must not read as "not asked for"."""
    return {**item, "singleValueExtendedProperties": list(item.get("singleValueExtendedProperties") or [])}


# --- reading events ---------------------------------------------------------------------------


def is_companion(item: Mapping[str, Any]) -> bool:
    """Whether `item` is one of syncd's companion events (never a booking)."""
    return COMPANION_CATEGORY in (item.get("categories") or ()) or COMPANION in props_of(item)


# What a series master holds that an occurrence of it does not take over.
_MASTER_ONLY = frozenset(
    {
        "id",
        "@odata.etag",
        "changeKey",
        "type",
        "start",
        "end",
        "recurrence",
        "seriesMasterId",
        "originalStart",
        "singleValueExtendedProperties",
        "@odata.context",
    }
)


def is_partial(item: Mapping[str, Any]) -> bool:
    """Whether `item` is a delta entry for an occurrence that lacks the event's fields."""
    return "@removed" not in item and bool(item.get("seriesMasterId")) and "subject" not in item


def occurrence_from_master(master: Mapping[str, Any], occurrence: Mapping[str, Any]) -> dict[str, Any]:
    """A partial occurrence completed with its series master's subject, body, people..."""
    shared = {key: value for key, value in master.items() if key not in _MASTER_ONLY}
    return {**shared, **occurrence}


def event_from_item(item: Mapping[str, Any], owner: frozenset[str] = frozenset()) -> CalendarEvent:
    """A `CalendarEvent` from a Graph event; a delta `@removed` entry becomes a cancelled stub.

    `owner` holds the coach's addresses: Graph marks nobody as "self", so they are recognised
    by address (and the organizer by `isOrganizer`)."""
    if "@removed" in item:
        return CalendarEvent(id=str(item["id"]), status="cancelled")
    all_day = bool(item.get("isAllDay"))
    organizer = _address(item.get("organizer"))
    attendees = [_attendee(a, organizer, owner) for a in item.get("attendees") or () if _address(a)]
    if organizer and organizer not in {a.email for a in attendees}:
        name = str(((item.get("organizer") or {}).get("emailAddress") or {}).get("name") or "")
        mine = organizer in owner or bool(item.get("isOrganizer"))
        attendees.append(Attendee(organizer, name, is_self=mine, organizer=True, response="accepted"))
    body = item.get("body") or {}
    content = str(body.get("content") or "")
    return CalendarEvent(
        id=str(item["id"]),
        status="cancelled" if item.get("isCancelled") else "confirmed",
        summary=str(item.get("subject") or ""),
        description=description_text(content) if body.get("contentType") == "html" else content,
        start=graph_time(item.get("start"), all_day),
        end=graph_time(item.get("end"), all_day),
        all_day=all_day,
        timezone=zone_name(str(item.get("originalStartTimeZone") or "")),
        organizer=organizer,
        attendees=tuple(attendees),
        etag=str(item.get("@odata.etag") or ""),
    )


def _address(person: Any) -> str:
    if not isinstance(person, Mapping):
        return ""
    return str((person.get("emailAddress") or {}).get("address") or "").strip().lower()


def _attendee(item: Mapping[str, Any], organizer: str, owner: frozenset[str]) -> Attendee:
    email = _address(item)
    response = str((item.get("status") or {}).get("response") or "")
    return Attendee(
        email=email,
        name=str((item.get("emailAddress") or {}).get("name") or ""),
        is_self=email in owner,
        organizer=email == organizer,
        response=_RESPONSES.get(response, "needsAction"),
    )


def graph_time(value: Any, all_day: bool = False) -> datetime | None:
    """An aware UTC datetime from Graph's `{dateTime, timeZone}`; an all-day day at 00:00 UTC."""
    if not isinstance(value, Mapping) or not value.get("dateTime"):
        return None
    text = str(value["dateTime"])
    try:
        if all_day:
            day = date.fromisoformat(text[:10])
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text[:26].rstrip("Z"))
    except ValueError:
        return None
    zone = find_zone(zone_name(str(value.get("timeZone") or "UTC")) or "UTC") or UTC
    return moment.replace(tzinfo=zone).astimezone(UTC)


def zone_name(name: str) -> str:
    """An IANA zone name for a Graph zone: Windows names ("W. Europe Standard Time") are
    mapped, IANA names kept, Graph's custom and unknown zones give ""."""
    if name in ("", "tzone://Microsoft/Custom"):
        return ""
    if name == "tzone://Microsoft/Utc":
        return "UTC"
    mapped = WINDOWS_TO_OLSON.get(name)
    if mapped:
        return str(mapped)
    return name if find_zone(name) is not None else ""


def cap_series(items: list[dict[str, Any]], cap: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """`items` with at most `cap` occurrences of each series (the earliest), and for each series
    cut, how many it had. Single events and removals all pass."""
    series_of = {
        index: str(item["seriesMasterId"])
        for index, item in enumerate(items)
        if item.get("seriesMasterId") and "@removed" not in item and not item.get("isCancelled")
    }
    dropped, capped = past_the_cap(
        series_of, lambda i: str((items[i].get("start") or {}).get("dateTime") or ""), cap
    )
    return [item for i, item in enumerate(items) if i not in dropped], capped


# --- cursors ----------------------------------------------------------------------------------


def window_cursor(delta_link: str, until: datetime) -> str:
    """The cursor for a deltaLink and the end of the window its round was asked for."""
    return window.window_cursor("delta", delta_link, until)


def read_window_cursor(cursor: str) -> tuple[str, datetime]:
    """(deltaLink, window end) of a cursor; ValueError for one that is not syncd's."""
    return window.read_window_cursor(cursor, "delta")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_time(moment: datetime) -> dict[str, str]:
    """Graph's `{dateTime, timeZone}` for an aware datetime, in UTC."""
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


# --- writing the annotation -------------------------------------------------------------------


def annotation_patch(raw: Mapping[str, Any], annotation: Annotation, placement: str) -> dict[str, Any]:
    """The PATCH body that puts `annotation` on event `raw` (read with its extended
    properties); empty when it is already there.

    Only `description` placement touches the shared `body` (Graph may mail every attendee
    about it); the others write per-user fields only: extended properties and the reminder.
    """
    patch: dict[str, Any] = {}
    have = props_of(raw)
    want = {BOOKING: annotation.booking_id, NOTE: annotation.note_url}
    if annotation.reminder is not None:
        minutes = max(0, min(MAX_REMINDER_MINUTES, int(annotation.reminder.total_seconds() // 60)))
        if raw.get("reminderMinutesBeforeStart") != minutes or not raw.get("isReminderOn"):
            patch["isReminderOn"], patch["reminderMinutesBeforeStart"] = True, minutes
        want[REMINDER] = str(minutes)
    changed = [{"id": prop_id(k), "value": v} for k, v in want.items() if have.get(k) != v]
    if changed:
        patch["singleValueExtendedProperties"] = changed
    if placement == "description":
        body = raw.get("body") or {}
        kind, content = str(body.get("contentType") or "text"), str(body.get("content") or "")
        wanted = apply_html_block(content, annotation) if kind == "html" else apply_block(content, annotation)
        if wanted != content:
            patch["body"] = {"contentType": kind, "content": wanted}
    return patch


def remembered(raw: Mapping[str, Any], patch: Mapping[str, Any], answer: Mapping[str, Any]) -> dict[str, Any]:
    """The event after a PATCH: Graph's answer, with the extended properties it leaves out
    (those `raw` had, updated by `patch`), so the next annotate needs no re-read."""
    props = {**props_of(raw)}
    for prop in patch.get("singleValueExtendedProperties") or ():
        for name in PROPERTIES:
            if prop["id"] == prop_id(name):
                props[name] = prop["value"]
    merged = dict(answer)
    merged["singleValueExtendedProperties"] = [{"id": prop_id(k), "value": v} for k, v in props.items()]
    return merged


# --- companion events -------------------------------------------------------------------------


def companion_item(companion: Companion) -> dict[str, Any]:
    """The event to create for `companion`: no attendees (nobody is invited or mailed), free
    time (it must not block the coach's booking page), private, marked as syncd's."""
    return {
        "subject": companion.title,
        "body": {"contentType": "text", "content": companion.body},
        "start": utc_time(companion.start),
        "end": utc_time(companion.end),
        "showAs": "free",
        "sensitivity": "private",
        "categories": [COMPANION_CATEGORY],
        "attendees": [],
        **_companion_reminder(companion),
        "singleValueExtendedProperties": [
            {"id": prop_id(COMPANION), "value": companion.booking_id},
            {"id": prop_id(NOTE), "value": companion.note_url},
        ],
    }


def companion_patch(raw: Mapping[str, Any], companion: Companion) -> dict[str, Any]:
    """What must change on companion event `raw` to match `companion` (empty: nothing)."""
    patch: dict[str, Any] = {}
    if raw.get("subject") != companion.title:
        patch["subject"] = companion.title
    body = raw.get("body") or {}
    # Graph may hand a text body back as HTML: compare the words, not the markup.
    if _words(description_text(str(body.get("content") or ""))) != _words(companion.body):
        patch["body"] = {"contentType": "text", "content": companion.body}
    for key, moment in (("start", companion.start), ("end", companion.end)):
        if graph_time(raw.get(key)) != moment.astimezone(UTC).replace(microsecond=0):
            patch[key] = utc_time(moment)
    for key, value in _companion_reminder(companion).items():
        if raw.get(key) != value:
            patch[key] = value
    if props_of(raw).get(NOTE) != companion.note_url:
        patch["singleValueExtendedProperties"] = [{"id": prop_id(NOTE), "value": companion.note_url}]
    if patch.keys() & {"isReminderOn", "reminderMinutesBeforeStart"}:
        patch.update(_companion_reminder(companion))
    return patch


def _words(text: str) -> list[str]:
    return text.split()


def _companion_reminder(companion: Companion) -> dict[str, Any]:
    # The companion starts `reminder` before the session: its own reminder pops at its start.
    if companion.reminder is None:
        return {"isReminderOn": False}
    return {"isReminderOn": True, "reminderMinutesBeforeStart": 0}


def companion_filter(booking_id: str) -> str:
    """The `$filter` that finds the companion event of `booking_id` by its extended property."""
    value = booking_id.replace("'", "''")
    return f"singleValueExtendedProperties/Any(ep: ep/id eq '{prop_id(COMPANION)}' and ep/value eq '{value}')"


def pick_calendar(listing: list[Mapping[str, Any]], wanted: str) -> str | None:
    """The id of the calendar named or identified by `wanted` in a `/me/calendars` listing."""
    for item in listing:
        if item.get("id") == wanted:
            return str(item["id"])
    folded = wanted.strip().casefold()
    for item in listing:
        if str(item.get("name") or "").strip().casefold() == folded:
            return str(item["id"])
    return None


def stale(raw: Mapping[str, Any], event: CalendarEvent) -> bool:
    """Whether remembered `raw` is another version than `event`.

    An item from delta carries no extended properties; it is used as if it had none: the
    patch then sets all of syncd's (the values they would have, if the state was lost), which
    costs one PATCH instead of a read before every first annotation."""
    return not event.etag or raw.get("@odata.etag") != event.etag
