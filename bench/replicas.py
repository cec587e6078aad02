"""Replicas on one PostgreSQL state (issue 13): N coaches on the fake Google server, every
calendar request delayed as a real network delays it, run by 1 and then 2 `syncd run`
processes sharing one database through leases.

    .venv/bin/python bench/replicas.py --coaches 1 50 200 500 --replicas 1 2
    .venv/bin/python bench/replicas.py --quick          # a smoke run of a few seconds

Per coach count and replica count, a fresh database (on a throw-away server started by
`tests.postgres_server`) and a fresh fake (in this process, on 127.0.0.1) seeded with one
calendar per coach: `--events` events, the first `--bookings` of them intro bookings (the
first already over, so its follow-up is due). The replicas are real `syncd run` processes with
a short poll interval, started together. Per replica it reports:

- its first pass (wall from its health record; CPU from /proc/PID/stat at the moment the
  record appears, so interpreter start-up, imports and the engine's opening are included);
- its idle pass once the leases have settled and no pass writes any more (wall: mean of
  `--idle-passes` passes; CPU: what the process spent over them, the sleeps between passes
  included, divided by their number; requests: the fake's log of the calendars it holds);
- the coaches it holds, and its peak RSS (VmHWM);

and with 2 replicas or more, how long the coaches of a replica killed with SIGKILL take to be
held by the others (lease table) and then read by them (fake's log).

Passes are found by polling each replica's health record (`health:HOST:PID` in the meta
table) every 50 ms. The fake answers from this process: its CPU is not counted in the
replicas' figures, but it shares the machine with them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import psycopg
from common import REPO, print_table  # bench/ is on sys.path when run as a script

from syncd.config import StateConfig
from syncd.google.auth import SCOPE_CALENDAR_EVENTS
from syncd.health import Health, meta_key
from syncd.state_postgres import PostgresStore
from tests.fakegoogle import FakeGoogle
from tests.fakegoogle.helpers import booking
from tests.postgres_server import PostgresServer, start_server

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
POLL = 0.05
CALENDAR = re.compile(r"/calendars/([^/]+)/events")


def coach_email(i: int) -> str:
    return f"coach{i}@example.com"


# --- what /proc says of a process ---------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of `pid` so far (fields 14 and 15 of /proc/PID/stat)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()  # the name may hold spaces: skip past it
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mib(pid: int) -> float:
    """The peak resident set size of `pid` (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


# --- the workspace ------------------------------------------------------------------------------


def seed(fake: FakeGoogle, coaches: int, events: int, bookings: int) -> None:
    """One calendar per coach: `events` events every 3 hours, the first `bookings` intro
    bookings (the first of them ended 3 hours ago: its follow-up is due)."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for i in range(coaches):
        email = coach_email(i)
        fake.calendar.add_calendar(email)
        for n in range(events):
            start = now - timedelta(hours=3) if n == 0 else now + timedelta(hours=1 + 3 * n)
            event = booking(f"ev{i:04d}n{n:04d}", start)
            event["organizer"] = {"email": email}
            client = {"email": f"client{n}@client.test", "displayName": f"Client {i}-{n}"}
            event["attendees"] = [{"email": email, "organizer": True, "responseStatus": "accepted"}, client]
            if n < bookings:
                event["summary"] = f"Intro session: Client {i}-{n}"
            else:
                event["summary"] = f"Team sync {n}"
                event["description"] = "Weekly sync."
            fake.calendar.put_event(event, email)


def quiet_resets(fake: FakeGoogle) -> None:
    """A replica stopped (or killed) in the middle of a pass leaves requests in flight, whose
    connections the fake's server then finds reset: not worth a traceback on stderr each."""
    server = fake._httpd  # the fake has no option for it
    if server is not None:
        server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]


def write_config(root: Path, fake: FakeGoogle, url: str, coaches: int, args: argparse.Namespace) -> Path:
    """Every coach on their own calendar, Markdown notes and Maildir drafts under `root`."""
    entries = []
    for i in range(coaches):
        entries.append(
            f"""\
  - name: Coach {i}
    email: {coach_email(i)}
    timezone: Europe/Berlin
    pricing_url: https://coach.example.com/pricing
    calendar: {{type: google, calendar_id: "{coach_email(i)}"}}
    notes: {{type: markdown, path: notes{i}}}
    drafts: {{type: maildir, path: Mail{i}, delay: 15m}}
"""
        )
        (root / f"notes{i}").mkdir(parents=True)
    token = root / "google-token.json"
    token.write_text(json.dumps(fake.oauth.token_info([SCOPE_CALENDAR_EVENTS])))
    token.chmod(0o600)
    concurrency = f"concurrency: {args.concurrency}\n" if args.concurrency else ""
    config = root / "syncd.yaml"
    config.write_text(
        f"""\
state_dir: state
state: {{url: "{url}", lease: {args.lease}s}}
poll_interval: {args.poll}s
lookback: 2d
{concurrency}google:
  client_secrets: client.json
  token: google-token.json
  token_uri: {fake.token_uri}
  api_endpoint: {fake.api_endpoint}
coaches:
{"".join(entries)}""",
        encoding="utf-8",
    )
    return config


