"""A series' recurrence walked within a window, in bounded time.

dateutil walks a rule from DTSTART one period at a time, so a daily series that starts in 1900
(or on 1 January of year 1) is walked for seconds before it reaches the window syncd looks at.
Here each RRULE is restarted at the last period that begins before the window, with the values
dateutil would have taken from DTSTART written out, so the rule yields the same instances from
there on. A COUNT becomes the UNTIL of its last instance: worked out when every period holds
the same instances (daily and weekly rules without day filters), else found by walking the
rule from DTSTART once (at most `_MOST_WALKED` instances, remembered). RDATEs and EXDATEs
outside the window are left out before the walk. When one instant is asked about, the rule's
times of day are cut to it, so a rule with every minute of the day in BY* lists costs no more
than a daily one; the answers are remembered per series content.

A rule more frequent than daily is refused: an intro session is never booked every hour. A
daily or weekly rule that no day meets is dropped when read (dateutil would look for its next
instance up to year 9999). What remains is walked under a `Deadline`.

dateutil works on naive wall times here: a weekly 10:00 meeting stays at 10:00 local time
across a DST change, as RFC 5545 wants, and EXDATEs compare equal to the generated starts.
"""

from __future__ import annotations

import time as clock
from bisect import bisect_left, bisect_right
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
# Day filters a day may never meet, and the first year of the last whole 400-year cycle.
_DAY_FILTERS = ("BYMONTHDAY", "BYYEARDAY", "BYWEEKNO")
_LAST_CYCLE = datetime(9600, 1, 1)
# How many instances of a counted rule may be walked through to learn where it ends.
_MOST_WALKED = 100_000
_WALKED: dict[tuple[Any, ...], tuple[datetime, bool]] = {}  # oldest first
_ANSWERS: dict[tuple[Any, ...], dict[datetime, bool]] = {}  # oldest first
_MOST_SERIES = 32
_MOST_ANSWERS = 10_000


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


class Recurrence:
    """A series' recurrence, read once: its rules, RDATEs and EXDATEs in wall times.

    Raises `BadEvent` for a rule syncd refuses (more frequent than daily)."""

    def __init__(self, master: Event, zone: tzinfo) -> None:
        self.zone = series_zone(master, zone)
        self.first = wall(master.start, self.zone)
        read = [_params(recur, self.zone) for recur in master.rrules]
        self.rules = [params for params in read if not _never_matches(params, self.first)]
        self.rdates = sorted(wall(rdate, self.zone) for rdate, _period_end in master.rdates)
        self.exdates = sorted(wall(exdate, self.zone) for exdate in master.exdates)
        rules = tuple(tuple(sorted((key, str(value)) for key, value in rule.items())) for rule in self.rules)
        # Every lookup of an instance re-reads the file and asks again about each instance
        # syncd annotated (see `ics_carriers`): the answers are kept per series content.
        self._answers = _answers((str(self.zone), self.first, rules, tuple(self.rdates), tuple(self.exdates)))

    def walls(self, span: tuple[datetime, datetime], deadline: Deadline) -> Iterator[datetime]:
        """The wall times of the instances within `span` (both ends included), in order,
        lazily. Raises `BadEvent` when `deadline` passes."""
        low, high = span
        for moment in self._rule_set(span, deadline):
            deadline.check()
            if moment > high:
                return
            if moment >= low:
                yield moment

    def generates(self, at: datetime, deadline: Deadline) -> bool:
        """Whether the series has an instance at wall time `at`."""
        answer = self._answers.get(at)
        if answer is None:
            answer = self._answers[at] = next(self.walls((at, at), deadline), None) is not None
        return answer

    def _rule_set(self, span: tuple[datetime, datetime], deadline: Deadline) -> rruleset:
        rules = rruleset()
        if span[0] <= self.first <= span[1]:
            rules.rdate(self.first)  # DTSTART is always the first instance
        for params in self.rules:
            deadline.check()
            rule = _rule(params, self.first, span, deadline)
            if rule is not None:
                rules.rrule(rule)
        for rdate in _within(self.rdates, span):
            rules.rdate(rdate)
        for exdate in _within(self.exdates, span):
            rules.exdate(exdate)
        return rules


