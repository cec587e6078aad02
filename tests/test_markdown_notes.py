"""The Markdown note store: the NoteStore contract, plus its files, names, links and modes."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from syncd.errors import BackendError
from syncd.model import Client, Coach, NoteRef, NoteRequest, Session
from syncd.notes.base import NoteStore
from syncd.notes.markdown import BANNER, RESCHEDULED, MarkdownNotes, safe_file_name
from syncd.templating import Renderer
from tests.note_contract import (
    BODY,
    ITEM_FOLLOWUP,
    ITEM_START,
    START,
    NoteStoreContract,
    make_header,
    make_request,
)


def note_path(notes: NoteStore, ref: NoteRef) -> Path:
    assert isinstance(notes, MarkdownNotes)
    return notes.root / ref.locator


def front_matter(path: Path) -> dict[str, object]:
    text = path.read_text(encoding="utf-8")
    _, front, _ = text.split("---\n", 2)
    loaded = yaml.safe_load(front)
    assert isinstance(loaded, dict)
    return loaded


class TestMarkdownNotesContract(NoteStoreContract):
    @pytest.fixture
    def notes(self, tmp_path: Path) -> NoteStore:
        return MarkdownNotes(tmp_path, "Intro Sessions")

    def note_text(self, notes: NoteStore, ref: NoteRef) -> str:
        return note_path(notes, ref).read_text(encoding="utf-8")

    def note_count(self, notes: NoteStore) -> int:
        assert isinstance(notes, MarkdownNotes)
        return len(list(notes.root.rglob("*.md")))

    def write_as_coach(self, notes: NoteStore, ref: NoteRef, text: str) -> None:
        path = note_path(notes, ref)
        content = path.read_text(encoding="utf-8")
        path.write_text(content.replace("## Notes\n", f"## Notes\n{text}\n", 1), encoding="utf-8")

    def check_off(self, notes: NoteStore, ref: NoteRef, item: str) -> None:
        path = note_path(notes, ref)
        content = path.read_text(encoding="utf-8")
        path.write_text(content.replace(f"- [ ] {item}", f"- [x] {item}", 1), encoding="utf-8")


@pytest.fixture
def notes(tmp_path: Path) -> MarkdownNotes:
    return MarkdownNotes(tmp_path, "Intro Sessions")


def test_note_is_named_by_date_in_coach_zone_and_client(notes: MarkdownNotes, tmp_path: Path) -> None:
    late = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)  # already 2 Dec in Berlin
    ref = notes.ensure(make_request(start=late))
    assert ref.locator == "Intro Sessions/2026-12-02 Ada Lovelace.md"
    assert (tmp_path / ref.locator).is_file()


def test_front_matter_holds_session_in_coach_zone_and_booking(notes: MarkdownNotes, tmp_path: Path) -> None:
    ref = notes.ensure(make_request("booking-42"))
    meta = front_matter(tmp_path / ref.locator)
    assert meta["syncd_booking"] == "booking-42"
    assert meta["status"] == "scheduled"
    assert meta["client"] == "Ada Lovelace"
    assert str(meta["session_start"]).startswith("2026-12-01 10:00:00+01:00")


def test_numeric_booking_id_stays_a_string(notes: MarkdownNotes, tmp_path: Path) -> None:
    ref = notes.ensure(make_request("0012"))
    assert front_matter(tmp_path / ref.locator)["syncd_booking"] == "0012"
    assert notes.ensure(make_request("0012")) == ref


def test_new_store_instance_finds_the_note_written_before_a_crash(tmp_path: Path) -> None:
    ref = MarkdownNotes(tmp_path, "Intro Sessions").ensure(make_request())
    again = MarkdownNotes(tmp_path, "Intro Sessions").ensure(make_request())
    assert again == ref
    assert len(list(tmp_path.rglob("*.md"))) == 1


def test_note_moved_to_another_day_is_still_found_by_booking(notes: MarkdownNotes) -> None:
    ref = notes.ensure(make_request())
    moved = make_request(start=START + timedelta(days=3))
    assert notes.ensure(moved) == ref


def test_note_renamed_by_the_coach_is_found_by_the_same_store_and_a_new_one(
    notes: MarkdownNotes, tmp_path: Path
) -> None:
    """The store's index of the collection is refreshed when an indexed note has moved."""
    other = notes.ensure(make_request("booking-0", "Grace Hopper"))
    ref = notes.ensure(make_request())
    path = note_path(notes, ref)
    renamed = path.with_name("Ada - first call.md")
    path.rename(renamed)
    moved = make_request(start=START + timedelta(days=3))
    assert note_path(notes, notes.ensure(moved)) == renamed
    renamed.rename(path.with_name("Ada again.md"))
    assert note_path(notes, notes.ensure(moved)) == path.with_name("Ada again.md")
    assert (
        note_path(
            MarkdownNotes(tmp_path, "Intro Sessions"), MarkdownNotes(tmp_path, "Intro Sessions").ensure(moved)
        ).name
        == "Ada again.md"
    )
    assert notes.ensure(make_request("booking-0", "Grace Hopper")) == other
    assert len(list(tmp_path.rglob("*.md"))) == 2


