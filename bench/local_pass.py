"""Benchmark: one coach on local folders (vdir calendar, Markdown notes, Maildir drafts).

    .venv/bin/python bench/local_pass.py [--events 1000] [--bookings 250] [--history 0]

Writes `--events` .ics files into a vdir, `--bookings` of them intro sessions spread over the
coming weeks (a tenth of those already over, so their follow-ups are due), the rest ordinary
meetings, then runs `syncd once` three times in a child process:

1. the first pass: every file read, a note, an annotated event file and (for ended sessions) a
   draft per booking;
2. the pass after it: syncd's own annotations changed those files' stat, so they are read
   again and recognised as nothing new;
3. a pass with nothing new: no event file should be read at all.

Each pass starts once the files written before it have settled (`SETTLE`, 2 s, after their last
write), as they have in the daemon, whose poll interval is 60 s by default: a file written less
than that before a pass is read once more by the next pass, to check its content (see
`syncd.calendars.vdir`).

With `--history N` the state starts with N bookings of past years, all done (notes made,
events annotated, follow-ups drafted; a tenth cancelled), as a coach's state looks after some
years: what every pass costs for bookings long over shows in the "no change" row.

For each it prints the wall time of the command, the time inside `main()` (start-up excluded),
the event files and notes read (distinct files, and how often notes were opened) and written,
and the peak RSS of the process.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import PassResult, print_table, run_once

from syncd.calendars.vdir import SETTLE
from syncd.config import load_settings
from syncd.lifecycle import Booking, annotation, booking_id, digest, note_header
from syncd.model import Client, Followup, NoteRef, Phase
from syncd.state import StateStore
from tests.support import event_ics

CONFIG = """\
state_dir: state
lookback: 2d
coaches:
  - name: Ada Coach
    email: ada@coach.example
    timezone: Europe/Berlin
    pricing_url: https://ada.example/pricing
    calendar: {type: vdir, path: calendar}
    notes: {type: markdown, path: notes}
    drafts: {type: maildir, path: Mail/Drafts, delay: 15m}
"""

ANSWERS = "Company/Team: Example Corp\nChallenge: growing into a lead role\nTime zone: America/New_York"


def seed(calendar: Path, events: int, bookings: int) -> None:
    """`events` one-event .ics files; every (events // bookings)-th is an intro booking."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    step = max(1, events // max(1, bookings))
    made = 0
    for n in range(events):
        start = now + timedelta(hours=1 + 2 * n)
        if n % step == 0 and made < bookings:
            if made % 10 == 0:
                start = now - timedelta(hours=3)
            client = (f"Client {n:05d}", f"client{n:05d}@client.example")
            text = event_ics(f"ev{n:05d}", "Intro session", start, client=client, description=ANSWERS)
            made += 1
        else:
            text = event_ics(f"ev{n:05d}", f"Project sync {n}", start, client=("Colleague", "c@work.example"))
        (calendar / f"ev{n:05d}.ics").write_text(text, encoding="utf-8")


def seed_history(config: Path, count: int) -> None:
    """`count` finished bookings of past years in the state, recorded as syncd records them."""
    settings = load_settings(config, check_folders=False)
    coach = settings.coaches[0]
    state = StateStore.in_dir(settings.state_dir)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for n in range(count):
        start = now - timedelta(days=30, hours=7 * n)
        uid = f"past{n:05d}"
        client = Client(name=f"Past Client {n:05d}", email=f"past{n:05d}@client.example")
        url = f"file:///notes/Intro%20Sessions/{uid}.md"
        cancelled = n % 10 == 0
        booking = Booking(
            id=booking_id(coach.key, uid),
            coach=coach.key,
            event_id=uid,
            phase=Phase.CANCELLED if cancelled else Phase.FOLLOWUP_QUEUED,
            client=client,
            start=start,
            end=start + timedelta(minutes=30),
            fingerprint=digest(uid),
            followup=Followup.WITHDRAWN if cancelled else Followup.QUEUED,
            followup_due=start + timedelta(minutes=45),
            note=NoteRef(locator=f"/notes/Intro Sessions/{uid}.md", url=url),
        )
        booking = dataclasses.replace(
            booking,
            header=digest(note_header(booking, coach.timezone)),
            annotated=digest(annotation(booking, coach.reminder, coach.timezone)),
        )
        state.save(booking, start + timedelta(hours=1))
    state.close()


def row(label: str, result: PassResult) -> list[str]:
    if result.exit_code != 0:
        raise SystemExit(f"syncd once exited {result.exit_code}:\n{result.log}")
    return [
        label,
        f"{result.wall_seconds:.2f}",
        f"{result.main_seconds:.2f}",
        str(result.files_read(".ics")),
        str(result.files_written(".ics")),
        f"{result.files_read('.md')} ({result.opens('.md')} opens)",
        str(result.files_written(".md")),
        f"{result.peak_rss_mib:.0f}",
    ]


def settled_pass(config: Path, root: Path) -> PassResult:
    """`syncd once`, started when every file written so far has settled."""
    time.sleep(SETTLE.total_seconds() + 0.1)
    return run_once(config, root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--bookings", type=int, default=250)
    parser.add_argument("--history", type=int, default=0, help="finished bookings of past years in the state")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp:
        root = Path(tmp)
        for sub in ("calendar", "notes", "Mail", "state"):
            (root / sub).mkdir()
        seed(root / "calendar", args.events, args.bookings)
        config = root / "syncd.yaml"
        config.write_text(CONFIG, encoding="utf-8")
        seed_history(config, args.history)
        rows = [
            row(label, settled_pass(config, root))
            for label in ("first pass", "after own writes", "no change")
        ]
        notes = len(list((root / "notes").rglob("*.md")))
        drafts = len([p for p in (root / "Mail" / "Drafts").rglob("*") if p.is_file()])
    print(
        f"vdir: {args.events} event files, {args.bookings} intro bookings "
        f"({notes} notes, {drafts} drafts made); Markdown notes; Maildir drafts; "
        f"{args.history} past bookings in the state."
    )
    headers = [
        "pass",
        "wall s",
        "main() s",
        ".ics read",
        ".ics written",
        ".md read",
        ".md written",
        "peak RSS MiB",
    ]
    print_table(headers, rows)


if __name__ == "__main__":
    main()
