"""Reading iCalendar data as syncd's `CalendarEvent`s: zones, attendees and recurrence.

Pure functions over text; nothing here touches the disk. Every time leaves this module as an
aware UTC datetime (floating times and all-day dates are taken in the coach's zone).

Ids: a single event's id is its UID; an instance of a recurring series is
`UID/YYYYMMDDTHHMMSSZ` (its original start in UTC) or `UID/YYYYMMDD` for an all-day series,
as Google Calendar names instances.

A series is expanded only over the window asked for, at most `Limits.instances` instances of it
and for at most `Limits.seconds` (see `ics_rules`): a booking calendar may hold a "recurrence
bomb" (an endless daily series from 1900, a COUNT in the millions, an override per day for
years), and every other booking waits while one is expanded.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from syncd.calendars import ics_split
from syncd.calendars.ics_carriers import OVERRIDE_MARK, is_carrier, series_start_of
from syncd.calendars.ics_rules import Deadline, Recurrence, unwall, wall
from syncd.calendars.limits import SERIES_INSTANCES
from syncd.errors import BadEvent
from syncd.model import Attendee, CalendarEvent
from syncd.text import error_line, one_line, without_quoted_content

log = logging.getLogger(__name__)

Moment = date | datetime
# What a broken file's contents may raise from icalendar or dateutil, beyond BadEvent.
PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError)
_INSTANCE_ID = re.compile(r"^(?P<uid>.+)/(?P<stamp>\d{8}(?:T\d{6}Z)?)$")
_RESPONSES = {"NEEDS-ACTION": "needsAction"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ADDRESS = re.compile(r"^[^@\s<>,;:\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


@dataclass(frozen=True)
class Limits:
    """How much of one series an expansion takes: the first `instances` instances in the
    window, within `seconds` of work; a series with more than `overrides` RECURRENCE-ID
    overrides or `dates` RDATE and EXDATE values, or that takes longer, is skipped with
    `BadEvent`.

    Why so few: the vdir source reads the whole file for every instance it finds or
    annotates, and the file grows by an override per annotated instance, so one pass over a
    series costs about instances x file size (100 instances took ~15 s on a busy machine,
    2000 overrides ~0.2 s per read). Only the VEVENTs whose text is new are parsed again
    (`ics_split`), but every read still cuts the file into components and expands the series."""

    instances: int = SERIES_INSTANCES
    seconds: float = 2.0
    overrides: int = 500
    dates: int = 5000  # RDATE and EXDATE values together


# Finding one instance by its id: whatever the window holds, it is the one asked for.
_UNCAPPED = Limits(instances=sys.maxsize, overrides=sys.maxsize, dates=sys.maxsize)


@dataclass(frozen=True)
class Occurrence:
    """One event instance: the VEVENT that describes it and when it happens.

    `recurrence` is the instance's original start as the series writes it (a date, or a
    datetime in DTSTART's zone, or naive when floating); None for a single event. When the
    whole series moved, `moved_from` is the id the instance had before and `replaces` the
    override syncd wrote there to carry its annotation (see `ics_carriers`).
    """

    id: str
    component: Event
    start: datetime
    end: datetime
    all_day: bool
    recurrence: Moment | None = None
    moved_from: str = ""
    replaces: Event | None = None


def without_controls(text: str) -> str:
    """`text` without the control characters `load_calendar` drops (see there), so that a
    search of the raw text matches what the parser read."""
    return _CONTROL.sub("", text)


@functools.lru_cache(maxsize=2)
def load_calendar(text: str) -> Calendar:
    """Parse `text`. Raises `BadEvent` naming the problem when it is not usable.

    Control characters (other than tab and line ends) are dropped first: RFC 5545 allows
    them nowhere, they mean nothing, and one typed into a booking form must not cost the coach
    the whole booking.

    The last texts parsed are remembered (a booking's file is read to find the booking and
    again to annotate it), and so is each VEVENT (a series' file read again after syncd added
    an override to it parses only the new override: see `ics_split`): the calendar returned
    and its components are shared, and must not be changed.
    """
    try:
        calendar = ics_split.parse(without_controls(text))
    except ValueError as exc:
        # The parser quotes the line it choked on: of a file that is no calendar (a symlink to
        # a secret), the log shows no more than a short excerpt.
        raise BadEvent(
            f"not a valid iCalendar file: {error_line(without_quoted_content(str(exc)))}"
        ) from None
    for event in vevents(calendar):
        if event.errors:
            name, problem = event.errors[0]
            what = f"bad {name} property" if name else "unreadable line"
            raise BadEvent(f"{what}: {error_line(without_quoted_content(str(problem)))}")
        if not event.get("UID") or event.get("DTSTART") is None:
            raise BadEvent("a VEVENT has no UID or no DTSTART")
    return calendar


def vevents(calendar: Calendar) -> list[Event]:
    """The calendar's own VEVENTs, in file order."""
    return [comp for comp in calendar.subcomponents if isinstance(comp, Event)]


