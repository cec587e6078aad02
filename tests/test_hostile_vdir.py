"""Hostile calendar folders, end to end through the real `syncd` command (issue 9).

Each case puts one hostile thing in the calendar folder beside a canary booking that ended two
hours ago. Whatever the hostile thing is, the canary gets its note, its link and its draft;
no file outside the configured folders changes (a sibling folder is hashed before and after);
syncd never prints a traceback; an entry it skips is named in one line, not one per booking.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import Workspace, event_ics

HOUR = 3600.0
CANARY_CLIENT = ("Jane Client", "jane@client.example")
OTHER_CLIENT = ("Olga Other", "olga@other.example")


def ended() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)


@dataclass
class Scene:
    """The workspace, the sibling folder nothing may change, and the canary's file."""

    ws: Workspace
    outside: Path

    @property
    def calendar(self) -> Path:
        return self.ws.calendar

    def write(self, name: str, text: str | bytes, *, folder: Path | None = None, age: float = 0.0) -> Path:
        """A file as a calendar app (or an attacker) leaves it, its mtime `age` seconds back."""
        path = (folder or self.calendar) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        if age:
            stamp = time.time() - age
            os.utime(path, (stamp, stamp))
        return path

    def event(
        self, uid: str, client: tuple[str, str] | None = OTHER_CLIENT, summary: str = "Intro session"
    ) -> str:
        return event_ics(uid, summary, ended(), client=client)


