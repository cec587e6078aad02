"""What to do about one booking, decided without doing any of it.

Pure functions (no I/O, no logging, no clock: `now` is an argument) from a booking record, its
event as just read, the detection verdict and the coach's settings to a `Plan`: the note header
and event annotation the booking should have, each built once, and the typed steps that get it
there. `syncd.coach_pass` only runs the steps: it records the intent, does the effect, records
the result. A step whose outcome the plan cannot know (the note's address after `CreateNote`,
the draft after `QueueDraft`, a note the coach moved) ends the plan's run, and the pass plans
again from the record it left: planning a booking that is up to date yields no steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from syncd.client_zones import client_zone
from syncd.detection import Verdict
from syncd.durations import format_duration
from syncd.errors import BadEvent
from syncd.followup import address_problem
from syncd.lifecycle import (
    Booking,
    Decision,
    annotation,
    companion,
    digest,
    fingerprint,
    follows_event,
    followup_decision,
    followup_skipped,
    may_have_companion,
    new_booking,
    note_header,
    on_cancelled,
    on_changed,
)
from syncd.linkblock import find_note_url
from syncd.model import Annotation, CalendarEvent, Companion, Followup, NoteHeader, Phase
from syncd.text import one_line
from syncd.timefmt import format_log_time

# Sessions over longer ago than this (or the look-back, if longer), whose records have not
# changed since, are history: a changed zone, reminder or wording is not written into them.
HISTORY = timedelta(days=30)


@dataclass(frozen=True)
class Policy:
    """What a coach's configuration (and calendar backend) says that plans depend on."""

    coach: str  # the coach's key
    timezone: str
    reminder: timedelta | None
    delay: timedelta  # from a session's end to its follow-up
    lookback: timedelta
    max_lateness: timedelta
    annotates_cancelled: bool  # the calendar keeps cancelled events, so they can be marked off
    companion: bool = False  # `link_placement: companion`: the booked event is never written


# --- steps ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Say:
    """A line for the coach's log (the pass prefixes the coach)."""

    message: str
    warning: bool = False
    replan: ClassVar[bool] = False


@dataclass(frozen=True)
class Transition:
    """Record `booking`, the record after a change the plan decided (built in lifecycle.py)."""

    booking: Booking
    replan: ClassVar[bool] = False


@dataclass(frozen=True)
class Track(Transition):
    """A booking seen for the first time."""


@dataclass(frozen=True)
class FollowEvent(Transition):
    """The session's series moved: its booking follows the event it now is."""


@dataclass(frozen=True)
class Change(Transition):
    """The event changed (time, client, back on) and is still a booking."""


@dataclass(frozen=True)
class Cancel(Transition):
    """The event was cancelled, deleted, declined or stopped being an intro."""


@dataclass(frozen=True)
class SkipFollowup(Transition):
    """The follow-up will never be drafted (too late, nobody to send it to)."""


@dataclass(frozen=True)
class CreateNote:
    """Make the session note (with `header`), or take over the note of `reuse`, the client's
    booking cancelled a moment ago."""

    header: NoteHeader
    reuse: Booking | None = None
    replan: ClassVar[bool] = True  # the note's address is known only once it is made


@dataclass(frozen=True)
class UpdateNoteHeader:
    """Rewrite the note's header; `relocate`: a note no longer where it was is looked for (or
    made again) rather than left alone."""

    header: NoteHeader
    what: str
    relocate: bool
    replan: ClassVar[bool] = False


@dataclass(frozen=True)
class Annotate:
    """Write the note link, reminder and status line into the event."""

    event: CalendarEvent
    annotation: Annotation
    replan: ClassVar[bool] = False


@dataclass(frozen=True)
class MarkOff:
    """Tell an off booking's event the session is off; `event` is None when there is no block
    of syncd's to rewrite (deleted, stripped): then it is only recorded as done."""

    event: CalendarEvent | None
    annotation: Annotation
    replan: ClassVar[bool] = False


@dataclass(frozen=True)
class PlaceCompanion:
    """Create the booking's private prep event, or bring it up to `companion` (moved, relinked,
    a new status line). Stands for `Annotate` with `link_placement: companion`."""

    companion: Companion
    replan: ClassVar[bool] = False


@dataclass(frozen=True)
class DropCompanion:
    """Delete the prep event of a booking that is off (nothing when there is none)."""

    booking_id: str
    replan: ClassVar[bool] = False


