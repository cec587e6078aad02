"""The whole pipeline through the real `syncd` command on local folders: vdir → markdown → maildir."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.support import Workspace, event_ics, ics_time, wait_for


def now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


ANSWERS = (
    "Background: Senior engineer in fintech\n"
    "Company/Team: Ledgerly, payments\n"
    "Challenge: stepping into engineering leadership\n"
    "Coaching preferences: direct feedback\n"
    "Time zone: America/New_York"
)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def block_count(text: str) -> int:
    return text.count("--- syncd: session note")


def alarm_count(text: str) -> int:
    return text.count("X-SYNCD-ALARM")


def test_upcoming_booking_gets_note_link_and_reminder_but_no_draft_yet(ws: Workspace) -> None:
    ws.put("up1", "Intro session", now() + timedelta(days=1), description=ANSWERS)
    ws.run("once")
    [note] = ws.notes()
    text = note.read_text()
    assert "Jane Client" in note.name and "Jane Client" in text
    for answer in (
        "Senior engineer in fintech",
        "Ledgerly, payments",
        "engineering leadership",
        "direct feedback",
    ):
        assert answer in text
    assert "- [ ]" in text
    event = ws.event_text("up1")
    assert block_count(event) == 1 and note.as_uri() in event
    assert alarm_count(event) == 1 and "TRIGGER:-PT5M" in event
    assert ws.draft_files() == []


def test_ended_booking_gets_a_draft_to_the_client_from_the_coach(ws: Workspace) -> None:
    ws.put("past1", "Intro session", now() - timedelta(hours=2), description=ANSWERS)
    ws.run("once")
    [draft] = ws.drafts_parsed()
    assert draft["To"].addresses[0].addr_spec == "jane@client.example"
    assert draft["From"].addresses[0].addr_spec == "ada@coach.example"
    body = draft.get_body().get_content()  # type: ignore[union-attr]
    assert "https://ada.example/pricing" in body and "start date" in body
    assert "Jane" in body
    [path] = ws.draft_files()
    assert path.name.endswith(":2,D")


def test_second_pass_changes_nothing(ws: Workspace) -> None:
    ws.put("past1", "Intro session", now() - timedelta(hours=2))
    ws.put("up1", "Intro with Sam", now() + timedelta(hours=3), client=("Sam Lee", "sam@x.example"))
    ws.run("once")
    snapshot = {p: p.read_bytes() for p in [*ws.notes(), *ws.draft_files(), *ws.calendar.glob("*.ics")]}
    mtimes = {p: p.stat().st_mtime_ns for p in snapshot}
    second = ws.run("once")
    after = {p: p.read_bytes() for p in [*ws.notes(), *ws.draft_files(), *ws.calendar.glob("*.ics")]}
    assert after == snapshot
    assert {p: p.stat().st_mtime_ns for p in after} == mtimes
    assert "session note ready" not in second.stderr and "draft queued for" not in second.stderr


def test_a_cursor_of_the_previous_version_reads_the_calendar_again_and_repeats_nothing(ws: Workspace) -> None:
    """After an upgrade the stored vdir cursor (version 1: no inode, no content hashes) is
    refused: the folder is read again from scratch, and what syncd already did is not done twice."""
    ws.put("past1", "Intro session", now() - timedelta(hours=2))
    ws.put("up1", "Intro with Sam", now() + timedelta(hours=3), client=("Sam Lee", "sam@x.example"))
    ws.run("once")
    files = [*ws.notes(), *ws.draft_files(), *ws.calendar.glob("*.ics")]
    snapshot = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    with contextlib.closing(sqlite3.connect(ws.root / "state" / "syncd.sqlite3")) as db, db:
        [(coach, cursor)] = db.execute("SELECT coach, cursor FROM cursors").fetchall()
        data = json.loads(cursor)
        data["v"], data["files"] = 1, {n: [e[0], e[1], e[3], e[4]] for n, e in data["files"].items()}
        db.execute("UPDATE cursors SET cursor = ? WHERE coach = ?", (json.dumps(data), coach))
    second = ws.run("once")
    assert "reading the whole calendar again" in second.stderr
    files = [*ws.notes(), *ws.draft_files(), *ws.calendar.glob("*.ics")]
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files} == snapshot
    assert "session note ready" not in second.stderr and "draft queued for" not in second.stderr


def test_non_matching_events_are_never_rewritten(ws: Workspace) -> None:
    path = ws.put("standup", "Team standup", now() + timedelta(hours=1))
    before = path.read_bytes(), path.stat().st_mtime_ns
    ws.run("once")
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert ws.notes() == []


def test_short_notice_and_already_started_bookings_get_note_link_and_reminder(ws: Workspace) -> None:
    """DESIGN's pitfalls: a booking less than an hour ahead, and one already under way, are not
    left out; neither has a draft yet."""
    ws.put("soon", "Intro session", now() + timedelta(minutes=20), client=("Soon Lee", "soon@x.example"))
    ws.put("begun", "Intro session", now() - timedelta(minutes=10), client=("Bea Gun", "bea@x.example"))
    ws.run("once")
    assert sorted(note.name.split(" ", 1)[1] for note in ws.notes()) == ["Bea Gun.md", "Soon Lee.md"]
    for uid in ("soon", "begun"):
        event = ws.event_text(uid)
        assert block_count(event) == 1 and alarm_count(event) == 1, event
    assert ws.draft_files() == []


def test_a_recurring_intro_gets_a_note_and_a_reminder_per_instance(ws: Workspace) -> None:
    ws.put("series", "Intro session", now() + timedelta(days=1), extra="RRULE:FREQ=DAILY;COUNT=2")
    ws.run("once")
    assert len(ws.notes()) == 2
    event = ws.event_text("series")
    assert block_count(event) == 2 and alarm_count(event) == 2, event
    ws.run("once")
    assert len(ws.notes()) == 2 and block_count(ws.event_text("series")) == 2


def _move_series(path: Path, start: datetime, by: timedelta, minutes: int = 30) -> None:
    """Move a series' master (its first VEVENT) as a calendar app does for "all events",
    leaving the other VEVENTs of the file as they were."""
    text = path.read_bytes().decode()
    split = text.index("END:VEVENT")
    master = text[:split]
    for name, moment in (("DTSTART", start), ("DTEND", start + timedelta(minutes=minutes))):
        master = master.replace(f"{name}:{ics_time(moment)}", f"{name}:{ics_time(moment + by)}")
    path.write_bytes((master + text[split:]).encode())


def test_moving_a_whole_recurring_series_reschedules_each_session(ws: Workspace) -> None:
    """The coach moves every instance of a series by an hour: each session is rescheduled
    (same note, follow-up moved), not cancelled and booked again, and the overrides syncd
    wrote only to carry its link at the old times do not stay behind as ghost events."""
    ws.delay = "1m"
    ws.write_config()
    start = now() + timedelta(days=1)
    path = ws.put("weekly", "Intro session", start, extra="RRULE:FREQ=WEEKLY;COUNT=3")
    ws.run("once")
    notes = ws.notes()
    assert len(notes) == 3
    _move_series(path, start, timedelta(hours=1))
    moved = ws.run("once")
    assert ws.notes() == notes and "cancelled" not in moved.stderr
    assert moved.stderr.count("rescheduled to") == 3
    event = ws.event_text("weekly")
    assert event.count("BEGIN:VEVENT") == 4 and block_count(event) == 3 and alarm_count(event) == 3
    for week in range(3):
        old, new = (start + timedelta(weeks=week, hours=h) for h in (0, 1))
        assert f"RECURRENCE-ID:{ics_time(old)}" not in event and f"RECURRENCE-ID:{ics_time(new)}" in event
    for note in notes:
        assert (start + timedelta(hours=1)).astimezone(ZoneInfo("Europe/Berlin")).strftime(
            "%H:%M"
        ) in note.read_text()
    status = ws.run("status").stdout
    assert status.count("pending") == 3
    again = ws.run("once")
    assert ws.notes() == notes and "rescheduled" not in again.stderr and ws.event_text("weekly") == event


def test_a_series_moved_back_brings_its_sessions_back_on_their_notes(ws: Workspace) -> None:
    """The coach undoes the move (or restores the file): each session is on again at its first
    time, on its own note, which no longer says cancelled."""
    ws.delay = "1m"
    ws.write_config()
    start = now() + timedelta(days=1)
    path = ws.put("weekly", "Intro session", start, extra="RRULE:FREQ=WEEKLY;COUNT=3")
    ws.run("once")
    notes, first = ws.notes(), path.read_bytes()
    _move_series(path, start, timedelta(hours=1))
    ws.run("once")
    path.write_bytes(first)
    back = ws.run("once")
    assert ws.notes() == notes and back.stderr.count("series moved back") == 3
    assert "0 notes created" in back.stderr and "reused" not in back.stderr
    assert ws.run("status").stdout.count("pending") == 3
    berlin = ZoneInfo("Europe/Berlin")
    for week, note in enumerate(sorted(notes)):
        text = note.read_text()
        assert "Cancelled" not in text and "status: cancelled" not in text
        assert (start + timedelta(weeks=week)).astimezone(berlin).strftime("%Y-%m-%dT%H:%M") in text
    event = ws.event_text("weekly")
    assert block_count(event) == 3 and alarm_count(event) == 3
    again = ws.run("once")
    assert ws.notes() == notes and ws.event_text("weekly") == event and "Traceback" not in again.stderr


def test_reschedule_moves_follow_up_and_updates_note_header(ws: Workspace) -> None:
    ws.put("r1", "Intro session", now() + timedelta(days=1))
    ws.run("once")
    [note] = ws.notes()
    note.write_text(note.read_text() + "\nMy own notes stay.\n")
    later = now() + timedelta(days=3)
    ws.put("r1", "Intro session", later)
    moved = ws.run("once")
    assert "0 notes created, 0 links written, 1 event updated, 0 drafts queued" in moved.stderr
    [note_after] = ws.notes()
    text = note_after.read_text()
    assert "My own notes stay." in text
    berlin = later.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert berlin.strftime("%Y-%m-%dT%H:%M") in text
    status = ws.run("status").stdout
    due = (later + timedelta(minutes=45)).astimezone(berlin.tzinfo).strftime("%Y-%m-%d %H:%M")
    assert due in status


def test_reschedule_into_the_past_drafts_on_the_new_time_only(ws: Workspace) -> None:
    ws.put("r2", "Intro session", now() + timedelta(days=1))
    ws.run("once")
    ws.put("r2", "Intro session", now() - timedelta(hours=1))
    ws.run("once")
    assert len(ws.draft_files()) == 1


def test_cancel_withdraws_follow_up_and_marks_the_note(ws: Workspace) -> None:
    ws.put("c1", "Intro session", now() - timedelta(minutes=40), minutes=30)
    ws.put("c2", "Intro session", now() + timedelta(hours=2), client=("Kim Park", "kim@x.example"))
    # First pass while c1 is not yet due: delay is 15m, it ended 10 minutes ago.
    ws.run("once")
    ws.put("c1", "Intro session", now() - timedelta(minutes=40), minutes=30, status="CANCELLED")
    (ws.calendar / "c2.ics").unlink()
    ws.run("once")
    assert ws.draft_files() == []
    notes = ws.notes()
    assert len(notes) == 2
    for note in notes:
        assert "status: cancelled" in note.read_text()
    status = ws.run("status").stdout
    assert status.count("withdrawn") == 2


def test_a_cancelled_event_kept_in_the_calendar_says_the_follow_up_is_withdrawn(ws: Workspace) -> None:
    """A calendar app keeps a cancelled meeting, struck through, with the description syncd
    wrote: its block then says the session was cancelled (the note link stays; the reminder
    goes), once, changing no line syncd does not own."""
    html = "X-ALT-DESC;FMTTYPE=text/html:<html><body><p>Booked via Outlook</p></body></html>"
    path = ws.put("cx", "Intro session", now() + timedelta(days=1), description=ANSWERS, extra=html)
    ws.run("once")
    [note] = ws.notes()
    annotated = path.read_bytes()
    assert b"draft will be prepared" in annotated
    path.write_bytes(annotated.replace(b"STATUS:CONFIRMED", b"STATUS:CANCELLED"))
    cancelled = path.read_bytes()
    ws.run("once")
    event = ws.event_text("cx")
    assert "draft will be prepared" not in event
    # One block in DESCRIPTION, its twin in the HTML description.
    assert event.count("Session cancelled: follow-up withdrawn") == 2 and block_count(event) == 2
    assert note.as_uri() in event and alarm_count(event) == 0
    assert "STATUS:CANCELLED" in event and "Booked via Outlook" in event
    kept = [
        line for line in cancelled.splitlines() if not line.startswith((b" ", b"DESCRIPTION", b"X-ALT-DESC"))
    ]
    alarm = kept.index(b"BEGIN:VALARM")
    del kept[alarm : kept.index(b"END:VALARM") + 1]
    assert [
        line
        for line in path.read_bytes().splitlines()
        if not line.startswith((b" ", b"DESCRIPTION", b"X-ALT-DESC"))
    ] == kept
    before = path.read_bytes(), path.stat().st_mtime_ns
    ws.run("once")
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_cancelled_then_rebooked_client_reuses_the_note(ws: Workspace) -> None:
    ws.put("old", "Intro session", now() + timedelta(days=1))
    ws.run("once")
    [note] = ws.notes()
    note.write_text(note.read_text() + "\nPrep: ask about the team.\n")
    (ws.calendar / "old.ics").unlink()
    ws.put("new", "Intro session", now() + timedelta(days=2))
    second = ws.run("once")
    assert "0 notes created, 1 note reused, 1 link written," in second.stderr
    [reused] = ws.notes()
    text = reused.read_text()
    assert "Prep: ask about the team." in text and "status: scheduled" in text
    assert block_count(ws.event_text("new")) == 1


def test_catch_up_after_downtime_within_max_lateness(ws: Workspace) -> None:
    ws.lookback = "7d"
    ws.write_config()
    ws.put("late", "Intro session", now() - timedelta(days=1))
    ws.run("once")
    assert len(ws.draft_files()) == 1


def test_follow_up_older_than_max_lateness_is_skipped_with_a_log_line(ws: Workspace) -> None:
    ws.lookback = "7d"
    ws.max_lateness = "1d"
    ws.write_config()
    ws.put("stale", "Intro session", now() - timedelta(days=3))
    result = ws.run("once")
    assert ws.draft_files() == []
    assert "skipped" in result.stderr and "max_lateness" in result.stderr
    assert "skipped" in ws.run("status").stdout


def test_first_start_ignores_bookings_before_the_lookback(ws: Workspace) -> None:
    ws.put("ancient", "Intro session", now() - timedelta(days=5))
    ws.put("recent", "Intro session", now() - timedelta(hours=3), client=("Sam Lee", "sam@x.example"))
    ws.run("once")
    assert len(ws.notes()) == 1 and len(ws.draft_files()) == 1


def test_broken_ics_is_logged_and_the_others_proceed(ws: Workspace) -> None:
    (ws.calendar / "broken.ics").write_text("BEGIN:VCALENDAR\nthis is not ical\n")
    ws.put("ok", "Intro session", now() + timedelta(hours=5))
    result = ws.run("once")
    assert "broken.ics" in result.stderr and "Traceback" not in result.stderr
    assert len(ws.notes()) == 1


def test_event_without_attendees_is_explained_in_one_line(ws: Workspace) -> None:
    ws.put("lonely", "Intro session", now() + timedelta(hours=5), client=None)
    ws.put("ok", "Intro session", now() + timedelta(hours=6))
    result = ws.run("once")
    assert "lonely" in result.stderr and "no client" in result.stderr and "Traceback" not in result.stderr
    assert len(ws.notes()) == 1


HOSTILE = [
    "../../etc/passwd",
    "a/b\\c:d",
    "Eve\x1b[31m Red\x07",
    "{{ 7*7 }} {% raw %}",
    "X" * 10_000,
    # RFC 6868: ^n in a parameter value is a line break, a way to forge a header or a log line.
    "Eve^nBcc: mallory@evil.example^n2026-01-01 00:00:00 ERROR forged",
    # Bidi overrides reorder what a terminal or journal viewer shows (log spoofing).
    "Eve\u202eevil\u2066x\u2069\u200f",
]
# Nothing that can start a line, move the cursor or reorder text on screen.
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|WARNING|ERROR) \S")


@pytest.mark.parametrize(
    "name", HOSTILE, ids=["traversal", "separators", "control", "template", "huge", "line-break", "bidi"]
)
def test_hostile_client_names_stay_inside_the_collection_and_literal(ws: Workspace, name: str) -> None:
    ws.put("h1", "Intro session", now() - timedelta(hours=2), client=(name, "eve@x.example"))
    result = ws.run("once")
    assert "Traceback" not in result.stderr
    assert all(LOG_LINE.match(line) for line in result.stderr.splitlines()), result.stderr
    assert not UNSAFE.search(result.stderr), ascii(result.stderr)
    [note] = ws.notes()
    assert note.parent == ws.collection and len(note.name.encode()) <= 120
    assert not UNSAFE.search(note.name) and not UNSAFE.search(note.read_text().replace("\n", ""))
    if "{{" in name:
        assert "{{ 7*7 }}" in note.read_text() and "{% raw %}" in note.read_text()
    [draft] = ws.drafts_parsed()
    assert len(ws.draft_files()) == 1 and draft["Bcc"] is None
    assert not UNSAFE.search(str(draft["To"])) and draft["To"].addresses[0].addr_spec == "eve@x.example"
    assert list(ws.root.rglob("passwd")) == []
    assert oct(os.stat(note).st_mode & 0o777) == "0o600"
    status = ws.run("status").stdout
    assert not UNSAFE.search(status.replace("\n", "")), ascii(status)


def test_status_lists_client_start_note_and_follow_up(ws: Workspace) -> None:
    ws.put("s1", "Intro session", now() + timedelta(days=1))
    ws.run("once")
    out = ws.run("status").stdout
    assert "Jane Client" in out and "pending" in out and "file://" in out


def test_dry_run_tells_every_step_and_changes_nothing(ws: Workspace) -> None:
    ws.put("d1", "Intro session", now() - timedelta(hours=2))
    before = ws.event_text("d1")
    result = ws.run("once", "--dry-run")
    for step in (
        "would create the session note",
        "would write the note link",
        "would queue the follow-up draft to jane@client.example",
    ):
        assert step in result.stderr, result.stderr
    assert "Jane Client" in result.stderr
    assert ws.notes() == [] and ws.draft_files() == [] and ws.event_text("d1") == before
    assert list((ws.root / "state").iterdir()) == []  # not even a state database
    ws.run("once")
    assert len(ws.notes()) == 1 and len(ws.draft_files()) == 1
    again = ws.run("once", "--dry-run")
    assert ": would " not in again.stderr


def test_note_renamed_by_the_coach_is_followed_and_its_link_updated(ws: Workspace) -> None:
    ws.put("m1", "Intro session", now() + timedelta(days=1))
    ws.run("once")
    [note] = ws.notes()
    renamed = note.with_name("Jane - first call.md")
    note.rename(renamed)
    ws.put("m1", "Intro session", now() - timedelta(hours=2))  # moved into the past: draft due
    result = ws.run("once")
    assert "Traceback" not in result.stderr
    assert ws.notes() == [renamed] and len(ws.draft_files()) == 1
    assert renamed.as_uri() in ws.event_text("m1")
    assert renamed.as_uri() in ws.run("status").stdout


def test_note_deleted_by_the_coach_is_made_again_and_the_follow_up_still_goes(ws: Workspace) -> None:
    ws.put("m2", "Intro session", now() - timedelta(minutes=40), minutes=30)  # ends before its delay
    ws.run("once")
    [note] = ws.notes()
    note.unlink()
    ws.delay = "1m"
    ws.write_config()
    ws.put("m2", "Intro session", now() - timedelta(hours=2))
    result = ws.run("once")
    assert "Traceback" not in result.stderr and "not where it was" in result.stderr
    assert len(ws.notes()) == 1 and len(ws.draft_files()) == 1
    assert "pending" not in ws.run("status").stdout


def test_demo_shows_a_note_a_link_and_a_draft(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "unused")
    result = ws.run("demo", "--dir", str(tmp_path / "demo"), check=True)
    assert "session note:" in result.stdout and "follow-up draft:" in result.stdout
    # One link per booking, though the ended one's event is written again for its draft.
    assert "2 notes created, 2 links written, 1 draft queued" in result.stderr
    notes = list((tmp_path / "demo" / "notes").rglob("*.md"))
    assert len(notes) == 2  # the cancelled booking was never on, so it has no note
    drafts = list((tmp_path / "demo" / "Mail" / "Drafts" / "cur").iterdir())
    assert len(drafts) == 1


@pytest.mark.slow
def test_a_coach_whose_calendar_vanished_gets_one_line_and_the_other_coach_carries_on(ws: Workspace) -> None:
    (ws.root / "bob-calendar").mkdir()
    ws.extra_coach = """\
  - name: Bob Coach
    email: bob@coach.example
    timezone: America/Chicago
    pricing_url: https://bob.example/pricing
    calendar: {type: vdir, path: bob-calendar}
    notes: {type: markdown, path: notes, collection: Bob Intros}
    drafts: {type: maildir, path: Mail/BobDrafts}
