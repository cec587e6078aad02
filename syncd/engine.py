"""One pass over every coach: the unit of work the daemon repeats and `syncd once` runs."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from syncd import registry
from syncd.calendars.base import CalendarSource
from syncd.coach_pass import CoachParts, CoachPass, Tally
from syncd.config import CoachConfig, Settings
from syncd.detection import Rules
from syncd.drafts.base import DraftSink
from syncd.errors import AuthError, StateError, SyncdError
from syncd.model import Coach
from syncd.notes.base import NoteStore
from syncd.state import Store, lease_ttl, open_state, replica_name
from syncd.templating import Renderer
from syncd.text import counted

log = logging.getLogger("syncd")


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
    """The coaches' backends and the state store, kept open between passes.

    `opener` opens a coach's backends (by default from the config's types); tests hand in
    backends of their own, e.g. the in-memory ones.
    """

    def __init__(self, settings: Settings, state: Store, opener: PartsOpener | None = None) -> None:
        self.settings = settings
        self.state = state
        self.replica = replica_name()
        self._claimed: tuple[float, frozenset[str]] | None = None  # (monotonic time, coaches)
        self._opener = opener or open_parts
        self._parts: dict[str, CoachParts] = {}

    def run_pass(
        self, now: datetime, *, dry_run: bool = False, should_stop: Callable[[], bool] = lambda: False
    ) -> PassReport:
        """Run one pass for every coach at time `now` (aware) that this replica holds a lease
        on (with SQLite, every coach). Never raises for a service or data problem: each is
        logged and counted in the report."""
        report = PassReport(started=now, finished=now)
        self._claimed = None  # claimed afresh at the start of every pass
        for coach in self.settings.coaches:
            if should_stop():
                report.tally.stopped = True
                break
            held = frozenset([coach.key]) if dry_run else self._claim()
            if held is None:
                report.errors[coach.email] = 1
                break  # the leases cannot be read: nothing can be run safely
            if coach.key not in held:
                continue  # another replica runs it
            tally = self._run_coach(coach, now, dry_run, should_stop)
            report.errors[coach.email] = tally.errors
            report.tally.add(tally)
        report.bookings = self.state.count()
        report.finished = datetime.now(UTC)
        return report

    def _claim(self) -> frozenset[str] | None:
        """The coaches this replica may run now (None when the leases cannot be read).

        Claimed at the start of a pass and again between coaches once a third of the lease
        has gone by, which renews the leases during a long pass while a coach is never
        started on a lease with less than two thirds of its time left. By the wall clock:
        a pass's `now` may be a test's."""
        ttl = lease_ttl(self.settings)
        if self._claimed is not None and time.monotonic() - self._claimed[0] < ttl.total_seconds() / 3:
            return self._claimed[1]
        keys = [coach.key for coach in self.settings.coaches]
        try:
            held = self.state.claim(keys, self.replica, ttl, datetime.now(UTC))
        except StateError as exc:
            log.error("%s", exc)
            return None
        self._claimed = (time.monotonic(), held)
        return held

    def _run_coach(self, coach: CoachConfig, now: datetime, dry_run: bool, stop: Callable[[], bool]) -> Tally:
        try:
            parts = self._open(coach)
        except SyncdError as exc:
            log.error("coach %s: %s", coach.email, exc)
            return Tally(errors=1, auth_failed=isinstance(exc, AuthError))
        return CoachPass(parts, self.settings, self.state, now, dry_run, stop).run()

    def _open(self, coach: CoachConfig) -> CoachParts:
        # Opened on first use and kept; a coach whose backend failed to open is retried next pass.
        if coach.key not in self._parts:
            self._parts[coach.key] = self._opener(coach, self.settings)
        return self._parts[coach.key]

    def close(self) -> None:
        try:
            self.state.release(self.replica)  # the other replicas take its coaches at once
        except StateError as exc:
            log.error("%s", exc)
        self.state.close()


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
        renderer=Renderer(note_template=coach.notes.template, followup_template=coach.drafts.template),
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