def test_file_not_created_by_syncd_is_never_overwritten(notes: MarkdownNotes, tmp_path: Path) -> None:
    folder = tmp_path / "Intro Sessions"
    folder.mkdir()
    own = folder / "2026-12-01 Ada Lovelace.md"
    own.write_text("my own note\n", encoding="utf-8")
    ref = notes.ensure(make_request())
    assert ref.locator == "Intro Sessions/2026-12-01 Ada Lovelace (2).md"
    assert own.read_text(encoding="utf-8") == "my own note\n"


def test_update_header_refuses_a_file_syncd_did_not_create(notes: MarkdownNotes, tmp_path: Path) -> None:
    (tmp_path / "Intro Sessions").mkdir()
    (tmp_path / "Intro Sessions" / "mine.md").write_text("# mine\n", encoding="utf-8")
    with pytest.raises(BackendError):
        notes.update_header(NoteRef("Intro Sessions/mine.md", ""), make_header(cancelled=True))
    assert (tmp_path / "Intro Sessions" / "mine.md").read_text(encoding="utf-8") == "# mine\n"


def test_reuse_of_a_foreign_file_creates_a_new_note_instead(notes: MarkdownNotes, tmp_path: Path) -> None:
    (tmp_path / "Intro Sessions").mkdir()
    (tmp_path / "Intro Sessions" / "mine.md").write_text("# mine\n", encoding="utf-8")
    ref = notes.ensure(make_request(), reuse=NoteRef("Intro Sessions/mine.md", ""))
    assert ref.locator == "Intro Sessions/2026-12-01 Ada Lovelace.md"
    assert (tmp_path / "Intro Sessions" / "mine.md").read_text(encoding="utf-8") == "# mine\n"


def test_reused_note_keeps_its_file_name_and_takes_the_new_booking(
    notes: MarkdownNotes, tmp_path: Path
) -> None:
    old = notes.ensure(make_request("old"))
    notes.update_header(old, make_header(cancelled=True))
    new = notes.ensure(make_request("new", start=START + timedelta(days=2)), reuse=old)
    assert new.locator == old.locator
    meta = front_matter(tmp_path / new.locator)
    assert meta["syncd_booking"] == "new"
    assert meta["status"] == "scheduled"
    assert BANNER not in (tmp_path / new.locator).read_text(encoding="utf-8")


def test_cancel_adds_one_banner_line_after_front_matter_and_reinstating_restores_the_file(
    notes: MarkdownNotes, tmp_path: Path
) -> None:
    ref = notes.ensure(make_request())
    path = tmp_path / ref.locator
    original = path.read_text(encoding="utf-8")
    notes.update_header(ref, make_header(cancelled=True))
    notes.update_header(ref, make_header(cancelled=True))
    cancelled = path.read_text(encoding="utf-8")
    assert cancelled.count(BANNER) == 1
    assert cancelled.split("---\n", 2)[2].startswith(BANNER + "\n")
    assert front_matter(path)["status"] == "cancelled"
    notes.update_header(ref, make_header(cancelled=False))
    assert path.read_text(encoding="utf-8") == original


