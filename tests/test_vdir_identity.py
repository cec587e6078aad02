"""The vdir source in a hostile folder, at the source's level: an event is its file and UID
together, links never lead out of the folder, one bad entry never stops the calendar, write
errors that may pass are retried, and stale temp files go every pass."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from syncd.calendars.vdir import VdirCalendar, _write_error
from syncd.errors import FolderReadOnly, NotPermitted, Unavailable
from syncd.model import CalendarEvent
from tests.calendar_contract import SINCE, START, EventSpec, annotation, by_id
from tests.test_vdir import make_calendar, spec_ics, write_file

CLIENT = (("ada@client.example", "Ada Lovelace"),)
URL = "https://notes.example/ada"


def put(folder: Path, name: str, spec: EventSpec, *, age: float = 0.0) -> Path:
    """Write `spec` to `folder/name`, its mtime `age` seconds back (an hour at least, so settled)."""
    path = folder / name
    write_file(path, spec_ics(spec))
    stamp = time.time_ns() - round((3600 + age) * 1e9)
    os.utime(path, ns=(stamp, stamp))
    return path


def booking(uid: str, summary: str = "Intro: Ada Lovelace") -> EventSpec:
    return EventSpec(uid, summary=summary, attendees=CLIENT)


def annotate(calendar: VdirCalendar, event_id: str) -> None:
    event = calendar.get(event_id)
    assert event is not None, event_id
    calendar.annotate(event, annotation(URL))


def linked(path: Path) -> bool:
    """True when syncd's note link is in the file (its private property, one line)."""
    return f"X-SYNCD-NOTE-URL:{URL}" in path.read_text()


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# --- one UID in several files ---------------------------------------------------------------


def test_a_copy_appearing_later_gets_its_own_id_and_never_takes_the_bookings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The booking keeps its id (no cancelled stub for it), the copy is `<uid> (in <file>)`,
    and each id is written only into its own file."""
    real = put(tmp_path, "real.ics", booking("dup"), age=60)
    calendar = make_calendar(tmp_path)
    cursor = calendar.changes(None, SINCE).cursor
    copy = put(tmp_path, "copy.ics", EventSpec("dup", summary="Team lunch"))
    changes = by_id(calendar.changes(cursor, SINCE))
    assert set(changes) == {"dup (in copy.ics)"}
    assert changes["dup (in copy.ics)"].summary == "Team lunch"
    copy_before = copy.read_bytes()
    annotate(calendar, "dup")
    assert linked(real) and copy.read_bytes() == copy_before
    real_before = real.read_bytes()
    annotate(calendar, "dup (in copy.ics)")
    assert real.read_bytes() == real_before and linked(copy)


def test_a_uid_in_several_files_is_told_once_naming_the_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    put(tmp_path, "a.ics", booking("dup"), age=60)
    put(tmp_path, "b.ics", EventSpec("dup"), age=30)
    put(tmp_path, "c.ics", EventSpec("dup"))
    calendar = make_calendar(tmp_path)
    cursor = calendar.changes(None, SINCE).cursor
    [line] = [w for w in warnings(caplog) if "several files" in w]
    assert "'a.ics', 'b.ics', 'c.ics'" in line and "dup" in line
    calendar.changes(cursor, SINCE)
    make_calendar(tmp_path)  # another instance does not change what this one told
    assert len([w for w in warnings(caplog) if "several files" in w]) == 1


def test_on_a_first_read_the_oldest_file_keeps_the_plain_id(tmp_path: Path) -> None:
    put(tmp_path, "z-original.ics", booking("dup"), age=60)
    put(tmp_path, "a-conflict.ics", booking("dup"))
    ids = {e.id: e for e in make_calendar(tmp_path).changes(None, SINCE).events}
    assert set(ids) == {"dup", "dup (in a-conflict.ics)"}


def test_the_original_rewritten_with_an_older_copy_beside_it_keeps_its_id(tmp_path: Path) -> None:
    """A sync conflict writes both files in one go; the id the booking had stays its own even
    when the copy's mtime is the older one."""
    real = put(tmp_path, "real.ics", booking("dup"))
    calendar = make_calendar(tmp_path)
    cursor = calendar.changes(None, SINCE).cursor
    put(tmp_path, "copy.ics", booking("dup"), age=600)
    write_file(real, spec_ics(booking("dup", summary="Intro: Ada Lovelace (moved)")))
    changes = by_id(calendar.changes(cursor, SINCE))
    assert changes["dup"].summary == "Intro: Ada Lovelace (moved)"
    assert not changes["dup"].cancelled and "dup (in copy.ics)" in changes


def test_deleting_the_copy_cancels_only_the_copy(tmp_path: Path) -> None:
    put(tmp_path, "real.ics", booking("dup"), age=60)
    copy = put(tmp_path, "copy.ics", booking("dup"))
    calendar = make_calendar(tmp_path)
    cursor = calendar.changes(None, SINCE).cursor
    copy.unlink()
    changes = calendar.changes(cursor, SINCE)
    assert [(e.id, e.cancelled) for e in changes.events] == [("dup (in copy.ics)", True)]
    assert calendar.get("dup") is not None and calendar.get("dup (in copy.ics)") is None