def tree_digest(folder: Path) -> dict[str, str]:
    """Every entry under `folder`: a file's content hash, a link's target, a folder's mark."""
    found: dict[str, str] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            rel = str(path.relative_to(folder))
            if path.is_symlink():
                found[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest() + f":{path.stat().st_mode:o}"
            else:
                found[rel] = f"other:{path.lstat().st_mode:o}"
    return found


# --- the hostile things ---------------------------------------------------------------------


def copy_without_attendees(s: Scene) -> None:
    s.write("copy.ics", s.event("canary", client=None, summary="Team lunch"))


def copy_older_without_attendees(s: Scene) -> None:
    # Older than the canary's file: on a first read it takes the plain id; the canary must not care.
    s.write("0-copy.ics", s.event("canary", client=None, summary="Team lunch"), age=3 * HOUR)


def copy_with_other_attendees(s: Scene) -> None:
    s.write("copy.ics", s.event("canary", client=OTHER_CLIENT, summary="Standup"))


def exact_copy(s: Scene) -> None:
    s.write("canary (conflict).ics", (s.calendar / "canary.ics").read_bytes())


def three_files_one_uid(s: Scene) -> None:
    s.write("copy-1.ics", s.event("canary", client=None, summary="Lunch"))
    s.write("copy-2.ics", s.event("canary", client=OTHER_CLIENT, summary="Board meeting"), age=HOUR)


def uid_in_a_file_of_several_events(s: Scene) -> None:
    lunch = s.event("canary", client=None, summary="Lunch")
    vevent = lunch[lunch.index("BEGIN:VEVENT") : lunch.index("END:VCALENDAR")]
    s.write(
        "several.ics",
        s.event("other", client=None, summary="Gym").replace("END:VCALENDAR", vevent + "END:VCALENDAR"),
    )


def uid_like_a_qualified_id(s: Scene) -> None:
    s.write("hostile.ics", s.event("canary (in canary.ics)", client=None, summary="Lunch"))


def uid_like_an_instance(s: Scene) -> None:
    s.write("hostile.ics", s.event("canary/20300101T100000Z", client=None, summary="Lunch"))


def uid_with_a_path(s: Scene) -> None:
    s.write("hostile.ics", s.event("../outside/victim", client=None, summary="Lunch"))
    s.write("victim.ics", s.event("victim", client=None), folder=s.outside)


def link_out_to_a_booking(s: Scene) -> None:
    target = s.write("booking.ics", s.event("outside-booking"), folder=s.outside)
    (s.calendar / "booking.ics").symlink_to(target)


def link_out_with_the_canary_uid(s: Scene) -> None:
    target = s.write(
        "evil.ics", s.event("canary", client=OTHER_CLIENT, summary="Intro session"), folder=s.outside
    )
    (s.calendar / "evil.ics").symlink_to(target)


def relative_link_out(s: Scene) -> None:
    s.write("rel.ics", s.event("rel-booking"), folder=s.outside)
    (s.calendar / "rel.ics").symlink_to(Path("..") / s.outside.name / "rel.ics")


def link_out_to_a_folder(s: Scene) -> None:
    (s.calendar / "folder.ics").symlink_to(s.outside)


def link_out_to_a_secret(s: Scene) -> None:
    target = s.write("passwd", "root:x:0:0:root:/root:/bin/sh\n", folder=s.outside)
    (s.calendar / "passwd.ics").symlink_to(target)


def link_in_to_a_booking(s: Scene) -> None:
    s.write("store/inside.ics", s.event("inside-booking"))
    (s.calendar / "inside.ics").symlink_to(Path("store") / "inside.ics")


def link_in_to_the_canary(s: Scene) -> None:
    (s.calendar / "alias.ics").symlink_to("canary.ics")


def hard_link_to_the_canary(s: Scene) -> None:
    os.link(s.calendar / "canary.ics", s.calendar / "hard.ics")


def link_to_the_folder_itself(s: Scene) -> None:
    (s.calendar / "self.ics").symlink_to(".")


def link_loop(s: Scene) -> None:
    (s.calendar / "a.ics").symlink_to("b.ics")
    (s.calendar / "b.ics").symlink_to("a.ics")


def link_to_itself(s: Scene) -> None:
    (s.calendar / "me.ics").symlink_to("me.ics")


def dangling_link(s: Scene) -> None:
    (s.calendar / "gone.ics").symlink_to("nothing-here.ics")


def fifo(s: Scene) -> None:
    os.mkfifo(s.calendar / "pipe.ics")


def link_to_a_fifo(s: Scene) -> None:
    (s.calendar / "store").mkdir()
    os.mkfifo(s.calendar / "store" / "pipe")
    (s.calendar / "pipe.ics").symlink_to(Path("store") / "pipe")


def folder_named_ics(s: Scene) -> None:
    s.write("folder.ics/inner.ics", s.event("inner"))


def escaped_uid_booking(s: Scene) -> None:
    s.write("escaped.ics", s.event("PLACEHOLDER").replace("UID:PLACEHOLDER", "UID:a\\,b\\;c\\\\d"))


def uid_with_a_newline(s: Scene) -> None:
    s.write("newline.ics", s.event("PLACEHOLDER").replace("UID:PLACEHOLDER", "UID:line one\\nline two"))


def empty_uid(s: Scene) -> None:
    s.write("empty-uid.ics", s.event("PLACEHOLDER").replace("UID:PLACEHOLDER", "UID:"))


def huge_uid(s: Scene) -> None:
    s.write("huge-uid.ics", s.event("u" * 20_000))


def not_utf8(s: Scene) -> None:
    s.write(
        "latin1.ics", s.event("latin1", summary="Intro café").encode("utf-8").replace(b"\xc3\xa9", b"\xe9")
    )


def zero_bytes(s: Scene) -> None:
    s.write("empty.ics", b"")


def binary_noise(s: Scene) -> None:
    s.write("noise.ics", bytes(range(256)) * 40)


def too_big(s: Scene) -> None:
    with (s.calendar / "big.ics").open("wb") as handle:
        handle.truncate(11 * 1024 * 1024)  # sparse: cheap to make


def control_characters_in_the_name(s: Scene) -> None:
    s.write("evil\nERROR forged line\x1b[2J.ics", "not a calendar")


def stale_and_fresh_temp_files(s: Scene) -> None:
    s.write(".syncd-stale.tmp", "half an event", age=HOUR)
    s.write(".syncd-fresh.tmp", "being written right now")


def temp_named_link_out(s: Scene) -> None:
    target = s.write("precious", "do not delete", folder=s.outside)
    link = s.calendar / ".syncd-evil.tmp"
    link.symlink_to(target)
    os.utime(link, (time.time() - HOUR, time.time() - HOUR), follow_symlinks=False)


CASES: dict[str, Callable[[Scene], None]] = {
    f.__name__: f
    for f in (
        copy_without_attendees,
        copy_older_without_attendees,
        copy_with_other_attendees,
        exact_copy,
        three_files_one_uid,
        uid_in_a_file_of_several_events,
        uid_like_a_qualified_id,
        uid_like_an_instance,
        uid_with_a_path,
        link_out_to_a_booking,
        link_out_with_the_canary_uid,
        relative_link_out,
        link_out_to_a_folder,
        link_out_to_a_secret,
        link_in_to_a_booking,
        link_in_to_the_canary,
        hard_link_to_the_canary,
        link_to_the_folder_itself,
        link_loop,
        link_to_itself,
        dangling_link,
        fifo,
        link_to_a_fifo,
        folder_named_ics,
        escaped_uid_booking,
        uid_with_a_newline,
        empty_uid,
        huge_uid,
        not_utf8,
        zero_bytes,
        binary_noise,
        too_big,
        control_characters_in_the_name,
        stale_and_fresh_temp_files,
        temp_named_link_out,
    )
}
# Entries syncd must skip, each named in exactly one line of the first run and none of the second.
SKIPPED = {
    "link_out_to_a_booking": "booking.ics",
    "link_out_with_the_canary_uid": "evil.ics",
    "relative_link_out": "rel.ics",
    "link_out_to_a_folder": "folder.ics",
    "link_out_to_a_secret": "passwd.ics",
    "link_in_to_the_canary": "alias.ics",
    "hard_link_to_the_canary": "hard.ics",
    "link_to_itself": "me.ics",
    "dangling_link": "gone.ics",
    "fifo": "pipe.ics",
    "link_to_a_fifo": "pipe.ics",
    "folder_named_ics": "folder.ics",
}
# Files of bookings beside the canary that must get their link too (and a draft to Olga).
ALSO_BOOKED = {"link_in_to_a_booking": "store/inside.ics", "escaped_uid_booking": "escaped.ics"}


@pytest.fixture
def scene(tmp_path: Path) -> Scene:
    outside = tmp_path / "outside"
    outside.mkdir()
    s = Scene(Workspace(tmp_path / "coach"), outside)
    s.write("canary.ics", event_ics("canary", "Intro session", ended(), client=CANARY_CLIENT), age=2 * HOUR)
    s.write("unrelated.txt", "the coach's own notes", folder=outside)
    return s


@pytest.mark.parametrize("case", list(CASES))
def test_the_canary_booking_finishes_beside_a_hostile_entry(scene: Scene, case: str) -> None:
    CASES[case](scene)
    outside_before = tree_digest(scene.outside)
    result = scene.ws.run("once", check=False)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 1), result.stderr

    canary = scene.ws.event_text("canary")
    jane_notes = [note for note in scene.ws.notes() if "Jane Client" in note.read_text()]
    assert jane_notes, result.stderr
    assert any(note.as_uri() in canary for note in jane_notes), result.stderr
    assert canary.count("--- syncd: session note") == 1
    to_jane = [d for d in scene.ws.drafts_parsed() if d["To"].addresses[0].addr_spec == CANARY_CLIENT[1]]
    assert to_jane, result.stderr
    # A copy (same UID in another file) is never a booking of its own: one note, one draft.
    assert len(jane_notes) == 1 and len(to_jane) == 1

    assert tree_digest(scene.outside) == outside_before
    if case in SKIPPED:
        named = [line for line in result.stderr.splitlines() if SKIPPED[case] in line]
        assert len(named) == 1, result.stderr
    if case in ALSO_BOOKED:
        assert "--- syncd: session note" in (scene.calendar / ALSO_BOOKED[case]).read_text(), result.stderr
        assert OTHER_CLIENT[1] in [d["To"].addresses[0].addr_spec for d in scene.ws.drafts_parsed()]
    assert not (scene.calendar / ".syncd-stale.tmp").exists()


