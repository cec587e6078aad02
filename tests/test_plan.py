"""The plan of a booking, as a table: situation in, typed steps out. No backend, no clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from syncd.detection import Verdict
from syncd.errors import BadEvent
from syncd.lifecycle import (
    Booking,
    annotation,
    digest,
    draft_queued,
    linked,
    new_booking,
    note_created,
    note_header,
    on_cancelled,
)
from syncd.linkblock import apply_block
from syncd.model import CalendarEvent, Client, Followup, NoteRef, Phase
from syncd.plan import (
    HISTORY,
    Annotate,
    Cancel,
    Change,
    CreateNote,
    FollowEvent,
    MarkOff,
    Plan,
    Policy,
    QueueDraft,
    Say,
    SkipFollowup,
    Step,
    Track,
    UpdateNoteHeader,
    describe,
    locate,
    needs_event,
    plan_event,
    plan_followup,
    plan_retry,
    plan_upkeep,
    rebook_email,
    resync,
    unfinished,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = Policy(
    coach="ada",
    timezone="Europe/Berlin",
    reminder=timedelta(minutes=10),
    delay=timedelta(minutes=15),
    lookback=timedelta(days=2),
    max_lateness=timedelta(days=7),
    annotates_cancelled=True,
)
CLIENT = Client(name="Jane Doe", email="jane@client.example")
SOON = NOW + timedelta(days=1)
PAST = NOW - timedelta(hours=2)  # a session over, its follow-up due


def event(start: datetime = SOON, *, summary: str = "Intro", **kwargs: object) -> CalendarEvent:
    return CalendarEvent(id="e1", summary=summary, start=start, end=start + timedelta(minutes=30), **kwargs)  # type: ignore[arg-type]


def fresh(start: datetime = SOON, event_id: str = "e1", client: Client = CLIENT) -> Booking:
    # Found when it was made (a booking from before the look-back is found no more).
    found_at = min(NOW, start)
    made = new_booking(
        "ada", dataclasses.replace(event(start), id=event_id), client, POLICY.delay, found_at, POLICY.lookback
    )
    assert made is not None
    return made


def linked_booking(start: datetime = SOON, client: Client = CLIENT) -> Booking:
    """A booking whose note and event are written as its record says."""
    with_note = fresh(start, client=client)
    with_note = note_created(
        with_note, NoteRef("n1", "file:///n1.md"), digest(note_header(with_note, POLICY.timezone))
    )
    return linked(with_note, digest(annotation(with_note, POLICY.reminder, POLICY.timezone)))


def annotated_event(booking: Booking, start: datetime = SOON, **kwargs: object) -> CalendarEvent:
    """The booking's event as syncd left it: with its block."""
    plain = event(start, **kwargs)
    block = apply_block(plain.description, annotation(booking, POLICY.reminder, POLICY.timezone))
    return dataclasses.replace(plain, description=block)


def booked(client: Client = CLIENT) -> Verdict:
    return Verdict(client=client)


def settled(booking: Booking) -> Booking:
    """The record after an off booking's note and event were told."""
    header = digest(note_header(booking, POLICY.timezone))
    wanted = digest(annotation(booking, POLICY.reminder, POLICY.timezone))
    return dataclasses.replace(booking, header=header, annotated=wanted)


LONG_AGO = NOW - HISTORY - timedelta(days=1)


def header_told(booking: Booking) -> Booking:
    """The record after an off booking's note was marked, its event not yet."""
    return dataclasses.replace(booking, header=digest(note_header(booking, POLICY.timezone)))


def kinds(plan: Plan) -> list[str]:
    return [type(step).__name__ for step in plan.steps]


def said(plan: Plan) -> str:
    return "\n".join(step.message for step in plan.steps if isinstance(step, Say))


def only(plan: Plan, kind: type[Step]) -> Step:
    [step] = [s for s in plan.steps if isinstance(s, kind)]
    return step