def test_a_file_qualified_id_resolves_to_its_file_without_a_scan_first(tmp_path: Path) -> None:
    """After a restart, before any `changes`, `get` and `annotate` still find exactly the file."""
    real = put(tmp_path, "real.ics", booking("dup"), age=60)
    copy = put(tmp_path, "copy.ics", EventSpec("dup", summary="Team lunch"))
    make_calendar(tmp_path).changes(None, SINCE)
    restarted = make_calendar(tmp_path)
    event = restarted.get("dup (in copy.ics)")
    assert event is not None and event.summary == "Team lunch"
    real_before = real.read_bytes()
    restarted.annotate(event, annotation(URL))
    assert real.read_bytes() == real_before and linked(copy)


def test_the_plain_id_is_never_looked_for_in_a_file_holding_the_uid_for_another_event(tmp_path: Path) -> None:
    """The booking's file lost the event: the booking is gone, not moved into the copy."""
    real = put(tmp_path, "real.ics", booking("dup"), age=60)
    put(tmp_path, "copy.ics", EventSpec("dup", summary="Team lunch"))
    calendar = make_calendar(tmp_path)
    calendar.changes(None, SINCE)
    write_file(real, spec_ics(booking("another-uid")))
    assert calendar.get("dup") is None


def test_a_file_broken_then_deleted_still_cancels_its_booking(tmp_path: Path) -> None:
    """While a file cannot be read its ids are kept, so its deletion is still seen."""
    path = put(tmp_path, "real.ics", booking("kept"))
    calendar = make_calendar(tmp_path)
    cursor = calendar.changes(None, SINCE).cursor
    write_file(path, b"\xff\xfe not a calendar")
    cursor = calendar.changes(cursor, SINCE).cursor
    path.unlink()
    assert [(e.id, e.cancelled) for e in calendar.changes(cursor, SINCE).events] == [("kept", True)]


# --- UIDs as files write them ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "uid"),
    [("a\\,b", "a,b"), ("a\\;b", "a;b"), ("a\\\\b", "a\\b"), ("x\\,y\\;z\\\\w", "x,y;z\\w")],
    ids=["comma", "semicolon", "backslash", "all"],
)
def test_an_escaped_uid_round_trips_through_read_get_and_annotate(
    tmp_path: Path, written: str, uid: str
) -> None:
    text = spec_ics(booking("PLACEHOLDER")).replace("UID:PLACEHOLDER", f"UID:{written}")
    path = tmp_path / "escaped.ics"
    write_file(path, text)
    calendar = make_calendar(tmp_path)
    [event] = calendar.changes(None, SINCE).events
    assert event.id == uid
    annotate(calendar, uid)
    assert linked(path)
    assert f"UID:{written}\n" in path.read_text()
    assert make_calendar(tmp_path).get(uid) is not None


# --- entries that are no event file ---------------------------------------------------------


def _outside(tmp_path: Path) -> tuple[Path, Path]:
    folder, outside = tmp_path / "calendar", tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    put(folder, "canary.ics", booking("canary"))
    return folder, outside


def test_a_link_out_of_the_folder_is_skipped_with_one_warning_and_not_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder, outside = _outside(tmp_path)
    target = put(outside, "secret.ics", booking("secret"))
    (folder / "secret.ics").symlink_to(target)
    calendar = make_calendar(folder)
    changes = calendar.changes(None, SINCE)
    assert [e.id for e in changes.events] == ["canary"]
    assert calendar.get("secret") is None
    calendar.changes(changes.cursor, SINCE)
    [line] = [w for w in warnings(caplog) if "secret.ics" in w]
    assert "outside the calendar folder" in line


def test_a_link_inside_the_folder_is_read_and_written_through(tmp_path: Path) -> None:
    folder, _ = _outside(tmp_path)
    (folder / ".store").mkdir()
    target = put(folder / ".store", "real.ics", booking("linked"))
    link = folder / "linked.ics"
    link.symlink_to(Path(".store") / "real.ics")
    calendar = make_calendar(folder)
    assert {e.id for e in calendar.changes(None, SINCE).events} == {"canary", "linked"}
    annotate(calendar, "linked")
    assert link.is_symlink() and linked(target)
    assert sorted(p.name for p in (folder / ".store").iterdir()) == ["real.ics"]