"""
    ws.write_config()
    log = ws.root / "daemon.log"
    daemon = ws.start("run", log=log)
    try:
        ws.put("first", "Intro session", now() + timedelta(hours=2))
        assert wait_for(lambda: len(ws.notes()) == 1)
        (ws.root / "bob-calendar").rmdir()  # e.g. an unmounted share, while the daemon runs
        ws.put("second", "Intro session", now() - timedelta(hours=2), client=("Sam Lee", "sam@x.example"))
        assert wait_for(lambda: len(ws.notes()) == 2 and len(ws.draft_files()) == 1)
        passes = log.read_text().count("pass finished")
        # At least one more whole pass with the folder missing.
        assert wait_for(lambda: log.read_text().count("pass finished") > passes + 1), log.read_text()
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=10)
    stderr = log.read_text()
    assert daemon.returncode == 0 and "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if "bob@coach.example" in line]
    assert errors and all("bob-calendar" in line for line in errors)
    assert len(errors) <= stderr.count("pass finished")  # one line per pass, not one per booking


def test_two_coaches_sharing_a_calendar_folder_each_get_only_their_own_bookings(ws: Workspace) -> None:
    ws.extra_coach = """\
  - name: Sam Coach
    email: sam@coach.example
    timezone: Europe/Berlin
    pricing_url: https://sam.example/pricing
    calendar: {type: vdir, path: calendar}
    notes: {type: markdown, path: notes, collection: Sam Intros}
    drafts: {type: maildir, path: Mail/SamDrafts}
