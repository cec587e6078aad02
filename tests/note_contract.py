"""The behaviour every NoteStore must have, asserted once for all backends.

A backend's test class inherits `NoteStoreContract`, supplies a `notes` fixture building its
store, and implements the helpers that act as the coach would (write text, check an item off)
and read the note back. Nothing here knows how a backend stores its notes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncd.model import NoteHeader, NoteRef, NoteRequest
from syncd.notes.base import NoteStore

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ITEM_FOLLOWUP = "Send the follow-up email with your pricing link (due 2026-12-01)"
ITEM_START = "Agree on a start date for the first coaching session (due 2026-12-08)"
BODY = f"# Intro: Ada Lovelace\n\n## Notes\n\n## Action items\n- [ ] {ITEM_FOLLOWUP}\n- [ ] {ITEM_START}\n"


def make_header(
    client: str = "Ada Lovelace", start: datetime = START, *, cancelled: bool = False
) -> NoteHeader:
    """A note header for a 30-minute session at `start`, in the coach's zone Europe/Berlin."""
    return NoteHeader(
        title=client,
        client_name=client,
        start=start,
        end=start + timedelta(minutes=30),
        timezone="Europe/Berlin",
        cancelled=cancelled,
    )


def make_request(
    booking_id: str = "booking-1", client: str = "Ada Lovelace", start: datetime = START
) -> NoteRequest:
    return NoteRequest(booking_id=booking_id, header=make_header(client, start), body=BODY)


class NoteStoreContract:
    """Inherit, provide the `notes` fixture and the four helpers below."""

    @pytest.fixture
    def notes(self) -> NoteStore:
        raise NotImplementedError

    def note_text(self, notes: NoteStore, ref: NoteRef) -> str:
        """The note's whole text as the coach sees it."""
        raise NotImplementedError

    def note_count(self, notes: NoteStore) -> int:
        """How many notes the store holds."""
        raise NotImplementedError

    def write_as_coach(self, notes: NoteStore, ref: NoteRef, text: str) -> None:
        """Add `text` to the note's Notes section, as the coach would."""
        raise NotImplementedError

    def check_off(self, notes: NoteStore, ref: NoteRef, item: str) -> None:
        """Mark the action item `item` done, as the coach would."""
        raise NotImplementedError

    def test_ensure_twice_returns_the_same_single_note(self, notes: NoteStore) -> None:
        first = notes.ensure(make_request())
        second = notes.ensure(make_request())
        assert second == first
        assert self.note_count(notes) == 1

    def test_note_holds_the_rendered_body(self, notes: NoteStore) -> None:
        ref = notes.ensure(make_request())
        assert ITEM_START in self.note_text(notes, ref)
        assert ref.url

    def test_another_booking_of_same_client_and_day_gets_its_own_note(self, notes: NoteStore) -> None:
        first = notes.ensure(make_request("booking-1"))
        second = notes.ensure(make_request("booking-2"))
        assert second != first
        assert self.note_count(notes) == 2
        assert notes.ensure(make_request("booking-2")) == second

    def test_reuse_adopts_the_earlier_note_for_the_new_booking(self, notes: NoteStore) -> None:
        old = notes.ensure(make_request("booking-old"))
        self.write_as_coach(notes, old, "Prefers morning sessions.")
        later = START + timedelta(days=2)
        adopted = notes.ensure(make_request("booking-new", start=later), reuse=old)
        assert adopted.locator == old.locator
        assert self.note_count(notes) == 1
        text = self.note_text(notes, adopted)
        assert "2026-12-03" in text
        assert "Prefers morning sessions." in text
        assert notes.ensure(make_request("booking-new", start=later)) == adopted

    def test_update_header_cancelled_keeps_the_coachs_text(self, notes: NoteStore) -> None:
        ref = notes.ensure(make_request())
        self.write_as_coach(notes, ref, "Wants to grow into a staff role.")
        notes.update_header(ref, make_header(cancelled=True))
        text = self.note_text(notes, ref)
        assert "cancelled" in text.lower()
        assert "Wants to grow into a staff role." in text
        assert ITEM_START in text

    def test_reinstated_booking_loses_the_cancelled_mark(self, notes: NoteStore) -> None:
        ref = notes.ensure(make_request())
        notes.update_header(ref, make_header(cancelled=True))
        notes.update_header(ref, make_header(cancelled=False))
        assert "cancelled" not in self.note_text(notes, ref).lower()

    def test_update_header_moves_the_session_date(self, notes: NoteStore) -> None:
        ref = notes.ensure(make_request())
        notes.update_header(ref, make_header(start=START + timedelta(days=5)))
        assert "2026-12-06" in self.note_text(notes, ref)

    def test_open_action_items_reflect_checking_items_off(self, notes: NoteStore) -> None:
        ref = notes.ensure(make_request())
        assert notes.open_action_items(ref) == [ITEM_FOLLOWUP, ITEM_START]
        self.check_off(notes, ref, ITEM_FOLLOWUP)
        assert notes.open_action_items(ref) == [ITEM_START]

    def test_every_action_items_section_counts_in_note_order(self, notes: NoteStore) -> None:
        """The shared rule (syncd.notes.action_items): a second "## Action items" section and a
        sub-heading inside one count; items outside them, checked ones and a plain "Action
        items:" line (a client's answer could be one) do not. Every backend gives the same list."""
        body = (
            f"{BODY}### Later\n- [ ] Under a sub-heading\n"
            "## After the session\n- [ ] Not an action item\n"
            "## Action items\n- [ ] From the second section\n- [x] Checked\n"
            "## More notes\nAction items:\n- [ ] Under a plain title\n"
        )
        ref = notes.ensure(NoteRequest("booking-1", make_header(), body))
        assert notes.open_action_items(ref) == [
            ITEM_FOLLOWUP,
            ITEM_START,
            "Under a sub-heading",
            "From the second section",
        ]