CASES: list[tuple[str, Callable[[], Plan], list[str], str]] = [
    (
        "new booking: tracked, then its note made (the link follows once the note exists)",
        lambda: plan_event(POLICY, None, event(), booked(), NOW),
        ["Say", "Track", "CreateNote"],
        "detected intro booking on 2026-12-02 13:00 CET",
    ),
    (
        "new booking over before the look-back: nothing",
        lambda: plan_event(POLICY, None, event(NOW - timedelta(days=3)), booked(), NOW),
        [],
        "",
    ),
    (
        "unchanged linked booking: nothing",
        lambda: plan_event(POLICY, linked_booking(), annotated_event(linked_booking()), booked(), NOW),
        [],
        "",
    ),
    (
        "rescheduled: the change, the header and the event rewritten",
        lambda: plan_event(POLICY, linked_booking(), event(SOON + timedelta(days=1)), booked(), NOW),
        ["Say", "Change", "UpdateNoteHeader", "Annotate"],
        "rescheduled to 2026-12-03 13:00 CET; follow-up moves with it",
    ),
    (
        "retitled client name only: changed, no reschedule line",
        lambda: plan_event(
            POLICY, linked_booking(), event(summary="Intro!"), booked(Client("Jane D.", CLIENT.email)), NOW
        ),
        ["Change", "UpdateNoteHeader", "Annotate"],
        "",
    ),
    (
        "cancelled: off, follow-up withdrawn, note marked; a stub without block is only recorded",
        lambda: plan_event(
            POLICY, linked_booking(), CalendarEvent(id="e1", status="cancelled"), Verdict(), NOW
        ),
        ["Cancel", "Say", "UpdateNoteHeader", "MarkOff"],
        "Jane Doe (e1): cancelled; follow-up withdrawn",
    ),
    (
        "deleted (no event at all): as cancelled",
        lambda: plan_event(POLICY, linked_booking(), None, Verdict(), NOW),
        ["Cancel", "Say", "UpdateNoteHeader", "MarkOff"],
        "cancelled; follow-up withdrawn",
    ),
    (
        "declined by the client: off, and the event's block is marked off",
        lambda: plan_event(
            POLICY, linked_booking(), annotated_event(linked_booking()), Verdict(declined=True), NOW
        ),
        ["Cancel", "Say", "UpdateNoteHeader", "MarkOff"],
        "declined by the client; follow-up withdrawn",
    ),
    (
        "retitled so it is no longer an intro: off",
        lambda: plan_event(
            POLICY, linked_booking(), annotated_event(linked_booking(), summary="Lunch"), Verdict(), NOW
        ),
        ["Cancel", "Say", "UpdateNoteHeader", "MarkOff"],
        "no longer an intro booking",
    ),
    (
        "an event that looks like a booking but cannot be used: one warning, nothing else",
        lambda: plan_event(POLICY, None, event(), Verdict(problem="names no client"), NOW),
        ["Say"],
        'event "Intro" on 2026-12-02 13:00 CET (e1): names no client',
    ),
    (
        "an already off booking whose event is still off: nothing",
        lambda: plan_event(POLICY, settled(on_cancelled(linked_booking())), None, Verdict(), NOW),
        [],
        "",
    ),
    (
        "back on: reinstated, written again",
        lambda: plan_event(POLICY, settled(on_cancelled(linked_booking())), event(), booked(), NOW),
        ["Say", "Change", "UpdateNoteHeader", "Annotate"],
        "booking is back on",
    ),
    (
        "cancelled then rebooked: the new booking takes over the cancelled one's note",
        lambda: plan_event(POLICY, None, event(), booked(), NOW, rebook=on_cancelled(linked_booking())),
        ["Say", "Track", "CreateNote"],
        "",
    ),
    (
        "unknown client zone: said once, when found",
        lambda: plan_event(POLICY, None, event(), booked(Client("Jane", "j@x.example", "Mars/Olympus")), NOW),
        ["Say", "Say", "Track", "CreateNote"],
        "client time zone 'Mars/Olympus' not understood",
    ),
    (
        "note missing (a crash before it was made): made now",
        lambda: plan_upkeep(POLICY, fresh(), event(), NOW),
        ["CreateNote"],
        "",
    ),
    (
        "already linked: nothing",
        lambda: plan_upkeep(POLICY, linked_booking(), event(), NOW),
        [],
        "",
    ),
    (
        "note made, link not yet written: the link",
        lambda: plan_upkeep(POLICY, dataclasses.replace(linked_booking(), annotated=""), event(), NOW),
        ["Annotate"],
        "",
    ),
    (
        "follow-up due: queued",
        lambda: plan_followup(
            POLICY, linked_booking(PAST), annotated_event(linked_booking(PAST), PAST), booked(), NOW
        ),
        ["QueueDraft"],
        "",
    ),
    (
        "follow-up not due yet: nothing",
        lambda: plan_followup(POLICY, linked_booking(), annotated_event(linked_booking()), booked(), NOW),
        [],
        "",
    ),
    (
        "follow-up too late: skipped, said, the event's status line rewritten",
        lambda: plan_followup(
            POLICY, linked_booking(NOW - timedelta(days=8)), event(NOW - timedelta(days=8)), booked(), NOW
        ),
        ["SkipFollowup", "Say", "Annotate"],
        "follow-up skipped: 7d23h15m overdue, more than max_lateness",
    ),
    (
        "follow-up with no client email: skipped",
        lambda: plan_followup(
            POLICY, linked_booking(PAST, Client("Jane")), event(PAST), booked(Client("Jane")), NOW
        ),
        ["SkipFollowup", "Say", "Annotate"],
        "follow-up skipped: the booking has no client email address",
    ),
    (
        "follow-up due but the event moved: changed first, then the draft",
        lambda: plan_followup(POLICY, linked_booking(PAST), event(PAST - timedelta(hours=1)), booked(), NOW),
        ["Say", "Change", "UpdateNoteHeader", "Annotate", "QueueDraft"],
        "rescheduled to",
    ),
    (
        "follow-up due but the event is gone: off, never the old follow-up",
        lambda: plan_followup(POLICY, linked_booking(PAST), None, Verdict(), NOW),
        ["Cancel", "Say", "UpdateNoteHeader", "MarkOff"],
        "cancelled; follow-up withdrawn",
    ),
    (
        "follow-up queued: the event's status line follows",
        lambda: plan_followup(
            POLICY,
            draft_queued(linked_booking(PAST), "d1"),
            annotated_event(linked_booking(PAST), PAST),
            booked(),
            NOW,
        ),
        ["Annotate"],
        "",
    ),
    (
        "history: an off booking long over is not looked for in the calendar",
        lambda: plan_upkeep(
            POLICY,
            dataclasses.replace(on_cancelled(linked_booking(LONG_AGO)), header="x"),
            None,
            NOW,
        ),
        ["UpdateNoteHeader"],
        "",
    ),
]


