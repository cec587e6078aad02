"""One pass over every coach: the unit of work the daemon repeats and `syncd once` runs.

Coaches are run side by side by a bounded pool of threads (`concurrency:`): a pass mostly waits
on the network, and one slow account must not hold up the others. Each coach is one task of
the pass, so its backends (httplib2 is not thread-safe) are used by one thread at a time, and
its steps keep the order that makes them crash-safe. The main thread meanwhile asks
`should_stop` every `WAIT_SLICE` (which feeds systemd's watchdog) and hands a stop on to the
running coaches, which check it between steps.

Before running anyone, a pass claims its coaches' leases in the state: with several replicas
on one database each coach is run by one of them; with the SQLite state, every coach is ours.
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from syncd import logs, registry, telemetry
from syncd.accounts import for_coach
from syncd.calendars.base import CalendarSource
from syncd.coach_pass import CoachParts, CoachPass, Tally
from syncd.config import CoachConfig, Settings, note_template_file
from syncd.detection import Rules
from syncd.drafts.base import DraftSink
from syncd.errors import AuthError, StateError, SyncdError
from syncd.model import Coach
from syncd.notes.base import NoteStore
from syncd.state import Store, lease_ttl, open_state, replica_name
from syncd.templating import Renderer
from syncd.text import counted

log = logging.getLogger("syncd")

# How often the main thread looks up from the running coaches to ask whether to stop: a stop
# reaches them within this (and their current step), and systemd's watchdog is fed meanwhile.
WAIT_SLICE = 0.2


@dataclass
class PassReport:
    """What a pass did, for the log, `syncd status` and systemd's STATUS line."""

    started: datetime
    finished: datetime
    bookings: int = 0
    tally: Tally = field(default_factory=Tally)  # every coach's, summed
    errors: dict[str, int] = field(default_factory=dict)  # per coach email

    @property
    def auth_failed(self) -> bool:
        return self.tally.auth_failed

    @property
    def stopped_early(self) -> bool:
        return self.tally.stopped

    def summary(self) -> str:
        """One line (systemd's STATUS too), e.g. `12 bookings tracked, 1 note created,
        1 note reused, 2 links written, 1 event updated, 1 draft queued, 0 errors`; the reused
        and updated counts only when there are some."""
        done = self.tally
        counts = [
            counted(self.bookings, "booking", "tracked"),
            counted(done.notes, "note", "created"),
            counted(done.reused, "note", "reused") if done.reused else "",
            counted(done.links, "link", "written"),
            counted(done.updates, "event", "updated") if done.updates else "",
            counted(done.drafts, "draft", "queued"),
            counted(sum(self.errors.values()), "error"),
        ]
        return ", ".join(c for c in counts if c) + (" (stopped early)" if self.stopped_early else "")


PartsOpener = Callable[[CoachConfig, Settings], CoachParts]


