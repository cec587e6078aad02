"""Two `syncd run` replicas on one PostgreSQL state, killed and restarted at random: the
coaches are shared through leases, a killed replica's work is finished by the other (or by
itself, restarted) from the intent records, and nothing is done twice."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.postgres_server import PostgresServer
from tests.support import COACH, Workspace, event_ics, wait_for

COACHES = [COACH, *(f"coach{n}@coach.example" for n in range(1, 4))]
BOOKINGS = 10  # per coach
LINK = "--- syncd: session note"


def coach_yaml(n: int, email: str) -> str:
    return f"""\
  - name: Coach {n}
    email: {email}
    timezone: Europe/Berlin
    pricing_url: https://coach{n}.example/pricing
    calendar: {{type: vdir, path: cal{n}}}
    notes: {{type: markdown, path: notes{n}}}
    drafts: {{type: maildir, path: Mail{n}/Drafts, delay: 15m}}
"""


def folders(ws: Workspace, n: int) -> tuple[Path, Path, Path]:
    """Coach n's calendar, note collection and drafts folders (coach 0 is the Workspace's)."""
    if n == 0:
        return ws.calendar, ws.collection, ws.drafts
    return ws.root / f"cal{n}", ws.root / f"notes{n}" / "Intro Sessions", ws.root / f"Mail{n}" / "Drafts"


def put_sessions_just_over(ws: Workspace) -> None:
    """Each coach's intro sessions that ended an hour ago: each is owed a note, a link and,
    its follow-up being due, a draft."""
    ended = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=90)
    for n, email in enumerate(COACHES):
        calendar = folders(ws, n)[0]
        calendar.mkdir(parents=True, exist_ok=True)
        (ws.root / f"notes{n}").mkdir(exist_ok=True)
        (ws.root / f"Mail{n}").mkdir(exist_ok=True)
        for b in range(BOOKINGS):
            client = (f"Client {n}-{b}", f"client{n}{b}@client.example")
            text = event_ics(f"s{n}-{b}", "Intro session", ended - timedelta(hours=b), client=client)
            (calendar / f"s{n}-{b}.ics").write_text(text.replace(f"mailto:{COACH}", f"mailto:{email}"))


def drafts(folder: Path) -> list[Path]:
    return [p for sub in ("cur", "new") for p in (folder / sub).glob("*") if p.is_file()]


def progress(ws: Workspace) -> int:
    """Notes plus drafts on disk, all coaches: grows through a pass."""
    total = 0
    for n in range(len(COACHES)):
        _, notes, draft_folder = folders(ws, n)
        total += len(list(notes.glob("*.md"))) + len(drafts(draft_folder))
    return total


DONE = 2 * BOOKINGS * len(COACHES)


def lease_holders(url: str) -> set[int]:
    """The process ids of the replicas holding a lease now (read from the database)."""
    with psycopg.connect(url) as raw:
        rows = raw.execute("SELECT replica FROM leases WHERE expires > now()").fetchall()
    return {int(replica.rsplit(":", 1)[1]) for (replica,) in rows}


def holders(ws: Workspace) -> set[str]:
    """The replicas `syncd status` says run the coaches (one line per coach held, under
    "Coaches by replica:": `  COACH  REPLICA  (until ...)`)."""
    out = ws.run("status").stdout
    assert "Coaches by replica:" in out, out
    lines = [line.split() for line in out.split("Coaches by replica:", 1)[1].splitlines() if line.strip()]
    assert len(lines) <= len(COACHES), lines
    return {fields[1] for fields in lines if len(fields) >= 3 and fields[2] == "(until"}


@pytest.mark.slow
def test_two_replicas_killed_at_random_do_every_booking_exactly_once(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.url(postgres_server.new_database())
    extra = "".join(coach_yaml(n, email) for n, email in enumerate(COACHES) if n)
    ws = Workspace(tmp_path, poll_interval="1s", extra_coach=extra, state=f'{{url: "{url}", lease: 2s}}')
    put_sessions_just_over(ws)
    rng = random.Random(13)
    logs = [tmp_path / "replica-0-0.log", tmp_path / "replica-1-0.log"]
    replicas = [ws.start("run", log=log) for log in logs]
    try:
        partial_seen = False
        for _ in range(8):
            before = progress(ws)
            if before >= DONE:
                break
            # Kill once a pass is visibly at work, then after a random moment within it.
            assert wait_for(lambda: progress(ws) > before, timeout=20)  # noqa: B023 (fixed per round)
            time.sleep(rng.uniform(0.0, 0.15))
            busy = [n for n, replica in enumerate(replicas) if replica.pid in lease_holders(url)]
            victim = rng.choice(busy) if busy and rng.random() < 0.8 else rng.randrange(2)
            replicas[victim].kill()
            replicas[victim].wait(timeout=10)
            partial_seen = partial_seen or 0 < progress(ws) < DONE
            logs.append(tmp_path / f"replica-{victim}-{len(logs)}.log")
            replicas[victim] = ws.start("run", log=logs[-1])
            assert replicas[1 - victim].poll() is None, "a replica stopped by itself"
        assert partial_seen, "no kill landed mid-pass; the test proved nothing"
        assert wait_for(lambda: progress(ws) >= DONE, timeout=40), "the replicas did not finish"
        # The coaches spread over both replicas (within a lease period or two), each held by one.
        assert wait_for(lambda: len(holders(ws)) == 2, timeout=15), ws.run("status").stdout
    finally:
        for replica in replicas:
            replica.send_signal(signal.SIGTERM)
        for replica in replicas:
            try:
                replica.wait(timeout=10)
            except subprocess.TimeoutExpired:
                replica.kill()
    for n in range(len(COACHES)):
        calendar, notes, draft_folder = folders(ws, n)
        assert len(list(notes.glob("*.md"))) == BOOKINGS, f"coach {n}: notes"
        assert len(drafts(draft_folder)) == BOOKINGS, f"coach {n}: drafts"
        for b in range(BOOKINGS):
            event = (calendar / f"s{n}-{b}.ics").read_text().replace("\r\n ", "")
            assert event.count(LINK) == 1, f"coach {n}, booking {b}: links"
    for log in logs:
        text = log.read_text()
        assert "Traceback" not in text and "internal error" not in text, text[-3000:]
