"""What the Outlook tests share: a `CalendarStore` acting on the fake Graph calendar as the
coach's other tools would, and an `OutlookCalendar` built on the fake with a test token."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from syncd.calendars.outlook import OutlookCalendar
from syncd.calendars.outlook_items import REMINDER, props_of
from syncd.microsoft.graph import Graph
from tests.calendar_contract import EventSpec
from tests.fakegraph import FakeGraph

# What Outlook clients write as a meeting's zone: Windows names, not IANA ones.
WINDOWS_ZONES = {"Europe/Berlin": "W. Europe Standard Time", "America/New_York": "Eastern Standard Time"}


class Tokens:
    """A token getter for `Graph` that records when a fresh token was asked for."""

    def __init__(self, fake: FakeGraph, scopes: set[str] | None = None) -> None:
        self.fake = fake
        self.scopes = scopes or {"Calendars.ReadWrite", "Mail.ReadWrite"}
        self.forced = 0
        self.token = fake.login.token_for(self.scopes)

    def __call__(self, force_refresh: bool = False) -> str:
        if force_refresh:
            self.forced += 1
            self.token = self.fake.login.token_for(self.scopes)
        return self.token


def graph_client(fake: FakeGraph, sleeps: list[float] | None = None, **options: Any) -> Graph:
    """A Graph client on the fake; `sleeps` records the waits instead of sleeping them."""
    sleep: Callable[[float], None] = sleeps.append if sleeps is not None else (lambda _s: None)
    return Graph(fake.graph_endpoint, options.pop("tokens", None) or Tokens(fake), sleep=sleep, **options)


def outlook_calendar(
    fake: FakeGraph, owner: frozenset[str], placement: str = "description", **options: Any
) -> OutlookCalendar:
    graph = options.pop("graph", None) or graph_client(fake)
    return OutlookCalendar(graph, options.pop("calendar", ""), placement, owner=owner, **options)


def graph_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def person(address: str, name: str = "", response: str = "none") -> dict[str, Any]:
    return {
        "type": "required",
        "status": {"response": response},
        "emailAddress": {"name": name, "address": address},
    }


class OutlookStore:
    """The contract's `CalendarStore` on the fake: events as Outlook or a booking tool makes them."""

    def __init__(self, fake: FakeGraph, owner: str) -> None:
        self.fake = fake
        fake.outlook.owner = owner
        self.ids: dict[str, str] = {}

    def put(self, ev: EventSpec) -> str:
        item: dict[str, Any] = {
            "subject": ev.summary,
            "body": {"contentType": "text", "content": ev.description},
            "isCancelled": ev.status == "cancelled",
            "isAllDay": ev.all_day,
            "attendees": [person(email, name) for email, name in ev.attendees],
            "originalStartTimeZone": WINDOWS_ZONES.get(ev.tz, ev.tz or "UTC"),
        }
        if ev.all_day:
            first = datetime(ev.start.year, ev.start.month, ev.start.day, tzinfo=UTC)
            last = datetime(ev.finish.year, ev.finish.month, ev.finish.day, tzinfo=UTC)
            item["start"], item["end"] = graph_time(first), graph_time(max(last, first + timedelta(days=1)))
        else:
            item["start"], item["end"] = graph_time(ev.start), graph_time(ev.finish)
        if ev.organizer:
            item["organizer"] = {"emailAddress": {"name": "", "address": ev.organizer}}
        if ev.uid in self.ids:
            item["id"] = self.ids[ev.uid]
        self.ids[ev.uid] = self.fake.outlook.put(item, rrule=ev.rrule)
        return self.ids[ev.uid]

    def delete(self, event_id: str) -> None:
        self.fake.outlook.remove(event_id)

    def read_description(self, event_id: str) -> str:
        return str(self.fake.outlook.instance(event_id)["body"]["content"])

    def count_syncd_reminders(self, event_id: str) -> int:
        item = self.fake.outlook.instance(event_id)
        return int(bool(props_of(item).get(REMINDER)) and bool(item.get("isReminderOn")))
