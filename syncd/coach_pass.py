"""One pass over one coach: read calendar changes, run the plans `syncd.plan` makes of them,
draft due follow-ups.

This module decides nothing about a booking: it reads (calendar, state), asks `syncd.plan` what
to do, and runs the steps. Every side effect is preceded by a committed record of the intent
and followed by a committed record of its result; the backends' effects are findable, so a pass
interrupted at any line and run again finishes the work without doing any of it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar, assert_never, cast

from syncd.accounts import for_coach
from syncd.calendars.base import CalendarSource, CompanionCalendar
from syncd.config import CoachConfig, Settings
from syncd.detection import Rules, Verdict, detect
from syncd.drafts.base import DraftSink
from syncd.errors import (
    AuthError,
    CursorExpired,
    FolderReadOnly,
    NoteMissing,
    NotPermitted,
    Rejected,
    StateUnwritable,
    SyncdError,
    Unavailable,
)
from syncd.followup import build_draft
from syncd.lifecycle import (
    REBOOK_WINDOW,
    Booking,
    Effect,
    begun,
    booking_id,
    companion_begun,
    companion_dropped,
    companion_placed,
    companion_refused,
    digest,
    draft_queued,
    event_marked,
    header_written,
    link_refused,
    linked,
    may_have_companion,
    note_created,
    note_handed_over,
    note_moved,
)
from syncd.model import Annotation, CalendarEvent, Coach, NoteHeader, NoteRef, NoteRequest, Session
from syncd.notes.base import NoteStore
from syncd.plan import (
    Annotate,
    CreateNote,
    DropCompanion,
    MarkOff,
    PlaceCompanion,
    Plan,
    Policy,
    QueueDraft,
    Say,
    Step,
    Transition,
    UpdateNoteHeader,
    describe,
    history_start,
    locate,
    needs_event,
    plan_event,
    plan_followup,
    plan_retry,
    rebook_email,
    resync,
    unfinished,
    who,
)
from syncd.state import Store
from syncd.templating import Renderer
from syncd.text import one_line

log = logging.getLogger("syncd")
T = TypeVar("T")

# Plans one booking may need in a row: its own, after its note is made or found elsewhere,
# after its draft is queued. More means a plan that never settles: a bug, not a loop.
_MAX_PLANS = 6


@dataclass
class CoachParts:
    """A coach's configuration with its backends opened."""

    config: CoachConfig
    coach: Coach
    rules: Rules
    source: CalendarSource
    notes: NoteStore
    drafts: DraftSink
    renderer: Renderer
    told: dict[str, str] = field(default_factory=dict)
    """Per event id, the problem that may pass (`Unavailable`) last logged for it. Kept with the
    backends between a daemon's passes, so a folder made read-only for a day is one line per
    event when it starts and one when it is over, not one per event every pass."""
    recheck: set[str] | None = None
    """Booking ids the next pass checks for unfinished work: those recorded since the last
    check and those unfinished then. None until a pass of this process has checked them all
    (see `CoachPass._retry_unfinished`)."""


@dataclass
class Tally:
    """What one coach's pass did."""

    notes: int = 0  # created
    reused: int = 0  # notes of a cancelled booking taken over by the client's new booking
    links: int = 0  # events that got their link (once per booking, however often rewritten)
    updates: int = 0  # events already linked, rewritten (time, status line, reminder)
    drafts: int = 0
    errors: int = 0
    auth_failed: bool = False
    stopped: bool = False

    def add(self, other: Tally) -> None:
        """Count `other`'s work in this tally too (a pass sums its coaches' tallies)."""
        self.notes += other.notes
        self.reused += other.reused
        self.links += other.links
        self.updates += other.updates
        self.drafts += other.drafts
        self.errors += other.errors
        self.auth_failed = self.auth_failed or other.auth_failed
        self.stopped = self.stopped or other.stopped


def policy_of(parts: CoachParts, settings: Settings) -> Policy:
    """What the plans of `parts`' coach depend on."""
    cfg = parts.config
    return Policy(
        coach=cfg.key,
        timezone=cfg.timezone,
        reminder=cfg.reminder,
        delay=cfg.drafts.delay,
        lookback=settings.lookback,
        max_lateness=settings.max_lateness,
        annotates_cancelled=parts.source.annotates_cancelled,
        companion=cfg.calendar.link_placement == "companion",
    )


