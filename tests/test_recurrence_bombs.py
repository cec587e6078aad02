"""Recurrence bombs (issue 9): a series that would expand to millions of instances, or take
minutes to reach today, costs one pass a bounded time and at most `Limits.instances` notes,
and every other booking (the canary) still gets its note, link and draft.

The end-to-end cases run the real `syncd once` on a vdir; the unit cases check that walking a
rule from the window gives exactly what dateutil gives walking it from DTSTART.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from icalendar import Calendar

from syncd.calendars.ics_events import Limits, find_occurrence, load_calendar, occurrences
from syncd.calendars.ics_rules import Deadline, Recurrence
from syncd.errors import BadEvent
from tests.support import Workspace, event_ics, ics_time

CAP = Limits().instances
# CPU seconds one pass may take with a bomb in the calendar (the pass runs in this process): CPU,
# not wall time, so a machine busy with other work does not fail it (these passes take 1-6 s of
# CPU here; before the bounds, 1-2 minutes or more).
BOUND = 20.0
BOMB = ("Bo Bomb", "bo@bomb.example")
CANARY = ("Cara Canary", "cara@canary.example")
BERLIN = ZoneInfo("Europe/Berlin")


def now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def bomb_ics(start: datetime, lines: list[str], overrides: list[str] | None = None) -> str:
    """An intro series for Bo Bomb starting at `start` with `lines` (RRULE, RDATE, EXDATE...)
    in its master and `overrides` (whole VEVENT blocks) after it."""
    text = event_ics("bomb", "Intro session", start, client=BOMB, extra="\r\n".join(lines))
    tail = "END:VCALENDAR\r\n"
    return text[: -len(tail)] + "".join(overrides or []) + tail


def override(original: datetime, start: datetime, summary: str = "Intro session") -> str:
    return "\r\n".join(
        [
            "BEGIN:VEVENT",
            "UID:bomb",
            f"DTSTAMP:{ics_time(original)}",
            f"RECURRENCE-ID:{ics_time(original)}",
            f"DTSTART:{ics_time(start)}",
            f"DTEND:{ics_time(start + timedelta(minutes=30))}",
            f"SUMMARY:{summary}",
            "ORGANIZER;CN=Ada Coach:mailto:ada@coach.example",
            f'ATTENDEE;CN="{BOMB[0]}";PARTSTAT=ACCEPTED:mailto:{BOMB[1]}',
            "END:VEVENT",
            "",
        ]
    )


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path)
    workspace.put("canary", "Intro session", now() - timedelta(hours=2), client=CANARY)
    return workspace


def run_with_bomb(ws: Workspace, ics: str) -> tuple[float, str]:
    """Write the bomb, run one pass; its duration and stderr. The canary must have come
    through: its note, the link in its event and its draft."""
    (ws.calendar / "bomb.ics").write_bytes(ics.encode())
    began = time.process_time()
    result = ws.run("once", timeout=120)
    took = time.process_time() - began
    assert took < BOUND, f"one pass took {took:.1f}s of CPU"
    assert "Traceback" not in result.stderr, result.stderr
    [note] = [n for n in ws.notes() if CANARY[0] in n.name]
    assert note.as_uri() in ws.event_text("canary")
    assert [d for d in ws.drafts_parsed() if CANARY[1] in str(d["To"])], "no draft for the canary"
    return took, result.stderr


def bomb_notes(ws: Workspace) -> int:
    return sum(1 for note in ws.notes() if BOMB[0] in note.name)


def daily_from_1900() -> datetime:
    return datetime(1900, 1, 1, 10, 0, tzinfo=UTC)


# --- end to end: each bomb beside the canary --------------------------------------------------


@pytest.mark.slow
def test_open_series_from_1900_gives_only_the_window(ws: Workspace) -> None:
    """An endless every-other-day intro from 1900: only the instances from the look-back to the
    horizon (62 days, so 31 of them) become bookings, and the pass does not walk 126 years."""
    run_with_bomb(ws, bomb_ics(daily_from_1900(), ["RRULE:FREQ=DAILY;INTERVAL=2"]))
    assert 29 <= bomb_notes(ws) <= 33


@pytest.mark.slow
def test_open_daily_series_is_cut_at_the_cap(ws: Workspace) -> None:
    """An endless daily intro has 62 instances in the window: the first `CAP` are taken."""
    _, stderr = run_with_bomb(ws, bomb_ics(daily_from_1900(), ["RRULE:FREQ=DAILY"]))
    assert bomb_notes(ws) == CAP
    assert f"more than {CAP} instances" in stderr


@pytest.mark.slow
def test_daily_series_from_year_one_is_skipped_ahead(ws: Workspace) -> None:
    """DTSTART on 1 January of year 1 (740,000 days ago) costs no more than one from last week."""
    ics = bomb_ics(datetime(1001, 1, 1, 10, 0, tzinfo=UTC), ["RRULE:FREQ=DAILY;INTERVAL=3"])
    run_with_bomb(ws, ics.replace(":10010101T", ":00010101T"))  # strftime writes year 1 as "1"
    assert 18 <= bomb_notes(ws) <= 22


@pytest.mark.parametrize("frequency", ["SECONDLY", "MINUTELY", "HOURLY"])
@pytest.mark.slow
def test_sub_daily_series_is_skipped_with_one_warning(ws: Workspace, frequency: str) -> None:
    """An intro is never booked every hour: such a series is skipped, with one line naming its
    file and the frequency, and creates nothing."""
    _, stderr = run_with_bomb(ws, bomb_ics(daily_from_1900(), [f"RRULE:FREQ={frequency}"]))
    assert bomb_notes(ws) == 0
    [line] = [line for line in stderr.splitlines() if "bomb.ics" in line]
    assert f"FREQ={frequency}" in line


@pytest.mark.slow
def test_count_in_the_millions_from_1900_is_carried_over_not_walked(ws: Workspace) -> None:
    """COUNT=5000000 daily from 1900 reaches far past today: the window's instances are there,
    found by arithmetic rather than by counting 46,000 days one by one."""
    run_with_bomb(ws, bomb_ics(daily_from_1900(), ["RRULE:FREQ=DAILY;INTERVAL=2;COUNT=5000000"]))
    assert 29 <= bomb_notes(ws) <= 33


@pytest.mark.slow
def test_count_with_uneven_filters_too_long_to_count_is_skipped(ws: Workspace) -> None:
    """A counted rule whose periods differ (BYMONTH) is counted by walking it from DTSTART; with
    a BYHOUR and BYMINUTE multiplier, 100,000 instances reach only 1902: skipped, one line."""
    hours = ",".join(str(hour) for hour in range(24))
    rule = f"RRULE:FREQ=DAILY;COUNT=5000000;BYMONTH=1,2,3,4,5,6,7,8,9,10,11,12;BYHOUR={hours};BYMINUTE=0,15,30,45"
    _, stderr = run_with_bomb(ws, bomb_ics(daily_from_1900(), [rule]))
    assert bomb_notes(ws) == 0
    [line] = [line for line in stderr.splitlines() if "bomb.ics" in line]
    assert "to count up to the window" in line


@pytest.mark.slow
def test_count_with_uneven_filters_is_counted_once(ws: Workspace) -> None:
    """The same kind of rule starting last month is counted through (a few thousand instances)
    and its window's instances are taken, capped, in a bounded pass."""
    hours = ",".join(str(hour) for hour in range(0, 24, 6))
    start = now().replace(hour=0, minute=0) - timedelta(days=40)
    rule = f"RRULE:FREQ=DAILY;COUNT=5000000;BYMONTH=1,2,3,4,5,6,7,8,9,10,11,12;BYHOUR={hours}"
    run_with_bomb(ws, bomb_ics(start, [rule]))
    assert bomb_notes(ws) == CAP


