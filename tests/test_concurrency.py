"""Coaches polled side by side (issue 13): the pool of `concurrency:` threads, on the real
client library against the fake Google server with injected latency, and the real daemon
stopped or killed in the middle of many coaches' passes.

Overlap is read from the server's side (how many requests it was serving at once, and in what
order they ended), never from wall time: the machine is shared and slow.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest

from syncd import registry
from syncd.calendars.google import GoogleCalendar
from syncd.coach_pass import CoachParts
from syncd.config import CoachConfig, Settings, load_settings
from syncd.engine import Engine, coach_parts
from syncd.google.auth import SCOPE_CALENDAR_EVENTS
from syncd.google.transport import lazy_factory
from syncd.lifecycle import Booking, booking_id
from syncd.model import Client, Followup, Phase
from syncd.state import StateStore
from tests.fakegoogle import FakeGoogle, FakeRequest, FakeResponse
from tests.fakegoogle.helpers import CLIENT, COACH, booking
from tests.support import NotifySocket, event_ics, kill, run_in_process, wait_for

LIST = r"/events$"


class CountingGoogle(FakeGoogle):
    """The fake, also noting how many requests it serves at once and when each one ended.

    Latency comes from the fake's own slow faults (`fake.slow`), which delay a request before
    it is handled; the count spans the delay too, as the request is open on the client's side.
    """

    def __init__(self) -> None:
        super().__init__()
        self._count_lock = threading.Lock()
        self.open = 0
        self.peak = 0
        self.ended: list[str] = []  # calendar ids, in the order their list requests ended
        self._arrived = threading.local()

    def _take_fault(self, method: str, path: str) -> Any:
        # Called by the fake on arrival, before the delay: the request is open from here.
        with self._count_lock:
            self.open += 1
            self.peak = max(self.peak, self.open)
        return super()._take_fault(method, path)

    def handle(self, request: FakeRequest) -> FakeResponse:
        try:
            return super().handle(request)
        finally:
            with self._count_lock:
                self.open -= 1
                if request.method == "GET" and request.path.endswith("/events"):
                    self.ended.append(unquote(request.path.split("/")[2]))


def coach_email(i: int) -> str:
    return f"coach{i}@example.com"


def google_config(root: Path, fake: FakeGoogle, coaches: int, concurrency: int) -> Path:
    """A config with `coaches` coaches, each on a calendar of their own on the fake."""
    entries = []
    for i in range(coaches):
        fake.calendar.add_calendar(coach_email(i))
        entries.append(
            f"""\
  - name: Coach {i}
    email: {coach_email(i)}
    timezone: Europe/Berlin
    pricing_url: https://coach.example.com/pricing
    calendar: {{type: google, calendar_id: "{coach_email(i)}"}}
    notes: {{type: markdown, path: notes{i}}}
    drafts: {{type: maildir, path: Mail{i}}}
"""
        )
        (root / f"notes{i}").mkdir(parents=True, exist_ok=True)
    token = root / "google-token.json"
    token.write_text(json.dumps(fake.oauth.token_info([SCOPE_CALENDAR_EVENTS])), encoding="utf-8")
    token.chmod(0o600)
    config = root / "syncd.yaml"
    config.write_text(
        f"""\
state_dir: state
poll_interval: 1s
concurrency: {concurrency}
google:
  client_secrets: client.json
  token: google-token.json
  token_uri: {fake.token_uri}
  api_endpoint: {fake.api_endpoint}
coaches:
{"".join(entries)}""",
        encoding="utf-8",
    )
    return config


def book_each(fake: FakeGoogle, coaches: int) -> None:
    """One upcoming intro booking in every coach's calendar."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=1)
    for i in range(coaches):
        event = booking(f"intro{i:05d}", start)
        event["organizer"] = {"email": coach_email(i)}
        event["attendees"] = [
            {"email": coach_email(i), "organizer": True, "responseStatus": "accepted"},
            {"email": CLIENT, "displayName": "Ada Lovelace", "responseStatus": "needsAction"},
        ]
        fake.calendar.put_event(event, coach_email(i))
    assert COACH not in {coach_email(i) for i in range(coaches)}


@pytest.fixture(scope="module")
def fake() -> Iterator[CountingGoogle]:
    with CountingGoogle() as started:
        yield started


