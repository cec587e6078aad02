"""A booking's companion (prep) event as a Google Calendar events resource: the body to insert,
the patch that brings a found one up to date, and how to tell one in a listing. No requests are
made here; `syncd.calendars.google` sends them.

A companion has no attendees (no one is invited, so no one is mailed), `visibility: private`
and `transparency: transparent` (prep time leaves the coach's free/busy as it was), the note
link in its description and private properties, and a popup at its start. It is found again by
`extendedProperties.private.syncdCompanion` = the booking id (a `privateExtendedProperty` query).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from syncd.calendars.google_items import MAX_PROP_VALUE, PROP_NOTE, rfc3339
from syncd.model import Companion

PROP_COMPANION = "syncdCompanion"


def companion_key(booking_id: str) -> str:
    """The value of `PROP_COMPANION` for the booking, as Google keeps it (cut at its limit)."""
    return booking_id[:MAX_PROP_VALUE]


def companion_query(booking_id: str) -> str:
    """The `privateExtendedProperty` filter that lists the booking's companion."""
    return f"{PROP_COMPANION}={companion_key(booking_id)}"


def is_companion_item(item: Mapping[str, Any]) -> bool:
    """Whether a listed item is one of syncd's companion events (never a booking)."""
    private = (item.get("extendedProperties") or {}).get("private") or {}
    return bool(private.get(PROP_COMPANION))


def companion_item(companion: Companion) -> dict[str, Any]:
    """The events resource to insert for `companion`."""
    return {
        "summary": companion.title,
        "description": companion.body,
        "start": {"dateTime": rfc3339(companion.start)},
        "end": {"dateTime": rfc3339(companion.end)},
        "reminders": _reminders(companion),
        "extendedProperties": {
            "private": {
                PROP_COMPANION: companion_key(companion.booking_id),
                PROP_NOTE: companion.note_url[:MAX_PROP_VALUE],
            }
        },
        "visibility": "private",
        "transparency": "transparent",
    }


def companion_patch(raw: Mapping[str, Any], companion: Companion) -> dict[str, Any]:
    """The fields of the found companion `raw` that differ from `companion` (empty: none).
    Times are compared as instants: Google hands them back in the calendar's offset."""
    wanted = companion_item(companion)
    patch: dict[str, Any] = {}
    for key in ("summary", "description", "visibility", "transparency"):
        if raw.get(key) != wanted[key]:
            patch[key] = wanted[key]
    for key in ("start", "end"):
        if _instant(raw.get(key)) != _instant(wanted[key]):
            patch[key] = wanted[key]
    if _popups(raw.get("reminders")) != _popups(wanted["reminders"]):
        patch["reminders"] = wanted["reminders"]
    private = dict((raw.get("extendedProperties") or {}).get("private") or {})
    if any(private.get(k) != v for k, v in wanted["extendedProperties"]["private"].items()):
        patch["extendedProperties"] = {"private": {**private, **wanted["extendedProperties"]["private"]}}
    if raw.get("attendees"):  # someone added guests to the coach's prep: it stays private
        patch["attendees"] = []
    return patch


def _reminders(companion: Companion) -> dict[str, Any]:
    overrides = [] if companion.reminder is None else [{"method": "popup", "minutes": 0}]
    return {"useDefault": False, "overrides": overrides}


def _popups(reminders: Mapping[str, Any] | None) -> tuple[bool, list[tuple[str, int]]]:
    reminders = reminders or {}
    overrides = reminders.get("overrides") or []
    return bool(reminders.get("useDefault")), sorted(
        (str(o.get("method")), int(o.get("minutes", 0))) for o in overrides
    )


def _instant(value: Mapping[str, Any] | None) -> datetime | None:
    text = str((value or {}).get("dateTime") or "")
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
