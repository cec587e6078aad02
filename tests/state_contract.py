"""The behaviour every state store must have, asserted once for SQLite and PostgreSQL.

A backend's test class inherits `StoreContract` and supplies `open_store` (each call opens
another store on the same database, as another process or replica would; the fixture closes
them) and `corrupt` (change one row behind the store's back, as a bad disk, a downgrade or a
hand edit would). Nothing here knows which database holds the state.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from syncd.lifecycle import Booking, Effect, new_booking
from syncd.model import CalendarEvent, Client, Followup, NoteRef, Phase
from syncd.state import Store

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
COACH = "ada@coach.example"
OTHER = "bob@coach.example"

Opener = Callable[..., Store]


def booking(n: int, coach: str = COACH, email: str = "") -> Booking:
    """A detected booking of a 30-minute session `n` hours after NOW."""
    start = NOW + timedelta(hours=n)
    event = CalendarEvent(id=f"e{n}", summary="Intro", start=start, end=start + timedelta(minutes=30))
    client = Client(name=f"Client {n}", email=email)
    made = new_booking(coach, event, client, timedelta(minutes=15), NOW, timedelta(days=365))
    assert made is not None
    return made


class StoreContract:
    """Inherit, provide the `open_store` fixture and `corrupt`."""

    @pytest.fixture
    def open_store(self) -> Opener:
        raise NotImplementedError

    def corrupt(self, store: Store, booking_id: str, column: str, value: str) -> None:
        """Set `column` of the booking's row to `value` directly in the database."""
        raise NotImplementedError

    @pytest.fixture
    def store(self, open_store: Opener) -> Store:
        return open_store()

    # --- records ------------------------------------------------------------------------------

    def test_a_saved_booking_reads_back_equal_from_another_connection(
        self, store: Store, open_store: Opener
    ) -> None:
        """Every field survives, including the intent of a side effect begun: a process (or
        replica) that opens the state after a crash sees what was being done."""
        made = dataclasses.replace(
            booking(1, email="Jane@Client.example"),
            phase=Phase.LINKED,
            note=NoteRef("notes/jane.md", "file:///notes/jane.md"),
            header="h1",
            annotated="a1",
            draft_id="d1",
            reason="why",
            effect=Effect.DRAFT,
        )
        store.save(made, NOW)
        other = open_store()
        assert other.get(made.id) == made
        assert other.get("nobody/e9") is None
        assert other.count() == 1

    def test_save_replaces_by_id_and_bookings_come_earliest_first(self, store: Store) -> None:
        for n in (3, 1, 2):
            store.save(booking(n), NOW)
        store.save(booking(5, coach=OTHER), NOW)
        store.save(dataclasses.replace(booking(1), phase=Phase.NOTE_CREATED), NOW)
        assert [b.event_id for b in store.bookings(COACH)] == ["e1", "e2", "e3"]
        assert store.get(f"{COACH}/e1").phase is Phase.NOTE_CREATED  # type: ignore[union-attr]
        assert len(store.bookings()) == 4 and store.count() == 4

    def test_by_event_finds_the_booking_following_an_event_most_recently_updated(self, store: Store) -> None:
        first = booking(1)
        moved = dataclasses.replace(booking(2), event_id="e1")
        store.save(first, NOW)
        store.save(moved, NOW + timedelta(minutes=1))
        assert store.by_event(COACH, "e1") == moved
        assert store.by_event(OTHER, "e1") is None

    def test_bookings_to_check_and_due_followups_select_by_time(self, store: Store) -> None:
        """Sessions ending after `since` (or changed since, or with no note) are checked;
        follow-ups due by `now`, not cancelled, are dispatched, earliest due first."""
        old = dataclasses.replace(booking(-100), note=NoteRef("n", "u"), phase=Phase.LINKED)
        store.save(old, NOW - timedelta(days=5))
        store.save(booking(1), NOW)
        store.save(dataclasses.replace(booking(2), phase=Phase.CANCELLED), NOW)
        checked = [b.event_id for b in store.bookings_to_check(COACH, NOW - timedelta(days=1))]
        assert checked == ["e1", "e2"]
        later = NOW + timedelta(hours=3)
        assert [b.event_id for b in store.due_followups(COACH, later)] == ["e-100", "e1"]
        assert store.due_followups(OTHER, later) == []

    def test_rebook_candidate_is_the_latest_cancelled_booking_with_a_note(self, store: Store) -> None:
        note = NoteRef("n", "u")
        gone = dataclasses.replace(booking(1, email="jane@x.example"), phase=Phase.CANCELLED, note=note)
        store.save(gone, NOW)
        store.save(dataclasses.replace(booking(2, email="jane@x.example"), note=note), NOW)
        assert store.rebook_candidate(COACH, "JANE@x.example", NOW - timedelta(hours=1)) == gone
        assert store.rebook_candidate(COACH, "jane@x.example", NOW + timedelta(hours=1)) is None
        assert store.rebook_candidate(COACH, "", NOW - timedelta(hours=1)) is None

    def test_only_coaches_narrows_what_is_counted_and_pending(self, store: Store) -> None:
        store.save(booking(1), NOW)
        store.save(booking(2, coach=OTHER), NOW)
        store.save(dataclasses.replace(booking(3), followup=Followup.QUEUED), NOW)
        store.only_coaches(frozenset([COACH]))
        assert store.count() == 2
        assert store.pending_followups() == [(COACH, "Client 1", booking(1).followup_due)]

    def test_cursors_and_meta_are_kept_per_key(self, store: Store, open_store: Opener) -> None:
        created = store.created()
        store.set_cursor(COACH, "token-1")
        store.set_cursor(OTHER, "token-2")
        store.set_cursor(OTHER, None)
        store.put_meta("health", "{}")
        store.put_meta("health", '{"ok": true}')
        other = open_store()
        assert (other.cursor(COACH), other.cursor(OTHER)) == ("token-1", None)
        assert other.get_meta("health") == '{"ok": true}' and other.get_meta("nothing") is None
        assert other.created() == created and created <= datetime.now(UTC)

    # --- a copy that writes nothing -----------------------------------------------------------

    def test_a_scratch_copy_sees_the_state_and_writes_nothing_others_see(
        self, store: Store, open_store: Opener
    ) -> None:
        """What a dry run and `syncd status` use: the records as they are, changes kept to
        itself."""
        store.save(booking(1), NOW)
        scratch = open_store(scratch=True)
        scratch.save(booking(2), NOW)
        scratch.set_cursor(COACH, "dry")
        scratch.put_meta("health", "dry")
        assert scratch.count() == 2 and scratch.get(f"{COACH}/e1") is not None
        assert store.count() == 1 and store.cursor(COACH) is None and store.get_meta("health") is None

    # --- rows that cannot be read -------------------------------------------------------------

    def test_a_bad_row_is_skipped_named_once_and_quarantined_intact(
        self, store: Store, caplog: pytest.LogCaptureFixture
    ) -> None:
        for n in (1, 2, 3):
            store.save(booking(n), NOW)
        self.corrupt(store, f"{COACH}/e1", "phase", "teleported")
        self.corrupt(store, f"{COACH}/e2", "start", "yesterday-ish")
        with caplog.at_level(logging.ERROR, logger="syncd"):
            for _ in range(3):
                assert [b.event_id for b in store.bookings(COACH)] == ["e3"]
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 2 and any("phase 'teleported'" in line for line in lines), lines
        assert store.get(f"{COACH}/e1") is None
        assert sorted(b.booking for b in store.bad_rows()) == [f"{COACH}/e1", f"{COACH}/e2"]
        moved = store.quarantine(NOW)
        assert len(moved) == 2 and store.bad_rows() == [] and store.quarantined() == 2

    def test_a_bad_row_replaced_by_a_new_record_is_quarantined_not_overwritten(self, store: Store) -> None:
        store.save(booking(2), NOW)
        self.corrupt(store, f"{COACH}/e2", "phase", "teleported")
        store.save(booking(2), NOW)
        assert store.get(f"{COACH}/e2") == booking(2)
        assert store.quarantined() == 1

    # --- threads --------------------------------------------------------------------------------

    def test_threads_share_one_store_without_losing_or_mixing_writes(self, store: Store) -> None:
        """The engine runs coaches in parallel on one store: every thread's saves land, reads
        in between see whole records."""
        errors: list[BaseException] = []

        def work(t: int) -> None:
            try:
                for n in range(25):
                    made = booking(n, coach=f"c{t}@coach.example")
                    store.save(made, NOW)
                    assert store.get(made.id) == made
                    store.set_cursor(made.coach, str(n))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert store.count() == 150 and store.cursor("c3@coach.example") == "24"

    # --- leases -------------------------------------------------------------------------------

    def test_a_replica_claiming_alone_gets_every_coach(self, store: Store) -> None:
        coaches = [COACH, OTHER]
        held = store.claim(coaches, "r1", timedelta(minutes=2), NOW)
        assert held == frozenset(coaches)
        assert store.claim([], "r1", timedelta(minutes=2), NOW) == frozenset()