@dataclass(frozen=True)
class Expansion:
    """What `expand` found in a window, and what a later window may find that this one did not.

    `continues`: a series may have instances starting after the window (it has not ended, or
    cannot be told), so a window ending later may find more. `cap_frees_at`: when a series had
    more instances in the window than the cap took, the earliest end among those taken; once a
    window starts after it, that instance is out and the cap takes one more (None when no cap
    cut a series short).
    """

    occurrences: list[Occurrence]
    continues: bool
    cap_frees_at: datetime | None = None


def expand(
    calendar: Calendar, window: tuple[datetime, datetime], zone: ZoneInfo, limits: Limits = Limits()
) -> Expansion:
    """Every event of `calendar`, recurring series expanded to the instances in `window`, with
    what the window left out (see `Expansion`).

    A series with more than `limits.instances` there gives its first ones, with one warning.
    Raises `BadEvent` for a rule syncd refuses (more frequent than daily), a series with more
    than `limits.overrides` overrides, or one that takes longer than `limits.seconds`."""
    found: list[Occurrence] = []
    continues = False
    frees_at: datetime | None = None
    for uid, components in _by_uid(calendar).items():
        series = _series(uid, components, window, zone, limits)
        continues = continues or _continues_after(uid, components, window[1], zone, limits)
        taken = _capped(uid, series, limits.instances)
        if len(taken) < len(series):
            earliest = min((occurrence.end for occurrence in taken), default=None)
            if earliest is not None and (frees_at is None or earliest < frees_at):
                frees_at = earliest
        found += taken
    return Expansion(found, continues, frees_at)


def occurrences(
    calendar: Calendar, window: tuple[datetime, datetime], zone: ZoneInfo, limits: Limits = Limits()
) -> list[Occurrence]:
    """Every event of `calendar`; recurring series expanded to the instances in `window` (see
    `expand`, which also says what the window left out)."""
    return expand(calendar, window, zone, limits).occurrences


def find_occurrence(calendar: Calendar, event_id: str, zone: ZoneInfo) -> Occurrence | None:
    """The occurrence called `event_id` in `calendar`, wherever in time it lies."""
    around = instance_start(event_id, zone)
    # A plain UID names a single event, found whatever the window: expand no series for it.
    window = (around - timedelta(days=2), around + timedelta(days=2)) if around else (_EPOCH, _EPOCH)
    uid = event_id.rsplit("/", 1)[0] if around else event_id
    components = _by_uid(calendar).get(uid)
    # One instance is wanted, so no cap: the one asked for may lie past the first hundred.
    found = _series(uid, components, window, zone, _UNCAPPED, around) if components else []
    return next((o for o in found if o.id == event_id), None)


def _by_uid(calendar: Calendar) -> dict[str, list[Event]]:
    series: dict[str, list[Event]] = {}
    for event in vevents(calendar):
        series.setdefault(str(event["UID"]), []).append(event)
    return series


def instance_start(event_id: str, zone: ZoneInfo) -> datetime | None:
    """The original start an instance id names (UTC), or None for a plain UID."""
    match = _INSTANCE_ID.match(event_id)
    if not match:
        return None
    moment = _moment(match.group("stamp"))
    return None if moment is None else to_utc(moment, zone)