def body_of(path: Path) -> str:
    return path.read_text(encoding="utf-8").split("---\n", 2)[2]


FRI_27_NOV = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
MOVED = f"{RESCHEDULED}Fri 27 Nov 2026, 10:00\u201310:30 CET."


def test_reschedule_puts_one_banner_line_with_the_new_time_in_the_notes_zone(
    notes: MarkdownNotes, tmp_path: Path
) -> None:
    ref = notes.ensure(make_request())
    path = tmp_path / ref.locator
    original_body = body_of(path)
    notes.update_header(ref, make_header(start=FRI_27_NOV))
    assert body_of(path) == f"{MOVED}\n\n{original_body}"
    assert str(front_matter(path)["session_start"]).startswith("2026-11-27 10:00")
    notes.update_header(ref, make_header(start=FRI_27_NOV))  # nothing changed: nothing written
    assert body_of(path) == f"{MOVED}\n\n{original_body}"
    notes.update_header(ref, make_header(start=FRI_27_NOV + timedelta(days=1, hours=5)))
    moved_again = f"{RESCHEDULED}Sat 28 Nov 2026, 15:00\u201315:30 CET."
    assert body_of(path) == f"{moved_again}\n\n{original_body}"


def test_cancelled_banner_wins_and_reinstating_a_moved_session_shows_the_rescheduled_one(
    notes: MarkdownNotes, tmp_path: Path
) -> None:
    ref = notes.ensure(make_request())
    path = tmp_path / ref.locator
    original_body = body_of(path)
    notes.update_header(ref, make_header(start=FRI_27_NOV))
    notes.update_header(ref, make_header(start=FRI_27_NOV, cancelled=True))
    assert body_of(path) == f"{BANNER}\n\n{original_body}"
    notes.update_header(ref, make_header(start=FRI_27_NOV))
    assert body_of(path) == f"{MOVED}\n\n{original_body}"


def test_session_moved_back_to_its_first_time_gives_back_the_file(
    notes: MarkdownNotes, tmp_path: Path
) -> None:
    ref = notes.ensure(make_request())
    path = tmp_path / ref.locator
    original = path.read_text(encoding="utf-8")
    notes.update_header(ref, make_header(start=FRI_27_NOV))
    notes.update_header(ref, make_header(start=FRI_27_NOV, cancelled=True))
    notes.update_header(ref, make_header())
    assert path.read_text(encoding="utf-8") == original


def test_update_header_keeps_the_coachs_own_front_matter_keys(notes: MarkdownNotes, tmp_path: Path) -> None:
    ref = notes.ensure(make_request())
    path = tmp_path / ref.locator
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("---\n", "---\ntags:\n  - coaching\n", 1), encoding="utf-8")
    notes.update_header(ref, make_header(start=START + timedelta(days=1)))
    meta = front_matter(path)
    assert meta["tags"] == ["coaching"]
    assert str(meta["session_start"]).startswith("2026-12-02")


def test_action_items_outside_their_section_are_not_returned(notes: MarkdownNotes) -> None:
    body = BODY + "\n## After the session\n- [ ] Send the draft\n- [x] Done thing\n"
    ref = notes.ensure(NoteRequest("b", make_header(), body))
    assert notes.open_action_items(ref)[-1] == ITEM_START
    assert "Send the draft" not in notes.open_action_items(ref)


def test_items_the_coach_adds_under_action_items_are_returned(notes: MarkdownNotes, tmp_path: Path) -> None:
    ref = notes.ensure(make_request())
    path = tmp_path / ref.locator
    path.write_text(path.read_text(encoding="utf-8") + "- [ ] Send the reading list\n", encoding="utf-8")
    assert notes.open_action_items(ref)[-1] == "Send the reading list"


def test_a_second_action_items_section_the_coach_adds_counts_after_the_first(
    notes: MarkdownNotes, tmp_path: Path
) -> None:
    """Items under a second "## Action items" heading the coach writes at the end of the note
    come after the first section's, in note order."""
    ref = notes.ensure(make_request())
    path = tmp_path / ref.locator
    extra = "\n## Follow-up ideas\n- [ ] Not an action item\n## Action items\n- [ ] Share the reading list\n"
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    assert notes.open_action_items(ref) == [ITEM_FOLLOWUP, ITEM_START, "Share the reading list"]