def run_once(config: Path) -> subprocess.CompletedProcess[str]:
    result = run_in_process(["--config", str(config), "once"], {})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result


@contextlib.contextmanager
def capture_logs() -> Iterator[list[str]]:
    """The messages logged meanwhile by syncd (a handler of our own on its logger)."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Collect(logging.WARNING)
    logger = logging.getLogger("syncd")
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


def fresh(fake: CountingGoogle) -> None:
    with fake.lock:
        fake.clear_faults()
        fake.requests.clear()
        fake.peak = 0
        fake.ended.clear()


@pytest.mark.parametrize(("concurrency", "peak"), [(4, 4), (1, 1)])
def test_coaches_requests_overlap_up_to_the_concurrency(
    fake: CountingGoogle, tmp_path: Path, concurrency: int, peak: int
) -> None:
    """With 4 coaches and `concurrency: 4`, all four coaches' calendar reads are at the server
    at once (the pass takes about one request's latency, not four); with `concurrency: 1` they
    come one after another, as before the pool."""
    fresh(fake)
    config = google_config(tmp_path, fake, coaches=4, concurrency=concurrency)
    fake.slow(LIST, 0.15, times=4, method="GET")
    result = run_once(config)
    assert "0 errors" in result.stderr
    assert fake.peak == peak
    assert len(fake.requests_to(LIST, "GET")) == 4


def test_a_slow_account_does_not_hold_up_the_others(fake: CountingGoogle, tmp_path: Path) -> None:
    """The first coach's calendar answers after 0.6 s: the other coaches' bookings get their
    notes and links meanwhile (their reads end before the slow one), and the slow coach's
    booking is done too once its answer comes."""
    fresh(fake)
    config = google_config(tmp_path, fake, coaches=3, concurrency=3)
    book_each(fake, 3)
    fake.slow(rf"/calendars/{quote(coach_email(0))}/events$", 0.6, times=1, method="GET")
    result = run_once(config)
    assert "3 notes created, 3 links written" in result.stderr, result.stderr
    first_read_ended = list(dict.fromkeys(fake.ended))  # each calendar's first read, in end order
    assert first_read_ended == [coach_email(1), coach_email(2), coach_email(0)] or first_read_ended == [
        coach_email(2),
        coach_email(1),
        coach_email(0),
    ], fake.ended


def test_the_state_store_takes_writes_from_many_threads(tmp_path: Path) -> None:
    """Threads saving bookings into one StateStore at once: every record is there afterwards
    and no thread failed (one connection, one lock: no 'cannot start a transaction within a
    transaction', no 'recursive use of cursors')."""
    state = StateStore.in_dir(tmp_path / "state")
    now = datetime.now(UTC)
    failures: list[BaseException] = []

    def save_many(coach: int) -> None:
        try:
            for n in range(40):
                state.save(_booking(f"c{coach}@x.example", f"e{n}", now), now)
                state.by_event(f"c{coach}@x.example", f"e{n}")
        except BaseException as exc:  # reported below, with the thread's own error
            failures.append(exc)

    threads = [threading.Thread(target=save_many, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert failures == []
        assert state.count() == 6 * 40
    finally:
        state.close()


def _booking(coach: str, event_id: str, now: datetime) -> Booking:
    return Booking(
        id=booking_id(coach, event_id),
        coach=coach,
        event_id=event_id,
        phase=Phase.DETECTED,
        client=Client(name="C", email="c@client.example"),
        start=now,
        end=now + timedelta(minutes=30),
        fingerprint="",
        followup=Followup.PENDING,
        followup_due=now,
    )


# --- the real daemon ---------------------------------------------------------------------------


def _daemon(config: Path, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    with log.open("w", encoding="utf-8") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "syncd", "--config", str(config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            text=True,
            env={**os.environ, **(env or {})},
        )


@pytest.mark.slow
def test_sigterm_while_the_pool_runs_coaches_stops_within_seconds(
    fake: CountingGoogle, tmp_path: Path
) -> None:
    """8 coaches, 4 at a time, each calendar read taking 2 s: while the first four wait, the
    main thread keeps systemd's watchdog fed (WATCHDOG_USEC=1 s: a ping every 0.5 s); SIGTERM
    then ends the daemon within 5 s with exit 0; the running coaches stop after their
    request, and the four waiting for a thread never start."""
    fresh(fake)
    config = google_config(tmp_path, fake, coaches=8, concurrency=4)
    fake.slow(LIST, 2.0, times=8, method="GET")
    log = tmp_path / "syncd.log"
    notify = NotifySocket()
    process = _daemon(config, log, {"NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "1000000"})
    try:
        assert wait_for(lambda: fake.open >= 4, timeout=30), log.read_text()
        mark = len(notify.drain())
        time.sleep(1.2)
        pings = [m for m in notify.drain()[mark:] if m == "WATCHDOG=1"]
        assert len(pings) >= 2, notify.messages
        assert fake.open >= 4, "the pings came while the coaches' requests were open"
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        seconds = time.monotonic() - started
    finally:
        if process.poll() is None:
            kill(process)
    text = log.read_text()
    assert code == 0, text
    assert seconds < 5, text
    assert "Traceback" not in text
    assert len(fake.requests_to(LIST, "GET")) == 4, "only the running coaches read their calendar"


# --- SIGKILL in the middle of many coaches' passes -----------------------------------------------

COACHES = 4
PER_COACH = 16


def _vdir_coaches(root: Path, per_coach: int = PER_COACH) -> Path:
    """COACHES coaches on folders, from a coaches_dir, each with PER_COACH bookings (half of
    them over, so they get a draft too)."""
    (root / "coaches.d").mkdir(parents=True)
    now = datetime.now(UTC)
    for c in range(COACHES):
        for sub in (f"cal{c}", f"notes{c}", f"Mail{c}"):
            (root / sub).mkdir()
        email = f"coach{c}@coach.example"
        (root / "coaches.d" / f"coach{c}.yaml").write_text(
            f"""\
name: Coach {c}
email: {email}
timezone: Europe/Berlin
pricing_url: https://coach.example/pricing
calendar: {{type: vdir, path: ../cal{c}}}
notes: {{type: markdown, path: ../notes{c}}}
drafts: {{type: maildir, path: ../Mail{c}/Drafts}}
""",
            encoding="utf-8",
        )
        for i in range(per_coach):
            start = now - timedelta(hours=1, minutes=i) if i % 2 == 0 else now + timedelta(hours=2, minutes=i)
            text = event_ics(
                f"b{i:02d}", "Intro session", start, client=(f"Client {i}", f"client{i}@x.example")
            )
            (root / f"cal{c}" / f"b{i:02d}.ics").write_text(text.replace("ada@coach.example", email))
    config = root / "syncd.yaml"
    config.write_text("state_dir: state\npoll_interval: 1s\nconcurrency: 4\ncoaches_dir: coaches.d\n")
    return config


def _notes(root: Path, c: int) -> list[Path]:
    return sorted((root / f"notes{c}" / "Intro Sessions").glob("*.md"))


def _drafts(root: Path, c: int) -> list[Path]:
    drafts = root / f"Mail{c}" / "Drafts"
    return [p for sub in ("cur", "new") for p in (drafts / sub).glob("*") if p.is_file()]


def _progress(root: Path) -> int:
    return sum(len(_notes(root, c)) + len(_drafts(root, c)) for c in range(COACHES))


@pytest.mark.slow
def test_sigkill_during_many_coaches_passes_leaves_exactly_one_of_everything(tmp_path: Path) -> None:
    """The daemon runs 4 coaches at once and is SIGKILLed at random moments, restarted each
    time: in the end every booking of every coach has one note, one link in its event, and
    every ended one one draft."""
    config = _vdir_coaches(tmp_path)
    done = COACHES * (PER_COACH + PER_COACH // 2)
    rng = random.Random(20261201)
    partial_seen = False
    for round_ in range(10):
        before = _progress(tmp_path)
        if before == done:
            break
        process = _daemon(config, tmp_path / f"run{round_}.log")
        try:
            assert wait_for(lambda: _progress(tmp_path) > before, timeout=30)  # noqa: B023
            time.sleep(rng.uniform(0.0, 0.2))
        finally:
            kill(process)
        partial_seen = partial_seen or 0 < _progress(tmp_path) < done
    result = run_in_process(["--config", str(config), "once"], {})
    assert result.returncode == 0, result.stderr

    assert partial_seen, "no kill landed mid-pass; the test proved nothing"
    for c in range(COACHES):
        assert len(_notes(tmp_path, c)) == PER_COACH, c
        drafts = _drafts(tmp_path, c)
        assert len(drafts) == PER_COACH // 2, c
        for event in sorted((tmp_path / f"cal{c}").glob("b*.ics")):
            text = event.read_text().replace("\r\n ", "")
            assert text.count("--- syncd: session note") == 1, (c, event.name)


def test_a_coach_keeps_one_google_service_whichever_pool_thread_runs_it(
    fake: CountingGoogle, tmp_path: Path
) -> None:
    """8 coaches on 4 threads for 3 passes: each coach's calendar builds its service once (a
    service per coach and pool thread cost about 1 MB each: 4 GB for 500 coaches on 8 threads)."""
    fresh(fake)
    settings = load_settings(google_config(tmp_path, fake, coaches=8, concurrency=4))
    built: list[str] = []

    def opener(coach: CoachConfig, settings: Settings) -> CoachParts:
        make = lazy_factory("calendar", "v3", settings)

        def factory() -> Any:
            built.append(coach.email)
            return make()

        source = GoogleCalendar(factory, coach.calendar.calendar_id, owner=coach.addresses)  # type: ignore[union-attr]
        notes, drafts = registry.open_notes(coach, settings), registry.open_drafts(coach, settings)
        return coach_parts(coach, settings, source=source, notes=notes, drafts=drafts)

    engine = Engine(settings, StateStore.in_dir(settings.state_dir), opener)
    try:
        for _ in range(3):
            fake.slow(LIST, 0.05, times=8, method="GET")  # so the coaches spread over the threads
            report = engine.run_pass(datetime.now(UTC))
            assert sum(report.errors.values()) == 0
    finally:
        engine.close()
    assert sorted(built) == sorted(coach_email(i) for i in range(8))


def test_a_backends_log_line_names_the_coach_whose_pass_it_belongs_to(tmp_path: Path) -> None:
    """Coaches run side by side, so a backend's line (a calendar file that cannot be read)
    starts with the coach it belongs to, and each message stays one line."""
    config = _vdir_coaches(tmp_path, per_coach=1)
    for c in range(COACHES):
        (tmp_path / f"cal{c}" / "broken.ics").write_text("BEGIN:VCALENDAR\nnot ics\n")
    result = run_in_process(["--config", str(config), "once"], {})
    assert result.returncode == 0, result.stderr
    skipped = [line for line in result.stderr.splitlines() if "skipping calendar" in line]
    assert len(skipped) == COACHES, result.stderr
    for c in range(COACHES):
        [line] = [line for line in skipped if f"/cal{c}/broken.ics" in line]
        assert f" WARNING coach coach{c}@coach.example: skipping calendar" in line, line
    assert all(
        re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z]+ ", line) for line in result.stderr.splitlines()
    )


class TakenOver(StateStore):
    """The SQLite state with leases as a replica sees them on a shared database when another
    replica takes coach1 over after this one's first claim (its lease ran out meanwhile)."""

    claims = 0

    def claim(self, coaches: Sequence[str], replica: str, ttl: timedelta, now: datetime) -> frozenset[str]:
        self.claims += 1
        return frozenset(c for c in coaches if self.claims == 1 or c != coach_email(1))


def test_leases_are_renewed_during_a_pass_and_a_lost_one_stops_its_coach(
    fake: CountingGoogle, tmp_path: Path
) -> None:
    """While the coaches' reads take 0.6 s, the main thread claims the leases again (a third of
    a lease after the first claim); coach1's lease is gone by then, so its pass stops after
    the read (no note, no link) with a line saying why, while coach0's goes on to its note."""
    fresh(fake)
    settings = load_settings(google_config(tmp_path, fake, coaches=2, concurrency=2))
    book_each(fake, 2)
    fake.slow(LIST, 0.6, times=2, method="GET")
    state = TakenOver(settings.state_dir / "syncd.sqlite3")
    engine = Engine(settings, state)
    engine.lease_ttl = timedelta(seconds=0.3)
    with capture_logs() as lines:
        try:
            report = engine.run_pass(datetime.now(UTC))
        finally:
            engine.close()
    assert state.claims >= 2
    assert report.tally.notes == 1
    assert [p.name for p in (tmp_path / "notes1").rglob("*.md")] == []
    assert len(list((tmp_path / "notes0").rglob("*.md"))) == 1
    assert f"coach {coach_email(1)}: lease lost to another replica" in "\n".join(lines)
