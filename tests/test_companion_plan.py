"""`link_placement: companion` in the plans, as a table: the booked event is never written, a
private prep event beside it carries the link and the reminder. No backend, no clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from syncd.detection import Verdict
from syncd.lifecycle import (
    PREP_LENGTH,
    Booking,
    companion,
    companion_begun,
    companion_dropped,
    companion_placed,
    digest,
    draft_queued,
    new_booking,
    note_created,
    note_handed_over,
    note_header,
    on_cancelled,
)
from syncd.model import CalendarEvent, Client, NoteRef
from syncd.plan import (
    PlaceCompanion,
    Plan,
    Policy,
    describe,
    needs_event,
    plan_event,
    plan_followup,
    plan_retry,
    plan_upkeep,
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
    companion=True,
)
CLIENT = Client(name="Jane Doe", email="jane@client.example")
SOON = NOW + timedelta(days=1)


def event(start: datetime = SOON, **kwargs: object) -> CalendarEvent:
    return CalendarEvent(id="e1", summary="Intro", start=start, end=start + timedelta(minutes=30), **kwargs)  # type: ignore[arg-type]


def with_note(start: datetime = SOON) -> Booking:
    made = new_booking("ada", event(start), CLIENT, POLICY.delay, min(NOW, start), POLICY.lookback)
    assert made is not None
    return note_created(made, NoteRef("n1", "file:///n1.md"), digest(note_header(made, POLICY.timezone)))


def placed(start: datetime = SOON, policy: Policy = POLICY) -> Booking:
    """A booking whose note and prep event are as its record says."""
    booking = with_note(start)
    return companion_placed(booking, digest(companion(booking, policy.reminder, policy.timezone)))


def off(booking: Booking) -> Booking:
    """An off booking whose note was already marked cancelled."""
    cancelled = on_cancelled(booking)
    return dataclasses.replace(cancelled, header=digest(note_header(cancelled, POLICY.timezone)))


def kinds(plan: Plan) -> list[str]:
    return [type(step).__name__ for step in plan.steps]


CASES: list[tuple[str, Callable[[], Plan], list[str]]] = [
    (
        "note made, then the prep event: no Annotate, the booked event is not written",
        lambda: plan_event(POLICY, with_note(), event(), Verdict(client=CLIENT), NOW),
        ["PlaceCompanion"],
    ),
    (
        "unchanged booking with its prep event: nothing",
        lambda: plan_event(POLICY, placed(), event(), Verdict(client=CLIENT), NOW),
        [],
    ),
    (
        "rescheduled: the prep event moves with it",
        lambda: plan_event(POLICY, placed(), event(SOON + timedelta(hours=3)), Verdict(client=CLIENT), NOW),
        ["Say", "Change", "UpdateNoteHeader", "PlaceCompanion"],
    ),
    (
        "cancelled: the prep event is deleted, nothing is written into the event",
        lambda: plan_event(POLICY, placed(), CalendarEvent(id="e1", status="cancelled"), Verdict(), NOW),
        ["Cancel", "Say", "UpdateNoteHeader", "DropCompanion"],
    ),
    (
        "the booked event deleted: the prep event is deleted too",
        lambda: plan_event(POLICY, placed(), None, Verdict(), NOW),
        ["Cancel", "Say", "UpdateNoteHeader", "DropCompanion"],
    ),
    (
        "cancelled after a write was begun and never recorded: deleted all the same",
        lambda: plan_event(POLICY, companion_begun(with_note()), None, Verdict(), NOW),
        ["Cancel", "Say", "UpdateNoteHeader", "DropCompanion"],
    ),
    (
        "cancelled before any prep event was begun: nothing to delete",
        lambda: plan_event(POLICY, with_note(), None, Verdict(), NOW),
        ["Cancel", "Say", "UpdateNoteHeader"],
    ),
    (
        "back on after a cancel: the prep event comes back",
        lambda: plan_event(POLICY, companion_dropped(off(placed())), event(), Verdict(client=CLIENT), NOW),
        ["Say", "Change", "UpdateNoteHeader", "PlaceCompanion"],
    ),
    (
        "an off booking whose note went to the client's new booking still loses its prep event",
        lambda: plan_upkeep(POLICY, note_handed_over(off(placed()), "e2"), None, NOW),
        ["DropCompanion"],
    ),
    (
        "an off booking whose prep event is gone: nothing, and no event is needed",
        lambda: plan_retry(POLICY, companion_dropped(off(placed())), None, NOW),
        [],
    ),
]


@pytest.mark.parametrize(("situation", "make", "expected"), CASES, ids=[case[0] for case in CASES])
def test_companion_plan_table(situation: str, make: Callable[[], Plan], expected: list[str]) -> None:
    assert kinds(make()) == expected, situation


def test_the_prep_event_starts_a_reminder_before_the_session_and_ends_at_its_start() -> None:
    booking = placed()
    [step] = plan_event(POLICY, with_note(), event(), Verdict(client=CLIENT), NOW).steps
    assert isinstance(step, PlaceCompanion)
    prep = step.companion
    assert (prep.start, prep.end) == (booking.start - timedelta(minutes=10), booking.start)
    assert prep.title == "Prep: intro with Jane Doe" and prep.reminder == timedelta(minutes=10)
    assert "file:///n1.md" in prep.body and "Follow-up: draft will be prepared" in prep.body
    assert prep.booking_id == booking.id and describe(step).startswith('put the prep event "Prep: intro')


def test_without_a_reminder_the_prep_event_has_a_fixed_length_and_no_popup() -> None:
    quiet = dataclasses.replace(POLICY, reminder=None)
    prep = companion(with_note(), quiet.reminder, quiet.timezone)
    assert prep.end - prep.start == PREP_LENGTH and prep.reminder is None


def test_a_hostile_client_name_is_one_line_in_the_prep_title() -> None:
    booking = dataclasses.replace(with_note(), client=Client(name="Eve\r\nBCC: x@evil.example"))
    assert (
        companion(booking, POLICY.reminder, POLICY.timezone).title
        == "Prep: intro with Eve BCC: x@evil.example"
    )


def test_a_queued_draft_rewrites_the_prep_events_status_line() -> None:
    ended = placed(NOW - timedelta(hours=1))
    plan = plan_followup(POLICY, ended, event(NOW - timedelta(hours=1)), Verdict(client=CLIENT), NOW)
    assert kinds(plan) == ["QueueDraft"]
    queued = draft_queued(ended, "d1")
    [step] = plan_upkeep(POLICY, queued, None, NOW).steps
    assert isinstance(step, PlaceCompanion) and "draft waiting" in step.companion.body


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (placed(), False),
        (companion_begun(with_note()), True),  # a crash between begun and done
        (with_note(), True),
        (off(placed()), True),
        (companion_dropped(off(placed())), False),
        (off(with_note()), False),  # never had one
        (note_handed_over(off(placed()), "e2"), True),
    ],
    ids=[
        "placed",
        "begun",
        "not yet",
        "off, not deleted",
        "off, deleted",
        "off, never made",
        "note handed over",
    ],
)
def test_unfinished_knows_when_the_prep_event_is_not_as_recorded(record: Booking, expected: bool) -> None:
    assert unfinished(POLICY, record, NOW) is expected


def test_an_off_booking_never_needs_its_event_read_to_delete_its_prep_event() -> None:
    assert not needs_event(POLICY, off(placed()), NOW)
    assert needs_event(POLICY, placed(), NOW)