"""
    ws.write_config()
    ws.put("ada1", "Intro session", now() - timedelta(hours=2))
    sams = ws.put("sam1", "Intro session", now() + timedelta(days=1), client=("Leo Brown", "leo@x.example"))
    sams.write_text(
        sams.read_text().replace(
            "ORGANIZER;CN=Ada Coach:mailto:ada@coach.example",
            "ORGANIZER;CN=Sam Coach:mailto:sam@coach.example",
        )
    )
    ws.run("once")
    sam_notes = list((ws.root / "notes" / "Sam Intros").glob("*.md"))
    assert len(ws.notes()) == 1 and len(sam_notes) == 1 and "Leo Brown" in sam_notes[0].name
    [draft] = ws.drafts_parsed()
    assert draft["From"].addresses[0].addr_spec == "ada@coach.example"
    assert "Sam%20Intros" in ws.event_text("sam1") and "Sam%20Intros" not in ws.event_text("ada1")


def test_status_still_shows_the_bookings_while_the_calendar_folder_is_unmounted(ws: Workspace) -> None:
    ws.put("u1", "Intro session", now() + timedelta(days=1))
    ws.run("once")
    for path in ws.calendar.iterdir():
        path.unlink()
    ws.calendar.rmdir()
    assert "Jane Client" in ws.run("status").stdout
    assert ws.run("once", check=False).returncode == 2  # the pass itself needs the folder


def test_a_note_folder_that_cannot_be_made_gives_one_error_line_per_pass(ws: Workspace) -> None:
    ws.collection.write_text("a file where the collection folder should be")
    ws.put("ro1", "Intro session", now() + timedelta(days=1))
    result = ws.run("once")
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "ro1" in errors[0] and "1 error\n" in result.stderr, result.stderr
    ws.collection.unlink()
    ws.run("once")
    assert len(ws.notes()) == 1  # retried on the next pass


def test_status_names_the_coach_and_leaves_out_coaches_removed_from_the_config(ws: Workspace) -> None:
    (ws.root / "bob-calendar").mkdir()
    ws.extra_coach = """\
  - name: Bob Coach
    email: bob@coach.example
    timezone: America/Chicago
    pricing_url: https://bob.example/pricing
    calendar: {type: vdir, path: bob-calendar}
    notes: {type: markdown, path: notes, collection: Bob Intros}
    drafts: {type: maildir, path: Mail/BobDrafts}