@pytest.mark.slow
def test_byday_byhour_byminute_multiplier_is_capped_with_one_warning(ws: Workspace) -> None:
    """Every minute of every day by BY* lists: the first `CAP` instances are taken, and one
    warning names the event and the cap."""
    hours = ",".join(str(hour) for hour in range(24))
    minutes = ",".join(str(minute) for minute in range(60))
    rule = f"RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR={hours};BYMINUTE={minutes}"
    _, stderr = run_with_bomb(ws, bomb_ics(daily_from_1900(), [rule]))
    assert bomb_notes(ws) <= CAP
    warnings = [line for line in stderr.splitlines() if f"more than {CAP} instances" in line]
    assert len(warnings) == 1 and "bomb" in warnings[0]


@pytest.mark.slow
def test_bysetpos_over_a_huge_set_is_cheap(ws: Workspace) -> None:
    """BYSETPOS picks from every minute of a month: dateutil picks by position, syncd takes the
    window's few."""
    hours = ",".join(str(hour) for hour in range(24))
    minutes = ",".join(str(minute) for minute in range(60))
    positions = ",".join(str(position) for position in range(1, 40))
    rule = f"RRULE:FREQ=MONTHLY;BYMONTHDAY=1,2,3,4,5,6,7,8,9,10;BYHOUR={hours};BYMINUTE={minutes};BYSETPOS={positions}"
    run_with_bomb(ws, bomb_ics(daily_from_1900(), [rule]))
    assert bomb_notes(ws) <= CAP