@dataclass(frozen=True)
class QueueDraft:
    """Put the follow-up draft into the coach's drafts folder; `header` finds a moved note."""

    header: NoteHeader
    recipient: str
    replan: ClassVar[bool] = True  # the status line in the event changes with it


Step = (
    Say
    | Track
    | FollowEvent
    | Change
    | Cancel
    | SkipFollowup
    | CreateNote
    | UpdateNoteHeader
    | Annotate
    | MarkOff
    | PlaceCompanion
    | DropCompanion
    | QueueDraft
)


@dataclass(frozen=True)
class Plan:
    """The booking's record once the plan's transitions are made, what its note header and
    event annotation should be (None without a booking or note), and the steps to get there."""

    booking: Booking | None
    header: NoteHeader | None = None
    annotation: Annotation | None = None
    steps: tuple[Step, ...] = ()


# --- plans ----------------------------------------------------------------------------------


def locate(
    event: CalendarEvent, found: Booking | None, following: Booking | None, before: Booking | None
) -> Plan:
    """The booking `event` is: `found` under the event's booking id, `following` the event (its
    series moved here), or `before`, the one following the event it moved from.

    Raises BadEvent when the booking found as this event follows another one that is still on.
    """
    booking = found if found is not None and found.event_id == event.id else following
    if booking is None and found is not None:
        if found.active:  # a new booking under its id would overwrite the record
            raise BadEvent(
                f"the session this event was is now event {one_line(found.event_id, 80)}; "
                "left alone while that one is on"
            )
        # Its series moved back (an undo, a restored file): it follows this event again.
        moved = follows_event(found, event.id)
        message = f"{who(found)}: its series moved back; it is event {one_line(event.id, 80)} again"
        return Plan(moved, steps=(Say(message), FollowEvent(moved)))
    if booking is None and event.moved_from and before is not None:
        # The same session, rescheduled with its series: not a cancel and a new booking.
        moved = follows_event(before, event.id)
        message = f"{who(before)}: its series moved; it is now event {one_line(event.id, 80)}"
        return Plan(moved, steps=(Say(message), FollowEvent(moved)))
    return Plan(booking)


def plan_event(
    policy: Policy,
    booking: Booking | None,
    event: CalendarEvent | None,
    verdict: Verdict,
    now: datetime,
    rebook: Booking | None = None,
    original: Booking | None = None,
) -> Plan:
    """The plan for `booking` (None: not tracked yet) after reading `event` (None: deleted).

    `rebook` is the client's booking cancelled lately, whose note a new booking takes over.
    `original` is the booking of the event `event` is a copy of (`CalendarEvent.copy_of`): while
    that one is on, the copy is not a booking of its own (one note, one draft per client).
    """
    steps: list[Step] = []
    if event is not None and original is not None and original.active and verdict.client is not None:
        verdict = Verdict(
            problem=f"its UID is also the booked event {one_line(original.event_id, 80)} in another "
            "file; this copy is left alone"
        )
    if verdict.client is None:
        if verdict.problem and event is not None:
            steps.append(Say(f"event {event_label(event, policy.timezone)}: {verdict.problem}", warning=True))
        if booking is None or not booking.active:
            return Plan(booking, steps=tuple(steps))
        return _then(policy, _cancel(booking, off_reason(event, verdict), steps), event, now, steps)
    assert event is not None  # a verdict with a client is about an event
    if booking is None:
        made = new_booking(policy.coach, event, verdict.client, policy.delay, now, policy.lookback)
        if made is None:
            return Plan(None)
        steps.append(Say(f"{who(made)}: detected intro booking on {when(made.start, policy.timezone)}"))
        steps.extend(_zone_warning(made, previous=""))
        steps.append(Track(made))
        return _then(policy, made, event, now, steps, reuse=rebook)
    if booking.fingerprint != fingerprint(event) or not booking.active:
        booking = _change(policy, booking, event, verdict, steps)
    return _then(policy, booking, event, now, steps)