def _answers(key: tuple[Any, ...]) -> dict[datetime, bool]:
    """The answers kept for the series `key` names (the last few series asked about)."""
    answers = _ANSWERS.pop(key, None)
    if answers is None or len(answers) > _MOST_ANSWERS:
        answers = {}
    _ANSWERS[key] = answers
    while len(_ANSWERS) > _MOST_SERIES:
        del _ANSWERS[next(iter(_ANSWERS))]
    return answers


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


def _within(moments: list[datetime], span: tuple[datetime, datetime]) -> list[datetime]:
    return moments[bisect_left(moments, span[0]) : bisect_right(moments, span[1])]


def _params(recur: vRecur, zone: tzinfo) -> dict[str, Any]:
    params = dict(recur)
    frequency = str(_first(params.get("FREQ")) or "").upper()
    if frequency in _SUB_DAILY:
        raise BadEvent(f"recurrence FREQ={frequency} is not supported (an intro is never more than daily)")
    if "UNTIL" in params:
        params["UNTIL"] = [_until(until, zone) for until in params["UNTIL"]]
    return params


def _never_matches(params: dict[str, Any], first: datetime) -> bool:
    """True for a daily or weekly rule that no day meets (30 February; every 7th day from a
    Tuesday, on Mondays): dateutil would look for its next instance up to year 9999."""
    frequency = str(_first(params.get("FREQ")) or "").upper()
    if frequency not in ("DAILY", "WEEKLY"):
        return False  # months and years: dateutil gives up on those soon enough
    weekdays = sorted({str(day).upper()[-2:] for day in params.get("BYDAY", [])})
    interval = max(1, int(_first(params.get("INTERVAL")) or 1))
    if frequency == "DAILY" and interval % 7 == 0 and weekdays and _WEEKDAYS[first.weekday()] not in weekdays:
        return True
    if not any(key in params for key in _DAY_FILTERS):
        return False
    # The same day filters as a yearly rule over the last Gregorian cycle dateutil can reach:
    # 400 years, every date and weekday pattern there is, walked in a few milliseconds.
    probe = {key: value for key, value in params.items() if key in (*_DAY_FILTERS, "BYMONTH", "WKST")}
    if weekdays:
        probe["BYDAY"] = weekdays
    probe |= {"FREQ": ["YEARLY"], "BYHOUR": [0], "BYMINUTE": [0], "BYSECOND": [0]}
    return next(iter(_build(probe, _LAST_CYCLE)), None) is None


def _rule(
    params: dict[str, Any], first: datetime, span: tuple[datetime, datetime], deadline: Deadline
) -> Any:
    """The rule restarted at its last period before `span`, bounded by its end; None when it
    has no instance there. Raises `BadEvent` for a counted rule syncd cannot count through."""
    frequency = str(_first(params.get("FREQ")) or "").upper()
    interval = max(1, int(_first(params.get("INTERVAL")) or 1))
    wkst = _WEEKDAYS.index(str(_first(params.get("WKST")) or "MO").upper())
    explicit = _with_defaults(params, first)
    ends: list[datetime] = list(explicit.pop("UNTIL", []))
    if explicit.pop("COUNT", None) is not None:
        last = _last_counted(frequency, interval, wkst, params, explicit, first, deadline)
        ends.append(last if last is not None else _walked_end(params, first, span, deadline))
    end = min([*ends, span[1]])
    if end < span[0]:
        return None
    narrowed = _narrowed(explicit, span)
    if narrowed is None:
        return None
    narrowed["UNTIL"] = [end]
    periods = _periods_between(frequency, interval, wkst, first, span[0])
    return _build(
        narrowed, first if periods < 2 else _period_start(frequency, interval, wkst, first, periods)
    )