@pytest.mark.slow
def test_until_in_the_far_future_is_bounded_by_the_horizon(ws: Workspace) -> None:
    """UNTIL in year 9999 does not make syncd look further than the horizon."""
    run_with_bomb(ws, bomb_ics(daily_from_1900(), ["RRULE:FREQ=DAILY;INTERVAL=2;UNTIL=99991231T235959Z"]))
    assert 29 <= bomb_notes(ws) <= 33


@pytest.mark.slow
def test_rule_that_never_matches_creates_nothing(ws: Workspace) -> None:
    """30 February never comes: the series has no instance and the canary is not held up."""
    run_with_bomb(ws, bomb_ics(daily_from_1900(), ["RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"]))
    assert bomb_notes(ws) == 0


@pytest.mark.slow
def test_thousands_of_rdates_give_only_the_window_ones(ws: Workspace) -> None:
    """5000 RDATEs, one every other day around today: the window's 31 are taken."""
    first = now().replace(hour=10, minute=0) - timedelta(days=8000)
    dates = [first + timedelta(days=2 * day) for day in range(5000)]
    lines = [f"RDATE:{','.join(stamp(d) for d in dates[i : i + 50])}" for i in range(0, 5000, 50)]
    run_with_bomb(ws, bomb_ics(first, lines))
    assert 29 <= bomb_notes(ws) <= 33


@pytest.mark.slow
def test_rdates_in_the_window_beyond_the_cap_are_cut_at_the_cap(ws: Workspace) -> None:
    """500 RDATEs inside the window (every two hours): at most `CAP` notes."""
    first = now() + timedelta(days=1)
    dates = [first + timedelta(hours=2 * hour) for hour in range(500)]
    lines = [f"RDATE:{','.join(stamp(d) for d in dates[i : i + 50])}" for i in range(0, 500, 50)]
    _, stderr = run_with_bomb(ws, bomb_ics(first, lines))
    assert 0 < bomb_notes(ws) <= CAP
    assert f"more than {CAP} instances" in stderr


def exdates(start: datetime, first_day: int, keep: set[datetime], until: datetime) -> list[str]:
    days = (until - start).days
    excluded = [d for d in (start + timedelta(days=day) for day in range(first_day, days)) if d not in keep]
    return [f"EXDATE:{','.join(stamp(d) for d in excluded[i : i + 50])}" for i in range(0, len(excluded), 50)]


@pytest.mark.slow
def test_exdate_flood_is_honoured_in_the_window(ws: Workspace) -> None:
    """An EXDATE for every day of the last 13 years and the coming 70 days but five: only
    those five are bookings."""
    start = daily_from_1900()
    today = now().replace(hour=10, minute=0)
    keep = {today + timedelta(days=day) for day in range(1, 6)}
    first_day = (today - start).days - 4800
    lines = exdates(start, first_day, keep, today + timedelta(days=70))
    run_with_bomb(ws, bomb_ics(start, ["RRULE:FREQ=DAILY", *lines]))
    assert bomb_notes(ws) == 5


