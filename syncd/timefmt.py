"""Every time syncd shows a person, written here: one format per purpose.

- for people (notes, the event's block, the follow-up): `Tue 1 Dec 2026, 14:00 CET`, a
  session as `Tue 1 Dec 2026, 10:00-10:30 CET` (an en dash), in English whatever the locale;
- dates in names (note titles and file names): `2026-12-01`;
- log lines, `syncd status` and the health file's text: `2026-12-01 14:00 CET`, which sorts
  and greps.

Each takes an aware datetime and the zone to show it in (the coach's, usually); a zone's
abbreviation is shown when it has one, else its offset as `UTC+05:30`, never a bare `+0530`.
Wire formats (RFC 3339 for an API, iCalendar, the state store) are not here: nobody reads them.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

EN_DASH = "\u2013"
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def zone_label(moment: datetime) -> str:
    """`CET`, or `UTC+05:30` for a zone whose abbreviation is only its offset."""
    name = moment.tzname() or ""
    return f"UTC{name}" if name[:1] in "+-" else name


def format_day(moment: datetime) -> str:
    """`Tue 1 Dec 2026`: the day of `moment` as it is (convert it first)."""
    return f"{format_short_day(moment)} {moment.year}"


def format_short_day(moment: datetime) -> str:
    """`Tue 1 Dec`: `format_day` without the year, for a day close enough to need none."""
    return f"{_DAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]}"


def format_clock(moment: datetime, zone: tzinfo) -> str:
    """`14:00 CET`: the time of day of `moment` in `zone`."""
    local = moment.astimezone(zone)
    return f"{local:%H:%M} {zone_label(local)}"


def format_moment(moment: datetime, zone: tzinfo) -> str:
    """`Tue 1 Dec 2026, 14:00 CET`: `moment` in `zone`, for people."""
    local = moment.astimezone(zone)
    return f"{format_day(local)}, {format_clock(local, zone)}"


def format_span(start: datetime, end: datetime, zone: tzinfo) -> str:
    """`Tue 1 Dec 2026, 10:00-10:30 CET` (an en dash): a session in `zone`, both ends in full when it
    crosses midnight or a change of offset."""
    first, last = start.astimezone(zone), end.astimezone(zone)
    if first.date() == last.date() and first.utcoffset() == last.utcoffset():
        return f"{format_day(first)}, {first:%H:%M}{EN_DASH}{format_clock(last, zone)}"
    return f"{format_moment(first, zone)} {EN_DASH} {format_moment(last, zone)}"


def format_date(moment: datetime, zone: tzinfo) -> str:
    """`2026-12-01`: the day of `moment` in `zone`, for names that sort."""
    return moment.astimezone(zone).date().isoformat()


def format_log_time(moment: datetime, zone: tzinfo | None) -> str:
    """`2026-12-01 14:00 CET`: `moment` in `zone` (None: the machine's) for log lines and
    tables, which people scan and sort."""
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {zone_label(local)}".strip()
