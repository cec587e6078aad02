"""Expanding a recurring event into instances the way `singleEvents=true` shows them.

An instance's id is the series id, "_", and its original start in UTC (`20300603T080000Z`;
`20300603` for all-day series), with `recurringEventId` and `originalStartTime` set. Only the
RRULE line is honoured (EXDATE/RDATE are not modelled).
"""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

MAX_INSTANCES = 1000  # an unbounded rule stops here


def is_series(event: dict[str, Any]) -> bool:
    return any(str(line).startswith("RRULE:") for line in event.get("recurrence") or ())


def instances(master: dict[str, Any]) -> list[dict[str, Any]]:
    """Every generated instance of `master`, in order (no exceptions applied)."""
    rule = next(str(line)[6:] for line in master["recurrence"] if str(line).startswith("RRULE:"))
    start, end = master["start"], master["end"]
    if "date" in start:
        first = datetime.combine(date.fromisoformat(start["date"]), datetime.min.time())
        length = date.fromisoformat(end["date"]) - first.date()
    else:
        first = _local(start)
        length = _local(end) - first
    occurrences = itertools.islice(rrulestr(rule, dtstart=first), MAX_INSTANCES)
    return [_instance(master, when, length) for when in occurrences]


def _instance(master: dict[str, Any], when: datetime, length: timedelta) -> dict[str, Any]:
    event = {k: copy.deepcopy(v) for k, v in master.items() if k != "recurrence"}
    if "date" in master["start"]:
        stamp = when.strftime("%Y%m%d")
        event["start"] = {"date": when.date().isoformat()}
        event["end"] = {"date": (when.date() + length).isoformat()}
    else:
        zone = master["start"].get("timeZone")
        stamp = when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        event["start"] = _when(when, zone)
        event["end"] = _when(when + length, master["end"].get("timeZone") or zone)
    event["id"] = f"{master['id']}_{stamp}"
    event["recurringEventId"] = master["id"]
    event["originalStartTime"] = copy.deepcopy(event["start"])
    return event


def _local(value: dict[str, Any]) -> datetime:
    """The time in the zone it was written in, so daily rules keep the wall-clock time over DST."""
    moment = datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))
    zone = value.get("timeZone")
    return moment.astimezone(ZoneInfo(zone)) if zone else moment


def _when(moment: datetime, zone: str | None) -> dict[str, Any]:
    # Wall-clock arithmetic across DST needs the offset recomputed for the new date.
    fixed = moment.replace(tzinfo=ZoneInfo(zone)) if zone else moment
    value: dict[str, Any] = {"dateTime": fixed.isoformat()}
    if zone:
        value["timeZone"] = zone
    return value
