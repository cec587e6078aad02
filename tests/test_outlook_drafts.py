"""Outlook drafts on the fake Graph: the draft-sink contract, MIME posted as base64 text/plain,
and the look-up by internetMessageId that keeps a retry after a crash from drafting twice."""

from __future__ import annotations

import base64

import pytest

from syncd.drafts.base import DraftSink
from syncd.drafts.outlook import OutlookDrafts
from syncd.errors import AuthError
from tests.draft_contract import DraftSinkContract, make_draft, parse
from tests.fakegraph import FakeGraph
from tests.fakegraph.fixtures import graph_fixture, graph_server_fixture  # noqa: F401
from tests.outlook_support import Tokens, graph_client

MESSAGES = r"^/v1\.0/me/messages$"


def sink(fake: FakeGraph, **options: object) -> OutlookDrafts:
    return OutlookDrafts(graph_client(fake, **options))


class TestOutlookDraftsContract(DraftSinkContract):
    @pytest.fixture
    def drafts(self, graph: FakeGraph) -> DraftSink:
        self.fake = graph
        return sink(graph)

    def stored_messages(self, drafts: DraftSink) -> list[bytes]:
        return self.fake.mail.raw_messages()


def test_mime_is_posted_as_base64_text_plain(graph: FakeGraph) -> None:
    draft = make_draft()
    sink(graph).ensure(draft, maybe_exists=False)
    [post] = graph.requests_to(MESSAGES, "POST")
    assert post.headers["content-type"] == "text/plain"
    assert base64.b64decode(post.body) == draft.raw
    assert parse(graph.mail.raw_messages()[0])["Message-ID"] == draft.message_id


def test_first_attempt_is_one_request(graph: FakeGraph) -> None:
    sink(graph).ensure(make_draft(), maybe_exists=False)
    assert len(graph.graph_requests()) == 1


def test_retry_after_a_crash_finds_the_draft_by_message_id(graph: FakeGraph) -> None:
    draft = make_draft()
    created = sink(graph).ensure(draft, maybe_exists=False)
    graph.clear_log()
    assert sink(graph).ensure(draft) == created  # a new process, the record was lost
    [lookup] = graph.graph_requests()
    assert lookup.method == "GET"
    assert lookup.query["$filter"] == [f"internetMessageId eq '{draft.message_id}'"]
    assert len(graph.mail.raw_messages()) == 1


def test_token_without_mail_permission_is_an_auth_error_not_a_final_failure(graph: FakeGraph) -> None:
    """A missing consent is fixed by the operator; the draft must then be tried again."""
    drafts = sink(graph, tokens=Tokens(graph, {"Calendars.ReadWrite"}))
    with pytest.raises(AuthError) as caught:
        drafts.ensure(make_draft(), maybe_exists=False)
    assert "Mail.ReadWrite" in str(caught.value) and "syncd auth microsoft" in str(caught.value)