def plan_followup(
    policy: Policy, booking: Booking, event: CalendarEvent | None, verdict: Verdict, now: datetime
) -> Plan:
    """The plan for a booking whose follow-up is due, after reading its event again: a
    cancelled or moved booking never gets the old follow-up."""
    steps: list[Step] = []
    if event is None or verdict.client is None:
        if not booking.active:
            return Plan(booking)
        return _then(policy, _cancel(booking, off_reason(event, verdict), steps), event, now, steps)
    if booking.fingerprint != fingerprint(event):
        booking = _change(policy, booking, event, verdict, steps)
    decision = followup_decision(booking, now, policy.max_lateness)
    skip = ""
    if decision is Decision.SKIP:
        late = now - booking.followup_due
        skip = f"{format_duration(late - late % timedelta(minutes=1))} overdue, more than max_lateness"
    elif decision is Decision.SEND and not booking.client.email:
        skip = "the booking has no client email address"
    elif decision is Decision.SEND and (problem := address_problem(booking.client.email)):
        skip = f"unusable client email: {problem}"
    if skip:
        booking = followup_skipped(booking, skip)
        steps += [SkipFollowup(booking), Say(f"{who(booking)}: follow-up skipped: {skip}", warning=True)]
    plan = _then(policy, booking, event, now, steps)
    if decision is Decision.SEND and not skip:
        assert plan.header is not None  # a follow-up is sent only for a booking with a note
        draft = QueueDraft(plan.header, one_line(booking.client.email, 120))
        return Plan(plan.booking, plan.header, plan.annotation, (*plan.steps, draft))
    return plan


def plan_upkeep(policy: Policy, booking: Booking, event: CalendarEvent | None, now: datetime) -> Plan:
    """The plan for a booking whose record is as wanted: bring its note and event up to it.

    `event` is needed only for an annotation (see `needs_event`)."""
    return _then(policy, booking, event, now, [])


def needs_event(policy: Policy, booking: Booking, now: datetime) -> bool:
    """Whether retrying `booking` needs its event read: always while it is on, for an off
    booking only when the event's block may need marking."""
    if booking.active:
        return True
    if booking.note is None or policy.companion:  # a companion is found by its booking
        return False
    return _mark_pending(policy, booking, annotation(booking, policy.reminder, policy.timezone), now)


def resync(booking: Booking, event: CalendarEvent | None) -> bool:
    """Whether a booking being retried is handled as a change of its event, which is live."""
    return booking.active and event is not None and not event.cancelled


def plan_retry(policy: Policy, booking: Booking, event: CalendarEvent | None, now: datetime) -> Plan:
    """The plan for an unfinished booking (see `unfinished`) whose event is not live (see
    `resync`): one on whose event is gone is off; an off one gets its note and event told."""
    if booking.active:
        return plan_event(policy, booking, event, Verdict(), now)
    return plan_upkeep(policy, booking, event, now)


def rebook_email(booking: Booking | None, verdict: Verdict) -> str:
    """The client whose lately cancelled booking may lend its note to this new one ("": none)."""
    return verdict.client.email if booking is None and verdict.client is not None else ""


def unfinished(policy: Policy, booking: Booking, now: datetime) -> bool:
    """Whether the booking's note, note header or event annotation is not what its record
    says it should be: a failure or a crash came between recording a change and writing it."""
    if policy.companion and not booking.active and may_have_companion(booking):
        return True  # also when its note went to the client's new booking
    if booking.note is None:
        return booking.active
    if booking.header != digest(note_header(booking, policy.timezone)):
        return True
    if policy.companion:
        return booking.active and booking.annotated != digest(
            companion(booking, policy.reminder, policy.timezone)
        )
    wanted = annotation(booking, policy.reminder, policy.timezone)
    if not booking.active:
        return _mark_pending(policy, booking, wanted, now)
    return booking.annotated != digest(wanted)


def history_start(policy: Policy, now: datetime) -> datetime:
    """Sessions over before this are history (see `HISTORY`)."""
    return now - max(HISTORY, policy.lookback)


def _then(
    policy: Policy,
    booking: Booking,
    event: CalendarEvent | None,
    now: datetime,
    steps: list[Step],
    reuse: Booking | None = None,
) -> Plan:
    """`steps`, then what brings the note and the event up to `booking`."""
    header = note_header(booking, policy.timezone)
    if booking.note is None:
        if booking.active:
            steps.append(CreateNote(header, reuse))
        elif policy.companion and may_have_companion(booking):  # its note went to a new booking
            steps.append(DropCompanion(booking.id))
        return Plan(booking, header, None, tuple(steps))
    wanted = annotation(booking, policy.reminder, policy.timezone)
    if booking.header != digest(header):
        what = "update the note's header" if booking.active else "mark the note cancelled"
        steps.append(UpdateNoteHeader(header, what, relocate=booking.active))
    if policy.companion:
        steps.extend(_companion_steps(policy, booking))
    elif booking.active:
        if event is not None and booking.annotated != digest(wanted):
            steps.append(Annotate(event, wanted))
    elif _mark_pending(policy, booking, wanted, now):
        # A deleted event, or one whose block is gone, is left as it is.
        marked = event if event is not None and find_note_url(event.description) else None
        steps.append(MarkOff(marked, wanted))
    return Plan(booking, header, wanted, tuple(steps))