@pytest.mark.slow
def test_more_dates_than_the_limit_skip_the_series(ws: Workspace) -> None:
    """An EXDATE for every day since 1900 (46,000 dates, each read of the file parses them
    all): the series is skipped with one line naming its file and the limit."""
    start = daily_from_1900()
    today = now().replace(hour=10, minute=0)
    lines = exdates(start, 0, set(), today + timedelta(days=70))
    _, stderr = run_with_bomb(ws, bomb_ics(start, ["RRULE:FREQ=DAILY", *lines]))
    assert bomb_notes(ws) == 0
    [line] = [line for line in stderr.splitlines() if "bomb.ics" in line]
    assert f"more than {Limits().dates}" in line


@pytest.mark.slow
def test_override_flood_is_skipped_with_one_warning(ws: Workspace) -> None:
    """3000 RECURRENCE-ID overrides (each read of the file would parse them all, once per
    instance): the series is skipped, with one line naming its file and the limit."""
    start = daily_from_1900()
    today = now().replace(hour=10, minute=0)
    flood = [override(today - timedelta(days=day), today - timedelta(days=day)) for day in range(10, 3010)]
    _, stderr = run_with_bomb(ws, bomb_ics(start, ["RRULE:FREQ=DAILY;INTERVAL=2"], flood))
    assert bomb_notes(ws) == 0
    [line] = [line for line in stderr.splitlines() if "bomb.ics" in line]
    assert f"3000 overrides (RECURRENCE-ID), more than {Limits().overrides}" in line


@pytest.mark.slow
def test_hundreds_of_past_overrides_cost_little(ws: Workspace) -> None:
    """200 overrides of past instances (under the limit): only the window's instances count."""
    start = daily_from_1900()
    today = now().replace(hour=10, minute=0)
    flood = [override(today - timedelta(days=day), today - timedelta(days=day)) for day in range(10, 410, 2)]
    run_with_bomb(ws, bomb_ics(start, ["RRULE:FREQ=DAILY;INTERVAL=2"], flood))
    assert 29 <= bomb_notes(ws) <= 33


@pytest.mark.slow
def test_override_flood_moved_into_the_window_is_capped(ws: Workspace) -> None:
    """150 overrides whose instances lie years back, all moved into the coming days: at most
    `CAP` of them are taken, with one warning."""
    start = daily_from_1900()
    soon = now() + timedelta(days=2)
    flood = [override(start + timedelta(days=day), soon + timedelta(minutes=30 * day)) for day in range(150)]
    _, stderr = run_with_bomb(ws, bomb_ics(start, ["RRULE:FREQ=DAILY;COUNT=3000"], flood))
    assert 0 < bomb_notes(ws) <= CAP
    assert f"more than {CAP} instances" in stderr


@pytest.mark.slow
def test_hundreds_of_rrules_in_one_event(ws: Workspace) -> None:
    """200 RRULE lines in one series (every 2nd, 4th, ... 400th day from 1900): each is skipped
    ahead, and the instances they share are one instance."""
    lines = [f"RRULE:FREQ=DAILY;INTERVAL={interval}" for interval in range(2, 402, 2)]
    run_with_bomb(ws, bomb_ics(daily_from_1900(), lines))
    assert 29 <= bomb_notes(ws) <= 33


@pytest.mark.slow
def test_second_pass_with_a_capped_bomb_adds_nothing(ws: Workspace) -> None:
    """The capped series is not re-expanded into new notes on the next pass (the file did not
    change): the cap holds across passes."""
    run_with_bomb(ws, bomb_ics(daily_from_1900(), ["RRULE:FREQ=DAILY"]))
    first = bomb_notes(ws)
    assert first == CAP
    ws.run("once")
    assert bomb_notes(ws) == first


# --- unit: the walk from the window is the walk from DTSTART ----------------------------------