# --- the replicas -------------------------------------------------------------------------------


@dataclass
class Pass:
    """One pass of a replica, as its health record and the moment it was seen tell."""

    wall: float  # finished - started, from the record
    cpu: float  # the process's CPU seconds when the record was seen
    requests: int  # the fake's log length then
    seen: float  # time.monotonic() then


@dataclass
class Replica:
    """One `syncd run` process and the passes seen of it."""

    process: subprocess.Popen[bytes]
    log: Path
    passes: list[Pass] = field(default_factory=list)
    last: str = ""  # the health record last seen
    rss: float = math.nan

    @property
    def name(self) -> str:
        return f"{socket.gethostname()}:{self.process.pid}"

    def look(self, db: psycopg.Connection[Any], fake: FakeGoogle) -> None:
        """Note a pass when the replica's health record changed since the last look."""
        row = db.execute("SELECT value FROM meta WHERE key = %s", (meta_key(self.name),)).fetchone()
        if row is None or row[0] == self.last or self.process.poll() is not None:
            return
        cpu = cpu_seconds(self.process.pid)
        self.last = str(row[0])
        health = Health.from_json(self.last)
        wall = (health.finished - health.started).total_seconds()
        with fake.lock:
            logged = len(fake.requests)
        self.passes.append(Pass(wall, cpu, logged, time.monotonic()))


def start_replicas(config: Path, root: Path, count: int) -> list[Replica]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    replicas = []
    for n in range(count):
        log = root / f"replica-{n}.log"
        with log.open("wb") as sink:
            command = [sys.executable, "-m", "syncd", "--config", str(config), "run"]
            process = subprocess.Popen(command, cwd=REPO, stdout=sink, stderr=sink, env=env)
        replicas.append(Replica(process, log))
    return replicas


def stop_replicas(replicas: Sequence[Replica]) -> None:
    for replica in replicas:
        if replica.process.poll() is None:
            replica.process.send_signal(signal.SIGTERM)
    for replica in replicas:
        try:
            replica.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            replica.process.kill()
            replica.process.wait()


def leases(db: psycopg.Connection[Any]) -> dict[str, str]:
    """coach -> replica for every lease held now."""
    rows = db.execute("SELECT coach, replica FROM leases WHERE expires > now() AND replica != ''").fetchall()
    return {str(coach): str(replica) for coach, replica in rows}


def wait_until(what: str, done: Callable[[], bool], look: Callable[[], None], timeout: float) -> float:
    """Look every POLL until `done`; returns the seconds waited. Raises SystemExit on timeout."""
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL)
        look()
    return time.monotonic() - started


def writes_since(fake: FakeGoogle, index: int) -> int:
    """Requests that changed a calendar since the log had `index` entries."""
    with fake.lock:
        logged = fake.requests[index:]
    return sum(1 for r in logged if r.method != "GET" and CALENDAR.search(r.path))


def calendar_requests(fake: FakeGoogle, start: int, end: int, coaches: set[str]) -> int:
    """Requests in the log's entries [start, end) to the calendars of `coaches`."""
    with fake.lock:
        logged = fake.requests[start:end]
    return sum(1 for r in logged if (m := CALENDAR.search(r.path)) and unquote(m.group(1)) in coaches)


# --- one run ------------------------------------------------------------------------------------


@dataclass
class Row:
    replica: str
    held: int
    first_wall: float
    first_cpu: float
    idle_wall: float
    idle_cpu: float
    idle_requests: float
    rss: float


@dataclass
class Outcome:
    coaches: int
    replicas: int
    rows: list[Row]
    settled: float  # seconds from the start until the leases settled and no pass wrote
    takeover_leases: float | None = None
    takeover_read: float | None = None
    moved: int = 0
    victim: int = 0


