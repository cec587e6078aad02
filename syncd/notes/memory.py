"""A NoteStore held in memory: a test double with the idempotency of the real stores.

Notes are found by booking id, so `ensure` twice returns one note; `reuse` adopts an earlier
note for a new booking. A note's first line is syncd's header (`Session: ... · status: ...`),
the rest the rendered body, which the coach may edit through `write`. Not a config type: tests
build it directly and hand it to the engine.
"""

from __future__ import annotations

import itertools

from syncd.errors import BackendError, NoteMissing
from syncd.model import NoteHeader, NoteRef, NoteRequest
from syncd.notes.action_items import open_items_in_text
from syncd.notes.docs_requests import header_line

URL_PREFIX = "memory://notes/"


class MemoryNotes:
    """Notes as texts keyed by locator (`note-N`); `fail_with` makes the next call raise."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        self._by_booking: dict[str, str] = {}
        self._numbers = itertools.count(1)
        self._failures: list[BackendError] = []

    def ensure(self, request: NoteRequest, reuse: NoteRef | None = None) -> NoteRef:
        """The note of `request.booking_id`, adopted from `reuse` or created if there is none."""
        self._maybe_fail()
        locator = self._by_booking.get(request.booking_id)
        if locator not in self.texts:  # none yet, or the coach deleted it: make it again
            locator = None
        if locator is None and reuse is not None and reuse.locator in self.texts:
            locator = reuse.locator
            self._rewrite_header(locator, request.header)
        if locator is None:
            locator = f"note-{next(self._numbers)}"
            self.texts[locator] = f"{header_line(request.header)}\n\n{request.body}"
        self._by_booking[request.booking_id] = locator
        return self._ref(locator)

    def update_header(self, ref: NoteRef, header: NoteHeader) -> None:
        """Replace the header line; the coach's text stays as it is."""
        self._maybe_fail()
        self._rewrite_header(self._locator(ref), header)

    def open_action_items(self, ref: NoteRef) -> list[str]:
        """The unchecked `- [ ]` items of the note's `## Action items` section."""
        self._maybe_fail()
        return open_items_in_text(self.texts[self._locator(ref)])

    # --- for tests: what the coach does and sees -------------------------------------------

    def text(self, ref: NoteRef) -> str:
        """The note's whole text."""
        return self.texts[self._locator(ref)]

    def write(self, ref: NoteRef, text: str) -> None:
        """Replace the note's text, as the coach editing it would."""
        self.texts[self._locator(ref)] = text

    def delete(self, ref: NoteRef) -> None:
        """Remove the note, as the coach deleting it would; later calls on it raise NoteMissing."""
        del self.texts[self._locator(ref)]

    def fail_with(self, error: BackendError) -> None:
        """Make the next call raise `error` (a service outage, a refusal)."""
        self._failures.append(error)

    # --- internals ----------------------------------------------------------------------------

    def _rewrite_header(self, locator: str, header: NoteHeader) -> None:
        _, _, rest = self.texts[locator].partition("\n")
        self.texts[locator] = f"{header_line(header)}\n{rest}"

    def _locator(self, ref: NoteRef) -> str:
        if ref.locator not in self.texts:
            raise NoteMissing(f"notes: {ref.url}: the note is gone")
        return ref.locator

    def _ref(self, locator: str) -> NoteRef:
        return NoteRef(locator=locator, url=URL_PREFIX + locator)

    def _maybe_fail(self) -> None:
        if self._failures:
            raise self._failures.pop(0)
