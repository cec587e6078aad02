"""The booking lifecycle as pure transitions, with a fixed clock."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from syncd.lifecycle import (
    Decision,
    annotation,
    fingerprint,
    followup_decision,
    new_booking,
    note_header,
    on_cancelled,
    on_changed,
)
from syncd.linkblock import apply_block
from syncd.model import CalendarEvent, Client, Followup, NoteRef, Phase

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DELAY = timedelta(minutes=15)
LOOKBACK = timedelta(days=2)
CLIENT = Client(name="Jane Doe", email="jane@client.example")


def event(start: datetime, minutes: int = 30, **kwargs: object) -> CalendarEvent:
    return CalendarEvent(
        id="e1", summary="Intro", start=start, end=start + timedelta(minutes=minutes), **kwargs
    )  # type: ignore[arg-type]


def booking(start: datetime = NOW + timedelta(hours=1)):  # type: ignore[no-untyped-def]
    made = new_booking("ada@coach.example", event(start), CLIENT, DELAY, NOW, LOOKBACK)
    assert made is not None
    return dataclasses.replace(made, note=NoteRef("n", "file:///n.md"), phase=Phase.LINKED)


def test_follow_up_is_due_at_event_end_plus_delay() -> None:
    b = booking()
    assert b.followup_due == NOW + timedelta(hours=1, minutes=30) + DELAY
    assert followup_decision(b, b.followup_due - timedelta(seconds=1), timedelta(days=7)) is Decision.WAIT
    assert followup_decision(b, b.followup_due, timedelta(days=7)) is Decision.SEND


def test_booking_that_ended_before_the_lookback_window_is_ignored() -> None:
    old = event(NOW - LOOKBACK - timedelta(hours=1))
    assert new_booking("c", old, CLIENT, DELAY, NOW, LOOKBACK) is None
    recent = event(NOW - LOOKBACK + timedelta(hours=1))
    assert new_booking("c", recent, CLIENT, DELAY, NOW, LOOKBACK) is not None


def test_reschedule_moves_the_due_time() -> None:
    b = booking()
    moved = on_changed(b, event(NOW + timedelta(days=1)), CLIENT, DELAY)
    assert moved.followup_due == NOW + timedelta(days=1, minutes=30) + DELAY
    assert moved.phase is Phase.LINKED


def test_cancel_withdraws_a_pending_follow_up_but_keeps_a_queued_one() -> None:
    assert on_cancelled(booking()).followup is Followup.WITHDRAWN
    queued = dataclasses.replace(booking(), followup=Followup.QUEUED)
    assert on_cancelled(queued).followup is Followup.QUEUED
    assert (
        followup_decision(on_cancelled(booking()), NOW + timedelta(days=1), timedelta(days=7))
        is Decision.WAIT
    )


def test_reinstated_booking_gets_its_follow_up_back_and_is_linked_again() -> None:
    cancelled = on_cancelled(booking())
    back = on_changed(cancelled, event(NOW + timedelta(hours=1)), CLIENT, DELAY)
    assert back.phase is Phase.NOTE_CREATED and back.followup is Followup.PENDING and back.annotated == ""


def test_follow_up_older_than_max_lateness_is_skipped() -> None:
    b = booking()
    late = b.followup_due + timedelta(days=7, seconds=1)
    assert followup_decision(b, late, timedelta(days=7)) is Decision.SKIP


def test_syncds_own_block_does_not_change_the_fingerprint() -> None:
    plain = event(NOW, description="Challenge: hiring")
    ann = annotation(booking(), timedelta(minutes=5), "Europe/Berlin")
    annotated = dataclasses.replace(plain, description=apply_block(plain.description, ann), etag="new")
    assert fingerprint(plain) == fingerprint(annotated)
    assert fingerprint(plain) != fingerprint(dataclasses.replace(plain, summary="Intro (moved)"))


def test_note_header_and_status_line_use_the_coachs_zone() -> None:
    b = booking(datetime(2026, 12, 1, 23, 30, tzinfo=UTC))
    header = note_header(b, "Europe/Berlin")
    assert "2026-12-02" in header.title  # already the next day in Berlin
    line = annotation(b, None, "Europe/Berlin").status_line
    assert "CET" in line and "UTC" not in line


def test_the_events_follow_up_line_spells_the_day_as_the_note_does() -> None:
    """One format for people (syncd.timefmt): "Tue 1 Dec 2026, 14:45 CET", not "Tue 01 Dec"."""
    line = annotation(booking(), None, "Europe/Berlin").status_line
    assert line == "Follow-up: draft will be prepared Tue 1 Dec 2026, 14:45 CET"


def test_a_cancelled_booking_annotates_its_event_as_cancelled_without_a_reminder() -> None:
    """What a cancelled event that stays in the calendar should say: the note link as before,
    the follow-up withdrawn (or, when the draft was made before the cancel, where it is)."""
    b = booking()
    cancelled = annotation(on_cancelled(b), timedelta(minutes=5), "Europe/Berlin")
    assert cancelled.status_line == "Session cancelled: follow-up withdrawn"
    assert cancelled.reminder is None and cancelled.note_url == "file:///n.md"
    drafted = on_cancelled(dataclasses.replace(b, followup=Followup.QUEUED))
    assert "still in your drafts folder" in annotation(drafted, None, "Europe/Berlin").status_line