def uid_of(event_id: str) -> str:
    """The UID an event id names (an instance's id without its `/start`)."""
    start = instance_start(event_id, ZoneInfo("UTC"))
    return event_id.rsplit("/", 1)[0] if start is not None else event_id


def started_before(event_id: str, since: datetime, zone: ZoneInfo) -> bool:
    """Whether `event_id` names an instance that started before `since` (one that slid out of
    the window behind the look-back, not one that was cancelled)."""
    start = instance_start(event_id, zone)
    return start is not None and start < since


def cancelled_stub(event_id: str) -> CalendarEvent:
    """What a source reports for an event that is gone."""
    return CalendarEvent(id=event_id, status="cancelled")


def to_event(occurrence: Occurrence, *, etag: str, coach_addresses: frozenset[str]) -> CalendarEvent:
    """The `CalendarEvent` for `occurrence`."""
    component = occurrence.component
    organizer = _email(component.get("ORGANIZER"))
    status = str(_first(component.get("STATUS")) or "").lower()
    return CalendarEvent(
        id=occurrence.id,
        status=status if status in ("cancelled", "tentative") else "confirmed",
        summary=_text(component, "SUMMARY"),
        description=_text(component, "DESCRIPTION"),
        start=occurrence.start,
        end=occurrence.end,
        all_day=occurrence.all_day,
        timezone=zone_name(component),
        organizer=organizer,
        attendees=_attendees(component, organizer, coach_addresses),
        etag=etag,
        moved_from=occurrence.moved_from,
    )


def zone_name(event: Event) -> str:
    """The IANA name of the zone DTSTART is written in ("" for UTC and floating times).

    Outlook writes Windows names ("W. Europe Standard Time"); they are mapped to IANA names so
    the rest of syncd can render times in them. An unknown custom TZID is passed on as is.
    """
    tzid = str(event["DTSTART"].params.get("TZID", ""))
    if not tzid:
        return ""
    start = event.start
    key = getattr(start.tzinfo, "key", None) if isinstance(start, datetime) else None
    return str(key or WINDOWS_TO_OLSON.get(tzid, tzid))


def to_utc(value: Moment, zone: tzinfo) -> datetime:
    """`value` as aware UTC; dates are midnight and naive times are wall time in `zone`."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def stamp(value: Moment, zone: ZoneInfo) -> str:
    """An instance's id suffix: its original start in UTC (the date for all-day series)."""
    if not isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    return to_utc(value, zone).strftime("%Y%m%dT%H%M%SZ")


# --- recurrence -------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _series(
    uid: str,
    components: list[Event],
    window: tuple[datetime, datetime],
    zone: ZoneInfo,
    limits: Limits,
    around: datetime | None = None,
) -> list[Occurrence]:
    """The series' occurrences in `window`: those of the rule at most one more than
    `limits.instances` (the earliest), so that `_capped` can tell the cap cut it short.

    With `around`, the series is asked only for the instance starting then (one is wanted);
    `window` still bounds the overrides the series does not produce."""
    master = next((c for c in components if recurrence_id(c) is None), None)
    overrides = {stamp(o, zone): c for c in components if (o := recurrence_id(c)) is not None}
    if master is not None and not _is_recurring(master):
        return [_occurrence(uid, master, zone)]
    if len(overrides) > limits.overrides:
        raise BadEvent(
            f"recurring event {one_line(uid)} has {len(overrides)} overrides (RECURRENCE-ID), "
            f"more than {limits.overrides}; skipped"
        )
    found: list[Occurrence] = []
    if master is not None:
        _check_dates(uid, master, limits)
        deadline = Deadline(limits.seconds, one_line(uid))
        recurrence = Recurrence(master, zone)
        moves = _moved_carriers(master, recurrence, overrides, zone, deadline)
        originals: Iterable[Moment]
        if around is None:
            originals = _expand(master, recurrence, window, zone, limits.instances + 1, deadline)
        else:
            originals = _at(master, recurrence, around, deadline)
        found = _expanded(uid, master, overrides, moves, originals, zone)
    # What is left are overrides of starts the series does not produce in the window: an
    # instance moved into it from elsewhere, or an instance we were sent without its series.
    for key, override in overrides.items():
        occurrence = _occurrence(f"{uid}/{key}", override, zone, recurrence_id(override))
        if occurrence.end > window[0] and occurrence.start < window[1]:
            found.append(occurrence)
    return found


