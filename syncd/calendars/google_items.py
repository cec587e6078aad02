"""Google Calendar events resources as plain data: reading them into `CalendarEvent`s and
building the patch that puts syncd's annotation into one. No requests are made here, so all of
it is unit-tested on dicts; `syncd.calendars.google` is the adapter that sends them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from syncd.calendars import window
from syncd.calendars.limits import past_the_cap
from syncd.linkblock import BEGIN, apply_block, strip_block
from syncd.model import Annotation, Attendee, CalendarEvent
from syncd.zones import zone_or_utc

log = logging.getLogger(__name__)

MAX_OVERRIDES = 5  # Google refuses more reminder overrides than this
MAX_REMINDER_MINUTES = 40_320
MAX_ATTACHMENTS = 25  # Google refuses more attachments on one event

# Keys in the event's private extended properties (visible only on the coach's copy).
PROP_BOOKING = "syncdBooking"
PROP_NOTE = "syncdNote"
PROP_REMINDER = "syncdReminder"  # the popup syncd added, so it is replaced, never duplicated
MAX_PROP_VALUE = 1024


# --- reading events ---------------------------------------------------------------------------


def self_addresses(items: list[dict[str, Any]]) -> set[str]:
    """The addresses Google marks as the calendar's own (`self`) on these events."""
    people = [p for item in items for p in (item.get("attendees") or [])]
    people += [item.get(role) or {} for item in items for role in ("organizer", "creator")]
    return {str(p["email"]).lower() for p in people if p.get("self") and p.get("email")}


def event_from_item(item: Mapping[str, Any], calendar_zone: str = "") -> CalendarEvent:
    """A `CalendarEvent` from an events resource (a cancelled stub may hold only `id`)."""
    start, all_day, zone = _when(item.get("start"), calendar_zone)
    end, _, _ = _when(item.get("end"), calendar_zone)
    organizer = item.get("organizer") or {}
    attendees = [_attendee(a) for a in item.get("attendees") or () if a.get("email")]
    if organizer.get("email") and organizer["email"].lower() not in {a.email for a in attendees}:
        # Booking tools often organise without being an attendee; detection wants them listed.
        attendees.append(_attendee({**organizer, "organizer": True}))
    return CalendarEvent(
        id=str(item["id"]),
        status=str(item.get("status") or "confirmed"),
        summary=str(item.get("summary") or ""),
        description=str(item.get("description") or ""),
        start=start,
        end=end,
        all_day=all_day,
        timezone=zone,
        organizer=str(organizer.get("email") or "").lower(),
        attendees=tuple(attendees),
        etag=str(item.get("etag") or ""),
    )


def _attendee(item: Mapping[str, Any]) -> Attendee:
    return Attendee(
        email=str(item["email"]).lower(),
        name=str(item.get("displayName") or ""),
        is_self=bool(item.get("self")),
        organizer=bool(item.get("organizer")),
        response=str(item.get("responseStatus") or ""),
    )


def _when(value: Mapping[str, Any] | None, calendar_zone: str) -> tuple[datetime | None, bool, str]:
    """(aware UTC datetime, all-day?, zone name) for a start/end; all-day days start at 00:00 UTC."""
    if not value:
        return None, False, ""
    zone = str(value.get("timeZone") or calendar_zone or "")
    try:
        if value.get("dateTime"):
            moment = datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
            if moment.tzinfo is None:  # Google adds an offset; be safe if one is missing
                moment = moment.replace(tzinfo=zone_or_utc(zone))
            return moment.astimezone(UTC), False, zone
        if value.get("date"):
            day = date.fromisoformat(str(value["date"]))
            return datetime(day.year, day.month, day.day, tzinfo=UTC), True, zone
    except ValueError:
        log.warning("unreadable event time %r; treating it as unknown", value)
    return None, False, zone