def test_two_names_for_one_file_are_one_event(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder, _ = _outside(tmp_path)
    (folder / "alias.ics").symlink_to("canary.ics")
    os.link(folder / "canary.ics", folder / "hard.ics")
    assert [e.id for e in make_calendar(folder).changes(None, SINCE).events] == ["canary"]
    assert len([w for w in warnings(caplog) if "the same file as canary.ics" in w]) == 2


def _loop(folder: Path) -> None:
    (folder / "loop.ics").symlink_to("loop2.ics")
    (folder / "loop2.ics").symlink_to("loop.ics")


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (_loop, "link loop"),
        (lambda f: (f / "dangling.ics").symlink_to("nothing-here.ics"), "does not exist"),
        (lambda f: (f / "folder.ics").mkdir(), "a folder"),
        (lambda f: os.mkfifo(f / "pipe.ics"), "a fifo"),
        (lambda f: (f / "to-fifo.ics").symlink_to(_fifo(f)), "a fifo"),
    ],
    ids=["loop", "dangling", "folder", "fifo", "link-to-fifo"],
)
def test_an_entry_that_is_no_event_file_is_skipped_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, make: object, why: str
) -> None:
    folder, _ = _outside(tmp_path)
    make(folder)  # type: ignore[operator]
    calendar = make_calendar(folder)
    cursor = calendar.changes(None, SINCE).cursor
    assert calendar.changes(cursor, SINCE).events == []
    told = [w for w in warnings(caplog) if "skipping calendar entry" in w]
    assert told and all(why in line for line in told)
    assert len(told) == len({line for line in told})  # one each, not one per pass
    annotate(calendar, "canary")


def _fifo(folder: Path) -> Path:
    (folder / ".fifos").mkdir()
    os.mkfifo(folder / ".fifos" / "p")
    return folder / ".fifos" / "p"


# --- write errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EIO])
def test_a_write_error_that_may_pass_is_unavailable_not_final(code: int) -> None:
    error = _write_error(Path("/cal/x.ics"), OSError(code, os.strerror(code)))
    assert isinstance(error, Unavailable) and not isinstance(error, FolderReadOnly | NotPermitted)
    assert not error.final and "\n" not in str(error) and "/cal/x.ics" in str(error)


def test_a_read_only_mount_is_folder_read_only() -> None:
    error = _write_error(Path("/cal/x.ics"), OSError(errno.EROFS, os.strerror(errno.EROFS)))
    assert isinstance(error, FolderReadOnly) and isinstance(error, Unavailable) and not error.final


_READ_ONLY_SCRIPT = """
import sys
from syncd.errors import FolderReadOnly
from tests.calendar_contract import SINCE, annotation
from tests.test_vdir import make_calendar

calendar = make_calendar(sys.argv[1])
calendar.changes(None, SINCE)
outcome = []
for event_id in ("one", "two"):
    try:
        calendar.annotate(calendar.get(event_id), annotation())
        outcome.append("written")
    except FolderReadOnly as exc:
        outcome.append(type(exc).__name__ + ":" + str(exc))
print("\\n".join(outcome))
"""


def test_on_a_read_only_mount_each_write_raises_folder_read_only(tmp_path: Path) -> None:
    """A real read-only bind mount (in a private mount namespace, gone with the process)."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs unshare and root for a read-only bind mount")
    folder = tmp_path / "calendar"
    folder.mkdir()
    put(folder, "one.ics", booking("one"))
    put(folder, "two.ics", booking("two"))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    script = 'mount --bind -o ro "$1" "$1" && exec "$2" -c "$3" "$1"'
    result = subprocess.run(
        [
            unshare,
            "--mount",
            "sh",
            "-c",
            script,
            "sh",
            str(folder),
            sys.executable,
            textwrap.dedent(_READ_ONLY_SCRIPT),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )
    if "mount" in result.stderr and result.returncode != 0:
        pytest.skip(f"no read-only bind mount here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("FolderReadOnly:") for line in lines), lines
    assert "read-only file system" in lines[0]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    calendar = make_calendar(folder)  # remounted read-write: written again
    calendar.changes(None, SINCE)
    annotate(calendar, "one")
    assert linked(folder / "one.ics")


# --- temp files -----------------------------------------------------------------------------


def test_stale_temp_files_are_swept_every_pass_but_a_fresh_one_is_left(tmp_path: Path) -> None:
    put(tmp_path, "canary.ics", booking("canary"))
    calendar = make_calendar(tmp_path)
    cursor = calendar.changes(None, SINCE).cursor
    stale, fresh = tmp_path / ".syncd-late.tmp", tmp_path / ".syncd-now.tmp"
    stale.write_text("half an event, from an hour ago")
    fresh.write_text("being written right now")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    calendar.changes(cursor, SINCE)
    assert not stale.exists() and fresh.exists()


def test_an_annotated_copy_is_its_own_event_with_a_start(tmp_path: Path) -> None:
    """The copy's event carries everything of its own (a booking's fields, a start)."""
    put(tmp_path, "real.ics", booking("dup"), age=60)
    put(tmp_path, "copy.ics", booking("dup"))
    events: dict[str, CalendarEvent] = by_id(make_calendar(tmp_path).changes(None, SINCE))
    assert events["dup (in copy.ics)"].start == START