def test_a_link_inside_the_folder_stays_a_link_and_its_target_gets_the_link(scene: Scene) -> None:
    link_in_to_a_booking(scene)
    scene.ws.run("once")
    link, target = scene.calendar / "inside.ics", scene.calendar / "store" / "inside.ics"
    assert link.is_symlink() and os.readlink(link) == str(Path("store") / "inside.ics")
    assert "--- syncd: session note" in target.read_text()


def test_a_copy_without_attendees_is_never_written(scene: Scene) -> None:
    """The client's name, link and reminder never land in an unrelated event sharing the UID."""
    copy_without_attendees(scene)
    copy_older_without_attendees(scene)
    before = {name: (scene.calendar / name).read_bytes() for name in ("copy.ics", "0-copy.ics")}
    first = scene.ws.run("once")
    scene.ws.run("once")
    assert {name: (scene.calendar / name).read_bytes() for name in before} == before
    assert "follow-up withdrawn" not in first.stderr


def short(ics: str, end: datetime) -> str:
    """`ics` with its DTEND moved to `end`."""
    return "\r\n".join(
        f"DTEND:{end.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}" if line.startswith("DTEND:") else line
        for line in ics.split("\r\n")
    )


@pytest.mark.slow
def test_a_copy_appearing_after_the_booking_does_not_withdraw_its_follow_up(tmp_path: Path) -> None:
    """The booking is upcoming when the copy appears; later its follow-up is still drafted."""
    ws = Workspace(tmp_path, delay="0s")
    start = datetime.now(UTC) + timedelta(seconds=3)
    end = start + timedelta(seconds=2)  # a short session, so the test waits seconds, not a minute
    ws.write_config()
    path = ws.calendar / "real.ics"
    path.write_text(short(event_ics("dup", "Intro session", start, minutes=1, client=CANARY_CLIENT), end))
    ws.run("once")
    copy = ws.calendar / "copy.ics"
    copy.write_text(short(event_ics("dup", "Team lunch", start, minutes=1, client=None), end))
    second = ws.run("once")
    assert "withdrawn" not in second.stderr and "cancel" not in second.stderr.lower(), second.stderr
    time.sleep(max(0.0, (end + timedelta(seconds=1) - datetime.now(UTC)).total_seconds()))
    ws.run("once")
    assert [d["To"].addresses[0].addr_spec for d in ws.drafts_parsed()] == [CANARY_CLIENT[1]]
    assert "X-SYNCD" not in copy.read_text()


