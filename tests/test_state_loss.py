"""After the state is lost (a wiped disk, a fresh install over old data) syncd looks for what
already exists before creating anything: the note by its `syncd_booking` front matter whatever
its name, the draft by its headers whatever its file name, and a follow-up already sent in the
configured Sent folder."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

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