def in_window(
    items: list[dict[str, Any]], since: datetime, until: datetime, cap: int, calendar_zone: str = ""
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The items a read over `[since, until)` takes, in their order, and for each series that had
    more than `cap` instances there, how many it had.

    Only live instances of a series (`recurringEventId`) are bounded: those that end by `since`
    or start at or after `until` are dropped (a sync token reports changes anywhere in time), and
    of the rest the earliest `cap` of each series are kept. Single events and cancellations all
    pass: a cancelled stub carries no time, and the booking it ends must hear of it.
    """
    starts: dict[int, datetime] = {}  # index in `items` -> start, of live instances in the window
    outside: set[int] = set()
    for index, item in enumerate(items):
        if not item.get("recurringEventId") or item.get("status") == "cancelled":
            continue
        start, _, _ = _when(item.get("start"), calendar_zone)
        end, _, _ = _when(item.get("end"), calendar_zone)
        if (start is not None and start >= until) or (end is not None and end <= since):
            outside.add(index)
        else:
            starts[index] = start or since
    series_of = {index: str(items[index]["recurringEventId"]) for index in starts}
    past, capped = past_the_cap(series_of, starts.__getitem__, cap)
    outside |= past
    return [item for i, item in enumerate(items) if i not in outside], capped


def window_cursor(sync_token: str, until: datetime) -> str:
    """The cursor for a sync token and the end of the window its full sync read."""
    return window.window_cursor("sync", sync_token, until)


def read_window_cursor(cursor: str) -> tuple[str, datetime | None]:
    """(sync token, window end) of a cursor; the end is None for a plain sync token, the cursor
    syncd kept before it read within a window. Raises ValueError for one it cannot read."""
    if not cursor.startswith("{"):  # Google's sync tokens are opaque but never JSON
        return cursor, None
    return window.read_window_cursor(cursor, "sync")


def rfc3339(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- writing the annotation -------------------------------------------------------------------


def annotation_patch(
    raw: Mapping[str, Any],
    annotation: Annotation,
    placement: str,
    default_reminders: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The patch body that puts `annotation` into event `raw`; empty when it is already there.

    Only changed top-level fields are sent. Arrays replace in a patch, so `reminders` carries
    the full override list; `extendedProperties.private` carries every existing key too, so
    the result is the same whether Google merges or replaces that map.
    """
    body: dict[str, Any] = {}
    description = str(raw.get("description") or "")
    wanted_description = _wanted_description(description, annotation, placement)
    if wanted_description != description:
        body["description"] = wanted_description
    private = dict(((raw.get("extendedProperties") or {}).get("private")) or {})
    reminders, own = _wanted_reminders(
        raw, annotation.reminder, private.get(PROP_REMINDER), default_reminders
    )
    wanted_private = _wanted_private(private, annotation, placement, own)
    if wanted_private != private:
        body["extendedProperties"] = {"private": wanted_private}
    if reminders is not None and not _same_reminders(raw.get("reminders") or {}, reminders):
        body["reminders"] = reminders
    attachments = _wanted_attachments(raw, annotation, placement)
    if attachments is not None:
        body["attachments"] = attachments
    return body


def _wanted_attachments(
    raw: Mapping[str, Any], annotation: Annotation, placement: str
) -> list[dict[str, Any]] | None:
    """The event's attachments with the note added, or its title brought up to date after the
    note was renamed (a reschedule); None: nothing to change.

    Arrays replace in a patch, so the coach's own attachments are sent along. Attachments are
    shared fields that guests see (they cannot open the note: it is never shared), so with
    the `private` placement the note is not attached.
    """
    if annotation.attachment is None or placement == "private":
        return None
    url, title, mime_type = annotation.attachment
    current = [dict(a) for a in raw.get("attachments") or () if isinstance(a, Mapping)]
    if any(a.get("fileUrl") == url for a in current):
        if all(a.get("title") == title for a in current if a.get("fileUrl") == url):
            return None
        return [{**a, "title": title} if a.get("fileUrl") == url else a for a in current]
    if len(current) >= MAX_ATTACHMENTS:
        log.warning(
            "event %s already has %d attachments; the note is not attached", raw.get("id"), len(current)
        )
        return None
    return [*current, {"fileUrl": url, "title": title, "mimeType": mime_type}]


def _wanted_description(description: str, annotation: Annotation, placement: str) -> str:
    if placement in ("description", "both"):
        return apply_block(description, annotation)
    # Private only: remove a block left from an earlier placement, since guests can read it.
    return strip_block(description) if BEGIN in description else description


def _wanted_private(
    private: dict[str, Any], annotation: Annotation, placement: str, own_reminder: str | None
) -> dict[str, Any]:
    wanted = dict(private)
    if placement in ("private", "both"):
        # Google truncates longer values silently; truncating here keeps re-annotation a no-op.
        wanted[PROP_BOOKING] = annotation.booking_id[:MAX_PROP_VALUE]
        wanted[PROP_NOTE] = annotation.note_url[:MAX_PROP_VALUE]
    if own_reminder is not None:
        wanted[PROP_REMINDER] = own_reminder
    return wanted


def _wanted_reminders(
    raw: Mapping[str, Any],
    reminder: timedelta | None,
    previous_own: str | None,
    default_reminders: list[dict[str, Any]] | None,
) -> tuple[dict[str, Any] | None, str | None]:
    """(the reminders to set or None for no change, the PROP_REMINDER value to record or None).

    syncd's popup goes first, then the coach's own overrides (the calendar's defaults when
    the event used them), at most five in all; syncd's earlier popup is replaced.
    """
    current = raw.get("reminders") or {}
    existing = (
        list(default_reminders or []) if current.get("useDefault") else list(current.get("overrides") or [])
    )
    others = _without_popup(existing, previous_own)
    if reminder is None:
        if not previous_own:
            return None, None
        return {"useDefault": False, "overrides": others}, ""
    minutes = max(0, min(MAX_REMINDER_MINUTES, int(reminder.total_seconds() // 60)))
    ours = {"method": "popup", "minutes": minutes}
    if ours in others:  # the coach already has exactly this reminder: do not claim it
        return {"useDefault": False, "overrides": others[:MAX_OVERRIDES]}, "" if previous_own else None
    overrides = [ours, *others]
    if len(overrides) > MAX_OVERRIDES:
        log.warning("event has more than %d reminders; dropping %s", MAX_OVERRIDES, overrides[MAX_OVERRIDES:])
    return {"useDefault": False, "overrides": overrides[:MAX_OVERRIDES]}, str(minutes)


def _without_popup(overrides: list[dict[str, Any]], minutes: str | None) -> list[dict[str, Any]]:
    """`overrides` without syncd's earlier popup (one entry of `minutes`)."""
    result = [dict(o) for o in overrides]
    if minutes:
        for index, override in enumerate(result):
            if override.get("method") == "popup" and str(override.get("minutes")) == minutes:
                del result[index]
                break
    return result


def _same_reminders(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    # Compared as sets: Google may hand the overrides back in another order.
    def key(reminders: Mapping[str, Any]) -> tuple[bool, list[tuple[str, int]]]:
        overrides = reminders.get("overrides") or []
        pairs = sorted((str(o.get("method")), int(o.get("minutes", 0))) for o in overrides)
        return bool(reminders.get("useDefault")), pairs

    return key(current) == key(wanted)