@pytest.mark.parametrize(("situation", "make", "expected", "saying"), CASES, ids=[c[0] for c in CASES])
def test_plan_steps(situation: str, make: Callable[[], Plan], expected: list[str], saying: str) -> None:
    """Each situation plans exactly these steps, in this order, and says what it should."""
    plan = make()
    assert kinds(plan) == expected, [describe(s) for s in plan.steps]
    assert saying in said(plan)
    # A step that learns something (the note's address, the draft) comes last: the pass plans
    # again from the record it leaves, so nothing after it could be right.
    assert all(not step.replan for step in plan.steps[:-1])


def test_new_booking_is_recorded_detected_with_its_follow_up_due() -> None:
    plan = plan_event(POLICY, None, event(), booked(), NOW)
    track = only(plan, Track)
    assert isinstance(track, Track)
    assert track.booking.phase is Phase.DETECTED and track.booking.followup is Followup.PENDING
    assert track.booking.followup_due == SOON + timedelta(minutes=45)
    create = only(plan, CreateNote)
    assert isinstance(create, CreateNote) and create.reuse is None
    assert create.header == plan.header and plan.annotation is None  # no note yet, no link


def test_rebooked_client_takes_over_the_cancelled_note() -> None:
    cancelled = on_cancelled(linked_booking())
    create = only(plan_event(POLICY, None, event(), booked(), NOW, rebook=cancelled), CreateNote)
    assert isinstance(create, CreateNote) and create.reuse == cancelled


