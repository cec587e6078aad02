"""The behaviour every DraftSink must have, asserted once for all backends.

A backend's test class inherits `DraftSinkContract`, supplies a `drafts` fixture and
`stored_messages`, which reads back the raw RFC 5322 bytes of every draft the sink holds.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from syncd.drafts.base import DraftSink
from syncd.followup import build_draft
from syncd.model import Client, Coach, DraftMessage, Session

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
COACH = Coach(
    name="Sam Coach",
    email="sam@coach.example",
    timezone="Europe/Berlin",
    pricing_url="https://coach.example/pricing",
    specialties=("Engineering leadership",),
)
SUBJECT = "💎 Looking forward to working with you"
BODY = "Hey Ada!\n\nThank you for our intro session. Pricing: https://coach.example/pricing\n"


def make_session(
    booking_id: str = "booking-1", name: str = "Ada Lovelace", email: str = "ada@client.example"
) -> Session:
    client = Client(name=name, email=email, timezone="America/New_York")
    return Session(booking_id, COACH, client, START, START + timedelta(minutes=30))


def make_draft(booking_id: str = "booking-1", name: str = "Ada Lovelace", body: str = BODY) -> DraftMessage:
    return build_draft(make_session(booking_id, name), SUBJECT, body, now=START + timedelta(minutes=45))


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


class DraftSinkContract:
    """Inherit, provide the `drafts` fixture and `stored_messages`."""

    @pytest.fixture
    def drafts(self) -> DraftSink:
        raise NotImplementedError

    def stored_messages(self, drafts: DraftSink) -> list[bytes]:
        """The raw bytes of every draft the sink holds."""
        raise NotImplementedError

    def test_ensure_twice_stores_one_draft(self, drafts: DraftSink) -> None:
        first = drafts.ensure(make_draft())
        second = drafts.ensure(make_draft())
        assert second == first
        assert len(self.stored_messages(drafts)) == 1

    def test_stored_draft_parses_back_with_addresses_subject_and_message_id(self, drafts: DraftSink) -> None:
        draft = make_draft()
        drafts.ensure(draft)
        [raw] = self.stored_messages(drafts)
        message = parse(raw)
        assert message["To"].addresses[0].addr_spec == "ada@client.example"
        assert message["To"].addresses[0].display_name == "Ada Lovelace"
        assert message["From"].addresses[0].addr_spec == "sam@coach.example"
        assert message["Subject"] == SUBJECT
        assert message["Message-ID"] == draft.message_id

    def test_stored_draft_keeps_the_body(self, drafts: DraftSink) -> None:
        drafts.ensure(make_draft(body="Grüße, Zoë — see you soon.\n"))
        [raw] = self.stored_messages(drafts)
        body = parse(raw).get_body(("plain",))
        assert body is not None
        assert isinstance(body, EmailMessage)
        assert body.get_content().replace("\r\n", "\n") == "Grüße, Zoë — see you soon.\n"

    def test_drafts_of_different_bookings_are_kept_apart(self, drafts: DraftSink) -> None:
        first = drafts.ensure(make_draft("booking-1"))
        second = drafts.ensure(make_draft("booking-2", name="Grace Hopper"))
        assert first != second
        assert len(self.stored_messages(drafts)) == 2

    def test_first_attempt_without_look_up_stores_the_draft_once(self, drafts: DraftSink) -> None:
        """`maybe_exists=False` (no earlier attempt) still stores exactly one draft."""
        stored = drafts.ensure(make_draft(), maybe_exists=False)
        assert drafts.ensure(make_draft()) == stored
        assert len(self.stored_messages(drafts)) == 1
