"""A series in a vdir is expanded only up to now + horizon (and 50 instances at most), so an
unchanged file holding one is read again as the window moves on: the instances that came into
it are reported then, once, and an idle folder is not read every pass.

Time is moved by the `clock` VdirCalendar takes; the files are dated before its start, so they
count as settled. Files opened are seen by an audit hook (nothing in syncd is patched).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd.calendars.vdir import VdirCalendar
from syncd.coach_pass import CoachParts
from syncd.config import CoachConfig, Settings
from syncd.drafts.memory import MemoryDrafts
from syncd.engine import Engine, coach_parts
from syncd.model import ChangeSet
from syncd.notes.memory import MemoryNotes
from syncd.state import StateStore

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)  # a Monday
HORIZON = timedelta(days=60)
LOOKBACK = timedelta(days=1)
COACH = "sam@coach.example"


class FakeClock:
    """A nanosecond wall clock that moves only when told."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> int:
        return round(self.now.timestamp()) * 10**9

    def advance(self, span: timedelta) -> None:
        self.now += span


def _ics(uid: str, start: datetime, rrule: str = "") -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//horizon//EN", "BEGIN:VEVENT", f"UID:{uid}"]
    lines += [f"DTSTART:{start:%Y%m%dT%H%M%SZ}", f"DTEND:{start + timedelta(minutes=30):%Y%m%dT%H%M%SZ}"]
    lines += ["SUMMARY:Intro: Ada Lovelace", f"ORGANIZER:mailto:{COACH}"]
    lines += ['ATTENDEE;CN="Ada Lovelace";PARTSTAT=ACCEPTED:mailto:ada@client.example']
    lines += [f"RRULE:{rrule}"] if rrule else []
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(line + "\n" for line in lines)


def _write(folder: Path, uid: str, start: datetime, rrule: str = "") -> Path:
    """An event file, dated a day before the clock starts (settled, as a calendar app left it)."""
    path = folder / f"{uid}.ics"
    path.write_text(_ics(uid, start, rrule))
    written = round((T0 - timedelta(days=1)).timestamp()) * 10**9
    os.utime(path, ns=(written, written))
    return path


def _calendar(folder: Path, clock: FakeClock) -> VdirCalendar:
    return VdirCalendar(folder, coach_addresses={COACH}, horizon=HORIZON, clock=clock)


def _pass(
    calendar: VdirCalendar, clock: FakeClock, cursor: str | None, lookback: timedelta = LOOKBACK
) -> ChangeSet:
    """One pass as the daemon makes it: changes since now - lookback."""
    return calendar.changes(cursor, clock.now - lookback)


def _starts(changes: ChangeSet) -> list[datetime]:
    assert all(event.start is not None for event in changes.events)
    return sorted(event.start for event in changes.events if event.start is not None)


def _weekly(first: datetime, low: datetime, high: datetime) -> list[datetime]:
    """The starts of a weekly series from `first` that lie in [low, high)."""
    found, moment = [], first
    while moment < high:
        if moment >= low:
            found.append(moment)
        moment += timedelta(weeks=1)
    return found


FIRST = T0 + timedelta(days=1, hours=1)  # Tuesday 10:00 UTC, weekly


def test_instances_coming_into_the_window_later_are_reported_then(tmp_path: Path, opened: list[str]) -> None:
    """A weekly series written once: the first pass reports its instances up to now + 60 days;
    30 days later the next pass reads the file again and reports the instances that came into
    the window since, and nothing else: no instance twice, no cancelled stub for the ones that
    slid out behind the look-back. A file holding no series is not read again."""
    series = _write(tmp_path, "weekly", FIRST, "FREQ=WEEKLY")
    _write(tmp_path, "single", T0 + timedelta(days=3))
    clock = FakeClock(T0)
    calendar = _calendar(tmp_path, clock)
    first = _pass(calendar, clock, None)
    weekly = [e for e in first.events if e.id.startswith("weekly/")]
    assert sorted(e.start for e in weekly) == _weekly(FIRST, T0, T0 + HORIZON)
    clock.advance(timedelta(days=30))
    opened.clear()
    later = _pass(calendar, clock, first.cursor)
    assert _starts(later) == _weekly(FIRST, T0 + HORIZON, clock.now + HORIZON) != []
    assert not any(event.cancelled for event in later.events)
    assert opened == [str(series)]