"""
    ws.write_config()
    ws.put("a1", "Intro session", now() + timedelta(days=1))
    (ws.root / "bob-calendar" / "b1.ics").write_bytes(
        event_ics("b1", "Intro session", now() + timedelta(days=2), client=("Leo Brown", "leo@x.example"))
        .replace("Ada Coach:mailto:ada@coach.example", "Bob Coach:mailto:bob@coach.example")
        .encode()
    )
    ws.run("once")
    both = ws.run("status").stdout
    assert "bob@coach.example" in both and "ada@coach.example" in both and "CST" in both
    ws.extra_coach = ""
    ws.write_config()
    result = ws.run("once")
    assert "1 booking tracked" in result.stderr
    alone = ws.run("status").stdout
    assert "Leo Brown" not in alone and "(1 booking of coaches no longer in the config kept" in alone
    assert "Pending follow-ups: 1" in alone


def test_client_zone_as_calendly_writes_it_reaches_the_note_and_the_draft(ws: Workspace) -> None:
    berlin, new_york = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
    # 00:30 yesterday in Berlin is the evening before in New York: the client's day differs.
    yesterday = (now().astimezone(berlin) - timedelta(days=1)).date()
    start = datetime.combine(yesterday, datetime.min.time(), berlin).replace(minute=30).astimezone(UTC)
    ws.put("tz1", "Intro session", start, description="Invitee Time Zone: Eastern Time - US & Canada")
    ws.put(
        "tz2",
        "Intro session",
        start + timedelta(hours=2),
        client=("Kim Park", "kim@x.example"),
        description="Invitee Time Zone: Martian Standard Time",
    )
    first = ws.run("once")
    theirs = start.astimezone(new_york)
    note = next(p.read_text() for p in ws.notes() if "Jane" in p.name)
    assert f"**Their time:** {theirs:%a} {theirs.day} {theirs:%b %Y, %H:%M}" in note
    assert "(America/New_York)" in note
    bodies = {d["To"].addresses[0].addr_spec: d.get_body().get_content() for d in ws.drafts_parsed()}  # type: ignore[union-attr]
    assert f"our intro session on {theirs:%a} {theirs.day} {theirs:%b}." in bodies["jane@client.example"]
    # A zone nobody knows: one line naming the event and the value, then the coach's zone only.
    warnings = [line for line in first.stderr.splitlines() if "Martian Standard Time" in line]
    assert len(warnings) == 1 and "tz2" in warnings[0], first.stderr
    assert "Their time" not in next(p.read_text() for p in ws.notes() if "Kim" in p.name)
    again = ws.run("once")
    assert "Martian" not in again.stderr


def test_outlook_html_description_gets_the_link_once_and_a_second_pass_writes_nothing(ws: Workspace) -> None:
    html = "X-ALT-DESC;FMTTYPE=text/html:<html><body><p>Booked via Outlook</p></body></html>"
    path = ws.put("ol1", "Intro session", now() + timedelta(days=1), description=ANSWERS, extra=html)
    ws.run("once")
    event = ws.event_text("ol1")
    [note] = ws.notes()
    html_line = next(line for line in event.splitlines() if line.startswith("X-ALT-DESC"))
    assert html_line.count(f'<a href="{note.as_uri()}">') == 1 and html_line.endswith("</div></body></html>")
    before = path.read_bytes(), path.stat().st_mtime_ns
    ws.run("once")
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