def _companion_steps(policy: Policy, booking: Booking) -> list[Step]:
    """With `link_placement: companion`: the prep event an on booking should have, or the
    deletion of an off one's. The booked event itself is not needed, nor ever written."""
    if not booking.active:
        return [DropCompanion(booking.id)] if may_have_companion(booking) else []
    wanted = companion(booking, policy.reminder, policy.timezone)
    return [] if booking.annotated == digest(wanted) else [PlaceCompanion(wanted)]


def _change(
    policy: Policy, booking: Booking, event: CalendarEvent, verdict: Verdict, steps: list[Step]
) -> Booking:
    """Add the steps of a booking whose event changed; the record after them."""
    assert verdict.client is not None
    changed = on_changed(booking, event, verdict.client, policy.delay)
    steps.extend(_zone_warning(changed, previous=booking.client.timezone))
    if changed.start != booking.start or changed.end != booking.end:
        moved = when(changed.start, policy.timezone)
        steps.append(Say(f"{who(changed)}: rescheduled to {moved}; follow-up moves with it"))
    if booking.phase is Phase.CANCELLED:
        steps.append(Say(f"{who(changed)}: booking is back on"))
    steps.append(Change(changed))
    return changed


def _cancel(booking: Booking, reason: str, steps: list[Step]) -> Booking:
    """Add the steps of a booking that is off; the record after them."""
    withdrawn = booking.followup is Followup.PENDING
    off = on_cancelled(booking, reason)
    steps += [
        Cancel(off),
        Say(f"{who(off)}: {reason}; follow-up withdrawn" if withdrawn else f"{who(off)}: {reason}"),
    ]
    return off


def _zone_warning(booking: Booking, previous: str) -> list[Step]:
    """One line when the booking names a client zone syncd does not understand: said when
    the booking is found or its zone changes, not on every pass."""
    value = booking.client.timezone
    if not value.strip() or value == previous or client_zone(value) is not None:
        return []
    message = (
        f"{who(booking)}: client time zone {one_line(value, 80)!r} not understood; "
        "times are shown in the coach's zone only"
    )
    return [Say(message, warning=True)]


def _mark_pending(policy: Policy, booking: Booking, wanted: Annotation, now: datetime) -> bool:
    """True while an off booking's event may still carry the block of when it was on.

    History is left alone: a session long past is not worth searching the calendar for
    (a deleted event's file is looked for in every file).
    """
    if booking.note is None or not booking.annotated or not policy.annotates_cancelled:
        return False
    if booking.end < history_start(policy, now):
        return False
    return booking.annotated != digest(wanted)


def off_reason(event: CalendarEvent | None, verdict: Verdict) -> str:
    """Why a tracked booking is off, for the log and the state."""
    if event is None or event.cancelled:
        return "cancelled"
    return "declined by the client" if verdict.declined else "no longer an intro booking"


def who(booking: Booking) -> str:
    """The booking as the coach's log names it: client, then event id."""
    return f"{one_line(booking.client.name, 60)} ({one_line(booking.event_id, 60)})"


def event_label(event: CalendarEvent, timezone: str) -> str:
    """The event as the coach finds it in the calendar: title and start, then its id."""
    start = f" on {when(event.start, timezone)}" if event.start else ""
    return f'"{one_line(event.summary, 80)}"{start} ({one_line(event.id, 80)})'


def when(moment: datetime, timezone: str) -> str:
    """`moment` in the coach's zone, to the minute."""
    return format_log_time(moment, ZoneInfo(timezone))


def describe(step: Step) -> str:
    """One line for a dry run or a test: the step's kind and what it is about."""
    match step:
        case Say():
            return f"say {step.message}"
        case Transition():
            return f"{type(step).__name__} {who(step.booking)}: {step.booking.phase}, follow-up {step.booking.followup}"
        case CreateNote():
            taken = f" (taking over {step.reuse.event_id}'s)" if step.reuse else ""
            return f"create the session note{taken}"
        case UpdateNoteHeader():
            return step.what
        case Annotate():
            return "write the note link into the event"
        case MarkOff():
            return "mark the event's link block off" if step.event else "record the event as marked off"
        case PlaceCompanion():
            return f'put the prep event "{step.companion.title}" beside the session'
        case DropCompanion():
            return "delete the prep event beside the session"
        case QueueDraft():
            return f"queue the follow-up draft to {step.recipient}"
