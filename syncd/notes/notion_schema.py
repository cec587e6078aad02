"""The database properties syncd needs, their check, and the values syncd writes, without I/O.

A session page carries: its title (the data source's title property, whatever its name),
`Session` (date: start and end, in the coach's zone), `Status` (select, or Notion's status
type with the four options), `Client email` (email) and `Booking ID` (text): syncd's key,
queried before any page is made, so a crash between making a page and recording it never
leads to a second one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncd.model import NoteHeader
from syncd.text import one_line
from syncd.zones import zone_or_utc

SESSION = "Session"
STATUS = "Status"
EMAIL = "Client email"
BOOKING = "Booking ID"
STATUSES = ("scheduled", "rescheduled", "cancelled", "held")
MAX_EMAIL = 200  # Notion's limit for an email value
MAX_KEY = 500  # booking ids longer than this are stored as a digest

# name -> (the types syncd accepts, how to add it in Notion)
NEEDED: dict[str, tuple[tuple[str, ...], str]] = {
    SESSION: (("date",), "a Date property"),
    STATUS: (("select", "status"), "a Select property"),
    EMAIL: (("email",), "an Email property"),
    BOOKING: (("rich_text",), "a Text property"),
}


@dataclass(frozen=True)
class Schema:
    """What syncd learnt of a data source: its title property's name and the Status type."""

    title: str
    status_type: str = "select"


def check(properties: Mapping[str, Any]) -> tuple[Schema | None, list[str]]:
    """The schema of a data source's `properties`, or None and one problem per line: each
    missing or mistyped property, with how to add it (or `syncd notion setup`)."""
    problems: list[str] = []
    title = next((name for name, prop in properties.items() if prop.get("type") == "title"), None)
    if title is None:
        problems.append("it has no title property")
    for name, (types, how) in NEEDED.items():
        prop = properties.get(name)
        if prop is None:
            problems.append(
                f"property {name!r} is missing: add {how} named {name} (or run `syncd notion setup`)"
            )
        elif prop.get("type") not in types:
            problems.append(f"property {name!r} is of type {prop.get('type')}; syncd needs {how}")
    status = properties.get(STATUS) or {}
    if status.get("type") == "status":
        have = {str(o.get("name", "")).lower() for o in (status.get("status") or {}).get("options") or []}
        lacking = [s for s in STATUSES if s not in have]
        if lacking:
            problems.append(
                f"status property {STATUS!r} lacks the options {', '.join(lacking)}: add them in Notion"
            )
    if problems or title is None:
        return None, problems
    return Schema(title=title, status_type=str(status.get("type"))), []


def setup_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    """The properties to add to a data source (a `data_sources.update` body's `properties`)
    so that it has every one syncd needs; {} when none is missing."""
    wanted: dict[str, Any] = {
        SESSION: {"date": {}},
        STATUS: {"select": {"options": [{"name": s} for s in STATUSES]}},
        EMAIL: {"email": {}},
        BOOKING: {"rich_text": {}},
    }
    return {name: value for name, value in wanted.items() if name not in properties}


def booking_key(booking_id: str) -> str:
    """The `Booking ID` value of a booking: its id, or a digest of one too long to keep."""
    if len(booking_id) <= MAX_KEY:
        return booking_id
    return "sha256:" + hashlib.sha256(booking_id.encode("utf-8")).hexdigest()


def booking_filter(key: str) -> dict[str, Any]:
    """The data source query filter that finds the page of booking `key`."""
    return {"property": BOOKING, "rich_text": {"equals": key}}


def _text(value: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"content": value}}]


def date_value(header: NoteHeader) -> dict[str, Any]:
    """The session as a date value: local times in the coach's zone, named by `time_zone`
    (Notion takes no UTC offset in `start`/`end` when `time_zone` is given)."""
    zone = zone_or_utc(header.timezone)

    def local(moment: datetime) -> str:
        return moment.astimezone(zone).replace(tzinfo=None).isoformat(timespec="seconds")

    return {"start": local(header.start), "end": local(header.end), "time_zone": zone.key}


def header_properties(schema: Schema, header: NoteHeader, status: str) -> dict[str, Any]:
    """The properties `update_header` owns: title, session date and status."""
    return {
        schema.title: {"title": _text(one_line(header.title, 200))},
        SESSION: {"date": date_value(header)},
        STATUS: {schema.status_type: {"name": status}},
    }


def new_page_properties(schema: Schema, header: NoteHeader, key: str, email: str) -> dict[str, Any]:
    """Every property of a new session page."""
    address = one_line(email, MAX_EMAIL + 1)
    return {
        **header_properties(schema, header, "cancelled" if header.cancelled else "scheduled"),
        EMAIL: {"email": address if address and len(address) <= MAX_EMAIL else None},
        BOOKING: {"rich_text": _text(key)},
    }


def status_of(page: Mapping[str, Any]) -> str:
    """The page's Status, "" when unset."""
    prop = (page.get("properties") or {}).get(STATUS) or {}
    value = prop.get(str(prop.get("type"))) or {}
    return str(value.get("name") or "") if isinstance(value, Mapping) else ""


def session_start(page: Mapping[str, Any]) -> datetime | None:
    """The page's Session start as an aware datetime, None when unset or unreadable."""
    value = ((page.get("properties") or {}).get(SESSION) or {}).get("date") or {}
    try:
        start = datetime.fromisoformat(str(value.get("start")))
    except ValueError:
        return None
    return start if start.tzinfo else start.replace(tzinfo=zone_or_utc(str(value.get("time_zone") or "")))


def next_status(header: NoteHeader, page: Mapping[str, Any]) -> str:
    """The Status a page gets with `header`: cancelled, rescheduled (moved now or before),
    held (kept once set), else scheduled."""
    if header.cancelled:
        return "cancelled"
    current = status_of(page)
    if current == "held":
        return current
    recorded = session_start(page)
    moved = recorded is not None and recorded != header.start
    return "rescheduled" if moved or current == "rescheduled" else "scheduled"


def is_in_trash(item: Mapping[str, Any]) -> bool:
    """Whether a page or database is archived / in Notion's trash."""
    return bool(item.get("in_trash") or item.get("archived") or item.get("is_archived"))