class Engine:
    """The coaches' backends, the state store and the pool that runs the coaches, kept open
    between passes.

    `opener` opens a coach's backends (by default from the config's types); tests hand in
    backends of their own, e.g. the in-memory ones.
    """

    def __init__(self, settings: Settings, state: Store, opener: PartsOpener | None = None) -> None:
        self.settings = settings
        self.state = state
        self.replica = replica_id(settings)
        self.lease_ttl = lease_ttl(settings)
        self._opener = opener or open_parts
        self._parts: dict[str, CoachParts] = {}
        # Each coach runs in a context of its own, whichever pool thread is free: what a backend
        # keeps per context (a Google service: syncd.google.transport.ThreadServices) is then
        # kept once per coach, and Python refuses to run one context in two threads at once.
        self._contexts: dict[str, contextvars.Context] = {}
        self._pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="syncd-coach")
        self._claimed = False

    def run_pass(
        self, now: datetime, *, dry_run: bool = False, should_stop: Callable[[], bool] = lambda: False
    ) -> PassReport:
        """Run one pass at time `now` (aware) for every coach whose lease this replica holds.
        Never raises for a service or data problem: each is logged and counted in the report;
        a bug in one coach's pass is raised once the others have finished theirs."""
        report = PassReport(started=now, finished=now)
        held = self._claim(dry_run)
        coaches = [coach for coach in self.settings.coaches if coach.key in held]
        stop = threading.Event()
        if should_stop():  # asked before the first coach's turn: none starts
            stop.set()
        leases = _Renewal(self, held, dry_run)

        def run(coach: CoachConfig) -> Tally:
            stopper = leases.stopper(stop, coach.key)
            return self._context(coach).run(self._run_coach, coach, now, dry_run, stopper)

        # Coaches whose parts are all folders on this machine take one lane, one after the
        # other: their passes are CPU work, which threads side by side only slow down (they
        # take turns at the GIL: +70 % CPU measured for 100 vdir coaches on 16 threads).
        local = [coach for coach in coaches if is_local(coach)]
        remote = [coach for coach in coaches if not is_local(coach)]
        futures = [self._pool.submit(run, coach) for coach in remote]
        lane = self._pool.submit(_in_turn, run, local)
        _wait_all([*futures, lane], should_stop, stop, leases.renew_when_due)
        outcomes = [*zip(remote, (f.exception() or f.result() for f in futures), strict=True), *lane.result()]
        for coach, outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome  # a bug: once every other coach has finished its pass
            report.errors[coach.email] = outcome.errors
            report.tally.add(outcome)
        # One scan of the bookings: the phases' counts add up to the count.
        phases = self.state.phase_counts() if telemetry.installed() else None
        report.bookings = self.state.count() if phases is None else sum(phases.values())
        report.finished = datetime.now(UTC)
        if phases is not None:
            telemetry.pass_done(report, held, phases)
        return report

    def _claim(self, dry_run: bool) -> frozenset[str]:
        keys = [coach.key for coach in self.settings.coaches]
        if dry_run:  # reads and writes nothing that another replica's run could clash with
            return frozenset(keys)
        self._claimed = True
        try:
            return self.state.claim(keys, self.replica, self.lease_ttl, datetime.now(UTC))
        except StateError as exc:  # which coaches are ours is unknown: none is run safely
            log.error("%s", exc)
            return frozenset()

    def _run_coach(self, coach: CoachConfig, now: datetime, dry_run: bool, stop: Callable[[], bool]) -> Tally:
        if stop():  # stopped before its turn came
            return Tally(stopped=True)
        logs.COACH.set(coach.email)  # in the coach's own context: its lines say whose they are
        try:
            parts = self._open(coach)
        except SyncdError as exc:
            log.error("coach %s: %s", coach.email, for_coach(str(exc), coach))
            return Tally(errors=1, auth_failed=isinstance(exc, AuthError))
        return CoachPass(parts, self.settings, self.state, now, dry_run, stop).run()

    def _context(self, coach: CoachConfig) -> contextvars.Context:
        return self._contexts.setdefault(coach.key, contextvars.Context())

    def _open(self, coach: CoachConfig) -> CoachParts:
        # Opened on first use and kept; a coach whose backend failed to open is retried next pass.
        # Each coach's key is written by its own task only: no two threads set the same one.
        if coach.key not in self._parts:
            self._parts[coach.key] = self._opener(coach, self.settings)
        return self._parts[coach.key]

    def close(self) -> None:
        """Stop the pool, give up this replica's leases (another one takes them at once), close
        the state. Between passes nothing runs; a stop that could not wait for a hung request
        leaves its thread behind (the process is exiting)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        try:
            if self._claimed:
                self.state.release(self.replica)
        except SyncdError as exc:
            log.warning("cannot release the leases of %s: %s", self.replica, exc)
        finally:
            self.state.close()


class _Renewal:
    """One pass's leases, renewed from the main thread while its coaches run (a pass longer
    than a lease would otherwise hand its coaches to another replica half-way); a coach
    whose lease was lost anyway stops after its current step, as on SIGTERM."""

    def __init__(self, engine: Engine, held: frozenset[str], dry_run: bool) -> None:
        self._engine = engine
        self._dry_run = dry_run
        self._ttl = engine.lease_ttl
        self._last = time.monotonic()
        self.kept = set(held)
        self.lost: set[str] = set()

    def stopper(self, stop: threading.Event, coach: str) -> Callable[[], bool]:
        """What `coach`'s pass asks between steps: stop for a stop request or a lost lease."""
        return lambda: stop.is_set() or coach in self.lost

    def renew_when_due(self) -> None:
        """Claim the leases again once a third of their time has passed since the last claim."""
        if self._dry_run or time.monotonic() - self._last < self._ttl.total_seconds() / 3:
            return
        self._last = time.monotonic()
        engine = self._engine
        # Asked for every coach, as at the start of the pass: a claim's share is the coaches it
        # is asked for over the live replicas, so asking for the held ones only would keep a
        # fraction of them. A free coach it takes meanwhile is run from the next pass.
        every = [coach.key for coach in engine.settings.coaches]
        try:  # by the wall clock, as every claim: leases are compared across machines
            taken = engine.state.claim(every, engine.replica, self._ttl, datetime.now(UTC))
        except SyncdError as exc:  # the next try, a third of a lease later, may pass
            log.warning("cannot renew the leases of %s: %s", engine.replica, exc)
            return
        still = taken & self.kept
        for coach in sorted(self.kept - still):
            log.warning(
                "coach %s: lease lost to another replica; this pass of it stops after its step", coach
            )
        self.lost |= self.kept - still
        self.kept &= still


