"""The interface every session-note store implements."""

from __future__ import annotations

from typing import Protocol

from syncd.model import NoteHeader, NoteRef, NoteRequest


class NoteStore(Protocol):
    """A place that holds one private note per booking.

    Notes are findable by booking id, so `ensure` after a crash finds the note it created
    before instead of making a second one. Nothing the coach wrote is ever deleted.
    Every method raises `syncd.errors.BackendError` on failure.
    """

    def ensure(self, request: NoteRequest, reuse: NoteRef | None = None) -> NoteRef:
        """Return the note of `request.booking_id`, creating it if it does not exist.

        With `reuse` (the client's earlier note, after a reschedule done as cancel + new
        booking), that note is adopted for this booking and its header updated instead.
        """
        ...

    def update_header(self, ref: NoteRef, header: NoteHeader) -> None:
        """Rewrite only the part syncd owns (session time, cancelled mark); keep the rest."""
        ...

    def open_action_items(self, ref: NoteRef) -> list[str]:
        """The note's action items not yet checked off, as the coach left them."""
        ...
