"""A series' recurrence walked within a window, in bounded time.

dateutil walks a rule from DTSTART one period at a time, so a daily series that starts in 1900
(or on 1 January of year 1) is walked for seconds before it reaches the window syncd looks at.
Here each RRULE is restarted at the last period that begins before the window, with the values
dateutil would have taken from DTSTART written out, so the rule yields the same instances from
there on. A COUNT is carried over when every period holds the same number of instances (daily
and weekly rules without day filters); other counted rules are walked from DTSTART, under the
deadline. RDATEs and EXDATEs outside the window are left out before the walk.

A rule more frequent than daily is refused: an intro session is never booked every hour.

dateutil works on naive wall times here: a weekly 10:00 meeting stays at 10:00 local time
across a DST change, as RFC 5545 wants, and EXDATEs compare equal to the generated starts.
"""

from __future__ import annotations

import time as clock
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from dateutil.rrule import rruleset, rrulestr
from icalendar import Event
from icalendar.prop import vRecur

from syncd.errors import BadEvent

Moment = date | datetime
_SUB_DAILY = {"SECONDLY", "MINUTELY", "HOURLY"}
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# Filters that make one period hold more instances than another (a month without a 31st).
_UNEVEN = ("BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYSETPOS")


class Deadline:
    """The moment one series' expansion must be done by; `check` raises `BadEvent` after it."""

    def __init__(self, seconds: float, uid: str) -> None:
        self.seconds = seconds
        self.uid = uid
        self._end = clock.monotonic() + seconds

    def check(self) -> None:
        """Raise `BadEvent` naming the series once its time is up."""
        if clock.monotonic() > self._end:
            raise BadEvent(f"recurring event {self.uid} took more than {self.seconds:g}s to expand; skipped")


def series_zone(master: Event, zone: tzinfo) -> tzinfo:
    """The zone the series' wall times are in: DTSTART's, else the coach's (floating times)."""
    first: Moment = master.start
    return first.tzinfo if isinstance(first, datetime) and first.tzinfo else zone


def walls(
    master: Event, zone: tzinfo, span: tuple[datetime, datetime], deadline: Deadline
) -> Iterator[datetime]:
    """The wall times of `master`'s instances within `span` (naive wall times, both ends
    included), in order, lazily. Raises `BadEvent` for a rule syncd refuses or when `deadline`
    passes."""
    low, high = span
    rules = _rule_set(master, series_zone(master, zone), span, deadline)
    for wall in rules:
        deadline.check()
        if wall > high:
            return
        if wall >= low:
            yield wall


def wall(value: Moment, zone: tzinfo) -> datetime:
    """`value` as a naive wall time in `zone` (naive values are already wall times)."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time())
    return value.astimezone(zone).replace(tzinfo=None) if value.tzinfo else value


def unwall(value: datetime, first: Moment) -> Moment:
    """A generated wall time back in the type and zone of the series' DTSTART."""
    if not isinstance(first, datetime):
        return value.date()
    return value.replace(tzinfo=first.tzinfo)


def _rule_set(master: Event, zone: tzinfo, span: tuple[datetime, datetime], deadline: Deadline) -> rruleset:
    low, high = span
    first = wall(master.start, zone)
    rules = rruleset()
    if low <= first <= high:
        rules.rdate(first)  # DTSTART is always the first instance
    for recur in master.rrules:
        deadline.check()
        rule = _rule(recur, first, low, zone, deadline)
        if rule is not None:
            rules.rrule(rule)
    for rdate, _period_end in master.rdates:
        if low <= (moment := wall(rdate, zone)) <= high:
            rules.rdate(moment)
    for exdate in master.exdates:
        if low <= (moment := wall(exdate, zone)) <= high:
            rules.exdate(moment)
    return rules


def _rule(recur: vRecur, first: datetime, low: datetime, zone: tzinfo, deadline: Deadline) -> Any:
    """The rule restarted at its last period before `low` (as it is when that cannot be done
    exactly); None when its COUNT runs out before `low`."""
    params = dict(recur)
    frequency = str(_first(params.get("FREQ")) or "").upper()
    if frequency in _SUB_DAILY:
        raise BadEvent(f"recurrence FREQ={frequency} is not supported (an intro is never more than daily)")
    if "UNTIL" in params:
        params["UNTIL"] = [_until(until, zone) for until in params["UNTIL"]]
    interval = max(1, int(_first(params.get("INTERVAL")) or 1))
    wkst = _WEEKDAYS.index(str(_first(params.get("WKST")) or "MO").upper())
    periods = _periods_between(frequency, interval, wkst, first, low)
    if periods < 2:  # DTSTART is close enough: nothing to skip
        return _build(params, first)
    explicit = _with_defaults(params, first)
    count = _first(params.get("COUNT"))
    if count is not None:
        per_period = _per_period(frequency, explicit)
        if per_period is None:
            return _build(params, first)  # walked from DTSTART, under the deadline
        start_of_second = _period_start(frequency, interval, wkst, first, 1)
        used = _count_before(explicit, first, start_of_second, deadline) + per_period * (periods - 1)
        if int(count) <= used:
            return None
        explicit["COUNT"] = [int(count) - used]
    return _build(explicit, _period_start(frequency, interval, wkst, first, periods))