def _wait_all(
    futures: list[Future[Any]],
    should_stop: Callable[[], bool],
    stop: threading.Event,
    meanwhile: Callable[[], None],
) -> None:
    """Wait for every coach's task, asking `should_stop` and running `meanwhile` from this
    (the main) thread every `WAIT_SLICE`; once it says yes, the running coaches are told
    through `stop`."""
    pending = set(futures)
    while pending:
        if not stop.is_set() and should_stop():
            stop.set()
        meanwhile()
        _, pending = wait(pending, timeout=WAIT_SLICE)


def is_local(coach: CoachConfig) -> bool:
    """Whether every part of `coach` is a folder on this machine (no request to wait on)."""
    return (coach.calendar.type, coach.notes.type, coach.drafts.type) == ("vdir", "markdown", "maildir")


def _in_turn(
    run: Callable[[CoachConfig], Tally], coaches: list[CoachConfig]
) -> list[tuple[CoachConfig, Tally | BaseException]]:
    """Each coach's pass, one after the other; a bug in one is kept, and the next coach runs."""
    outcomes: list[tuple[CoachConfig, Tally | BaseException]] = []
    for coach in coaches:
        try:
            outcomes.append((coach, run(coach)))
        except Exception as exc:  # a bug: run_pass raises it once every coach has run
            outcomes.append((coach, exc))
    return outcomes


def replica_id(settings: Settings) -> str:
    """This process's name in the leases: `replica:` from the config, else hostname:pid (a
    restarted process is a new replica; the old one's leases expire or were released)."""
    return settings.replica or replica_name()


def health_replica(settings: Settings) -> str:
    """Whose health record a pass of this process writes (`syncd.health.meta_key`): its
    replica's when replicas share the state (PostgreSQL), none with SQLite (one process)."""
    return replica_id(settings) if settings.state is not None else ""


def open_parts(coach: CoachConfig, settings: Settings) -> CoachParts:
    """Open the backends and compile the rules of one coach."""
    return coach_parts(
        coach,
        settings,
        source=registry.open_calendar(coach, settings),
        notes=registry.open_notes(coach, settings),
        drafts=registry.open_drafts(coach, settings),
    )


def coach_parts(
    coach: CoachConfig, settings: Settings, *, source: CalendarSource, notes: NoteStore, drafts: DraftSink
) -> CoachParts:
    """One coach's parts on the backends given, its rules compiled."""
    return CoachParts(
        config=coach,
        coach=Coach(
            name=coach.name,
            email=coach.email,
            timezone=coach.timezone,
            pricing_url=coach.pricing_url,
            specialties=tuple(coach.specialties),
        ),
        rules=compile_rules(coach, settings),
        source=source,
        notes=notes,
        drafts=drafts,
        renderer=Renderer(
            note_template=note_template_file(coach.notes), followup_template=coach.drafts.template
        ),
    )


def compile_rules(coach: CoachConfig, settings: Settings) -> Rules:
    """The coach's detection rules, ready to apply (the config already checked the regexes)."""
    match = coach.match
    others = frozenset().union(*(c.addresses for c in settings.coaches if c.key != coach.key))
    return Rules(
        title=re.compile(match.title),
        coach_addresses=coach.addresses,
        labels={name: tuple(labels) for name, labels in coach.answers.model_dump().items()},
        exclude=re.compile(match.exclude) if match.exclude else None,
        organizer=re.compile(match.organizer) if match.organizer else None,
        attendee_domain=match.attendee_domain,
        other_coaches=others,
    )


def open_engine(settings: Settings, *, dry_run: bool = False) -> Engine:
    """The engine for `settings`, its state store opened (created on first use); for a dry
    run, a throw-away in-memory copy of the state."""
    state = open_state(settings, scratch=dry_run)
    state.only_coaches(frozenset(coach.key for coach in settings.coaches))
    return Engine(settings, state)