RULES = [
    "FREQ=DAILY",
    "FREQ=DAILY;INTERVAL=3",
    "FREQ=DAILY;COUNT=9000",
    "FREQ=DAILY;INTERVAL=5;COUNT=2000",
    "FREQ=DAILY;BYHOUR=8,9;BYMINUTE=0,30;COUNT=40000",
    "FREQ=DAILY;BYHOUR=7;COUNT=9000",
    "FREQ=DAILY;BYMONTH=6,7",
    "FREQ=DAILY;INTERVAL=2;BYDAY=MO",
    "FREQ=DAILY;UNTIL=20270110T000000",
    "FREQ=WEEKLY",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR",
    "FREQ=WEEKLY;INTERVAL=3;BYDAY=TU,SU;WKST=SU;COUNT=1900",
    "FREQ=WEEKLY;BYDAY=SA;COUNT=1310",
    "FREQ=WEEKLY;INTERVAL=4;COUNT=330",
    "FREQ=WEEKLY;BYDAY=MO,TU;BYHOUR=9,10;COUNT=5000",
    "FREQ=WEEKLY;UNTIL=20270301",
    "FREQ=MONTHLY",
    "FREQ=MONTHLY;INTERVAL=5",
    "FREQ=MONTHLY;BYDAY=2TU",
    "FREQ=MONTHLY;BYMONTHDAY=-1;INTERVAL=7",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    "FREQ=MONTHLY;COUNT=315",
    "FREQ=YEARLY",
    "FREQ=YEARLY;INTERVAL=3",
    "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
    "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
    "FREQ=YEARLY;BYYEARDAY=100,200",
    "FREQ=YEARLY;COUNT=27",
]
# A leap day, a 31st late in the evening, the last Monday of a year, a summer morning.
STARTS = [
    datetime(2000, 2, 29, 10, 15),
    datetime(2001, 1, 31, 23, 45, 30),
    datetime(1999, 12, 27, 0, 0),
    datetime(2003, 6, 15, 6, 0),
]
SPAN = (datetime(2026, 11, 30), datetime(2027, 3, 1))


def _master(rule: str, start: datetime) -> Calendar:
    end = start + timedelta(minutes=30)
    return Calendar.from_ical(
        f"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:{start:%Y%m%dT%H%M%S}\n"
        f"DTEND:{end:%Y%m%dT%H%M%S}\nRRULE:{rule}\nEND:VEVENT\nEND:VCALENDAR\n"
    )


@pytest.mark.parametrize(("rule", "start"), list(itertools.product(RULES, STARTS)))
def test_walking_from_the_window_gives_what_walking_from_dtstart_gives(rule: str, start: datetime) -> None:
    """Restarting a rule at its last period before the window (with DTSTART's implied values
    written out, a COUNT carried over) changes none of the instances in the window."""
    [master] = _master(rule, start).walk("VEVENT")
    got = list(Recurrence(master, BERLIN).walls(SPAN, Deadline(5, "x")))
    expected = [d for d in rrulestr(rule, dtstart=start).between(*SPAN, inc=True) if d != start]
    assert got == expected


@pytest.mark.parametrize(("rule", "start"), list(itertools.product(RULES, STARTS)))
def test_asking_for_one_instant_agrees_with_the_walk(rule: str, start: datetime) -> None:
    """`generates` (one instant, the rule's times of day cut to it) says yes exactly for the
    instances, and no a minute or an hour off them."""
    [master] = _master(rule, start).walk("VEVENT")
    recurrence = Recurrence(master, BERLIN)
    expected = set(rrulestr(rule, dtstart=start).between(*SPAN, inc=True))
    probes = sorted(expected)[:3] + sorted(expected)[-3:]
    for moment in probes:
        assert recurrence.generates(moment, Deadline(5, "x"))
        for off in (timedelta(minutes=1), timedelta(hours=1), timedelta(hours=-1)):
            assert recurrence.generates(moment + off, Deadline(5, "x")) == (moment + off in expected)


