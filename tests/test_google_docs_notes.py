"""Session notes as Google Docs, through the real client library against the local fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.errors import AuthError, BackendError, NoteMissing
from syncd.model import GOOGLE_DOC_MIME, NoteRef, NoteRequest
from syncd.notes.base import NoteStore
from syncd.notes.docs_requests import Paragraph, header_line, open_items
from syncd.notes.google_docs import PROP_BOOKING, PROP_FOLDER, GoogleDocsNotes
from tests.fakegoogle import FakeGoogle
from tests.fakegoogle.drive_v3 import FOLDER_MIME
from tests.fakegoogle.workspace import doc_id, make_docs_notes, note_docs
from tests.note_contract import (
    ITEM_FOLLOWUP,
    ITEM_START,
    NoteStoreContract,
    make_header,
    make_request,
)

FILES = r"^/files$"
BATCH = r":batchUpdate$"
TEMPLATE = (
    "Intro with {{client_name}}\n"
    "Challenge: {{challenge}}\n"
    "Action items\n"
    "{{action_items}}\n"
    "Notes\n"
    "Coach's standing reminder: listen first.\n"
)
FIELDS = {
    "client_name": "Ada Lovelace",
    "challenge": "scaling the team",
    "action_items": f"{ITEM_FOLLOWUP}\n{ITEM_START}",
}


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle() as server:
        yield server


@pytest.fixture
def store(tmp_path: Path, fake: FakeGoogle) -> GoogleDocsNotes:
    return make_docs_notes(tmp_path, fake)


def folder_ids(fake: FakeGoogle) -> list[str]:
    return [f["id"] for f in fake.drive.of_type(FOLDER_MIME)]


def templated(booking_id: str = "booking-1") -> NoteRequest:
    request = make_request(booking_id)
    return NoteRequest(request.booking_id, request.header, request.body, dict(FIELDS))


def seed_template(fake: FakeGoogle, *, app_created: bool = True) -> str:
    template = fake.drive.put_file("Intro template", app_created=app_created)
    fake.docs.set_text(template, TEMPLATE, {"Action items": "HEADING_2", "Notes": "HEADING_2"})
    return template


class TestGoogleDocsContract(NoteStoreContract):
    """The shared NoteStore behaviour, on Google Docs (no template Doc: built from Markdown)."""

    @pytest.fixture
    def notes(self, store: GoogleDocsNotes) -> NoteStore:
        return store

    @pytest.fixture(autouse=True)
    def _server(self, fake: FakeGoogle) -> None:
        self.fake = fake

    def note_text(self, notes: NoteStore, ref: NoteRef) -> str:
        return self.fake.docs.text(doc_id(ref))

    def note_count(self, notes: NoteStore) -> int:
        return len(note_docs(self.fake))

    def write_as_coach(self, notes: NoteStore, ref: NoteRef, text: str) -> None:
        self.fake.docs.edit(doc_id(ref), "Notes\n", f"Notes\n{text}\n")

    def check_off(self, notes: NoteStore, ref: NoteRef, item: str) -> None:
        self.fake.docs.edit(doc_id(ref), f"☐ {item}", f"☑ {item}")


# --- the folder and the Doc -------------------------------------------------------------------


def test_the_folder_is_created_once_and_found_by_its_key_afterwards(
    tmp_path: Path, fake: FakeGoogle, store: GoogleDocsNotes
) -> None:
    store.ensure(make_request("booking-1"))
    store.ensure(make_request("booking-2"))
    [folder] = folder_ids(fake)
    assert fake.drive.file(folder)["name"] == "Intro Sessions"
    folder_lookups = [r for r in fake.requests_to(FILES, "GET") if PROP_FOLDER in r.query["q"][0]]
    assert len(folder_lookups) == 1  # remembered in memory after the first
    restarted = make_docs_notes(tmp_path, fake)
    restarted.ensure(make_request("booking-3"))
    assert folder_ids(fake) == [folder]
    assert [d["parents"] for d in note_docs(fake)] == [[folder]] * 3


def test_the_folder_query_names_key_and_value_and_skips_the_trash(
    tmp_path: Path, fake: FakeGoogle, store: GoogleDocsNotes
) -> None:
    store.ensure(make_request())
    first = fake.requests_to(FILES, "GET")[0].query["q"][0]
    assert "appProperties has { key='syncdBooking' and value='" in first and "trashed = false" in first
    [old] = folder_ids(fake)
    fake.drive.trash(old)
    make_docs_notes(tmp_path, fake).ensure(make_request("booking-2"))
    assert len(folder_ids(fake)) == 2  # a trashed folder is not reused


def test_a_note_is_a_private_doc_named_for_the_session_with_its_booking_key(
    store: GoogleDocsNotes, fake: FakeGoogle
) -> None:
    ref = store.ensure(make_request())
    file = fake.drive.file(doc_id(ref))
    assert file["mimeType"] == GOOGLE_DOC_MIME and file["name"] == "Ada Lovelace"
    assert ref.locator == "drive:" + file["id"] and ref.url == file["webViewLink"]
    assert PROP_BOOKING in file["appProperties"] and "booking-1" not in str(file["appProperties"])
    text = fake.docs.text(file["id"])
    assert text.startswith(header_line(make_header()) + "\n")
    assert text.startswith("Session: 2026-12-01 · Tue 1 Dec 2026, 10:00\u201310:30 CET · status: scheduled")
    assert [r for r in fake.requests if "permission" in r.path.lower()] == []


def test_markdown_headings_become_doc_headings_counted_in_utf16(
    store: GoogleDocsNotes, fake: FakeGoogle
) -> None:
    """Emoji take two UTF-16 units: a wrong count would style the wrong paragraphs."""
    body = "# 💼💼💼 Intro: **Ada**\nplain _words_\n## Action items\n- [ ] call back\n- [x] done\n"
    request = NoteRequest("booking-1", make_header(), body)
    document = doc_id(store.ensure(request))
    assert fake.docs.style_of(document, "💼💼💼 Intro: Ada") == "HEADING_1"
    assert fake.docs.style_of(document, "plain words") == "NORMAL_TEXT"
    assert fake.docs.style_of(document, "Action items") == "HEADING_2"
    assert fake.docs.style_of(document, "☐ call back") == "NORMAL_TEXT"
    assert "☑ done" in fake.docs.text(document)


def test_a_new_note_costs_three_requests_once_the_folder_is_known(
    store: GoogleDocsNotes, fake: FakeGoogle
) -> None:
    store.ensure(make_request("booking-1"))
    fake.clear_log()
    store.ensure(make_request("booking-2"))
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in fake.requests] == [
        ("GET", "files"),
        ("POST", "files"),
        ("POST", f"{doc_id(store.ensure(make_request('booking-2')))}:batchUpdate"),
    ]


# --- crashes ----------------------------------------------------------------------------------


def test_after_a_crash_the_doc_is_found_by_its_booking_key_not_made_again(
    tmp_path: Path, fake: FakeGoogle, store: GoogleDocsNotes
) -> None:
    """Created, then the process died before recording the ref: a new process finds it."""
    ref = store.ensure(make_request())
    restarted = make_docs_notes(tmp_path, fake)
    fake.clear_log()
    assert restarted.ensure(make_request()) == ref
    assert fake.requests_to(FILES, "POST") == [] and fake.requests_to(BATCH) == []
    assert len(note_docs(fake)) == 1


def test_a_doc_left_empty_by_a_crash_is_filled_on_the_next_attempt(
    store: GoogleDocsNotes, fake: FakeGoogle
) -> None:
    fake.fail(BATCH, 503, times=10)
    with pytest.raises(BackendError) as caught:
        store.ensure(make_request())
    assert not caught.value.final and "503" in str(caught.value)
    fake.clear_faults()
    ref = store.ensure(make_request())
    assert len(note_docs(fake)) == 1
    assert ITEM_START in fake.docs.text(doc_id(ref))
    assert store.open_action_items(ref) == [ITEM_FOLLOWUP, ITEM_START]


def test_adopting_a_note_that_went_to_the_trash_makes_a_new_one(
    store: GoogleDocsNotes, fake: FakeGoogle
) -> None:
    old = store.ensure(make_request("booking-old"))
    fake.drive.trash(doc_id(old))
    new = store.ensure(make_request("booking-new"), reuse=old)
    assert new != old and len(note_docs(fake)) == 1


# --- the header line --------------------------------------------------------------------------


def test_update_header_rewrites_the_exact_old_line_and_renames_the_doc(
    store: GoogleDocsNotes, fake: FakeGoogle
) -> None:
    ref = store.ensure(make_request())
    fake.clear_log()
    store.update_header(ref, make_header("Ada King", cancelled=True))
    [batch] = fake.requests_to(BATCH)
    [replace] = batch.json()["requests"]
    assert replace["replaceAllText"]["containsText"]["text"] == header_line(make_header())
    assert fake.drive.file(doc_id(ref))["name"] == "Ada King"
    assert "status: cancelled" in fake.docs.text(doc_id(ref))


def test_an_unchanged_header_costs_one_read(store: GoogleDocsNotes, fake: FakeGoogle) -> None:
    ref = store.ensure(make_request())
    fake.clear_log()
    store.update_header(ref, make_header())
    assert [r.method for r in fake.requests] == ["GET"]


def test_a_header_line_the_coach_deleted_comes_back_at_the_top(
    store: GoogleDocsNotes, fake: FakeGoogle
) -> None:
    ref = store.ensure(make_request())
    document = doc_id(ref)
    fake.docs.edit(document, header_line(make_header()) + "\n", "")
    fake.docs.edit(document, "Notes\n", "Notes\nMy own line.\n")
    store.update_header(ref, make_header(cancelled=True))
    text = fake.docs.text(document)
    assert text.startswith(header_line(make_header(cancelled=True)) + "\n")
    assert "My own line." in text and text.count("Session: ") == 1


# --- action items -----------------------------------------------------------------------------


def test_open_items_follow_the_box_convention_inside_the_section_only() -> None:
    paragraphs = [
        Paragraph("☐ not in the section"),
        Paragraph("Action items", "HEADING_2"),
        Paragraph("☐ first"),
        Paragraph("[ ] typed by hand"),
        Paragraph("- [ ] markdown style"),
        Paragraph("☑ checked"),
        Paragraph("[x] checked by hand"),
        Paragraph("☐ "),
        Paragraph("Details", "HEADING_3"),
        Paragraph("☐ under a subheading still counts"),
        Paragraph("After", "HEADING_2"),
        Paragraph("☐ after the section"),
    ]
    assert open_items(paragraphs) == [
        "first",
        "typed by hand",
        "markdown style",
        "under a subheading still counts",
    ]


def test_a_plain_text_action_items_line_is_no_title() -> None:
    """A client's answer pasted into a Doc is plain paragraphs: "Action items:" and a box among
    them must not become the follow-up's next steps."""
    paragraphs = [
        Paragraph("Action items:"),
        Paragraph("☐ one"),
        Paragraph("Later", "HEADING_4"),
        Paragraph("☐ x"),
    ]
    assert open_items(paragraphs) == []


