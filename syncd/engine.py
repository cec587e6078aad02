"""One pass over every coach: the unit of work the daemon repeats and `syncd once` runs."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from syncd import registry
from syncd.coach_pass import CoachParts, CoachPass
from syncd.config import CoachConfig, Settings
from syncd.detection import Rules
from syncd.errors import AuthError, SyncdError
from syncd.model import Coach
from syncd.state import StateStore
from syncd.templating import Renderer
from syncd.text import counted

log = logging.getLogger("syncd")


@dataclass
class PassReport:
    """What a pass did, for the log, `syncd status` and systemd's STATUS line."""

    started: datetime
    finished: datetime
    bookings: int = 0
    notes: int = 0
    reused: int = 0
    links: int = 0
    updates: int = 0
    drafts: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    auth_failed: bool = False
    stopped_early: bool = False

    def summary(self) -> str:
        """One line (systemd's STATUS too), e.g. `12 bookings tracked, 1 note created,
        1 note reused, 2 links written, 1 event updated, 1 draft queued, 0 errors`; the reused
        and updated counts only when there are some."""
        counts = [
            counted(self.bookings, "booking", "tracked"),
            counted(self.notes, "note", "created"),
            counted(self.reused, "note", "reused") if self.reused else "",
            counted(self.links, "link", "written"),
            counted(self.updates, "event", "updated") if self.updates else "",
            counted(self.drafts, "draft", "queued"),
            counted(sum(self.errors.values()), "error"),
        ]
        return ", ".join(c for c in counts if c) + (" (stopped early)" if self.stopped_early else "")


class Engine:
    """The coaches' backends and the state store, kept open between passes."""

    def __init__(self, settings: Settings, state: StateStore) -> None:
        self.settings = settings
        self.state = state
        self._parts: dict[str, CoachParts] = {}

    def run_pass(
        self, now: datetime, *, dry_run: bool = False, should_stop: Callable[[], bool] = lambda: False
    ) -> PassReport:
        """Run one pass for every coach at time `now` (aware). Never raises for a service or
        data problem: each is logged and counted in the report."""
        report = PassReport(started=now, finished=now)
        for coach in self.settings.coaches:
            if should_stop():
                report.stopped_early = True
                break
            self._run_coach(coach, report, now, dry_run, should_stop)
        report.bookings = self.state.count()
        report.finished = datetime.now(UTC)
        return report

    def _run_coach(
        self, coach: CoachConfig, report: PassReport, now: datetime, dry_run: bool, stop: Callable[[], bool]
    ) -> None:
        report.errors[coach.email] = 0
        try:
            parts = self._open(coach)
        except SyncdError as exc:
            log.error("coach %s: %s", coach.email, exc)
            report.errors[coach.email] += 1
            report.auth_failed = report.auth_failed or isinstance(exc, AuthError)
            return
        tally = CoachPass(parts, self.settings, self.state, now, dry_run, stop).run()
        report.notes += tally.notes
        report.reused += tally.reused
        report.links += tally.links
        report.updates += tally.updates
        report.drafts += tally.drafts
        report.errors[coach.email] += tally.errors
        report.auth_failed = report.auth_failed or tally.auth_failed
        report.stopped_early = report.stopped_early or tally.stopped

    def _open(self, coach: CoachConfig) -> CoachParts:
        # Opened on first use and kept; a coach whose backend failed to open is retried next pass.
        if coach.key not in self._parts:
            self._parts[coach.key] = open_parts(coach, self.settings)
        return self._parts[coach.key]

    def close(self) -> None:
        self.state.close()


def open_parts(coach: CoachConfig, settings: Settings) -> CoachParts:
    """Open the backends and compile the rules of one coach."""
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
        source=registry.open_calendar(coach, settings),
        notes=registry.open_notes(coach, settings),
        drafts=registry.open_drafts(coach, settings),
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
    state = StateStore.in_dir(settings.state_dir, scratch=dry_run)
    state.only_coaches(frozenset(coach.key for coach in settings.coaches))
    return Engine(settings, state)