def _last_counted(
    frequency: str,
    interval: int,
    wkst: int,
    params: dict[str, Any],
    explicit: dict[str, Any],
    first: datetime,
    deadline: Deadline,
) -> datetime | None:
    """A COUNT rule's last instance, worked out without walking to it when every period holds
    the same instances (None otherwise; `datetime.max` when it lies past year 9999)."""
    per_period = _per_period(frequency, explicit)
    if per_period is None:
        return None
    count = int(_first(params["COUNT"]))
    second_period = _period_start(frequency, interval, wkst, first, 1)
    in_first = list(_walk(explicit, first, second_period, deadline))
    if count <= len(in_first):
        return in_first[count - 1] if count > 0 else first - timedelta(seconds=1)
    left = count - len(in_first) - 1  # instances before the last one, from the second period on
    times = sorted(
        time(hour, minute, second)
        for hour in set(explicit["BYHOUR"])
        for minute in set(explicit["BYMINUTE"])
        for second in set(explicit["BYSECOND"])
    )
    offsets = [0]
    if frequency == "WEEKLY":
        days = {_WEEKDAYS.index(str(day).upper()[-2:]) for day in explicit["BYDAY"]}
        offsets = sorted((day - wkst) % 7 for day in days)
    period, position = divmod(left, per_period)
    try:
        start = _period_start(frequency, interval, wkst, first, 1 + period)
        day = start.date() + timedelta(days=offsets[position // len(times)])
    except OverflowError:
        return datetime.max
    return datetime.combine(day, times[position % len(times)])


def _walked_end(
    params: dict[str, Any], first: datetime, span: tuple[datetime, datetime], deadline: Deadline
) -> datetime:
    """How far a counted rule whose periods differ reaches, by walking it from DTSTART (at
    most `_MOST_WALKED` instances, remembered per rule): its last instance, or at least the
    end of `span`. Raises `BadEvent` when the walk would have to go on to reach `span`."""
    key = (first, tuple(sorted((name, str(value)) for name, value in params.items())))
    known = _WALKED.pop(key, None) or _walk_count(params, first, deadline)
    _WALKED[key] = known
    while len(_WALKED) > _MOST_SERIES:
        del _WALKED[next(iter(_WALKED))]
    reached, finished = known
    if finished or reached >= span[1]:
        return reached
    raise BadEvent(
        f"recurring event {deadline.uid}: its COUNT takes more than {_MOST_WALKED} instances "
        "to count up to the window syncd looks at; skipped"
    )


def _walk_count(params: dict[str, Any], first: datetime, deadline: Deadline) -> tuple[datetime, bool]:
    """The last instance walked (before DTSTART when none), and whether the rule ended there."""
    last = first - timedelta(seconds=1)
    for number, moment in enumerate(_build(params, first), start=1):
        deadline.check()
        last = moment
        if number >= _MOST_WALKED:
            return last, False
    return last, True


def _narrowed(explicit: dict[str, Any], span: tuple[datetime, datetime]) -> dict[str, Any] | None:
    """The rule's times of day cut to those `span` can hold, when it lies within one day (one
    instance is looked for); None when none is left. Not with BYSETPOS, which counts them."""
    low, high = span
    if "BYSETPOS" in explicit or low.date() != high.date():
        return explicit
    narrowed = dict(explicit)
    narrowed["BYHOUR"] = [h for h in set(explicit["BYHOUR"]) if low.hour <= int(h) <= high.hour]
    if low.hour == high.hour:
        narrowed["BYMINUTE"] = [m for m in set(explicit["BYMINUTE"]) if low.minute <= int(m) <= high.minute]
        if low.minute == high.minute:
            narrowed["BYSECOND"] = [
                s for s in set(explicit["BYSECOND"]) if low.second <= int(s) <= high.second
            ]
    if not all(narrowed[key] for key in ("BYHOUR", "BYMINUTE", "BYSECOND")):
        return None
    return narrowed


def _walk(explicit: dict[str, Any], first: datetime, end: datetime, deadline: Deadline) -> Iterator[datetime]:
    """The open rule's instances from DTSTART up to `end` (excluded)."""
    for moment in _build(explicit, first):
        deadline.check()
        if moment >= end:
            return
        yield moment


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