def test_an_idle_folder_is_not_read_again_the_same_day(tmp_path: Path, opened: list[str]) -> None:
    """Once a series file was read for the moved window, passes within the next day read no
    file and report nothing; a week on, it is read once and reports the one new instance."""
    series = _write(tmp_path, "weekly", FIRST, "FREQ=WEEKLY")
    clock = FakeClock(T0)
    calendar = _calendar(tmp_path, clock)
    cursor = _pass(calendar, clock, None).cursor
    clock.advance(timedelta(days=30))
    cursor = _pass(calendar, clock, cursor).cursor
    for _ in range(3):
        clock.advance(timedelta(hours=7))
        opened.clear()
        idle = _pass(calendar, clock, cursor)
        assert idle.events == [] and opened == []
        cursor = idle.cursor
    reported_to = clock.now - timedelta(hours=21) + HORIZON  # the 30-day pass's window end
    clock.advance(timedelta(days=7))
    opened.clear()
    week = _pass(calendar, clock, cursor)
    assert _starts(week) == _weekly(FIRST, reported_to, clock.now + HORIZON)
    assert len(week.events) == 1 and opened == [str(series)]


def test_an_unchanged_idle_series_is_read_about_once_a_day(tmp_path: Path, opened: list[str]) -> None:
    """Passes every hour for three days read the series file only when the window has moved
    more than a day past where it was last expanded: twice, not 72 times."""
    series = _write(tmp_path, "weekly", FIRST, "FREQ=WEEKLY")
    clock = FakeClock(T0)
    calendar = _calendar(tmp_path, clock)
    cursor = _pass(calendar, clock, None).cursor
    opened.clear()
    for _ in range(72):
        clock.advance(timedelta(hours=1))
        cursor = _pass(calendar, clock, cursor).cursor
    assert opened == [str(series)] * 2


def test_a_capped_series_takes_the_next_instance_once_one_slid_out(tmp_path: Path, opened: list[str]) -> None:
    """A twice-daily series has more than 50 instances in the window: the first 50 are taken.
    Before the first of them ends nothing is read; once it has slid out behind `since`, the
    file is read again and the 51st instance is reported (and no stub for the one that left)."""
    first = T0 + timedelta(hours=1)  # 10:00 and 14:00 every day from today
    series = _write(tmp_path, "daily", first, "FREQ=DAILY;BYHOUR=10,14")
    clock = FakeClock(T0)
    calendar = _calendar(tmp_path, clock)
    taken = _pass(calendar, clock, None, lookback=timedelta(0))
    assert len(taken.events) == 50 and max(_starts(taken)) == first + timedelta(days=24, hours=4)
    clock.advance(timedelta(minutes=30))  # 09:30: the 10:00 instance is still ahead
    opened.clear()
    idle = _pass(calendar, clock, taken.cursor, lookback=timedelta(0))
    assert idle.events == [] and opened == []
    clock.advance(timedelta(hours=1, minutes=30))  # 11:00: the 10:00 instance is over
    freed = _pass(calendar, clock, idle.cursor, lookback=timedelta(0))
    assert _starts(freed) == [first + timedelta(days=25)] and opened == [str(series)]


def _as_version_2(cursor: str) -> str:
    """`cursor` as syncd wrote it before it recorded how far each series was expanded."""
    data = json.loads(cursor)
    data["v"] = 2
    data["files"] = {name: entry[:6] for name, entry in data["files"].items()}
    return json.dumps(data)