def run(server: PostgresServer, coaches: int, count: int, args: argparse.Namespace) -> Outcome:
    root = Path(tempfile.mkdtemp(prefix="syncd-bench-replicas-"))
    url = server.url(server.new_database())
    replicas: list[Replica] = []
    try:
        with FakeGoogle() as fake, psycopg.connect(url, autocommit=True) as db:
            quiet_resets(fake)
            seed(fake, coaches, args.events, args.bookings)
            fake.slow(r"/calendars/", args.latency, times=10**9)
            config = write_config(root, fake, url, coaches, args)
            PostgresStore.open(StateConfig(url=url)).close()  # the schema, so the looks below find it
            started = time.monotonic()
            replicas = start_replicas(config, root, count)

            def look() -> None:
                for replica in replicas:
                    replica.look(db, fake)
                for replica in replicas:
                    if replica.process.poll() not in (None, -signal.SIGKILL):
                        tail = replica.log.read_text(errors="replace")[-3000:]
                        raise SystemExit(f"replica exited {replica.process.returncode}:\n{tail}")

            budget = args.timeout
            wait_until("the first passes", lambda: all(r.passes for r in replicas), look, budget)
            settle(fake, db, replicas, coaches, look, budget)
            settled_at = time.monotonic() - started
            base = [len(r.passes) for r in replicas]
            wait_until(
                "the idle passes",
                lambda: all(
                    len(r.passes) >= b + args.idle_passes for r, b in zip(replicas, base, strict=True)
                ),
                look,
                budget,
            )
            held = leases(db)
            rows = [row(fake, r, b, args.idle_passes, held) for r, b in zip(replicas, base, strict=True)]
            outcome = Outcome(coaches, count, rows, settled_at)
            if count > 1:
                takeover(fake, db, replicas, held, look, outcome, budget)
            for replica in replicas:
                if replica.process.poll() is None:
                    replica.rss = peak_rss_mib(replica.process.pid)
            for replica, line in zip(replicas, outcome.rows, strict=True):
                line.rss = replica.rss if not math.isnan(replica.rss) else line.rss
            return outcome
    finally:
        stop_replicas(replicas)
        for replica in replicas:
            text = replica.log.read_text(errors="replace")
            if "Traceback" in text or "internal error" in text:
                print(f"warning: {replica.log.name} holds a traceback:\n{text[-3000:]}", file=sys.stderr)
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def settle(
    fake: FakeGoogle,
    db: psycopg.Connection[Any],
    replicas: Sequence[Replica],
    coaches: int,
    look: Callable[[], None],
    budget: float,
) -> float:
    """Wait until every coach is held, each replica holds its share, and a whole pass of each
    replica went by without a write to any calendar."""
    share = math.ceil(coaches / len(replicas))
    names = {r.name for r in replicas}
    started = time.monotonic()
    while True:
        held = leases(db)
        counts = [sum(1 for who in held.values() if who == r.name) for r in replicas]
        balanced = len(held) == coaches and set(held.values()) <= names
        balanced = balanced and all(coaches // len(replicas) <= n <= share for n in counts)
        if balanced:
            with fake.lock:
                mark = len(fake.requests)
            base = [len(r.passes) for r in replicas]
            # Two more passes each: the first may have begun before the mark.
            wait_until(
                "two quiet passes",
                lambda: all(len(r.passes) >= b + 2 for r, b in zip(replicas, base, strict=True)),  # noqa: B023
                look,
                budget,
            )
            if writes_since(fake, mark) == 0 and leases(db) == held:
                return time.monotonic() - started
        if time.monotonic() - started > budget:
            raise SystemExit(f"the leases did not settle in {budget:.0f} s: {counts}")
        time.sleep(POLL)
        look()


def row(fake: FakeGoogle, replica: Replica, base: int, idle: int, held: dict[str, str]) -> Row:
    first = replica.passes[0]
    # From the end of the last pass of the settling (a quiet one too) to the end of the
    # `idle`-th after it: `idle` whole passes and the waits between them.
    window = replica.passes[base - 1 : base + idle]
    mine = {coach for coach, who in held.items() if who == replica.name}
    passes = len(window) - 1
    return Row(
        replica=replica.name,
        held=len(mine),
        first_wall=first.wall,
        first_cpu=first.cpu,
        idle_wall=sum(p.wall for p in window[1:]) / passes,
        idle_cpu=(window[-1].cpu - window[0].cpu) / passes,
        idle_requests=calendar_requests(fake, window[0].requests, window[-1].requests, mine) / passes,
        rss=peak_rss_mib(replica.process.pid),
    )


def takeover(
    fake: FakeGoogle,
    db: psycopg.Connection[Any],
    replicas: list[Replica],
    held: dict[str, str],
    look: Callable[[], None],
    outcome: Outcome,
    budget: float,
) -> None:
    """SIGKILL the replica holding the most coaches; time until its coaches are held, then
    read, by the others."""
    victim = max(replicas, key=lambda r: sum(1 for who in held.values() if who == r.name))
    outcome.victim = replicas.index(victim)
    victim.rss = peak_rss_mib(victim.process.pid)
    theirs = {coach for coach, who in held.items() if who == victim.name}
    with fake.lock:
        mark = len(fake.requests)
    victim.process.kill()
    victim.process.wait()
    killed = time.monotonic()
    survivors = {r.name for r in replicas if r is not victim}

    def taken() -> bool:
        now_held = leases(db)
        return all(now_held.get(coach) in survivors for coach in theirs)

    def read() -> bool:
        with fake.lock:
            logged = fake.requests[mark:]
        seen = {unquote(m.group(1)) for r in logged if r.method == "GET" and (m := CALENDAR.search(r.path))}
        return theirs <= seen

    wait_until("the takeover's leases", taken, look, budget)
    outcome.takeover_leases = time.monotonic() - killed
    wait_until("the takeover's reads", read, look, budget)
    outcome.takeover_read = time.monotonic() - killed
    outcome.moved = len(theirs)


# --- the report ---------------------------------------------------------------------------------


def table(outcomes: Sequence[Outcome]) -> None:
    headers = [
        "coaches",
        "replicas",
        "replica",
        "held",
        "first wall s",
        "first CPU s",
        "idle wall s",
        "idle CPU s",
        "idle req/pass",
        "peak RSS MiB",
    ]
    lines = []
    for outcome in outcomes:
        for n, r in enumerate(outcome.rows):
            lines.append(
                [
                    str(outcome.coaches),
                    str(outcome.replicas),
                    f"#{n}",
                    str(r.held),
                    f"{r.first_wall:.2f}",
                    f"{r.first_cpu:.2f}",
                    f"{r.idle_wall:.2f}",
                    f"{r.idle_cpu:.2f}",
                    f"{r.idle_requests:.0f}",
                    f"{r.rss:.0f}",
                ]
            )
        if len(outcome.rows) > 1:
            rows = outcome.rows
            lines.append(
                [
                    str(outcome.coaches),
                    str(outcome.replicas),
                    "total",
                    str(sum(r.held for r in rows)),
                    f"{max(r.first_wall for r in rows):.2f}",
                    f"{sum(r.first_cpu for r in rows):.2f}",
                    f"{max(r.idle_wall for r in rows):.2f}",
                    f"{sum(r.idle_cpu for r in rows):.2f}",
                    f"{sum(r.idle_requests for r in rows):.0f}",
                    f"{sum(r.rss for r in rows):.0f}",
                ]
            )
    print_table(headers, lines)
    for outcome in outcomes:
        line = f"{outcome.coaches} coaches, {outcome.replicas} replica(s): settled {outcome.settled:.1f} s after the start"
        if outcome.takeover_leases is not None:
            line += (
                f"; #{outcome.victim} killed: its {outcome.moved} coaches held by the others in {outcome.takeover_leases:.1f} s,"
                f" all read by them in {outcome.takeover_read:.1f} s"
            )
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coaches", type=int, nargs="+", default=[1, 50, 200, 500])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--events", type=int, default=200, help="events per coach's calendar")
    parser.add_argument("--bookings", type=int, default=3, help="of which intro bookings")
    parser.add_argument("--latency", type=float, default=0.08, help="seconds added to every calendar request")
    parser.add_argument("--concurrency", type=int, default=0, help="`concurrency:` (default: the config's)")
    parser.add_argument("--poll", type=int, default=1, help="poll_interval, seconds")
    parser.add_argument("--lease", type=int, default=10, help="state.lease, seconds")
    parser.add_argument("--idle-passes", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600, help="seconds any one wait may take")
    parser.add_argument("--keep", action="store_true", help="keep the workspaces (and replica logs)")
    parser.add_argument("--quick", action="store_true", help="a smoke size: 1 and 5 coaches, 20 events")
    args = parser.parse_args()
    if args.quick:
        args.coaches, args.events, args.idle_passes, args.lease = [1, 5], 20, 2, 4
    server = start_server()
    if server is None:
        raise SystemExit("no PostgreSQL server installed (initdb/postgres not found)")
    outcomes = []
    try:
        for coaches in args.coaches:
            for count in args.replicas:
                outcome = run(server, coaches, count, args)
                outcomes.append(outcome)
                table([outcome])  # as it comes: a big run takes minutes
                sys.stdout.flush()
    finally:
        server.stop()
    print()
    print(
        f"{args.events} events per coach ({args.bookings} intro bookings), {args.latency * 1000:.0f} ms per "
        f"calendar request, poll_interval {args.poll}s, lease {args.lease}s, "
        f"concurrency {args.concurrency or 'default'}; {os.cpu_count()} CPUs"
    )
    table(outcomes)


if __name__ == "__main__":
    main()
