"""Follow-up drafts in Gmail, through the real client library against the local fake."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.drafts.base import DraftSink
from syncd.drafts.gmail import GmailDrafts
from syncd.errors import AuthError, BackendError
from tests.draft_contract import SUBJECT, DraftSinkContract, make_draft, parse
from tests.fakegoogle import FakeGoogle
from tests.fakegoogle.workspace import make_gmail_drafts

DRAFTS = r"^/gmail/v1/users/me/drafts$"
DRAFT = r"^/gmail/v1/users/me/drafts/[^/]+$"


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle() as server:
        yield server


@pytest.fixture
def sink(tmp_path: Path, fake: FakeGoogle) -> GmailDrafts:
    return make_gmail_drafts(tmp_path, fake)


class TestGmailContract(DraftSinkContract):
    """The shared DraftSink behaviour, on Gmail drafts."""

    @pytest.fixture
    def drafts(self, sink: GmailDrafts, fake: FakeGoogle) -> DraftSink:
        self.fake = fake
        return sink

    def stored_messages(self, drafts: DraftSink) -> list[bytes]:
        return self.fake.gmail.raw_messages()


def test_a_first_attempt_costs_exactly_one_request(sink: GmailDrafts, fake: FakeGoogle) -> None:
    draft = make_draft()
    draft_id = sink.ensure(draft, maybe_exists=False)
    [create] = fake.requests
    assert (create.method, create.path) == ("POST", "/gmail/v1/users/me/drafts")
    raw = create.json()["message"]["raw"]
    assert base64.urlsafe_b64decode(raw) == draft.raw
    assert draft_id == next(iter(fake.gmail.drafts))


def test_the_stored_message_is_the_followup_message(sink: GmailDrafts, fake: FakeGoogle) -> None:
    draft = make_draft()
    sink.ensure(draft, maybe_exists=False)
    [raw] = fake.gmail.raw_messages()
    message = parse(raw)
    assert message["To"].addresses[0].addr_spec == "ada@client.example"
    assert message["From"].addresses[0].addr_spec == "sam@coach.example"
    assert message["Subject"] == SUBJECT and message["Message-ID"] == draft.message_id
    assert message["X-Syncd-Booking"] == "booking-1"


def test_after_a_crash_the_draft_is_found_by_its_message_id(sink: GmailDrafts, fake: FakeGoogle) -> None:
    stored = sink.ensure(make_draft(), maybe_exists=False)
    fake.clear_log()
    assert sink.ensure(make_draft(), maybe_exists=True) == stored
    [search] = fake.requests
    assert search.method == "GET"
    assert search.query["q"] == ["rfc822msgid:" + make_draft().message_id.strip("<>")]
    assert len(fake.gmail.drafts) == 1


def test_when_search_misses_drafts_and_the_message_id_was_rewritten_the_booking_header_finds_it(
    sink: GmailDrafts, fake: FakeGoogle
) -> None:
    """Both unconfirmed Gmail behaviours at once: the scan of recent drafts' headers still works."""
    fake.gmail.msgid_search = False
    fake.gmail.rewrite_message_ids = True
    other = make_draft("booking-2", name="Grace Hopper")
    stored = sink.ensure(make_draft(), maybe_exists=False)
    sink.ensure(other, maybe_exists=False)
    fake.clear_log()
    assert sink.ensure(make_draft()) == stored
    assert len(fake.gmail.drafts) == 2
    gets = fake.requests_to(DRAFT, "GET")
    assert [g.query["format"] for g in gets] == [["metadata"], ["metadata"]]  # newest first


def test_a_scan_that_finds_nothing_creates_the_draft(sink: GmailDrafts, fake: FakeGoogle) -> None:
    fake.gmail.msgid_search = False
    sink.ensure(make_draft("booking-2", name="Grace Hopper"), maybe_exists=False)
    sink.ensure(make_draft())
    assert len(fake.gmail.drafts) == 2


def test_the_scan_reads_only_the_most_recent_drafts(tmp_path: Path, fake: FakeGoogle) -> None:
    sink = make_gmail_drafts(tmp_path, fake)
    sink.scan_limit = 3
    fake.gmail.msgid_search = False
    for n in range(5):
        sink.ensure(make_draft(f"other-{n}"), maybe_exists=False)
    fake.clear_log()
    sink.ensure(make_draft())
    assert len(fake.requests_to(DRAFT, "GET")) == 3
    assert fake.requests_to(DRAFTS, "GET")[-1].query["maxResults"] == ["3"]


@pytest.mark.parametrize(
    ("status", "reason"), [(429, None), (500, None), (503, None), (403, "rateLimitExceeded")]
)
def test_transient_errors_are_retried_until_they_pass(
    sink: GmailDrafts, fake: FakeGoogle, status: int, reason: str | None
) -> None:
    fake.fail(DRAFTS, status, reason=reason, times=2, method="POST")
    sink.ensure(make_draft(), maybe_exists=False)
    assert len(fake.gmail.drafts) == 1 and len(fake.requests_to(DRAFTS, "POST")) == 3


def test_a_persistent_outage_is_a_retryable_one_line_error(sink: GmailDrafts, fake: FakeGoogle) -> None:
    fake.fail(DRAFTS, 503, times=10)
    with pytest.raises(BackendError) as caught:
        sink.ensure(make_draft(), maybe_exists=False)
    assert not caught.value.final and "Gmail drafts: creating the draft: HTTP 503" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_token_without_gmail_compose_is_an_auth_error(sink: GmailDrafts, fake: FakeGoogle) -> None:
    fake.fail(DRAFTS, 403, reason="insufficientPermissions", times=5)
    with pytest.raises(AuthError, match="syncd auth google"):
        sink.ensure(make_draft(), maybe_exists=False)


def test_the_fake_refuses_a_raw_that_is_not_a_message(sink: GmailDrafts, fake: FakeGoogle) -> None:
    """So a client that sent the wrong bytes would fail here, not only against Gmail."""
    service = sink._services.get().users()
    with pytest.raises(Exception, match="400"):
        service.drafts().create(userId="me", body={"message": {"raw": "@@not base64@@"}}).execute()