def test_a_plain_action_items_line_typed_into_the_doc_is_no_section(tmp_path: Path, fake: FakeGoogle) -> None:
    """In a note copied from a template Doc, text reading "Action items" and a box lands under
    Notes as plain paragraphs (as a client's answer filled into a placeholder would): only the
    template's own heading makes a section, so the extra box is not a next step."""
    store = make_docs_notes(tmp_path, fake, template_doc=seed_template(fake))
    ref = store.ensure(templated())
    fake.docs.edit(
        doc_id(ref), "Coach's standing", "Action items\n☐ Book the workshop room\nCoach's standing"
    )
    assert store.open_action_items(ref) == [ITEM_FOLLOWUP, ITEM_START]


# --- template Docs ----------------------------------------------------------------------------


def test_a_template_doc_is_copied_into_the_folder_with_placeholders_replaced(
    tmp_path: Path, fake: FakeGoogle
) -> None:
    template = seed_template(fake)
    store = make_docs_notes(tmp_path, fake, template_doc=template)
    ref = store.ensure(templated())
    assert len(fake.requests_to(rf"^/files/{template}/copy$", "POST")) == 1
    text = fake.docs.text(doc_id(ref))
    assert text.startswith(
        header_line(make_header()) + "\nIntro with Ada Lovelace\nChallenge: scaling the team\n"
    )
    assert "{{" not in text and "Coach's standing reminder: listen first." in text
    assert store.open_action_items(ref) == [ITEM_FOLLOWUP, ITEM_START]
    assert fake.docs.text(template).startswith("Intro with {{client_name}}")  # the template is untouched
    file = fake.drive.file(doc_id(ref))
    assert file["parents"] == folder_ids(fake) and PROP_BOOKING in file["appProperties"]
    assert store.ensure(templated()) == ref and len(note_docs(fake)) == 1


