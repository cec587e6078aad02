"""SIGKILL the real daemon at random moments on Google's APIs, restart it: nothing lost, nothing doubled.

The Google version of tests/test_crash.py. The fake Google APIs (tests.fakegoogle) run in this
process; `syncd run` runs in a subprocess against them, is killed with SIGKILL while a pass is
visibly at work (Docs or drafts appearing in the fake), and started again. A last `syncd once`
finishes the work. Afterwards every booking has exactly one note, one link block, one set of
private properties, one popup reminder, at most one attachment, and every ended booking
exactly one draft; `syncd status` knows every booking.

Two mixes: all Google (Calendar, Docs notes, Gmail drafts), and Google Calendar with local
Markdown notes and a Maildir. Then a deterministic walk through every write request of a pass,
syncd killed while the fake holds each one; and two updates that are recorded before they are
written (the event's status line after a draft, the note's cancelled mark), lost to a kill or
a failure at that line and redone on a later pass.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd.calendars.google_items import PROP_BOOKING, PROP_NOTE, PROP_REMINDER
from syncd.linkblock import BEGIN, find_note_url
from syncd.notes import google_docs
from syncd.state import StateStore
from tests.draft_contract import parse
from tests.fakegoogle import FakeGoogle, LoggedRequest
from tests.fakegoogle.drive_v3 import FOLDER_MIME
from tests.fakegoogle.helpers import COACH, booking
from tests.fakegoogle.workspace import GoogleWorkspace, note_docs
from tests.support import kill, wait_for

pytestmark = pytest.mark.slow

BOOKINGS = 40
ENDED = BOOKINGS // 2  # the even ones: their follow-up is due
# Enough rounds that kills land in the draft stage too (a Doc costs ~4 requests, ~3 a round).
ROUNDS = 30
POPUP = {"method": "popup", "minutes": 5}  # the config's default `reminder: 5m`
WAITING = "Follow-up: draft waiting"
STALE_LINE = "Follow-up: draft will be prepared"
EVENT = r"^/calendars/primary/events/[^/]+$"
DOC = r"^/v1/documents/[^/:]+$"


def event_id(i: int) -> str:
    return f"intro{i:04d}"  # Google's event ids: [a-v0-9]{5,1024}


def client(i: int) -> tuple[str, str]:
    return f"Client {i:02d}", f"client{i:02d}@client.test"


def seed(fake: FakeGoogle) -> None:
    """Half the bookings ended an hour ago (follow-up due), half are tomorrow."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for i in range(BOOKINGS):
        start = now - timedelta(hours=1, minutes=45 + i) if i % 2 == 0 else now + timedelta(days=1, minutes=i)
        name, address = client(i)
        fake.calendar.put_event(
            booking(
                event_id(i),
                start,
                summary=f"Intro session: {name}",
                attendees=[
                    {"email": COACH, "organizer": True, "responseStatus": "accepted"},
                    {"email": address, "displayName": name, "responseStatus": "accepted"},
                ],
            )
        )


@dataclass
class CrashWorkspace(GoogleWorkspace):
    """tests.fakegoogle.workspace's set-up, with a pass every second for `syncd run`."""

    daemons: list[subprocess.Popen[str]] = field(default_factory=list)

    def write_config(self) -> None:
        super().write_config()
        text = self.config.read_text(encoding="utf-8")
        assert text.startswith("state_dir: state\n")
        self.config.write_text(
            text.replace("state_dir: state\n", f"state_dir: state\npoll_interval: {self.poll_interval}\n", 1),
            encoding="utf-8",
        )

    def start_daemon(self, log: Path, command: str = "run") -> subprocess.Popen[str]:
        """`syncd run`, its log going to a file: a pipe nobody reads would fill and block it."""
        with log.open("w", encoding="utf-8") as sink:
            process = subprocess.Popen(
                self.command(command), stdout=subprocess.DEVNULL, stderr=sink, text=True, env=self.full_env()
            )
        self.daemons.append(process)
        return process

    @property
    def google_docs(self) -> bool:
        return self.notes_type == "google_docs"

    @property
    def gmail(self) -> bool:
        return self.drafts_type == "gmail"

    def made_notes(self) -> int:
        assert self.fake is not None
        return len(note_docs(self.fake)) if self.google_docs else len(self.notes())

    def made_drafts(self) -> int:
        assert self.fake is not None
        return len(self.fake.gmail.drafts) if self.gmail else len(self.draft_files())

    def progress(self) -> int:
        """Notes plus drafts made: grows through a pass, up to BOOKINGS + ENDED."""
        return self.made_notes() + self.made_drafts()

    def recorded(self) -> tuple[int, int, int]:
        """(notes recorded, drafts recorded, intents without a result) in syncd's state."""
        state = StateStore.in_dir(self.root / "state")
        try:
            bookings = state.bookings()
        finally:
            state.close()
        return (
            sum(b.note is not None for b in bookings),
            sum(bool(b.draft_id) for b in bookings),
            sum(bool(b.effect) for b in bookings),
        )

    def stop_daemons(self) -> None:
        for process in self.daemons:
            if process.poll() is None:
                kill(process)


