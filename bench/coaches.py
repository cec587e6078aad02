"""Benchmark: the cost per coach of one process serving many coaches, first pass and idle.

    .venv/bin/python bench/coaches.py [--sizes 1 50 200 500] [--backends vdir google]
        [--modes daemon once] [--events 200] [--bookings 20] [--latency 0.08]
        [--first-latency 0] [--quick] [--profile DIR] [--memory N]

For each size N it builds a workspace of N coaches, each with `--events` events in their own
calendar (`--bookings` of them intro bookings, a tenth of those already over so their
follow-ups are due; the rest ordinary meetings), Markdown notes and Maildir drafts, on one of
two backends:

- `vdir`: a folder of one-event `.ics` files per coach;
- `google`: the fake Google API (`tests.fakegoogle`, in this process, so its CPU is not
  counted) with one calendar per coach on one token, answering each request after `--latency`
  seconds (80 ms by default, a real round trip to Google). The first pass is served with
  `--first-latency` (0 by default: at 500 coaches it makes some 12 000 requests, which at
  80 ms each would add 16 minutes of waiting and no CPU).

Then, per mode:

- `daemon`: one long-lived process (`bench/engine_passes.py`) keeps syncd's Engine open, as
  `syncd run` does, and runs four passes: the first (everything new), the one after syncd's
  own writes, and two with nothing new (`idle`; the second is reported);
- `once`: `syncd once` three times in a fresh workspace (first, after own writes, idle), a
  new process each time, as a timer would run it.

Each row gives the pass's wall time, its CPU time (user + system of the syncd process only,
`getrusage`; for `once` the whole process, interpreter start-up included), the process's peak
RSS so far (`VmHWM`), the requests the fake received (Google) or the `.ics` files read (vdir),
the files written under the workspace (`once` always counts 1: the state database is opened
with O_CREAT|O_EXCL to create it private, which fails as it exists) and (daemon) the state
rows changed. vdir passes start 2 s after
the files written before them have settled (`syncd.calendars.vdir.SETTLE`), as the daemon's
poll interval leaves them. `--quick` runs 1 and 10 coaches of 40 events, both modes.

CPU seconds are noisy on a shared machine: compare runs made in the same minute.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import REPO, print_table, run_once

from syncd.calendars.vdir import SETTLE
from syncd.google.auth import SCOPE_CALENDAR_EVENTS
from tests.fakegoogle import FakeGoogle
from tests.support import ics_text, ics_time

WORKER = Path(__file__).resolve().with_name("engine_passes.py")
ANSWERS = "Company/Team: Example Corp\nChallenge: growing into a lead role\nTime zone: America/New_York"
DAEMON_PASSES = ("first", "own writes", "idle", "idle")
ONCE_PASSES = ("first", "own writes", "idle")


@dataclass(frozen=True)
class Row:
    """One measured pass."""

    coaches: int
    mode: str
    label: str
    wall: float
    cpu: float
    rss_mib: float
    io: str  # requests (Google) or .ics files read (vdir)
    written: int
    state_changes: str

    def cells(self) -> list[str]:
        return [
            str(self.coaches),
            self.mode,
            self.label,
            f"{self.wall:.2f}",
            f"{self.cpu:.2f}",
            f"{self.cpu / self.coaches * 1000:.1f}",
            f"{self.rss_mib:.0f}",
            self.io,
            str(self.written),
            self.state_changes,
        ]


HEADERS = [
    "coaches",
    "run",
    "pass",
    "wall s",
    "CPU s",
    "CPU ms/coach",
    "peak RSS MiB",
    "io",
    "written",
    "state rows",
]


def coach_email(n: int) -> str:
    return f"coach{n:04d}@coach.example"


def _starts(events: int, bookings: int) -> list[tuple[datetime, bool]]:
    """(start, is a booking) per event: every (events // bookings)-th is a booking, a tenth of
    the bookings three hours ago (their follow-ups are due), the rest spread over 8 weeks."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    step = max(1, events // max(1, bookings))
    out = []
    made = 0
    for n in range(events):
        start = now + timedelta(hours=1) + timedelta(minutes=(n * 8 * 7 * 24 * 60) // max(1, events))
        is_booking = n % step == 0 and made < bookings
        if is_booking:
            if made % 10 == 0:
                start = now - timedelta(hours=3)
            made += 1
        out.append((start, is_booking))
    return out


def _ics(
    uid: str, summary: str, start: datetime, organizer: str, guest: tuple[str, str], description: str
) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//syncd bench//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{ics_time(start)}",
        f"DTSTART:{ics_time(start)}",
        f"DTEND:{ics_time(start + timedelta(minutes=30))}",
        f"SUMMARY:{ics_text(summary)}",
        "STATUS:CONFIRMED",
        f"ORGANIZER;CN=Coach:mailto:{organizer}",
        f'ATTENDEE;CN="{guest[0]}";PARTSTAT=ACCEPTED:mailto:{guest[1]}',
    ]
    if description:
        lines.append(f"DESCRIPTION:{ics_text(description)}")
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def seed_vdir(root: Path, coaches: int, events: int, bookings: int) -> None:
    plan = _starts(events, bookings)
    for c in range(coaches):
        folder = root / "cal" / f"{c:04d}"
        folder.mkdir(parents=True)
        for n, (start, is_booking) in enumerate(plan):
            if is_booking:
                guest = (f"Client {c:04d}-{n:03d}", f"client{c:04d}-{n:03d}@client.example")
                text = _ics(f"ev{n:03d}", "Intro session", start, coach_email(c), guest, ANSWERS)
            else:
                text = _ics(
                    f"ev{n:03d}",
                    f"Project sync {n}",
                    start,
                    coach_email(c),
                    ("Colleague", "c@work.example"),
                    "",
                )
            (folder / f"ev{n:03d}.ics").write_text(text, encoding="utf-8")


def seed_google(fake: FakeGoogle, coaches: int, events: int, bookings: int) -> None:
    plan = _starts(events, bookings)
    for c in range(coaches):
        calendar = f"cal{c:04d}"
        fake.calendar.add_calendar(calendar)
        for n, (start, is_booking) in enumerate(plan):
            coach = coach_email(c)
            guest = {"email": f"client{c:04d}-{n:03d}@client.test", "displayName": f"Client {c:04d}-{n:03d}"}
            if not is_booking:
                guest = {"email": "c@work.example", "displayName": "Colleague"}
            event = {
                "id": f"ev{c:04d}x{n:03d}",
                "summary": "Intro session: a client" if is_booking else f"Team standup {n}",
                "description": ANSWERS if is_booking else "",
                "start": {"dateTime": start.isoformat(), "timeZone": "Europe/Berlin"},
                "end": {"dateTime": (start + timedelta(minutes=30)).isoformat(), "timeZone": "Europe/Berlin"},
                "organizer": {"email": coach},
                "attendees": [
                    {"email": coach, "organizer": True, "responseStatus": "accepted"},
                    {**guest, "responseStatus": "accepted"},
                ],
            }
            fake.calendar.put_event(event, calendar)


def write_config(root: Path, coaches: int, fake: FakeGoogle | None) -> Path:
    lines = ["state_dir: state", "lookback: 2d"]
    if fake is not None:
        token = root / "google-token.json"
        token.write_text(json.dumps(fake.oauth.token_info([SCOPE_CALENDAR_EVENTS])), encoding="utf-8")
        token.chmod(0o600)
        lines += [
            "google:",
            "  client_secrets: client.json",
            "  token: google-token.json",
            f"  token_uri: {fake.token_uri}",
            f"  api_endpoint: {fake.api_endpoint}",
        ]
    lines.append("coaches:")
    for c in range(coaches):
        calendar = (
            f"{{type: google, calendar_id: cal{c:04d}}}" if fake else f"{{type: vdir, path: cal/{c:04d}}}"
        )
        lines += [
            f"  - name: Coach {c:04d}",
            f"    email: {coach_email(c)}",
            "    timezone: Europe/Berlin",
            "    pricing_url: https://coach.example/pricing",
            f"    calendar: {calendar}",
            f"    notes: {{type: markdown, path: notes/{c:04d}}}",
            f"    drafts: {{type: maildir, path: Mail/{c:04d}, delay: 15m}}",
        ]
        (root / "notes" / f"{c:04d}").mkdir(parents=True)
        (root / "Mail" / f"{c:04d}").mkdir(parents=True)
    config = root / "syncd.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


class Setup:
    """One workspace of `coaches` coaches on `backend`, with the fake started for Google."""

    def __init__(self, root: Path, backend: str, coaches: int, args: argparse.Namespace) -> None:
        self.root = root
        self.backend = backend
        self.args = args
        self.fake: FakeGoogle | None = None
        if backend == "google":
            self.fake = FakeGoogle().start()
            seed_google(self.fake, coaches, args.events, args.bookings)
        else:
            seed_vdir(root, coaches, args.events, args.bookings)
        self.config = write_config(root, coaches, self.fake)

    def close(self) -> None:
        if self.fake is not None:
            self.fake.stop()

    def before_pass(self, first: bool) -> None:
        """Wait for the files to settle (vdir); set the fake's latency and clear its log."""
        if self.fake is None:
            time.sleep(SETTLE.total_seconds() + 0.1)
            return
        self.fake.clear_faults()
        latency = self.args.first_latency if first else self.args.latency
        if latency > 0:
            self.fake.slow("", latency, times=10**9)
        self.fake.clear_log()

    def io(self, ics_read: int) -> str:
        if self.fake is None:
            return f"{ics_read} .ics read"
        return f"{len(self.fake.requests)} requests"


def run_daemon(setup: Setup, coaches: int) -> list[Row]:
    command = [sys.executable, str(WORKER), str(setup.config), str(setup.root)]
    if setup.args.profile:
        command += ["--profile", str(Path(setup.args.profile) / f"{setup.backend}-{coaches}")]
    if setup.args.memory:
        command += ["--memory", str(setup.args.memory)]
    worker = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=setup.root
    )
    assert worker.stdin is not None and worker.stdout is not None
    rows = []
    try:
        for n, label in enumerate(DAEMON_PASSES):
            setup.before_pass(first=n == 0)
            worker.stdin.write("pass\n")
            worker.stdin.flush()
            line = worker.stdout.readline()
            if not line:
                raise SystemExit(f"the engine worker died (exit {worker.wait()})")
            data: dict[str, Any] = json.loads(line)
            if label == "idle" and n + 1 < len(DAEMON_PASSES):
                continue  # the first idle pass warms up; the last one is reported
            rows.append(
                Row(
                    coaches,
                    "daemon",
                    label,
                    data["wall"],
                    data["cpu"],
                    data["rss_mib"],
                    setup.io(data["ics_read"]),
                    data["written"],
                    str(data["state_changes"]),
                )
            )
    finally:
        worker.stdin.close()
        worker.wait()
    return rows


