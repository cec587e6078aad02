"""After the state is lost (a wiped disk, a fresh install over old data) syncd looks for what
already exists before creating anything: the note by its `syncd_booking` front matter whatever
its name, the draft by its headers whatever its file name, and a follow-up already sent in the
configured Sent folder."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd.drafts.maildir import MaildirDrafts
from syncd.state import StateStore
from tests.draft_contract import make_draft
from tests.support import Workspace

MAIL_CLIENT_NAME = "1764590000.M20P7.laptop:2,DS"  # what a mail client renames a draft to


def session_just_over(ws: Workspace) -> None:
    """An intro that ended an hour ago: its follow-up (15 min after) is due now."""
    ws.put("a1", "Intro session", datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=90))


def wipe_state(ws: Workspace) -> None:
    shutil.rmtree(ws.root / "state")


@pytest.mark.parametrize("note_name", ["Jane - intro prep.md", "Archive/2026/Jane - intro prep.md"])
def test_lost_state_finds_the_renamed_note_and_draft_instead_of_making_new_ones(
    tmp_path: Path, note_name: str
) -> None:
    """Rename the draft (as a mail client does) and the note (or file it in a subfolder), wipe
    the state, run again: still one note and one draft, and the event links the renamed note."""
    ws = Workspace(tmp_path)
    session_just_over(ws)
    ws.run("once")
    [note], [draft] = ws.notes(), ws.draft_files()
    renamed_note = ws.collection / note_name
    renamed_note.parent.mkdir(parents=True, exist_ok=True)
    note.rename(renamed_note)
    draft.rename(draft.parent / MAIL_CLIENT_NAME)
    wipe_state(ws)

    ws.run("once")

    assert [p.name for p in ws.draft_files()] == [MAIL_CLIENT_NAME]
    assert sorted(ws.collection.rglob("*.md")) == [renamed_note]
    assert renamed_note.resolve().as_uri() in ws.event_text("a1")
    assert note.resolve().as_uri() not in ws.event_text("a1")
    assert "queued" in ws.run("status").stdout


def test_lost_state_does_not_draft_again_a_follow_up_already_sent(tmp_path: Path) -> None:
    """The coach sent the draft (the mail client moved it to Sent); with `sent:` configured, a
    run after the state was lost finds it there and leaves the drafts folder empty."""
    ws = Workspace(tmp_path)
    sent = ws.root / "Mail" / "Sent"
    for sub in ("cur", "new", "tmp"):
        (sent / sub).mkdir(parents=True)
    config = ws.config.read_text(encoding="utf-8")
    ws.config.write_text(config.replace("path: Mail/Drafts,", "path: Mail/Drafts, sent: Mail/Sent,"))
    session_just_over(ws)
    ws.run("once")
    [draft] = ws.draft_files()
    draft.rename(sent / "cur" / "1764590300.M1P9.laptop:2,S")
    wipe_state(ws)

    result = ws.run("once")

    assert ws.draft_files() == []
    assert "already in" in result.stderr
    assert "queued" in ws.run("status").stdout


def test_sent_folder_must_exist_and_differ_from_drafts(tmp_path: Path) -> None:
    """A misspelt Sent folder is a config error naming the key, not a silent no-op."""
    ws = Workspace(tmp_path)
    config = ws.config.read_text(encoding="utf-8")
    ws.config.write_text(config.replace("path: Mail/Drafts,", "path: Mail/Drafts, sent: Mail/Snet,"))
    missing = ws.run("check-config", check=False)
    assert missing.returncode == 2 and "coaches[0].drafts.sent" in missing.stderr and "Snet" in missing.stderr
    (ws.root / "Mail" / "Drafts").mkdir()
    ws.config.write_text(config.replace("path: Mail/Drafts,", "path: Mail/Drafts, sent: Mail/Drafts,"))
    same = ws.run("check-config", check=False)
    assert same.returncode == 2 and "drafts folder itself" in same.stderr


# --- the parts, one at a time -----------------------------------------------------------------


def test_a_draft_whose_message_id_a_client_rewrote_is_found_by_its_booking_header(tmp_path: Path) -> None:
    """Some clients give a draft a new Message-ID when they save it; X-Syncd-Booking stays."""
    maildir = MaildirDrafts(tmp_path / "Drafts")
    first = make_draft()
    name = maildir.ensure(first)
    [stored] = (tmp_path / "Drafts" / "cur").iterdir()
    rewritten = stored.read_bytes().replace(first.message_id.encode(), b"<edited-1@client.example>")
    stored.unlink()
    (tmp_path / "Drafts" / "new" / "1764590000.M3P1.laptop").write_bytes(rewritten)
    fresh = MaildirDrafts(tmp_path / "Drafts")  # a new process: nothing remembered
    assert fresh.ensure(make_draft(), maybe_exists=False) == "1764590000.M3P1.laptop" != name
    assert len(list((tmp_path / "Drafts" / "cur").iterdir())) == 0


def test_only_the_same_bookings_sent_message_counts(tmp_path: Path) -> None:
    sent = tmp_path / "Sent"
    for sub in ("cur", "new", "tmp"):
        (sent / sub).mkdir(parents=True)
    (sent / "cur" / "1.M1.laptop:2,S").write_bytes(make_draft("booking-1").raw)
    maildir = MaildirDrafts(tmp_path / "Drafts", sent)
    assert maildir.ensure(make_draft("booking-1"), maybe_exists=False) == "1.M1.laptop"
    other = maildir.ensure(make_draft("booking-2"), maybe_exists=False)
    assert [p.name.split(":")[0] for p in (tmp_path / "Drafts" / "cur").iterdir()] == [other]


def test_a_note_in_a_hidden_folder_is_not_taken_for_the_booking(tmp_path: Path) -> None:
    """An app's trash inside the collection holds deleted notes: not found, a new one is made."""
    ws = Workspace(tmp_path)
    session_just_over(ws)
    ws.run("once")
    [note] = ws.notes()
    trash = ws.collection / ".trash"
    trash.mkdir()
    note.rename(trash / note.name)
    wipe_state(ws)
    ws.run("once")
    assert [p.name for p in ws.notes()] == [note.name]


def test_the_state_remembers_when_it_was_begun(tmp_path: Path) -> None:
    """A follow-up due before the state was begun may have been drafted by an install whose
    state was lost: the pass asks the drafts sink to look first (`maybe_exists`)."""
    before = datetime.now(UTC)
    state = StateStore.in_dir(tmp_path / "state")
    created = state.created()
    state.close()
    assert before <= created <= datetime.now(UTC)
    again = StateStore.in_dir(tmp_path / "state")
    try:
        assert again.created() == created
    finally:
        again.close()