def _build(params: dict[str, Any], start: datetime) -> Any:
    text = vRecur(params).to_ical()  # type: ignore[no-untyped-call]  # icalendar leaves it untyped
    return rrulestr(text.decode(), dtstart=start, cache=False)


def _with_defaults(params: dict[str, Any], first: datetime) -> dict[str, Any]:
    """`params` with what dateutil takes from DTSTART written out, so a later start keeps them."""
    explicit = dict(params)
    frequency = str(_first(params["FREQ"])).upper()
    if not any(key in params for key in ("BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY")):
        if frequency == "YEARLY":
            explicit.setdefault("BYMONTH", [first.month])
            explicit["BYMONTHDAY"] = [first.day]
        elif frequency == "MONTHLY":
            explicit["BYMONTHDAY"] = [first.day]
        elif frequency == "WEEKLY":
            explicit["BYDAY"] = [_WEEKDAYS[first.weekday()]]
    explicit.setdefault("BYHOUR", [first.hour])
    explicit.setdefault("BYMINUTE", [first.minute])
    explicit.setdefault("BYSECOND", [first.second])
    return explicit


def _per_period(frequency: str, explicit: dict[str, Any]) -> int | None:
    """How many instances every whole period holds, when that is the same for all of them."""
    if any(key in explicit for key in _UNEVEN):
        return None
    times = len(set(explicit["BYHOUR"])) * len(set(explicit["BYMINUTE"])) * len(set(explicit["BYSECOND"]))
    if frequency == "DAILY" and "BYDAY" not in explicit:
        return times
    if frequency == "WEEKLY":
        # dateutil ignores a weekly rule's ordinals ("2TU" is every Tuesday).
        return times * len({str(day).upper()[-2:] for day in explicit["BYDAY"]})
    return None


def _count_before(explicit: dict[str, Any], first: datetime, end: datetime, deadline: Deadline) -> int:
    """How many instances the rule has from DTSTART up to `end` (the first, partial period)."""
    uncounted = {key: value for key, value in explicit.items() if key not in ("COUNT", "UNTIL")}
    used = 0
    for moment in _build(uncounted, first):
        deadline.check()
        if moment >= end:
            break
        used += 1
    return used


def _periods_between(frequency: str, interval: int, wkst: int, first: datetime, low: datetime) -> int:
    """How many whole periods of the rule lie from the one holding DTSTART to the one holding `low`."""
    if low <= first:
        return 0
    if frequency == "YEARLY":
        return (low.year - first.year) // interval
    if frequency == "MONTHLY":
        return ((low.year - first.year) * 12 + low.month - first.month) // interval
    days = 7 * interval if frequency == "WEEKLY" else interval
    return (low.date() - _period_start(frequency, interval, wkst, first, 0).date()).days // days


def _period_start(frequency: str, interval: int, wkst: int, first: datetime, index: int) -> datetime:
    """Midnight at the start of the rule's `index`th period (0: the one holding DTSTART)."""
    if frequency == "YEARLY":
        return datetime(first.year + index * interval, 1, 1)
    if frequency == "MONTHLY":
        month = first.month - 1 + index * interval
        return datetime(first.year + month // 12, month % 12 + 1, 1)
    day = first.date()
    if frequency == "WEEKLY":  # weeks begin on WKST, as dateutil counts them
        day -= timedelta(days=(first.weekday() - wkst) % 7)
        return datetime.combine(day + timedelta(days=7 * interval * index), time())
    return datetime.combine(day + timedelta(days=interval * index), time())


def _until(until: Moment, zone: tzinfo) -> datetime:
    # A date UNTIL includes that whole day; a UTC UNTIL becomes the series' wall time.
    if not isinstance(until, datetime):
        return datetime.combine(until, time(23, 59, 59))
    return wall(until, zone)


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value