@dataclass(frozen=True)
class Kill:
    """What one SIGKILL interrupted: made in the fake vs recorded in syncd's state."""

    notes: int
    drafts: int
    notes_recorded: int
    drafts_recorded: int
    open_intents: int

    @property
    def mid_pass(self) -> bool:
        return 0 < self.notes + self.drafts < BOOKINGS + ENDED

    @property
    def between_effect_and_record(self) -> bool:
        return self.notes > self.notes_recorded or self.drafts > self.drafts_recorded


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle() as server:
        yield server


def crash_repeatedly(ws: CrashWorkspace, rng: random.Random) -> list[Kill]:
    """Start `syncd run`, wait for visible progress, SIGKILL it a random moment later; again."""
    kills: list[Kill] = []
    total = BOOKINGS + ENDED
    for round_number in range(ROUNDS):
        before = ws.progress()
        if before == total:
            break
        log = ws.root / f"run{round_number:02d}.log"
        process = ws.start_daemon(log)

        def grew() -> bool:
            return ws.progress() > before  # noqa: B023 (before is fixed per round)

        # Checked often: a pass makes a Doc in a few milliseconds, and the kill should land
        # near where it started, not a poll interval later.
        assert wait_for(grew, timeout=20, interval=0.002), (
            f"no progress in round {round_number}:\n{log.read_text()}"
        )
        time.sleep(rng.uniform(0.0, 0.02))
        kill(process)
        kills.append(Kill(ws.made_notes(), ws.made_drafts(), *ws.recorded()))
        assert "Traceback" not in log.read_text(), log.read_text()
    return kills


# --- what the coach finds afterwards ------------------------------------------------------------


def check_calendar(ws: CrashWorkspace, note_urls: dict[str, str]) -> None:
    """Each event: one syncd block naming its note, syncd's private properties, one syncd popup,
    the note attached at most once (exactly once when it is a Doc)."""
    assert ws.fake is not None
    for i in range(BOOKINGS):
        event = ws.fake.calendar.event(event_id(i))
        description = event.get("description", "")
        assert description.count(BEGIN) == 1, (event_id(i), description)
        assert description.startswith("Company/Team: Analytical Engines"), description  # theirs kept
        url = note_urls[event_id(i)]
        assert find_note_url(description) == url
        if i % 2:
            assert "Follow-up: draft will be prepared" in description, (event_id(i), description)
        else:
            assert WAITING in description, (event_id(i), description)
        private = event["extendedProperties"]["private"]
        assert private[PROP_BOOKING] == f"{COACH}/{event_id(i)}"
        assert private[PROP_NOTE] == url
        assert private[PROP_REMINDER] == "5"
        overrides = event["reminders"]["overrides"]
        assert overrides.count(POPUP) == 1, overrides
        assert {"method": "popup", "minutes": 10} in overrides  # the calendar's default kept
        attached = [a for a in event.get("attachments") or [] if a.get("fileUrl") == url]
        assert len(attached) == (1 if ws.google_docs else 0), event.get("attachments")


def check_docs(ws: CrashWorkspace) -> dict[str, str]:
    """One filled Doc per booking in one folder; returns the note URL by event id."""
    assert ws.fake is not None
    docs = note_docs(ws.fake)
    keys = Counter(d["appProperties"][google_docs.PROP_BOOKING] for d in docs)
    assert len(docs) == BOOKINGS, f"{len(docs)} Docs for {BOOKINGS} bookings: {keys.most_common(3)}"
    assert all(count == 1 for count in keys.values()), keys.most_common(3)
    folders = [f for f in ws.fake.drive.of_type(FOLDER_MIME) if google_docs.PROP_FOLDER in f["appProperties"]]
    assert len(folders) == 1, folders
    by_key = {d["appProperties"][google_docs.PROP_BOOKING]: d for d in docs}
    urls: dict[str, str] = {}
    for i in range(BOOKINGS):
        doc = by_key.pop(google_docs._key(f"{COACH}/{event_id(i)}"))
        assert doc["parents"] == [folders[0]["id"]]
        text = ws.fake.docs.text(doc["id"])
        # Filled exactly once: one session line, one client name heading the note.
        assert text.count("Session: ") == 1 and "status: scheduled" in text, text
        assert doc["name"].startswith(client(i)[0]), doc["name"]
        urls[event_id(i)] = str(doc["webViewLink"])
    return urls