def test_a_copy_left_unfilled_by_a_crash_is_filled_on_the_next_attempt(
    tmp_path: Path, fake: FakeGoogle
) -> None:
    store = make_docs_notes(tmp_path, fake, template_doc=seed_template(fake))
    fake.fail(BATCH, 500, times=10)
    with pytest.raises(BackendError):
        store.ensure(templated())
    fake.clear_faults()
    ref = store.ensure(templated())
    assert "{{" not in fake.docs.text(doc_id(ref)) and len(note_docs(fake)) == 1


@pytest.mark.parametrize("status", [404, 403])
def test_a_template_doc_syncd_cannot_see_is_one_permanent_line(
    tmp_path: Path, fake: FakeGoogle, status: int
) -> None:
    """A hand-made template is invisible under drive.file (404); a 403 says the same."""
    template = seed_template(fake, app_created=status == 403)
    if status == 403:
        fake.fail(rf"/files/{template}/copy$", 403, reason="forbidden", times=5)
    store = make_docs_notes(tmp_path, fake, template_doc=template)
    with pytest.raises(BackendError) as caught:
        store.ensure(templated())
    message = str(caught.value)
    assert caught.value.final and "\n" not in message
    assert f"template_doc {template} cannot be read (HTTP {status})" in message and "drive.file" in message
    assert len(fake.requests_to(r"/copy$")) == 1


