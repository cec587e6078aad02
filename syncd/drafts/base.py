"""The interface every follow-up draft sink implements."""

from __future__ import annotations

from typing import Protocol

from syncd.model import DraftMessage


class DraftSink(Protocol):
    """A drafts folder. Never sends anything: the coach decides.

    Raises `syncd.errors.BackendError` on failure.
    """

    def ensure(self, draft: DraftMessage, *, maybe_exists: bool = True) -> str:
        """Store `draft` unless a draft with its Message-ID / booking id is already there;
        return the stored draft's id either way.

        `maybe_exists=False` tells a sink whose look-up is costly (Gmail) that no earlier
        attempt was begun for this booking, so it may skip the search.
        """
        ...
