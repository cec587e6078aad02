"""Follow-up drafts in the coach's Gmail drafts folder (`drafts: {type: gmail}`), never sent.

The draft is the same RFC 5322 message the maildir backend stores (`syncd.followup`), sent as
base64url `raw` in `users.drafts.create` (no media upload), under the `gmail.compose` scope.

Finding a draft again: the engine records the draft id the moment Gmail returns it, so the
look-up is needed only when an attempt was begun and its result not recorded (a crash in
between: `maybe_exists=True`). Then syncd first asks Gmail for the Message-ID
(`q=rfc822msgid:`), and since it is unconfirmed whether that search covers drafts or whether
Gmail keeps the Message-ID, it also reads the headers of the most recent drafts
(`format=metadata`) for syncd's own `X-Syncd-Booking` header or the Message-ID. A first
attempt (`maybe_exists=False`) costs exactly one request.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from syncd.accounts import google_settings
from syncd.followup import BOOKING_HEADER, booking_header
from syncd.google.auth import DEFAULT_HTTP_TIMEOUT
from syncd.google.transport import NUM_RETRIES, ThreadServices, calling, execute, lazy_factory
from syncd.model import DraftMessage
from syncd.text import one_line

if TYPE_CHECKING:
    from syncd.config import CoachConfig, GmailDraftsConfig, Settings

log = logging.getLogger(__name__)

# How many of the most recent drafts a look-up after a crash reads: the draft was created
# moments before the crash, so it is among the newest unless the coach drafted a lot meanwhile.
SCAN_LIMIT = 50


class GmailDrafts:
    """A DraftSink on the Gmail account of the stored token; see the module docstring.

    `service_factory` builds a googleapiclient `gmail` v1 service (called once per thread);
    `sleep` replaces the client library's backoff sleep (tests pass a no-op).
    """

    label = "Gmail drafts"

    def __init__(
        self,
        service_factory: Callable[[], Any],
        *,
        num_retries: int = NUM_RETRIES,
        sleep: Callable[[float], None] | None = None,
        scan_limit: int = SCAN_LIMIT,
    ) -> None:
        self._services = ThreadServices(service_factory)
        self._num_retries = num_retries
        self._sleep = sleep
        self.scan_limit = scan_limit

    def ensure(self, draft: DraftMessage, *, maybe_exists: bool = True) -> str:
        """Create the draft unless (with `maybe_exists`) it is found; return its draft id."""
        if maybe_exists:
            found = self._search(draft) or self._scan(draft)
            if found:
                log.info("%s: the draft of %s is already there", self.label, one_line(draft.booking_id, 80))
                return found
        raw = base64.urlsafe_b64encode(draft.raw).decode("ascii")
        created = self._call(
            "creating the draft", lambda g: g.drafts().create(userId="me", body={"message": {"raw": raw}})
        )
        return str(created["id"])

    def _search(self, draft: DraftMessage) -> str | None:
        """The draft found by Gmail's search for its Message-ID, if the search finds drafts."""
        query = "rfc822msgid:" + draft.message_id.strip("<>")
        found = self._call(
            "looking up the draft", lambda g: g.drafts().list(userId="me", q=query, maxResults=10)
        )
        drafts = found.get("drafts") or []
        return str(drafts[0]["id"]) if drafts else None

    def _scan(self, draft: DraftMessage) -> str | None:
        """The draft among the newest `scan_limit` whose headers name this booking."""
        listed = self._call(
            "listing recent drafts", lambda g: g.drafts().list(userId="me", maxResults=self.scan_limit)
        )
        for item in listed.get("drafts") or []:
            if is_draft_of(self._headers(str(item["id"])), draft):
                return str(item["id"])
        return None

    def _headers(self, draft_id: str) -> dict[str, str]:
        metadata = self._call(
            "reading a draft's headers", lambda g: g.drafts().get(userId="me", id=draft_id, format="metadata")
        )
        return headers_of(metadata)

    def _call(self, what: str, build: Callable[[Any], Any]) -> dict[str, Any]:
        with calling(f"{self.label}: {what}", self._services):
            service = self._services.get().users()
            return dict(execute(build(service), self._num_retries, self._sleep))


def headers_of(draft: dict[str, Any]) -> dict[str, str]:
    """A `drafts.get` answer's message headers, by lower-case name (the first of each)."""
    headers: dict[str, str] = {}
    for header in ((draft.get("message") or {}).get("payload") or {}).get("headers") or []:
        headers.setdefault(str(header.get("name", "")).lower(), str(header.get("value", "")))
    return headers


def is_draft_of(headers: dict[str, str], draft: DraftMessage) -> bool:
    """Whether headers carry the booking header or the Message-ID of `draft` (spacing and
    folding ignored: a server may refold long headers)."""
    booking = _squeezed(booking_header(draft.booking_id))
    return _squeezed(headers.get(BOOKING_HEADER.lower(), "")) == booking or _squeezed(
        headers.get("message-id", "")
    ) == _squeezed(draft.message_id)


def _squeezed(value: str) -> str:
    return "".join(value.split())


def from_config(
    section: GmailDraftsConfig,
    coach: CoachConfig,
    settings: Settings,
    *,
    timeout: float = DEFAULT_HTTP_TIMEOUT,
    num_retries: int = NUM_RETRIES,
    sleep: Callable[[float], None] | None = None,
) -> GmailDrafts:
    """The sink a coach's `drafts: {type: gmail}` section describes. Credentials are loaded on
    first use, so a network outage at start-up fails a pass, not the daemon."""
    log.debug("Gmail drafts for coach %s", coach.email)
    factory = lazy_factory("gmail", "v1", google_settings(settings, coach), timeout=timeout)
    return GmailDrafts(factory, num_retries=num_retries, sleep=sleep)