def run_once_passes(setup: Setup, coaches: int) -> list[Row]:
    rows = []
    for n, label in enumerate(ONCE_PASSES):
        setup.before_pass(first=n == 0)
        result = run_once(setup.config, setup.root)
        if result.exit_code != 0:
            raise SystemExit(f"syncd once exited {result.exit_code}:\n{result.log[-3000:]}")
        written = len(set(result.writes))
        io = setup.io(result.files_read(".ics"))
        rows.append(
            Row(
                coaches,
                "once",
                label,
                result.wall_seconds,
                result.cpu_seconds,
                result.peak_rss_mib,
                io,
                written,
                "-",
            )
        )
    return rows


def measure(backend: str, coaches: int, mode: str, args: argparse.Namespace) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp:
        setup = Setup(Path(tmp), backend, coaches, args)
        try:
            return run_daemon(setup, coaches) if mode == "daemon" else run_once_passes(setup, coaches)
        finally:
            setup.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 50, 200, 500])
    parser.add_argument("--backends", nargs="+", choices=["vdir", "google"], default=["vdir", "google"])
    parser.add_argument("--modes", nargs="+", choices=["daemon", "once"], default=["daemon", "once"])
    parser.add_argument("--events", type=int, default=200, help="events per coach")
    parser.add_argument("--bookings", type=int, default=20, help="intro bookings among them")
    parser.add_argument("--latency", type=float, default=0.08, help="seconds per request to the fake")
    parser.add_argument("--first-latency", type=float, default=0.0, help="the same, for the first pass")
    parser.add_argument("--quick", action="store_true", help="1 and 10 coaches of 40 events: a smoke run")
    parser.add_argument("--profile", help="daemon mode: cProfile each pass into this folder")
    parser.add_argument("--memory", type=int, default=0, help="daemon mode: top N lines of memory (stderr)")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.events, args.bookings = [1, 10], 40, 4
    for backend in args.backends:
        rows: list[Row] = []
        for coaches in args.sizes:
            for mode in args.modes:
                rows += measure(backend, coaches, mode, args)
                print(f"  {backend}: {coaches} coaches, {mode}: done", file=sys.stderr, flush=True)
        latency = (
            f", {args.latency * 1000:.0f} ms per request (first pass {args.first_latency * 1000:.0f} ms)"
        )
        print(
            f"\n{backend}: {args.events} events per coach, {args.bookings} of them bookings"
            f"{latency if backend == 'google' else ''}"
        )
        print_table(HEADERS, [row.cells() for row in rows])
    print(f"\n(repository {REPO}; CPU is user + system time of the syncd process)")


if __name__ == "__main__":
    main()
