"""`syncd status`: the bookings a coach is looking for, then the daemon's health.

After a year the state holds hundreds of bookings; a coach opening status wants this week's.
So the table shows upcoming sessions, sessions since a cutoff (a week by default) and any older
booking that still waits on syncd (a follow-up pending, a note not made yet, a step begun and
not finished), and one line says how many older ones are left out and how to see them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from syncd.config import Settings
from syncd.durations import format_duration
from syncd.health import status_lines
from syncd.lifecycle import Booking
from syncd.model import Followup
from syncd.state import open_state
from syncd.text import counted, one_line
from syncd.timefmt import format_log_time

# How far back the table goes unless told otherwise: the week a coach is working through.
DEFAULT_SINCE = timedelta(days=7)


def show_status(settings: Settings, now: datetime, since: timedelta | None = DEFAULT_SINCE) -> None:
    """Print the bookings worth a look (all of them when `since` is None), then the health."""
    state = open_state(settings, scratch=True)  # read without touching it
    zones: dict[str, tzinfo] = {coach.key: ZoneInfo(coach.timezone) for coach in settings.coaches}
    state.only_coaches(frozenset(zones))
    several = len(zones) > 1
    try:
        bookings = state.bookings()
        bad_rows = len(state.bad_rows())
        # Health times in the coaches' zone when they share one; else in UTC.
        shared_zone = next(iter(zones.values())) if len(set(zones.values())) == 1 else None
        health_lines = status_lines(
            state, tz=shared_zone, with_coach=several, replicas=state.replica_health(now)
        )
        held = lease_lines(state.leases(), frozenset(zones), now, shared_zone)
    finally:
        state.close()
    tracked = [b for b in bookings if b.coach in zones]
    cutoff = None if since is None else now - since
    shown = [b for b in tracked if cutoff is None or worth_showing(b, cutoff)]
    rows = [_status_row(b, zones[b.coach], several) for b in shown]
    headers = ("coach",) * several + ("client", "start", "state", "follow-up", "note")
    if rows:
        print(_table(headers, rows))
    elif len(tracked) == len(shown):
        print("No bookings tracked yet.")
    for line in _placement_lines(settings):
        print(line)
    if since is not None and len(tracked) > len(shown):
        print(_hidden_line(len(tracked) - len(shown), since, shown_any=bool(rows)))
    others = len(bookings) - len(tracked)
    if others:
        kept = counted(others, "booking")
        print(f"({kept} of coaches no longer in the config kept in the state, not shown)")
    if bad_rows:
        print(
            f"{counted(bad_rows, 'state record')} cannot be read and {'is' if bad_rows == 1 else 'are'} "
            "skipped; `syncd doctor` lists them."
        )
    for line in [*health_lines, *held]:
        print(line)


def _placement_lines(settings: Settings) -> list[str]:
    """Where the note links are when not in the booked events themselves (`companion`)."""
    return [
        f"{coach.email}: note links and reminders are in private prep events "
        '("Prep: intro with ...") just before each session, not in the booked events'
        for coach in settings.coaches
        if coach.calendar.link_placement == "companion"
    ]


def lease_lines(
    leases: Mapping[str, tuple[str, datetime]], coaches: frozenset[str], now: datetime, tz: tzinfo | None
) -> list[str]:
    """Which replica holds which coach, for replicas sharing one database (none with the SQLite
    state: one process has them all). A lease past its time is shown as free to take."""
    shown = sorted((coach, held) for coach, held in leases.items() if coach in coaches)
    if not shown:
        return []
    lines = ["Coaches by replica:"]
    for coach, (replica, until) in shown:
        when = f"until {format_log_time(until, tz)}" if until > now else "expired, free to take"
        lines.append(f"  {coach}  {replica}  ({when})")
    return lines


def worth_showing(booking: Booking, cutoff: datetime) -> bool:
    """Whether the default view lists `booking`: its session is at or after `cutoff` (so every
    upcoming one), or syncd still has something to do for it."""
    if booking.start >= cutoff:
        return True
    waiting = booking.followup is Followup.PENDING or booking.note is None or bool(booking.effect)
    return booking.active and waiting


def _hidden_line(hidden: int, since: timedelta, shown_any: bool) -> str:
    lead = "" if shown_any else f"No sessions in the last {format_duration(since)} or coming up. "
    return (
        f"{lead}{counted(hidden, 'older booking')} not shown (sessions over {format_duration(since)} ago with nothing "
        "left to do); see them with `syncd status --all` or `--since 30d`."
    )


def _status_row(booking: Booking, tz: tzinfo, with_coach: bool) -> tuple[str, ...]:
    start = format_log_time(booking.start, tz)
    followup = booking.followup.value
    if booking.followup is Followup.PENDING:
        followup += f" (due {format_log_time(booking.followup_due, tz)})"
    elif booking.followup is Followup.SKIPPED and booking.reason:
        followup += f" ({one_line(booking.reason, 60)})"
    note = booking.note.url if booking.note else "-"
    row = (one_line(booking.client.name, 40), start, booking.phase.value, followup, note)
    return (booking.coach, *row) if with_coach else row


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [headers, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)