def check_markdown(ws: CrashWorkspace) -> dict[str, str]:
    """One note file per booking; returns the note URL by event id."""
    notes = ws.notes()
    assert len(notes) == BOOKINGS, [p.name for p in notes]
    urls: dict[str, str] = {}
    for i in range(BOOKINGS):
        [note] = [p for p in notes if p.stem.endswith(f" {client(i)[0]}")]
        urls[event_id(i)] = note.as_uri()
    return urls


def check_drafts(ws: CrashWorkspace) -> None:
    """Exactly one draft per ended booking, to its client."""
    assert ws.fake is not None
    raws = ws.fake.gmail.raw_messages() if ws.gmail else [p.read_bytes() for p in ws.draft_files()]
    messages = [parse(raw) for raw in raws]
    bookings = Counter(str(m["X-Syncd-Booking"]) for m in messages)
    assert all(count == 1 for count in bookings.values()), bookings.most_common(3)
    assert sorted(bookings) == sorted(f"{COACH}/{event_id(i)}" for i in range(0, BOOKINGS, 2))
    assert len({str(m["Message-ID"]) for m in messages}) == ENDED
    for message in messages:
        i = int(str(message["X-Syncd-Booking"])[-4:])
        assert message["To"].addresses[0].addr_spec == client(i)[1]


def check_status(ws: CrashWorkspace, note_urls: dict[str, str]) -> None:
    """`syncd status`: every booking once, the follow-up queued or pending as it should be."""
    stdout = ws.run("status").stdout
    for i in range(BOOKINGS):
        [row] = [line for line in stdout.splitlines() if line.startswith(client(i)[0] + " ")]
        if i % 2 == 0:
            assert " followup_queued " in row and " queued " in row, row
        else:
            assert " linked " in row and " pending (due " in row, row
        assert row.endswith(note_urls[event_id(i)]), row


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("notes", "drafts", "rng_seed"),
    [("google_docs", "gmail", 20261126), ("markdown", "maildir", 20261127)],
    ids=["docs-gmail", "markdown-maildir"],
)
def test_sigkill_during_google_passes_then_restart_gives_exactly_one_of_everything(
    tmp_path: Path, fake: FakeGoogle, notes: str, drafts: str, rng_seed: int
) -> None:
    ws = CrashWorkspace(tmp_path, fake=fake, calendar_type="google", notes_type=notes, drafts_type=drafts)
    seed(fake)
    try:
        kills = crash_repeatedly(ws, random.Random(rng_seed))
    finally:
        ws.stop_daemons()
    final = ws.run("once")
    assert "Traceback" not in final.stderr and "ERROR" not in final.stderr, final.stderr

    # Reported with -rP / on failure: where each kill landed.
    for number, landed in enumerate(kills):
        print(f"kill {number}: {landed}")
    between = sum(k.between_effect_and_record for k in kills)
    print(
        f"{len(kills)} kills, {sum(k.mid_pass for k in kills)} mid-pass, {between} between an effect and its record"
    )
    assert any(k.mid_pass for k in kills), f"no kill landed mid-pass; the test proved nothing: {kills}"

    note_urls = check_docs(ws) if ws.google_docs else check_markdown(ws)
    check_drafts(ws)
    check_calendar(ws, note_urls)
    check_status(ws, note_urls)
    assert ws.recorded() == (BOOKINGS, ENDED, 0)

    fake.clear_log()
    ws.run("once")  # and it stays so: nothing left to write
    assert [r for r in fake.requests if r.method != "GET" and r.path != "/token"] == []


