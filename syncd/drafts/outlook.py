"""Follow-up drafts in the coach's Outlook Drafts folder (`drafts: {type: outlook}`), never sent.

The draft is the same RFC 5322 message the other sinks store (`syncd.followup`), posted to
`POST /me/messages` as base64 MIME (`Content-Type: text/plain`): Graph saves it as a draft and
keeps its Message-ID as `internetMessageId`. Before creating one (unless the engine knows no
earlier attempt began), syncd looks the Message-ID up with `$filter=internetMessageId eq ...`,
so a crash between the create and the state record never leaves two drafts.
"""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING

from syncd.accounts import microsoft_settings
from syncd.errors import AuthError, BackendError, NotPermitted
from syncd.microsoft.auth import REAUTH_HINT
from syncd.microsoft.graph import Graph, graph_for
from syncd.model import DraftMessage
from syncd.text import one_line

if TYPE_CHECKING:
    from syncd.config import CoachConfig, OutlookDraftsConfig, Settings

log = logging.getLogger(__name__)


class OutlookDrafts:
    """A DraftSink on the signed-in mailbox's Drafts folder."""

    label = "Outlook drafts"

    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def ensure(self, draft: DraftMessage, *, maybe_exists: bool = True) -> str:
        """Create the draft unless (with `maybe_exists`) one with its Message-ID is there;
        return the Graph message id either way. A refusal (403) means the sign-in lacks
        Mail.ReadWrite: an `AuthError`, so the draft is tried again once that is fixed."""
        try:
            return self._ensure(draft, maybe_exists)
        except NotPermitted as exc:
            raise AuthError(f"{exc}; the Microsoft sign-in lacks Mail.ReadWrite: {REAUTH_HINT}") from None

    def _ensure(self, draft: DraftMessage, maybe_exists: bool) -> str:
        if maybe_exists:
            found = self._find(draft.message_id)
            if found:
                log.info("%s: the draft of %s is already there", self.label, one_line(draft.booking_id, 80))
                return found
        answer = self.graph.call(
            "POST",
            "/me/messages",
            f"{self.label}: creating the draft",
            data=base64.b64encode(draft.raw),
            headers={"Content-Type": "text/plain"},
        )
        created = answer.body.get("id")
        if not created:
            raise BackendError(f"{self.label}: Graph created the draft but gave no id")
        return str(created)

    def _find(self, message_id: str) -> str | None:
        quoted = message_id.strip().replace("'", "''")
        answer = self.graph.call(
            "GET",
            "/me/messages",
            f"{self.label}: looking up the draft",
            params={"$filter": f"internetMessageId eq '{quoted}'", "$select": "id"},
        )
        found = answer.body.get("value") or []
        return str(found[0]["id"]) if found and isinstance(found[0], dict) and found[0].get("id") else None


def from_config(section: OutlookDraftsConfig, coach: CoachConfig, settings: Settings) -> OutlookDrafts:
    """The sink a coach's `drafts: {type: outlook}` section describes (signs in on first use)."""
    return OutlookDrafts(graph_for(microsoft_settings(settings, coach)))