def test_a_copy_of_a_booked_event_is_not_a_booking_of_its_own() -> None:
    """Same UID in another file (a sync conflict): while the original is booked, the copy gets
    no note, no link and no draft; once the original is off, the copy may be booked."""
    copy = dataclasses.replace(event(), id="e1 (in copy.ics)", copy_of="e1")
    plan = plan_event(POLICY, None, copy, booked(), NOW, original=linked_booking())
    assert not [s for s in plan.steps if not isinstance(s, Say)]
    assert any(isinstance(s, Say) and s.warning and "copy" in s.message for s in plan.steps)
    off = on_cancelled(linked_booking())
    assert only(plan_event(POLICY, None, copy, booked(), NOW, original=off), Track)


def test_reschedule_moves_the_follow_up_and_writes_the_new_time() -> None:
    later = SOON + timedelta(days=1)
    plan = plan_event(POLICY, linked_booking(), event(later), booked(), NOW)
    change = only(plan, Change)
    assert isinstance(change, Change) and change.booking.followup_due == later + timedelta(minutes=45)
    header, annotate = only(plan, UpdateNoteHeader), only(plan, Annotate)
    assert isinstance(header, UpdateNoteHeader) and header.header.start == later and header.relocate
    assert isinstance(annotate, Annotate) and annotate.annotation == plan.annotation
    assert "3 Dec 2026" in annotate.annotation.status_line


def test_cancel_marks_the_note_without_looking_for_it_and_strikes_the_events_block() -> None:
    """A cancelled booking's note that moved is left alone (relocate off); its event, still in
    the calendar with syncd's block, is told the session is off and loses the reminder."""
    booking = linked_booking()
    plan = plan_event(POLICY, booking, annotated_event(booking), Verdict(declined=True), NOW)
    cancel, header, mark = only(plan, Cancel), only(plan, UpdateNoteHeader), only(plan, MarkOff)
    assert isinstance(cancel, Cancel) and cancel.booking.followup is Followup.WITHDRAWN
    assert cancel.booking.reason == "declined by the client"
    assert isinstance(header, UpdateNoteHeader) and header.header.cancelled and not header.relocate
    assert header.what == "mark the note cancelled"
    assert isinstance(mark, MarkOff) and mark.event is not None and mark.annotation.reminder is None


def test_calendar_that_drops_cancelled_events_is_not_marked() -> None:
    policy = dataclasses.replace(POLICY, annotates_cancelled=False)
    booking = linked_booking()
    plan = plan_event(policy, booking, annotated_event(booking), Verdict(declined=True), NOW)
    assert kinds(plan) == ["Cancel", "Say", "UpdateNoteHeader"]


def test_queued_follow_up_is_kept_when_the_session_is_cancelled_after() -> None:
    queued = draft_queued(linked_booking(PAST), "d1")
    plan = plan_event(POLICY, queued, None, Verdict(), NOW)
    cancel = only(plan, Cancel)
    assert isinstance(cancel, Cancel) and cancel.booking.followup is Followup.QUEUED
    assert "withdrawn" not in said(plan)
    assert plan.annotation is not None and "still in your drafts folder" in plan.annotation.status_line


def test_follow_up_names_its_recipient_and_carries_the_header_to_find_a_moved_note() -> None:
    booking = linked_booking(PAST)
    plan = plan_followup(POLICY, booking, annotated_event(booking, PAST), booked(), NOW)
    draft = only(plan, QueueDraft)
    assert isinstance(draft, QueueDraft) and draft.recipient == "jane@client.example"
    assert draft.header == note_header(booking, POLICY.timezone)