# Far enough to mean "ever after" to dateutil, which stops at year 9999.
_EVER = datetime(9000, 1, 1)


def _continues_after(
    uid: str, components: list[Event], end: datetime, zone: ZoneInfo, limits: Limits
) -> bool:
    """Whether the series may have an instance that starts after `end`, give or take a day
    (zone changes make a wall time's instant uncertain by hours): True when it cannot be told."""
    after = end - timedelta(days=1)
    if any(recurrence_id(c) is not None and to_utc(c.start, zone) >= after for c in components):
        return True  # an override moved later than the window
    master = next((c for c in components if recurrence_id(c) is None), None)
    if master is None or not _is_recurring(master):
        return False
    try:
        recurrence = Recurrence(master, zone)
        span = (wall(after, recurrence.zone), _EVER)
        return next(recurrence.walls(span, Deadline(limits.seconds, one_line(uid))), None) is not None
    except BadEvent:
        return True  # a count too long to follow, or out of time: look again later


def _check_dates(uid: str, master: Event, limits: Limits) -> None:
    dates = len(master.rdates) + len(master.exdates)
    if dates > limits.dates:
        raise BadEvent(
            f"recurring event {one_line(uid)} lists {dates} RDATE and EXDATE dates, "
            f"more than {limits.dates}; skipped"
        )


def _capped(uid: str, found: list[Occurrence], cap: int) -> list[Occurrence]:
    if len(found) <= cap:
        return found
    log.warning(
        "recurring event %s has more than %d instances in the window syncd looks at; only the first %d are taken",
        one_line(uid),
        cap,
        cap,
    )
    return sorted(found, key=lambda occurrence: occurrence.start)[:cap]


def _expanded(
    uid: str,
    master: Event,
    overrides: dict[str, Event],
    moves: dict[str, tuple[str, Event]],
    originals: Iterable[Moment],
    zone: ZoneInfo,
) -> list[Occurrence]:
    """The series' instances that start at `originals`; the overrides used are popped from
    `overrides`."""
    found: list[Occurrence] = []
    for original in originals:
        key = stamp(original, zone)
        override = overrides.pop(key, None)
        if override is not None:
            found.append(_occurrence(f"{uid}/{key}", override, zone, original))
            continue
        instance = _instance(f"{uid}/{key}", master, original, zone)
        if key in moves:
            old_key, carrier = moves[key]
            instance = dataclasses.replace(instance, moved_from=f"{uid}/{old_key}", replaces=carrier)
        found.append(instance)
    return found


def _moved_carriers(
    master: Event, recurrence: Recurrence, overrides: dict[str, Event], zone: ZoneInfo, deadline: Deadline
) -> dict[str, tuple[str, Event]]:
    """Carriers whose instance the series no longer has, taken out of `overrides` (they are not
    events), by the key of the instance the series' move shifted each to (when it has one
    that no other override describes)."""
    moves: dict[str, tuple[str, Event]] = {}
    if not any(OVERRIDE_MARK in override for override in overrides.values()):
        return moves  # the common case: no rule set to build
    series = recurrence.zone
    first: Moment = master.start
    for key, override in list(overrides.items()):
        original = recurrence_id(override)
        # The cheap question first: whether the series still has the instance (it usually has).
        if (
            original is None
            or recurrence.generates(wall(original, series), deadline)
            or not is_carrier(override)
        ):
            continue
        del overrides[key]
        was = _moment(series_start_of(override))
        if was is None:
            continue
        moved = wall(original, series) + (wall(first, series) - wall(was, series))
        target = stamp(unwall(moved, first), zone)
        if target not in overrides and target not in moves and recurrence.generates(moved, deadline):
            moves[target] = (key, override)
    return moves


def _moment(value: str) -> Moment | None:
    """A stamp as `stamp` writes it, read back (None when it is not one)."""
    try:
        if len(value) == 8:
            return datetime.strptime(value, "%Y%m%d").date()
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def recurrence_id(event: Event) -> Moment | None:
    """The RECURRENCE-ID of an override VEVENT (its instance's original start), else None."""
    value: Moment | None = event.RECURRENCE_ID
    return value