def test_count_ending_inside_the_window_ends_on_the_same_instance() -> None:
    """The COUNT carried over ends the series on its true last instance."""
    start = datetime(1900, 1, 1, 10, 0)
    count = (datetime(2027, 1, 15) - datetime(1900, 1, 1)).days + 1  # the last: 15 January 2027, 10:00
    [master] = _master(f"FREQ=DAILY;COUNT={count}", start).walk("VEVENT")
    got = list(Recurrence(master, BERLIN).walls(SPAN, Deadline(5, "x")))
    assert got[0] == SPAN[0] + timedelta(hours=10) and got[-1] == datetime(2027, 1, 15, 10, 0)


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=WEEKLY;BYMONTH=4;BYMONTHDAY=31",
        "FREQ=DAILY;INTERVAL=7;BYDAY=MO",
    ],
)
def test_rules_no_day_meets_are_dropped_without_a_walk(rule: str) -> None:
    """30 February, 31 April, every 7th day from a Tuesday on Mondays: dateutil would look for
    a next instance up to year 9999 (seconds); they are known to have none at once."""
    [master] = _master(rule, datetime(1900, 1, 2, 10, 0)).walk("VEVENT")
    began = time.monotonic()
    recurrence = Recurrence(master, BERLIN)
    assert list(recurrence.walls(SPAN, Deadline(5, "x"))) == []
    assert recurrence.rules == [] and time.monotonic() - began < 0.5


def test_a_rare_day_is_still_found() -> None:
    """29 February is rare, not impossible: the rule is kept and gives it."""
    [master] = _master("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29", datetime(1900, 1, 2, 10, 0)).walk("VEVENT")
    span = (datetime(2028, 1, 1), datetime(2028, 12, 31))
    assert list(Recurrence(master, BERLIN).walls(span, Deadline(5, "x"))) == [datetime(2028, 2, 29, 10, 0)]


def test_expiring_deadline_skips_the_series_with_bad_event() -> None:
    """With no time at all left the series is refused by name, not half expanded."""
    calendar = load_calendar(bomb_ics(daily_from_1900(), ["RRULE:FREQ=DAILY"]))
    midnight = now().replace(hour=0, minute=0)
    window = (midnight, midnight + timedelta(days=30))  # 30 instances at 10:00, whatever the hour
    with pytest.raises(BadEvent, match="bomb took more than"):
        occurrences(calendar, window, BERLIN, Limits(seconds=0))
    assert len(occurrences(calendar, window, BERLIN)) == 30


def test_an_instance_past_the_cap_is_still_found_by_id() -> None:
    """`find_occurrence` looks for one instance only: it finds one that the cap left out of a
    window's list, without walking the rest."""
    calendar = load_calendar(bomb_ics(daily_from_1900(), ["RRULE:FREQ=DAILY;BYHOUR=0,6,12,18"]))
    window = (now(), now() + timedelta(days=60))
    taken = occurrences(calendar, window, BERLIN)
    assert len(taken) == CAP
    later = (now() + timedelta(days=50)).replace(hour=6, minute=0)
    wanted = f"bomb/{stamp(later)}"
    found = find_occurrence(calendar, wanted, BERLIN)
    assert found is not None and found.start == later


# --- the horizon is a config key ----------------------------------------------------------------


def _with_horizon(ws: Workspace, value: str) -> None:
    text = ws.config.read_text()
    ws.config.write_text(text.replace("lookback:", f"horizon: {value}\nlookback:", 1))


@pytest.mark.slow
def test_a_shorter_horizon_in_the_config_takes_fewer_instances(ws: Workspace) -> None:
    """`horizon: 10d` makes syncd look 10 days ahead: an every-other-day series has 6 bookings
    (2 days back, 10 ahead), not 31."""
    _with_horizon(ws, "10d")
    run_with_bomb(ws, bomb_ics(daily_from_1900(), ["RRULE:FREQ=DAILY;INTERVAL=2"]))
    assert 5 <= bomb_notes(ws) <= 7


@pytest.mark.slow
def test_a_zero_horizon_is_a_config_error_naming_the_key(ws: Workspace) -> None:
    """The horizon is validated like the other durations, and named in the one-line error."""
    _with_horizon(ws, "0s")
    result = ws.run("check-config", check=False)
    assert result.returncode != 0
    assert "horizon: must be longer than 0s" in result.stderr and "Traceback" not in result.stderr