# --- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"), [(429, None), (500, None), (503, None), (403, "userRateLimitExceeded")]
)
def test_transient_errors_are_retried_until_they_pass(
    store: GoogleDocsNotes, fake: FakeGoogle, status: int, reason: str | None
) -> None:
    fake.fail(FILES, status, reason=reason, times=2, method="POST")
    fake.fail(BATCH, status, reason=reason, times=2)
    ref = store.ensure(make_request())
    assert len(note_docs(fake)) == 1 and ITEM_START in fake.docs.text(doc_id(ref))


def test_a_token_without_the_drive_permission_is_an_auth_error(
    store: GoogleDocsNotes, fake: FakeGoogle
) -> None:
    fake.fail(FILES, 403, reason="insufficientPermissions", times=5)
    with pytest.raises(AuthError, match="syncd auth google"):
        store.ensure(make_request())


def test_a_note_that_vanished_is_note_missing_naming_it(store: GoogleDocsNotes) -> None:
    """NoteMissing makes the engine look the note up by its booking (or make it again)."""
    with pytest.raises(NoteMissing, match=r"note 1nosuchdoc: reading the note: HTTP 404") as caught:
        store.open_action_items(NoteRef("drive:1nosuchdoc", "https://docs.google.com/x"))
    assert caught.value.final


def test_a_markdown_ref_is_refused_clearly(store: GoogleDocsNotes) -> None:
    with pytest.raises(BackendError, match="is not a Google Doc"):
        store.open_action_items(NoteRef("Intro Sessions/x.md", "file:///x.md"))


def test_the_fake_refuses_a_property_query_without_a_value(fake: FakeGoogle) -> None:
    from tests.fakegoogle.drive_v3 import parse_query
    from tests.fakegoogle.server import ApiError

    with pytest.raises(ApiError):
        parse_query("appProperties has { key='syncdBooking' }")
    assert len(parse_query("appProperties has { key='k' and value='v' } and trashed = false")) == 2
