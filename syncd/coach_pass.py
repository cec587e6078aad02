"""One pass over one coach: read calendar changes, advance bookings, draft due follow-ups.

Every side effect is preceded by a committed record of the intent and followed by a
committed record of its result; the backends' effects are findable, so a pass interrupted at
any line and run again finishes the work without doing any of it twice.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from syncd.calendars.base import CalendarSource
from syncd.client_zones import client_zone
from syncd.config import CoachConfig, Settings
from syncd.detection import Rules, Verdict, detect
from syncd.drafts.base import DraftSink
from syncd.durations import format_duration
from syncd.errors import (
    AuthError,
    BadEvent,
    CursorExpired,
    NoteMissing,
    NotPermitted,
    Rejected,
    StateUnwritable,
    SyncdError,
)
from syncd.followup import build_draft
from syncd.lifecycle import (
    REBOOK_WINDOW,
    Booking,
    Decision,
    annotation,
    booking_id,
    digest,
    fingerprint,
    followup_decision,
    new_booking,
    note_header,
    on_cancelled,
    on_changed,
)
from syncd.linkblock import find_note_url
from syncd.model import Annotation, CalendarEvent, Coach, Followup, NoteRef, NoteRequest, Phase, Session
from syncd.notes.base import NoteStore
from syncd.state import StateStore
from syncd.templating import Renderer
from syncd.text import one_line

log = logging.getLogger("syncd")
T = TypeVar("T")

# Sessions over longer ago than this (or the look-back, if longer), whose records have not
# changed since, are history: a changed zone, reminder or wording is not written into them.
HISTORY = timedelta(days=30)


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


class CoachPass:
    """Runs one pass for one coach. Create one per pass; call `run()`."""

    def __init__(
        self,
        parts: CoachParts,
        settings: Settings,
        state: StateStore,
        now: datetime,
        dry_run: bool,
        should_stop: Callable[[], bool],
    ) -> None:
        self.parts = parts
        self.cfg = parts.config
        self.settings = settings
        self.state = state
        self.now = now
        self.dry_run = dry_run
        self.should_stop = should_stop
        self.tally = Tally()
        self._failed: set[str] = set()  # event ids whose handling failed in this pass
        self._written: set[str] = set()  # bookings whose event was written in this pass

    def run(self) -> Tally:
        """Sync, retry unfinished bookings, draft due follow-ups. Never raises for a
        service or data problem: those are logged and counted."""
        # The later steps need the calendar too (a follow-up is drafted only after re-reading
        # its event), so a calendar that cannot be read ends this coach's pass: one log line.
        for step in (self._sync, self._retry_unfinished, self._dispatch_followups):
            if self._stopping():
                break
            try:
                step()
            except SyncdError as exc:
                self._fail(f"coach {self.cfg.email}: {exc}")
                self.tally.auth_failed = isinstance(exc, AuthError)
                break
        return self.tally

    # --- reading the calendar -------------------------------------------------------------

    def _sync(self) -> None:
        since = self.now - self.settings.lookback
        cursor = self.state.cursor(self.cfg.key)
        try:
            changes = self.parts.source.changes(cursor, since)
        except CursorExpired as exc:
            log.info("coach %s: %s; reading the whole calendar again", self.cfg.email, exc)
            changes = self.parts.source.changes(None, since)
        # Cancellations first, so a booking tool's "cancel + new event" reschedule finds the
        # cancelled booking's note to reuse within the same pass.
        for event in sorted(changes.events, key=lambda e: not e.cancelled):
            if self._stopping():
                return  # the cursor is kept: the rest comes back next pass
            self._guarded(event.id, self._on_event, event)
        if not self.dry_run:
            self.state.set_cursor(self.cfg.key, changes.cursor)

    def _on_event(self, event: CalendarEvent) -> None:
        existing = self._booking_of(event)
        verdict = detect(event, self.parts.rules)
        if verdict.client is None:
            self._not_a_booking(existing, event, verdict)
            return
        if existing is None:
            booking = new_booking(
                self.cfg.key, event, verdict.client, self.cfg.drafts.delay, self.now, self.settings.lookback
            )
            if booking is not None:
                self._say(booking, f"detected intro booking on {self._when(booking.start)}")
                self._check_client_zone(booking, previous="")
                self._advance(self._record(booking), event, reuse=self._rebook_candidate(booking))
            return
        if existing.fingerprint != fingerprint(event) or not existing.active:
            existing = self._changed(existing, event, verdict)
        self._advance(existing, event)

    def _booking_of(self, event: CalendarEvent) -> Booking | None:
        """The booking found as `event`, else the one that follows it now (its series moved)."""
        found = self.state.get(booking_id(self.cfg.key, event.id))
        booking = found if found is not None and found.event_id == event.id else None
        if booking is None:
            booking = self.state.by_event(self.cfg.key, event.id)
        if booking is None and found is not None:
            # It was found as this event and then followed its moved series elsewhere.
            if found.active:  # a new booking under its id would overwrite the record
                raise BadEvent(
                    f"the session this event was is now event {one_line(found.event_id, 80)}; "
                    "left alone while that one is on"
                )
            # Its series moved back (an undo, a restored file): it follows this event again.
            self._say(found, f"its series moved back; it is event {one_line(event.id, 80)} again")
            return self._record(dataclasses.replace(found, event_id=event.id))
        if booking is None and event.moved_from:
            before = self.state.by_event(self.cfg.key, event.moved_from)
            if before is not None:
                # The same session, rescheduled with its series: not a cancel and a new booking.
                self._say(before, f"its series moved; it is now event {one_line(event.id, 80)}")
                booking = self._record(dataclasses.replace(before, event_id=event.id))
        return booking

    def _not_a_booking(self, existing: Booking | None, event: CalendarEvent, verdict: Verdict) -> None:
        if verdict.problem:
            log.warning("coach %s: event %s: %s", self.cfg.email, self._event_label(event), verdict.problem)
        if existing is not None and existing.active:
            self._cancel(existing, _off_reason(event, verdict), event)

    def _changed(self, existing: Booking, event: CalendarEvent, verdict: Verdict) -> Booking:
        assert verdict.client is not None
        booking = on_changed(existing, event, verdict.client, self.cfg.drafts.delay)
        self._check_client_zone(booking, previous=existing.client.timezone)
        if booking.start != existing.start or booking.end != existing.end:
            self._say(booking, f"rescheduled to {self._when(booking.start)}; follow-up moves with it")
        if existing.phase is Phase.CANCELLED:
            self._say(booking, "booking is back on")
        return self._record(booking)

    def _check_client_zone(self, booking: Booking, previous: str) -> None:
        """One line when the booking names a client zone syncd does not understand: said when
        the booking is found or its zone changes, not on every pass."""
        value = booking.client.timezone
        if value.strip() and value != previous and client_zone(value) is None:
            log.warning(
                "coach %s: %s: client time zone %r not understood; times are shown in the coach's zone only",
                self.cfg.email,
                self._who(booking),
                one_line(value, 80),
            )

    def _rebook_candidate(self, booking: Booking) -> Booking | None:
        return self.state.rebook_candidate(self.cfg.key, booking.client.email, self.now - REBOOK_WINDOW)

    def _retry_unfinished(self) -> None:
        """Bookings whose note, note header or event annotation is not what their record says
        it should be: a failure or a crash came between recording a change and writing it.

        Only bookings that can be: every change is recorded (with the pass's time) before it is
        written, so a booking of a session long over whose record is as old is finished, or
        differs only by a config change that history need not follow (thousands of old events
        and notes rewritten, every pass reading them all)."""
        for booking in self.state.bookings_to_check(self.cfg.key, self._history_start()):
            if self._stopping():
                return
            # A booking that failed earlier in this pass waits for the next one: one error line.
            if booking.event_id not in self._failed and self._unfinished(booking):
                self._guarded(booking.event_id, self._retry, booking)

    def _history_start(self) -> datetime:
        """Sessions over before this are history (see `HISTORY`)."""
        return self.now - max(HISTORY, self.settings.lookback)

    def _unfinished(self, booking: Booking) -> bool:
        if booking.note is None:
            return booking.active
        if booking.header != digest(note_header(booking, self.cfg.timezone)):
            return True
        if not booking.active:
            return self._event_mark_pending(booking)
        return booking.annotated != digest(annotation(booking, self.cfg.reminder, self.cfg.timezone))

    def _retry(self, booking: Booking) -> None:
        if not booking.active:
            booking = self._update_header(booking, "mark the note cancelled")
            if self._event_mark_pending(booking):
                self._mark_event_off(booking, self.parts.source.get(booking.event_id))
            return
        event = self.parts.source.get(booking.event_id)
        if event is None or event.cancelled:
            self._cancel(booking, "cancelled", event)
            return
        self._on_event(event)

    # --- side effects ---------------------------------------------------------------------

    def _advance(self, booking: Booking, event: CalendarEvent, reuse: Booking | None = None) -> Booking:
        """Bring the note, its header and the event's annotation up to date."""
        if booking.note is None:
            booking = self._create_note(booking, reuse)
            if booking.note is None:
                return booking
        booking = self._update_header(booking, "update the note's header")
        if booking.active:
            booking = self._annotate(booking, event)
        return booking

    def _create_note(self, booking: Booking, reuse: Booking | None) -> Booking:
        booking = self._record(dataclasses.replace(booking, effect="note"))
        request = self._note_request(booking)
        reused = reuse.note if reuse else None
        ref = self._effect(booking, "create the session note", self.parts.notes.ensure, request, reused)
        if ref is None:  # a dry run: go on as if, so it can tell the rest
            ref = NoteRef(locator="", url="(not created: dry run)")
        if reuse is not None:
            self._record(dataclasses.replace(reuse, note=None, reason=f"rebooked as {booking.event_id}"))
            self._say(booking, f"reusing the note of the cancelled booking {reuse.event_id}")
            self.tally.reused += 1
        else:
            self.tally.notes += 1
        if not self.dry_run:
            self._say(booking, f"session note ready: {ref.url}")
        phase = Phase.NOTE_CREATED if booking.phase is Phase.DETECTED else booking.phase
        changes = {"note": ref, "phase": phase, "effect": "", "header": digest(request.header)}
        return self._record(dataclasses.replace(booking, **changes))  # type: ignore[arg-type]

    def _note_request(self, booking: Booking) -> NoteRequest:
        session = self._session(booking)
        return NoteRequest(
            booking_id=booking.id,
            header=note_header(booking, self.cfg.timezone),
            body=self.parts.renderer.render_note(session, self.now),
            fields=self.parts.renderer.note_fields(session),
        )

    def _with_note(
        self, booking: Booking, what: str, action: Callable[..., T], *args: object
    ) -> tuple[Booking, T | None]:
        """Run `action(note, *args)`; when the note is no longer where it was recorded (the
        coach renamed, moved or deleted it), find it by its booking (or make it again) first."""
        assert booking.note is not None
        try:
            return booking, self._effect(booking, what, action, booking.note, *args)
        except NoteMissing as exc:
            if not booking.active:
                self._say(booking, f"{exc}; left as it is")
                return booking, None
            ref = self.parts.notes.ensure(self._note_request(booking))
            self._say(booking, f"the note was not where it was ({exc}); now using {ref.url}")
            booking = self._record(dataclasses.replace(booking, note=ref))
            return booking, self._effect(booking, what, action, ref, *args)

    def _annotate(self, booking: Booking, event: CalendarEvent) -> Booking:
        wanted = annotation(booking, self.cfg.reminder, self.cfg.timezone)
        if booking.annotated == digest(wanted):
            return booking
        problem = self._write_annotation(booking, "write the note link into the event", event, wanted)
        if problem:  # the coach may not edit this event (not the organizer): the note still stands
            return self._record(dataclasses.replace(booking, annotated=digest(wanted), reason=problem))
        phase = Phase.LINKED if booking.phase in (Phase.DETECTED, Phase.NOTE_CREATED) else booking.phase
        return self._record(dataclasses.replace(booking, annotated=digest(wanted), phase=phase))

    def _cancel(self, booking: Booking, reason: str, event: CalendarEvent | None) -> None:
        withdrawn = booking.followup is Followup.PENDING
        booking = self._record(on_cancelled(booking, reason))
        self._say(booking, f"{reason}; follow-up withdrawn" if withdrawn else reason)
        booking = self._update_header(booking, "mark the note cancelled")
        if self._event_mark_pending(booking):
            self._mark_event_off(booking, event)

    def _event_mark_pending(self, booking: Booking) -> bool:
        """True while an off booking's event may still carry the block of when it was on.

        History is left alone: a session long past is not worth searching the calendar for
        (a deleted event's file is looked for in every file).
        """
        if booking.note is None or not booking.annotated or not self.parts.source.annotates_cancelled:
            return False
        if booking.end < self._history_start():
            return False
        return booking.annotated != digest(annotation(booking, self.cfg.reminder, self.cfg.timezone))

    def _mark_event_off(self, booking: Booking, event: CalendarEvent | None) -> Booking:
        """An event still in the calendar (cancelled and struck through, declined by the client,
        retitled) that carries syncd's block is told the session is off and loses syncd's
        reminder; the link stays, as the note does. A deleted event is left as it is."""
        wanted = annotation(booking, self.cfg.reminder, self.cfg.timezone)
        if event is not None and find_note_url(event.description):
            self._write_annotation(booking, "mark the event's link block off", event, wanted)
        return self._record(dataclasses.replace(booking, annotated=digest(wanted)))

    def _write_annotation(self, booking: Booking, what: str, event: CalendarEvent, wanted: Annotation) -> str:
        """Write `wanted` into the event: "" when done, else why it never can be (the coach
        may not edit the event). A problem that may pass raises."""
        try:
            self._effect(booking, what, self.parts.source.annotate, event, wanted)
        except SyncdError as exc:
            if not isinstance(exc, NotPermitted | Rejected):
                raise
            self._say(booking, f"cannot write into the event ({exc}); the note is still there")
            return str(exc)
        self._count_event_write(booking)
        return ""

    def _count_event_write(self, booking: Booking) -> None:
        """Count an event once per pass: an event written when its link goes in and again when
        its draft is queued (the status line changes) is one link written, not two."""
        if booking.id in self._written:
            return
        self._written.add(booking.id)
        if booking.annotated:
            self.tally.updates += 1
        else:
            self.tally.links += 1

    def _update_header(self, booking: Booking, what: str) -> Booking:
        """Rewrite the note's header (session time, cancelled mark) when the record says the
        note does not show the booking as it now is."""
        header = note_header(booking, self.cfg.timezone)
        if booking.note is None or booking.header == digest(header):
            return booking
        booking, _ = self._with_note(booking, what, self.parts.notes.update_header, header)
        return self._record(dataclasses.replace(booking, header=digest(header)))

    # --- follow-ups -----------------------------------------------------------------------

    def _dispatch_followups(self) -> None:
        for booking in self.state.due_followups(self.cfg.key, self.now):
            if self._stopping():
                return
            self._guarded(booking.event_id, self._followup, booking)

    def _followup(self, booking: Booking) -> None:
        # Re-read the event: a cancelled or moved booking must never get the old follow-up.
        event = self.parts.source.get(booking.event_id)
        verdict = detect(event, self.parts.rules) if event else Verdict()
        if event is None or verdict.client is None:
            self._cancel(booking, _off_reason(event, verdict), event)
            return
        if booking.fingerprint != fingerprint(event):
            booking = self._advance(self._changed(booking, event, verdict), event)
        decision = followup_decision(booking, self.now, self.settings.max_lateness)
        if decision is Decision.SKIP:
            late = self.now - booking.followup_due
            self._skip(
                booking,
                event,
                f"{format_duration(late - late % timedelta(minutes=1))} overdue, more than max_lateness",
            )
        elif decision is Decision.SEND and not booking.client.email:
            self._skip(booking, event, "the booking has no client email address")
        elif decision is Decision.SEND:
            self._queue_draft(booking, event)

    def _skip(self, booking: Booking, event: CalendarEvent, reason: str) -> None:
        booking = self._record(dataclasses.replace(booking, followup=Followup.SKIPPED, reason=reason))
        log.warning("coach %s: %s: follow-up skipped: %s", self.cfg.email, self._who(booking), reason)
        self._advance(booking, event)

    def _queue_draft(self, booking: Booking, event: CalendarEvent) -> None:
        booking, items = self._with_note(
            booking, "read the note's open action items", self.parts.notes.open_action_items
        )
        assert booking.note is not None
        session = self._session(booking)
        subject, body = self.parts.renderer.render_followup(session, items or [], booking.note.url)
        draft = build_draft(session, subject, body)
        # Look first when an attempt was begun, or when the follow-up fell due before this state
        # existed (a state lost: an earlier install may have drafted it).
        interrupted = booking.effect == "draft" or booking.followup_due < self.state.created()
        booking = self._record(dataclasses.replace(booking, effect="draft"))
        recipient = one_line(booking.client.email, 120)
        draft_id = self._effect(
            booking,
            f"queue the follow-up draft to {recipient}",
            self.parts.drafts.ensure,
            draft,
            maybe_exists=interrupted,
        )
        self.tally.drafts += 1
        changes = {
            "followup": Followup.QUEUED,
            "phase": Phase.FOLLOWUP_QUEUED,
            "draft_id": draft_id or "",
            "effect": "",
        }
        booking = self._record(dataclasses.replace(booking, **changes))  # type: ignore[arg-type]
        if not self.dry_run:
            self._say(booking, f"follow-up draft queued for {recipient}")
        self._advance(booking, event)

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
        return booking

    def _guarded(self, label: str, action: Callable[[T], None], item: T) -> None:
        try:
            action(item)
        except (AuthError, StateUnwritable):  # nothing else can succeed in this pass
            raise
        except SyncdError as exc:
            self._failed.add(label)
            self._fail(f"coach {self.cfg.email}: event {one_line(label, 80)}: {exc}")
        except Exception:
            self._failed.add(label)
            log.exception("coach %s: event %s: internal error (please report)", self.cfg.email, label)
            self.tally.errors += 1

    def _fail(self, message: str) -> None:
        log.error("%s", message)
        self.tally.errors += 1

    def _say(self, booking: Booking, message: str) -> None:
        log.info("coach %s: %s: %s", self.cfg.email, self._who(booking), message)

    def _who(self, booking: Booking) -> str:
        return f"{one_line(booking.client.name, 60)} ({one_line(booking.event_id, 60)})"

    def _event_label(self, event: CalendarEvent) -> str:
        """The event as the coach finds it in the calendar: title and start, then its id."""
        when = f" on {self._when(event.start)}" if event.start else ""
        return f'"{one_line(event.summary, 80)}"{when} ({one_line(event.id, 80)})'

    def _when(self, moment: datetime) -> str:
        return moment.astimezone(ZoneInfo(self.cfg.timezone)).strftime("%Y-%m-%d %H:%M %Z")

    def _stopping(self) -> bool:
        if self.should_stop():
            self.tally.stopped = True
        return self.tally.stopped


def _off_reason(event: CalendarEvent | None, verdict: Verdict) -> str:
    """Why a tracked booking is off, for the log and the state."""
    if event is None or event.cancelled:
        return "cancelled"
    return "declined by the client" if verdict.declined else "no longer an intro booking"