def test_a_kill_while_google_carries_out_each_request_leaves_exactly_one_of_everything(
    tmp_path: Path, fake: FakeGoogle
) -> None:
    """Each write request of a pass held up at the fake, syncd killed while it waits, the
    request then carried out (as Google does for a client that went away), syncd restarted: the
    restart finds every effect. Gmail neither finds drafts by Message-ID nor keeps it here, so
    the draft is found by its X-Syncd-Booking header only."""
    ws = CrashWorkspace(
        tmp_path, fake=fake, calendar_type="google", notes_type="google_docs", drafts_type="gmail"
    )
    fake.gmail.msgid_search = False
    fake.gmail.rewrite_message_ids = True
    fake.calendar.put_event(booking("past00001", datetime.now(UTC) - timedelta(hours=2)))
    folder_made = lambda: bool(fake.drive.of_type(FOLDER_MIME))  # noqa: E731
    doc_made = lambda: bool(note_docs(fake))  # noqa: E731
    doc_filled = lambda: "Session: " in fake.docs.text(note_docs(fake)[0]["id"])  # noqa: E731
    linked = lambda: BEGIN in fake.calendar.event("past00001").get("description", "")  # noqa: E731
    drafted = lambda: bool(fake.gmail.drafts)  # noqa: E731
    waiting = lambda: WAITING in fake.calendar.event("past00001")["description"]  # noqa: E731
    stages: list[tuple[str, str, Callable[[], bool]]] = [
        ("POST", r"^/files$", folder_made),
        ("POST", r"^/files$", doc_made),
        ("POST", r":batchUpdate$", doc_filled),
        ("PATCH", EVENT, linked),
        ("POST", r"^/gmail/v1/users/me/drafts$", drafted),
        ("PATCH", EVENT, waiting),
    ]
    logged: list[list[LoggedRequest]] = []  # the requests of each stage's run
    for number, (method, path, done) in enumerate(stages):
        fake.clear_log()
        fake.slow(path, 0.5, method=method)
        log = ws.root / f"stage{number}.log"
        process = ws.start_daemon(log, "once")
        try:
            held = wait_for(lambda: fake.requests_to(path, method), timeout=20)  # noqa: B023
            assert held, f"stage {number}: no {method} {path}:\n{log.read_text()}"
        finally:
            kill(process)
        assert not done(), f"stage {number}: done before the request was answered"
        assert wait_for(done, timeout=5), f"stage {number}: the held request was not carried out"
        logged.append(list(fake.requests))
    ws.run("once")
    # The run after the kill during drafts.create looked for the draft, found it, made none.
    after_draft_kill = [f"{r.method} {r.path}" for r in logged[5] if "/drafts" in r.path]
    assert after_draft_kill[0] == "GET /gmail/v1/users/me/drafts", after_draft_kill
    assert "POST /gmail/v1/users/me/drafts" not in after_draft_kill

    [folder] = fake.drive.of_type(FOLDER_MIME)
    [doc] = note_docs(fake)
    assert doc["parents"] == [folder["id"]]
    assert fake.docs.text(doc["id"]).count("Session: ") == 1
    [raw] = fake.gmail.raw_messages()
    assert str(parse(raw)["X-Syncd-Booking"]) == f"{COACH}/past00001"
    event = fake.calendar.event("past00001")
    assert event["description"].count(BEGIN) == 1 and WAITING in event["description"]
    assert event["reminders"]["overrides"].count(POPUP) == 1
    assert [a["fileUrl"] for a in event["attachments"]] == [doc["webViewLink"]]
    assert ws.recorded() == (1, 1, 0)


# --- updates recorded before they are written, then lost: redone on a later pass ------------


def test_the_event_says_draft_waiting_even_when_the_patch_after_the_draft_was_lost(
    tmp_path: Path, fake: FakeGoogle
) -> None:
    ws = CrashWorkspace(
        tmp_path, fake=fake, calendar_type="google", notes_type="markdown", drafts_type="maildir", delay="1s"
    )
    # Ends 2 seconds from now; the follow-up is due a second later.
    due = time.monotonic() + 3.2
    fake.calendar.put_event(booking("late00001", datetime.now(UTC) - timedelta(minutes=45, seconds=-2)))
    ws.run("once")  # the note, and the link with "draft will be prepared"
    assert STALE_LINE in fake.calendar.event("late00001")["description"]
    time.sleep(max(0.0, due - time.monotonic()))
    fake.fail(EVENT, 412, method="PATCH", times=2)  # the patch after the draft is lost (or: SIGKILL)
    assert "ERROR" in ws.run("once").stderr
    assert len(ws.draft_files()) == 1
    ws.run("once")
    ws.run("once")
    assert WAITING in fake.calendar.event("late00001")["description"]


def test_a_kill_between_recording_a_cancellation_and_marking_the_note_still_marks_it(
    tmp_path: Path, fake: FakeGoogle
) -> None:
    ws = CrashWorkspace(
        tmp_path, fake=fake, calendar_type="google", notes_type="google_docs", drafts_type="maildir"
    )
    fake.calendar.put_event(booking("gone00001", datetime.now(UTC) + timedelta(days=1)))
    ws.run("once")
    [doc] = note_docs(fake)
    fake.calendar.delete_event("gone00001")
    fake.clear_log()
    fake.slow(DOC, 5, method="GET")  # reading the Doc to mark it: syncd is killed meanwhile
    process = ws.start_daemon(ws.root / "killed.log")
    try:
        assert wait_for(lambda: fake.requests_to(DOC, "GET"), timeout=20), (
            ws.root / "killed.log"
        ).read_text()
    finally:
        kill(process)
    ws.run("once")
    assert "withdrawn" in ws.run("status").stdout  # syncd's state knows it is cancelled...
    assert "status: cancelled" in fake.docs.text(doc["id"])  # ...the note should say so too