def test_a_read_only_event_file_is_retried_once_writable_again(scene: Scene) -> None:
    """chmod a-w: no link, one line; chmod back: the link is written on the next pass."""
    path = scene.calendar / "canary.ics"
    before = path.read_bytes()
    path.chmod(0o444)
    first = scene.ws.run("once", check=False)
    assert path.read_bytes() == before
    assert len([line for line in first.stderr.splitlines() if "read-only" in line]) == 1, first.stderr
    path.chmod(0o644)
    scene.ws.run("once", check=False)
    assert "--- syncd: session note" in path.read_text()


def test_a_read_only_mount_writes_nothing_and_a_later_pass_writes_the_link(scene: Scene) -> None:
    """The calendar folder bind-mounted read-only (in a private mount namespace): nothing is
    written, the pass says why in one line (not one per booking); once mounted read-write
    again, the links go in."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs unshare and root for a read-only bind mount")
    scene.write("second.ics", scene.event("second"))
    before = tree_digest(scene.calendar)
    command = scene.ws.command("once")
    script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
    result = subprocess.run(
        [unshare, "--mount", "sh", "-c", script, "sh", str(scene.calendar), *command],
        capture_output=True,
        text=True,
        timeout=60,
        env=scene.ws.full_env(),
    )
    if result.returncode not in (0, 1) and "mount" in result.stderr:
        pytest.skip(f"no read-only bind mount here: {result.stderr.strip()}")
    assert tree_digest(scene.calendar) == before
    told = [line for line in result.stderr.splitlines() if "read-only file system" in line]
    assert len(told) == 1 and "Traceback" not in result.stderr, result.stderr
    assert len(scene.ws.notes()) == 2 and len(scene.ws.drafts_parsed()) == 2
    scene.ws.run("once", check=False)
    for name in ("canary.ics", "second.ics"):
        assert "--- syncd: session note" in (scene.calendar / name).read_text()