class CoachPass:
    """Runs one pass for one coach. Create one per pass; call `run()`."""

    def __init__(
        self,
        parts: CoachParts,
        settings: Settings,
        state: Store,
        now: datetime,
        dry_run: bool,
        should_stop: Callable[[], bool],
    ) -> None:
        self.parts = parts
        self.cfg = parts.config
        self.settings = settings
        self.policy = policy_of(parts, settings)
        self.state = state
        self.now = now
        self.dry_run = dry_run
        self.should_stop = should_stop
        self.tally = Tally()
        self._failed: set[str] = set()  # event ids whose handling failed in this pass
        self._written: set[str] = set()  # bookings whose event was written in this pass
        self._saved: set[str] = set()  # bookings recorded in this pass
        self._told_read_only = False  # a read-only calendar mount was logged in this pass

    def run(self) -> Tally:
        """Sync, retry unfinished bookings, draft due follow-ups. Never raises for a
        service or data problem: those are logged and counted."""
        # The later steps need the calendar too (a follow-up is drafted only after re-reading
        # its event), so a calendar that cannot be read ends this coach's pass: one log line.
        if self.policy.companion and not _keeps_companions(self.parts.source):
            self._fail(
                f"coach {self.cfg.email}: calendar type {self.cfg.calendar.type!r} cannot keep "
                "companion events; set calendar.link_placement to description, private or both"
            )
            return self.tally
        for stage in (self._sync, self._retry_unfinished, self._dispatch_followups):
            if self._stopping():
                break
            try:
                stage()
            except SyncdError as exc:
                # A coach's own account is signed in again with `--coach`: the line says so.
                self._fail(f"coach {self.cfg.email}: {for_coach(str(exc), self.cfg)}")
                self.tally.auth_failed = isinstance(exc, AuthError)
                break
        return self.tally

    # --- reading ----------------------------------------------------------------------------

    def _sync(self) -> None:
        since = self.now - self.settings.lookback
        cursor = self.state.cursor(self.cfg.key)
        try:
            changes = self.parts.source.changes(cursor, since)
        except CursorExpired as exc:
            log.info("coach %s: %s; reading the whole calendar again", self.cfg.email, exc)
            changes = self.parts.source.changes(None, since)
        # Cancellations first, so a booking tool's "cancel + new event" reschedule finds the
        # cancelled booking's note to reuse within the same pass; copies after their originals,
        # so an original booked in this pass is known when its copy is read.
        for event in sorted(changes.events, key=lambda e: (not e.cancelled, bool(e.copy_of))):
            if self._stopping():
                return  # the cursor is kept: the rest comes back next pass
            self._guarded(event.id, self._on_event, event)
        if not self.dry_run:
            self.state.set_cursor(self.cfg.key, changes.cursor)

    def _on_event(self, event: CalendarEvent) -> None:
        key = self.cfg.key
        found = self.state.get(booking_id(key, event.id))
        # The other two lookups only where `locate` reads them: most events are found by id.
        own = found is not None and found.event_id == event.id
        following = None if own else self.state.by_event(key, event.id)
        moved = event.moved_from and found is None and following is None
        before = self.state.by_event(key, event.moved_from) if moved else None
        existing = self._run(None, locate(event, found, following, before))
        verdict = detect(event, self.parts.rules)
        email = rebook_email(existing, verdict)
        rebook = self.state.rebook_candidate(key, email, self.now - REBOOK_WINDOW) if email else None
        original = self.state.get(booking_id(key, event.copy_of)) if event.copy_of else None
        self._carry_out(
            existing, lambda b: plan_event(self.policy, b, event, verdict, self.now, rebook, original)
        )

    def _retry_unfinished(self) -> None:
        """Bookings whose note, note header or event annotation is not what their record says
        it should be: a failure or a crash came between recording a change and writing it.

        Only bookings that can be: every change is recorded (with the pass's time) before it is
        written, so a booking of a session long over whose record is as old is finished, or
        differs only by a config change that history need not follow (thousands of old events
        and notes rewritten, every pass reading them all).

        And only those checked for the first time in this process, recorded since the last
        check, or unfinished then: nothing else can become unfinished while the process keeps
        this coach's backends (every change is recorded through `_record`; a new config opens
        new ones, a restart after a crash checks them all again), so an idle pass reads none."""
        earlier, self.parts.recheck = self.parts.recheck, None  # an interrupted check: all again
        if earlier is None:
            candidates = self.state.bookings_to_check(self.cfg.key, history_start(self.policy, self.now))
        else:
            candidates = self._bookings(earlier | self._saved)
        again: set[str] = set()
        for booking in candidates:
            if self._stopping():
                return
            # A booking that failed earlier in this pass waits for the next one: one error line.
            if booking.event_id in self._failed:
                again.add(booking.id)
            elif unfinished(self.policy, booking, self.now):
                again.add(booking.id)
                self._guarded(booking.event_id, self._retry, booking)
        self.parts.recheck = again | self._saved

    def _bookings(self, ids: set[str]) -> list[Booking]:
        """The coach's bookings of `ids` still recorded, earliest session first."""
        found = (self.state.get(booking_id) for booking_id in ids)
        return sorted((b for b in found if b is not None and b.coach == self.cfg.key), key=lambda b: b.start)

    def _retry(self, booking: Booking) -> None:
        event = (
            self.parts.source.get(booking.event_id) if needs_event(self.policy, booking, self.now) else None
        )
        if event is not None and resync(booking, event):
            self._on_event(event)
            return
        self._carry_out(booking, lambda b: plan_retry(self.policy, _tracked(b), event, self.now))

    def _dispatch_followups(self) -> None:
        for booking in self.state.due_followups(self.cfg.key, self.now):
            if self._stopping():
                return
            self._guarded(booking.event_id, self._followup, booking)

    def _followup(self, booking: Booking) -> None:
        # Re-read the event: a cancelled or moved booking must never get the old follow-up.
        event = self.parts.source.get(booking.event_id)
        verdict = detect(event, self.parts.rules) if event else Verdict()
        self._carry_out(booking, lambda b: plan_followup(self.policy, _tracked(b), event, verdict, self.now))

    # --- running plans ----------------------------------------------------------------------

    def _carry_out(self, booking: Booking | None, make_plan: Callable[[Booking | None], Plan]) -> None:
        """Run the plan for `booking`, and plan again from the record it leaves while a step's
        outcome was one the plan could not know."""
        for _ in range(_MAX_PLANS):
            plan = make_plan(booking)
            if not plan.steps:
                return
            booking, done = self._run_until_replan(booking, plan)
            if done:
                return
        raise RuntimeError(f"the plan for {booking.id if booking else '?'} does not settle")

    def _run(self, booking: Booking | None, plan: Plan) -> Booking | None:
        """Run a plan that needs no second one (a booking found as another event)."""
        _, done = self._run_until_replan(booking, plan)
        assert done
        return plan.booking

    def _run_until_replan(self, booking: Booking | None, plan: Plan) -> tuple[Booking | None, bool]:
        """Run `plan`'s steps in order; (the record after them, whether the plan is done)."""
        for step in plan.steps:
            note = booking.note if booking else None
            booking = self._step(booking, step)
            if step.replan or (booking is not None and booking.note != note and note is not None):
                return booking, False
        return booking, True

    def _step(self, booking: Booking | None, step: Step) -> Booking | None:
        """Run one step: record the intent, do the effect, record the result."""
        if isinstance(step, Say):
            (log.warning if step.warning else log.info)("coach %s: %s", self.cfg.email, step.message)
            return booking
        if isinstance(step, Transition):
            return self._record(step.booking)
        assert booking is not None  # a plan's effects come after the booking is recorded
        match step:
            case CreateNote():
                return self._create_note(booking, step)
            case UpdateNoteHeader():
                booking, _ = self._with_note(
                    booking,
                    step.what,
                    step.header,
                    step.relocate,
                    self.parts.notes.update_header,
                    step.header,
                )
                return self._record(header_written(booking, digest(step.header)))
            case Annotate():
                return self._annotate(booking, step)
            case MarkOff():
                if step.event is not None:
                    self._write_annotation(booking, describe(step), step.event, step.annotation)
                return self._record(event_marked(booking, digest(step.annotation)))
            case PlaceCompanion():
                return self._place_companion(booking, step)
            case DropCompanion():
                return self._drop_companion(booking, step)
            case QueueDraft():
                return self._queue_draft(booking, step)
            case _:
                assert_never(step)

    def _create_note(self, booking: Booking, step: CreateNote) -> Booking:
        booking = self._record(begun(booking, Effect.NOTE))
        reused = step.reuse.note if step.reuse else None
        request = self._note_request(booking, step.header)
        ref = self._effect(booking, "create the session note", self.parts.notes.ensure, request, reused)
        if ref is None:  # a dry run: go on as if, so it can tell the rest
            ref = NoteRef(locator="", url="(not created: dry run)")
        if step.reuse is not None:
            self._record(note_handed_over(step.reuse, booking.event_id))
            self._say(booking, f"reusing the note of the cancelled booking {step.reuse.event_id}")
            self.tally.reused += 1
        else:
            self.tally.notes += 1
        if not self.dry_run:
            self._say(booking, f"session note ready: {ref.url}")
        return self._record(note_created(booking, ref, digest(step.header)))

    def _note_request(self, booking: Booking, header: NoteHeader) -> NoteRequest:
        session = self._session(booking)
        return NoteRequest(
            booking_id=booking.id,
            header=header,
            body=self.parts.renderer.render_note(session, self.now),
            fields=self.parts.renderer.note_fields(session),
        )

    def _with_note(
        self,
        booking: Booking,
        what: str,
        header: NoteHeader,
        relocate: bool,
        action: Callable[..., T],
        *args: object,
    ) -> tuple[Booking, T | None]:
        """Run `action(note, *args)`; when the note is no longer where it was recorded (the
        coach renamed, moved or deleted it), find it by its booking (or make it again) first,
        or, unless `relocate`, leave it be."""
        assert booking.note is not None
        try:
            return booking, self._effect(booking, what, action, booking.note, *args)
        except NoteMissing as exc:
            if not relocate:
                self._say(booking, f"{exc}; left as it is")
                return booking, None
            ref = self.parts.notes.ensure(self._note_request(booking, header))
            self._say(booking, f"the note was not where it was ({exc}); now using {ref.url}")
            booking = self._record(note_moved(booking, ref))
            return booking, self._effect(booking, what, action, ref, *args)

    def _annotate(self, booking: Booking, step: Annotate) -> Booking:
        # A write that failed earlier in this pass waits for the next one: one error line.
        if booking.event_id in self._failed:
            return booking
        wanted = digest(step.annotation)
        problem = self._write_annotation(booking, describe(step), step.event, step.annotation)
        if problem:  # the coach may not edit this event (not the organizer): the note still stands
            return self._record(link_refused(booking, wanted, problem))
        return self._record(linked(booking, wanted))

    def _write_annotation(self, booking: Booking, what: str, event: CalendarEvent, wanted: Annotation) -> str:
        """Write `wanted` into the event: "" when done, else why it never can be (the coach
        may not edit the event). A problem that may pass raises."""
        try:
            self._effect(booking, what, self.parts.source.annotate, event, wanted)
        except (NotPermitted, Rejected) as exc:
            self._say(booking, f"cannot write into the event ({exc}); the note is still there")
            return str(exc)
        self._count_event_write(booking, first=not booking.annotated)
        return ""

    def _count_event_write(self, booking: Booking, *, first: bool) -> None:
        """Count an event (or its prep event) once per pass: one written when its link goes in
        and again when its draft is queued (the status line changes) is one link written, not
        two; a later write is an update."""
        if booking.id in self._written:
            return
        self._written.add(booking.id)
        if first:
            self.tally.links += 1
        else:
            self.tally.updates += 1

    def _place_companion(self, booking: Booking, step: PlaceCompanion) -> Booking:
        # A write that failed earlier in this pass waits for the next one: one error line.
        if booking.event_id in self._failed:
            return booking
        wanted = digest(step.companion)
        first = not may_have_companion(booking)
        booking = self._record(companion_begun(booking))
        try:
            self._effect(booking, describe(step), self._companions().put_companion, step.companion)
        except (NotPermitted, Rejected) as exc:
            self._say(booking, f"cannot write the prep event ({exc}); the note is still there")
            return self._record(companion_refused(booking, wanted, str(exc)))
        self._count_event_write(booking, first=first)
        return self._record(companion_placed(booking, wanted))

    def _drop_companion(self, booking: Booking, step: DropCompanion) -> Booking:
        try:
            self._effect(booking, describe(step), self._companions().drop_companion, step.booking_id)
        except (NotPermitted, Rejected) as exc:  # asking again will not help: said once
            self._say(booking, f"cannot delete the prep event ({exc}); left as it is")
        return self._record(companion_dropped(booking))

    def _companions(self) -> CompanionCalendar:
        """The calendar as the keeper of companion events (checked when the pass starts)."""
        return cast(CompanionCalendar, self.parts.source)

    def _queue_draft(self, booking: Booking, step: QueueDraft) -> Booking:
        booking, items = self._with_note(
            booking,
            "read the note's open action items",
            step.header,
            True,
            self.parts.notes.open_action_items,
        )
        assert booking.note is not None
        session = self._session(booking)
        subject, body = self.parts.renderer.render_followup(session, items or [], booking.note.url)
        draft = build_draft(session, subject, body, now=self.now)
        # Look first when an attempt was begun, or when the follow-up fell due before this state
        # existed (a state lost: an earlier install may have drafted it).
        interrupted = booking.effect is Effect.DRAFT or booking.followup_due < self.state.created()
        booking = self._record(begun(booking, Effect.DRAFT))
        draft_id = self._effect(
            booking, describe(step), self.parts.drafts.ensure, draft, maybe_exists=interrupted
        )
        self.tally.drafts += 1
        booking = self._record(draft_queued(booking, draft_id or ""))
        if not self.dry_run:
            self._say(booking, f"follow-up draft queued for {step.recipient}")
        return booking

    # --- plumbing -------------------------------------------------------------------------

    def _session(self, booking: Booking) -> Session:
        return Session(
            booking_id=booking.id,
            coach=self.parts.coach,
            client=booking.client,
            start=booking.start,
            end=booking.end,
            followup_delay=self.cfg.drafts.delay,
        )

    def _effect(
        self, booking: Booking, what: str, action: Callable[..., T], *args: object, **kwargs: object
    ) -> T | None:
        """Do a side effect; in a dry run only say it would be done (and return None)."""
        if self.dry_run:
            self._say(booking, f"would {what}")
            return None
        return action(*args, **kwargs)

    def _record(self, booking: Booking) -> Booking:
        # In a dry run the state is a throw-away copy (see StateStore.scratch_copy).
        self.state.save(booking, self.now)
        self._saved.add(booking.id)
        if self.parts.recheck is not None:
            self.parts.recheck.add(booking.id)
        return booking

    def _guarded(self, label: str, action: Callable[[T], None], item: T) -> None:
        try:
            action(item)
        except (AuthError, StateUnwritable):  # nothing else can succeed in this pass
            raise
        except FolderReadOnly as exc:  # every other write there fails alike: said once a pass
            self._failed.add(label)
            if not self._told_read_only:
                self._told_read_only = True
                self._fail(f"coach {self.cfg.email}: {exc}; nothing more is written there this pass")
        except Unavailable as exc:  # retried every pass; said when it starts or changes
            self._failed.add(label)
            self.tally.errors += 1
            text = f"coach {self.cfg.email}: event {one_line(label, 80)}: {exc}"
            if self.parts.told.get(label) != text:
                self.parts.told[label] = text
                log.error("%s (retried every pass; said again only when it changes)", text)
        except SyncdError as exc:
            self._failed.add(label)
            self._fail(f"coach {self.cfg.email}: event {one_line(label, 80)}: {exc}")
        except Exception:
            self._failed.add(label)
            log.exception("coach %s: event %s: internal error (please report)", self.cfg.email, label)
            self.tally.errors += 1
        else:
            # Over only when nothing of the event failed in this pass (a draft queued after its
            # event write failed succeeds, but the write is still to do).
            if label not in self._failed and self.parts.told.pop(label, None) is not None:
                log.info(
                    "coach %s: event %s: done now; the problem logged before is over",
                    self.cfg.email,
                    one_line(label, 80),
                )

    def _fail(self, message: str) -> None:
        log.error("%s", message)
        self.tally.errors += 1

    def _say(self, booking: Booking, message: str) -> None:
        log.info("coach %s: %s: %s", self.cfg.email, who(booking), message)

    def _stopping(self) -> bool:
        if self.should_stop():
            self.tally.stopped = True
        return self.tally.stopped


def _keeps_companions(source: CalendarSource) -> bool:
    """Whether `source` implements `CompanionCalendar` (a Protocol: checked by its methods)."""
    return callable(getattr(source, "put_companion", None)) and callable(
        getattr(source, "drop_companion", None)
    )


def _tracked(booking: Booking | None) -> Booking:
    """`booking`, which a plan about a tracked booking never drops."""
    assert booking is not None
    return booking