def test_a_cursor_from_before_is_read_and_its_series_files_read_again_once(
    tmp_path: Path, opened: list[str]
) -> None:
    """A version 2 cursor (no expansion end recorded) still works: each file is read once more,
    the series reports the instances now in the window it had not, the single event nothing;
    the pass after that reads no file."""
    _write(tmp_path, "weekly", FIRST, "FREQ=WEEKLY")
    _write(tmp_path, "single", T0 + timedelta(days=3))
    clock = FakeClock(T0)
    calendar = _calendar(tmp_path, clock)
    old = _as_version_2(_pass(calendar, clock, None).cursor)
    clock.advance(timedelta(days=30))
    opened.clear()
    upgraded = _pass(calendar, clock, old)
    assert _starts(upgraded) == _weekly(FIRST, T0 + HORIZON, clock.now + HORIZON) != []
    assert sorted(opened) == [str(tmp_path / "single.ics"), str(tmp_path / "weekly.ics")]
    clock.advance(timedelta(hours=1))
    opened.clear()
    assert _pass(calendar, clock, upgraded.cursor).events == [] and opened == []


def test_a_changed_series_file_is_still_reported_whole(tmp_path: Path) -> None:
    """Reading an unchanged file again reports only new instances; a file that changed is
    reported whole as before (here: the series renamed, every instance in the window)."""
    series = _write(tmp_path, "weekly", FIRST, "FREQ=WEEKLY")
    clock = FakeClock(T0)
    calendar = _calendar(tmp_path, clock)
    cursor = _pass(calendar, clock, None).cursor
    clock.advance(timedelta(days=30))
    series.write_text(_ics("weekly", FIRST, "FREQ=WEEKLY").replace("Ada Lovelace", "Ada King"))
    changed = _pass(calendar, clock, cursor)
    in_window = _weekly(FIRST, clock.now - LOOKBACK - timedelta(minutes=30), clock.now + HORIZON)
    assert _starts(changed) == in_window
    assert all(event.summary == "Intro: Ada King" for event in changed.events)


# --- through the engine -----------------------------------------------------------------------


def test_a_weekly_intro_gets_notes_and_links_for_instances_entering_the_window(tmp_path: Path) -> None:
    """Through the engine's passes (the vdir source on the same moved clock): a weekly intro
    written once gets a note and a link for each instance within 60 days on the first pass, and
    30 days later for the instances that came into the window, with no note made twice."""
    for name in ("calendar", "notes", "drafts"):
        (tmp_path / name).mkdir()
    folder = tmp_path / "calendar"
    series = _write(folder, "weekly", FIRST, "FREQ=WEEKLY")
    coach = {
        "name": "Sam Coach",
        "email": COACH,
        "timezone": "UTC",
        "pricing_url": "https://sam.example/pricing",
        "calendar": {"type": "vdir", "path": str(folder)},
        "notes": {"type": "markdown", "path": str(tmp_path / "notes")},
        "drafts": {"type": "maildir", "path": str(tmp_path / "drafts")},
    }
    settings = Settings(state_dir=tmp_path / "state", coaches=[coach])
    clock = FakeClock(T0)
    calendar = VdirCalendar(folder, coach_addresses={COACH}, horizon=settings.horizon, clock=clock)
    notes = MemoryNotes()

    def opener(config: CoachConfig, settings: Settings) -> CoachParts:
        return coach_parts(config, settings, source=calendar, notes=notes, drafts=MemoryDrafts())

    engine = Engine(settings, StateStore.in_dir(settings.state_dir), opener)
    try:
        first = engine.run_pass(clock.now)
        ahead = _weekly(FIRST, T0, T0 + settings.horizon)
        assert first.tally.notes == len(ahead) == len(notes.texts)
        clock.advance(timedelta(hours=1))  # reads the file syncd annotated; then it is left alone
        settled = engine.run_pass(clock.now)
        assert (settled.tally.notes, settled.tally.links, settled.tally.updates) == (0, 0, 0)
        clock.advance(timedelta(days=30))
        later = engine.run_pass(clock.now)
        entered = _weekly(FIRST, T0 + settings.horizon, clock.now + settings.horizon)
        assert later.tally.notes == len(entered) > 0
        assert len(notes.texts) == len(ahead) + len(entered)
        text = series.read_text()
        assert all(f"RECURRENCE-ID:{start:%Y%m%dT%H%M%SZ}" in text for start in entered)
        clock.advance(timedelta(hours=1))
        idle = engine.run_pass(clock.now)
        assert (idle.tally.notes, idle.tally.links, idle.tally.updates) == (0, 0, 0)
    finally:
        engine.close()