def test_missing_note_is_a_clear_non_retryable_error(notes: MarkdownNotes, tmp_path: Path) -> None:
    ref = notes.ensure(make_request())
    (tmp_path / ref.locator).unlink()
    with pytest.raises(BackendError, match="is gone") as caught:
        notes.open_action_items(ref)
    assert caught.value.final


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "a/b\\c",
        "\x00\x1b[31mRed\x1b[0m",
        "{{ 7*7 }}",
        "x" * 10_000,
        "...",
        'C:*?"<>|#^[]',
    ],
)
def test_hostile_client_names_give_short_safe_files_inside_the_collection(
    notes: MarkdownNotes, tmp_path: Path, name: str
) -> None:
    ref = notes.ensure(NoteRequest("b", make_header(name), BODY))
    path = (tmp_path / ref.locator).resolve()
    assert path.parent == (tmp_path / "Intro Sessions").resolve()
    assert path.is_file()
    assert len(path.name) <= 100
    assert not any(ch in path.name for ch in '/\\:*?"<>|#^[]\x00\x1b')
    assert not path.name.startswith(".")


def test_safe_file_name_falls_back_to_client() -> None:
    assert safe_file_name("../") == "Client"
    assert safe_file_name("  Ada \n  Lovelace ") == "Ada Lovelace"
    assert len(safe_file_name("é" * 500).encode()) <= 180


def test_template_syntax_in_a_client_name_is_written_literally(notes: MarkdownNotes, tmp_path: Path) -> None:
    coach = Coach("Sam", "sam@coach.example", "Europe/Berlin", "https://coach.example/p")
    client = Client(name="{{ 7*7 }} {% raw %}", challenge="{{ config }}")
    session = Session("b", coach, client, START, START + timedelta(minutes=30))
    body = Renderer().render_note(session, START - timedelta(days=1))
    ref = notes.ensure(NoteRequest("b", make_header(client.name), body))
    text = (tmp_path / ref.locator).read_text(encoding="utf-8")
    assert "{{ 7*7 }} {% raw %}" in text
    assert "{{ config }}" in text
    assert "49" not in text


def test_notes_are_private_files(notes: MarkdownNotes, tmp_path: Path) -> None:
    ref = notes.ensure(make_request())
    path = tmp_path / ref.locator
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    notes.update_header(ref, make_header(cancelled=True))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]


def test_default_url_is_the_file_uri(notes: MarkdownNotes, tmp_path: Path) -> None:
    ref = notes.ensure(make_request())
    assert ref.url == (tmp_path / ref.locator).resolve().as_uri()


def test_url_template_gets_quoted_placeholders(tmp_path: Path) -> None:
    notes = MarkdownNotes(tmp_path, "Intro Sessions", "obsidian://open?vault=Notes&file={relpath}#{name}")
    ref = notes.ensure(make_request(client="Zoë & Co"))
    assert ref.url == (
        "obsidian://open?vault=Notes&file=Intro%20Sessions/2026-12-01%20Zo%C3%AB%20%26%20Co.md"
        "#2026-12-01%20Zo%C3%AB%20%26%20Co"
    )


def test_url_template_uri_placeholder_is_fully_quoted(tmp_path: Path) -> None:
    notes = MarkdownNotes(tmp_path, "Intro Sessions", "https://open.example/?u={uri}")
    ref = notes.ensure(make_request())
    assert ref.url.startswith("https://open.example/?u=file%3A%2F%2F")
    assert " " not in ref.url


def test_locator_outside_the_root_is_refused(notes: MarkdownNotes) -> None:
    with pytest.raises(BackendError):
        notes.open_action_items(NoteRef("../outside.md", ""))


def test_note_converted_to_crlf_line_ends_is_still_found(notes: MarkdownNotes, tmp_path: Path) -> None:
    ref = notes.ensure(make_request())
    path = tmp_path / ref.locator
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert notes.ensure(make_request()) == ref
    assert notes.open_action_items(ref)[-1] == ITEM_START