def test_skipped_follow_up_is_recorded_with_its_reason() -> None:
    late = linked_booking(NOW - timedelta(days=8))
    skip = only(plan_followup(POLICY, late, event(NOW - timedelta(days=8)), booked(), NOW), SkipFollowup)
    assert isinstance(skip, SkipFollowup) and skip.booking.followup is Followup.SKIPPED
    assert skip.booking.reason.endswith("overdue, more than max_lateness")


@pytest.mark.parametrize(
    ("situation", "booking", "expected"),
    [
        ("linked and written", linked_booking(), False),
        ("no note yet", fresh(), True),
        ("off with no note", on_cancelled(fresh()), False),
        ("header not written", dataclasses.replace(linked_booking(), header="old"), True),
        ("link not written", dataclasses.replace(linked_booking(), annotated="old"), True),
        ("off, all told", settled(on_cancelled(linked_booking())), False),
        ("off, note told, event on, history", header_told(on_cancelled(linked_booking(LONG_AGO))), False),
        ("off, note told, event on, recent", header_told(on_cancelled(linked_booking(PAST))), True),
    ],
)
def test_unfinished_bookings_are_the_ones_the_retry_picks(
    situation: str, booking: Booking, expected: bool
) -> None:
    """What the retry stage picks up: the record says more than was written."""
    assert unfinished(POLICY, booking, NOW) is expected, situation


def test_retry_reads_the_event_when_on_and_when_off_only_if_its_block_may_need_marking() -> None:
    assert needs_event(POLICY, header_told(on_cancelled(linked_booking())), NOW)
    assert not needs_event(POLICY, header_told(on_cancelled(linked_booking(LONG_AGO))), NOW)
    assert not needs_event(POLICY, settled(on_cancelled(linked_booking())), NOW)
    assert needs_event(POLICY, linked_booking(), NOW)


def test_retry_of_a_booking_whose_event_is_gone_cancels_it_and_of_an_off_one_tells_its_event() -> None:
    booking = linked_booking()
    assert not resync(booking, None) and not resync(booking, CalendarEvent(id="e1", status="cancelled"))
    assert resync(booking, event()) and not resync(on_cancelled(booking), event())
    assert kinds(plan_retry(POLICY, booking, None, NOW)) == ["Cancel", "Say", "UpdateNoteHeader", "MarkOff"]
    off = header_told(on_cancelled(booking))
    mark = only(plan_retry(POLICY, off, annotated_event(booking), NOW), MarkOff)
    assert isinstance(mark, MarkOff) and mark.event is not None


def test_only_a_new_booking_looks_for_a_cancelled_one_to_reuse() -> None:
    assert rebook_email(None, booked()) == "jane@client.example"
    assert rebook_email(linked_booking(), booked()) == ""
    assert rebook_email(None, Verdict()) == ""


def test_series_moved_the_booking_follows_its_new_event() -> None:
    before = fresh(event_id="e0")
    moved = dataclasses.replace(event(), moved_from="e0")
    plan = locate(moved, None, None, before)
    follow = only(plan, FollowEvent)
    assert (
        isinstance(follow, FollowEvent) and follow.booking.event_id == "e1" and plan.booking == follow.booking
    )
    assert "its series moved; it is now event e1" in said(plan)


def test_series_moved_back_an_off_booking_follows_this_event_again() -> None:
    found = dataclasses.replace(on_cancelled(fresh()), event_id="e9")
    plan = locate(event(), found, None, None)
    assert (
        kinds(plan) == ["Say", "FollowEvent"] and plan.booking is not None and plan.booking.event_id == "e1"
    )


def test_event_whose_booking_follows_another_event_that_is_on_is_left_alone() -> None:
    found = dataclasses.replace(fresh(), event_id="e9")
    with pytest.raises(BadEvent, match="now event e9"):
        locate(event(), found, None, None)


def test_known_booking_is_found_as_its_event() -> None:
    booking = linked_booking()
    assert locate(event(), booking, booking, None) == Plan(booking)