def _rewrite_keeping_stat(path: Path, old: str, new: str) -> None:
    """Change `path`'s content in place (same size, inode and mtime): only a read can tell."""
    before = path.stat()
    data = path.read_bytes()
    assert len(old) == len(new) and old.encode() in data
    with path.open("r+b") as handle:
        handle.write(data.replace(old.encode(), new.encode()))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_ino) == (before.st_size, before.st_ino)


def test_a_series_file_that_fails_when_read_again_is_tried_again_a_day_later(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An unchanged series file whose re-read fails (here its content was broken without its
    stat changing; in life, an expansion that ran out of time) is logged in one line naming
    it, reports nothing, and is tried again once the window has moved another day: then the
    instances that entered since the last good read are reported."""
    series = _write(tmp_path, "weekly", FIRST, "FREQ=WEEKLY")
    clock = FakeClock(T0)
    calendar = _calendar(tmp_path, clock)
    cursor = _pass(calendar, clock, None).cursor
    _rewrite_keeping_stat(series, "DTSTART:", "DTSTARX:")
    clock.advance(timedelta(days=30))
    with caplog.at_level("WARNING"):
        failed = _pass(calendar, clock, cursor)
    assert failed.events == []
    [line] = [r.getMessage() for r in caplog.records if "weekly.ics" in r.getMessage()]
    assert "\n" not in line and "skipping calendar file" in line
    _rewrite_keeping_stat(series, "DTSTARX:", "DTSTART:")
    clock.advance(timedelta(hours=2))
    same_day = _pass(calendar, clock, failed.cursor)
    assert same_day.events == []  # not tried again yet
    clock.advance(timedelta(days=1))
    retried = _pass(calendar, clock, same_day.cursor)
    assert _starts(retried) == _weekly(FIRST, T0 + HORIZON, clock.now + HORIZON) != []


def test_a_series_that_ended_is_not_read_again(tmp_path: Path, opened: list[str]) -> None:
    """A series whose UNTIL lies within the window has nothing more to give: its file is not
    read again as the window moves. One that ends after the window is read until the window
    has passed its end, then no more."""
    ended = _write(tmp_path, "ended", FIRST, f"FREQ=WEEKLY;UNTIL={FIRST + timedelta(weeks=3):%Y%m%dT%H%M%SZ}")
    until = FIRST + timedelta(days=75)
    ending = _write(tmp_path, "ending", FIRST, f"FREQ=WEEKLY;UNTIL={until:%Y%m%dT%H%M%SZ}")
    clock = FakeClock(T0)
    calendar = _calendar(tmp_path, clock)
    cursor = _pass(calendar, clock, None).cursor
    clock.advance(timedelta(days=30))
    opened.clear()
    later = _pass(calendar, clock, cursor)
    assert opened == [str(ending)] and str(ended) not in opened
    assert _starts(later) == _weekly(FIRST, T0 + HORIZON, until + timedelta(seconds=1)) != []
    clock.advance(timedelta(days=30))
    opened.clear()
    assert _pass(calendar, clock, later.cursor).events == [] and opened == []