def _is_recurring(event: Event) -> bool:
    return bool(event.get("RRULE") or event.get("RDATE"))


def _occurrence(event_id: str, event: Event, zone: ZoneInfo, original: Moment | None = None) -> Occurrence:
    start, end = event.start, event.end
    all_day = not isinstance(start, datetime)
    return Occurrence(event_id, event, to_utc(start, zone), to_utc(end, zone), all_day, original)


def _instance(event_id: str, master: Event, original: Moment, zone: ZoneInfo) -> Occurrence:
    start = to_utc(original, zone)
    all_day = not isinstance(original, datetime)
    return Occurrence(event_id, master, start, start + master.duration, all_day, original)


def _at(master: Event, recurrence: Recurrence, around: datetime, deadline: Deadline) -> list[Moment]:
    """The original start `around` names, when the series has an instance there."""
    at = wall(around, recurrence.zone)
    return [unwall(at, master.start)] if recurrence.generates(at, deadline) else []


def _expand(
    master: Event,
    recurrence: Recurrence,
    window: tuple[datetime, datetime],
    zone: ZoneInfo,
    most: int,
    deadline: Deadline,
) -> Iterator[Moment]:
    """The original starts of `master`'s instances that overlap `window`, the first `most`."""
    first: Moment = master.start
    series = recurrence.zone
    duration = max(master.duration, timedelta(0))  # a DTEND before DTSTART: taken as no length
    span = (
        wall(window[0] - duration - timedelta(days=1), series),
        wall(window[1] + timedelta(days=1), series),
    )
    taken = 0
    for moment in recurrence.walls(span, deadline):
        start = unwall(moment, first)
        if to_utc(start, zone) + duration > window[0] and to_utc(start, zone) < window[1]:
            yield start
            taken += 1
            if taken >= most:
                return


# --- properties -------------------------------------------------------------------------------


def _first(value: Any) -> Any:
    """A property that may appear more than once comes back as a list: take the first."""
    return value[0] if isinstance(value, list) and value else value


def _all(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _text(event: Event, name: str) -> str:
    value = _first(event.get(name))
    return "" if value is None else str(value)


def _email(address: Any) -> str:
    """The email address of a CAL-ADDRESS, lower-cased; "" when it names none.

    The value is usually `mailto:ADDRESS`. Apple/iCloud write `urn:uuid:...` instead and give
    the address in the `EMAIL=` parameter (RFC 7986); a bare address is taken as it is.
    """
    prop = _first(address)
    value = str(prop or "").strip()
    if value.lower().startswith("mailto:"):
        return value[len("mailto:") :].strip().lower()
    param = str(getattr(prop, "params", {}).get("EMAIL", "")).strip()
    param = re.sub(r"^mailto:", "", param, flags=re.IGNORECASE)
    if _ADDRESS.match(param):
        return param.lower()
    return value.lower() if _ADDRESS.match(value) else ""


def _attendees(event: Event, organizer: str, coach: frozenset[str]) -> tuple[Attendee, ...]:
    found: dict[str, Attendee] = {}
    nameless: list[Attendee] = []  # no address at all: kept, but never matched to anyone
    for address in _all(event.get("ATTENDEE")):
        email = _email(address)
        if not email:
            nameless.append(_attendee("", address.params, organizer, coach))
        elif email not in found:
            found[email] = _attendee(email, address.params, organizer, coach)
    if organizer and organizer not in found:
        params = getattr(_first(event.get("ORGANIZER")), "params", {})
        found[organizer] = Attendee(organizer, str(params.get("CN", "")), organizer in coach, True)
    return (*found.values(), *nameless)


def _attendee(email: str, params: Any, organizer: str, coach: frozenset[str]) -> Attendee:
    partstat = str(params.get("PARTSTAT", "NEEDS-ACTION")).upper()
    response = _RESPONSES.get(partstat, partstat.lower())
    name = str(params.get("CN", ""))
    return Attendee(email, name, bool(email) and email in coach, bool(email) and email == organizer, response)
