"""A DraftSink held in memory: a test double with the idempotency of the real sinks.

A draft is found again by its Message-ID or its booking id, so `ensure` twice stores one.
Not a config type: tests build it directly and hand it to the engine.
"""

from __future__ import annotations

from syncd.errors import BackendError
from syncd.model import DraftMessage


class MemoryDrafts:
    """Drafts keyed by id (`draft-N`), in the order stored; `fail_with` makes the next call raise."""

    def __init__(self) -> None:
        self.drafts: dict[str, DraftMessage] = {}
        self._failures: list[BackendError] = []

    def ensure(self, draft: DraftMessage, *, maybe_exists: bool = True) -> str:
        """The id of the stored draft of `draft`'s booking, storing `draft` if there is none.

        The look-up costs nothing here, so it is done whatever `maybe_exists` says."""
        if self._failures:
            raise self._failures.pop(0)
        for draft_id, stored in self.drafts.items():
            if stored.message_id == draft.message_id or stored.booking_id == draft.booking_id:
                return draft_id
        draft_id = f"draft-{len(self.drafts) + 1}"
        self.drafts[draft_id] = draft
        return draft_id

    def raw_messages(self) -> list[bytes]:
        """The RFC 5322 bytes of every stored draft, oldest first."""
        return [draft.raw for draft in self.drafts.values()]

    def fail_with(self, error: BackendError) -> None:
        """Make the next call raise `error` (a service outage, a refusal)."""
        self._failures.append(error)
