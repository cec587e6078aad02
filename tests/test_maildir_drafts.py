"""The Maildir draft sink: the DraftSink contract, plus its Maildir layout and header safety."""

from __future__ import annotations

import email
import email.policy
import stat
from pathlib import Path

import pytest

from syncd.drafts.base import DraftSink
from syncd.drafts.maildir import MaildirDrafts, draft_key
from syncd.errors import BadEvent
from syncd.followup import build_draft
from syncd.model import DraftMessage
from tests.draft_contract import START, SUBJECT, DraftSinkContract, make_draft, make_session, parse


def stored_files(root: Path) -> list[Path]:
    return [p for sub in ("cur", "new") for p in sorted((root / sub).iterdir())]


class TestMaildirDraftsContract(DraftSinkContract):
    @pytest.fixture
    def drafts(self, tmp_path: Path) -> DraftSink:
        return MaildirDrafts(tmp_path / "Drafts")

    def stored_messages(self, drafts: DraftSink) -> list[bytes]:
        assert isinstance(drafts, MaildirDrafts)
        return [p.read_bytes() for p in stored_files(drafts.path)]


@pytest.fixture
def maildir(tmp_path: Path) -> MaildirDrafts:
    return MaildirDrafts(tmp_path / "Drafts")


def test_missing_maildir_folders_are_created_private(maildir: MaildirDrafts) -> None:
    maildir.ensure(make_draft())
    for sub in ("", "cur", "new", "tmp"):
        assert stat.S_IMODE((maildir.path / sub).stat().st_mode) == 0o700


def test_draft_lands_in_cur_flagged_as_draft_and_private(maildir: MaildirDrafts) -> None:
    unique = maildir.ensure(make_draft())
    [path] = stored_files(maildir.path)
    assert path.parent.name == "cur"
    assert path.name == unique + ":2,D"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list((maildir.path / "tmp").iterdir()) == []


def test_draft_is_found_again_after_the_mail_client_renamed_it(maildir: MaildirDrafts) -> None:
    maildir.ensure(make_draft())
    [path] = stored_files(maildir.path)
    renamed = maildir.path / "cur" / "1700000000.M1P2.otherhost:2,DS"
    path.rename(renamed)
    assert maildir.ensure(make_draft()) == "1700000000.M1P2.otherhost"
    assert stored_files(maildir.path) == [renamed]


def test_draft_is_found_when_the_client_moved_it_to_new(maildir: MaildirDrafts) -> None:
    unique = maildir.ensure(make_draft())
    [path] = stored_files(maildir.path)
    path.rename(maildir.path / "new" / unique)
    assert maildir.ensure(make_draft()) == unique
    assert len(stored_files(maildir.path)) == 1


def test_leftover_of_an_interrupted_write_is_replaced(maildir: MaildirDrafts) -> None:
    draft = make_draft()
    maildir.ensure(make_draft("warm-up"))  # creates the folders
    leftover = maildir.path / "tmp" / "1.syncd-partial.host"
    leftover.write_bytes(b"Subject: half")
    stale = maildir.path / "tmp" / f"1.{draft_key(draft.booking_id)}.host"
    stale.write_bytes(b"Subject: half")
    maildir.ensure(draft)
    assert not stale.exists()
    assert leftover.exists()  # not ours to remove


def test_messages_are_stored_with_lf_line_ends(maildir: MaildirDrafts) -> None:
    maildir.ensure(make_draft())
    [path] = stored_files(maildir.path)
    assert b"\r\n" not in path.read_bytes()


def test_crlf_in_a_client_name_cannot_inject_a_header(maildir: MaildirDrafts) -> None:
    session = make_session(name="Eve\r\nBcc: victim@evil.example\r\nX-Evil: 1")
    maildir.ensure(build_draft(session, SUBJECT + "\r\nBcc: other@evil.example", "Hi\n", now=START))
    [path] = stored_files(maildir.path)
    message = parse(path.read_bytes())
    assert message["Bcc"] is None
    assert message["X-Evil"] is None
    assert message["To"].addresses[0].addr_spec == "ada@client.example"
    assert "\n" not in message["Subject"]


def test_non_ascii_names_are_encoded_and_decode_back(maildir: MaildirDrafts) -> None:
    maildir.ensure(make_draft(name="Zoë Ünal-Şahin 山田"))
    [path] = stored_files(maildir.path)
    raw = path.read_bytes()
    header_block = raw.split(b"\n\n", 1)[0]
    assert header_block.isascii()
    assert b"=?utf-8?" in header_block
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["To"].addresses[0].display_name == "Zoë Ünal-Şahin 山田"
    assert message["Subject"] == SUBJECT


def test_draft_carries_a_deterministic_message_id_and_booking_header() -> None:
    first, second = make_draft("booking-7"), make_draft("booking-7")
    assert first.message_id == second.message_id
    assert first.message_id.startswith("<syncd-")
    assert first.message_id.endswith("@coach.example>")
    assert make_draft("booking-8").message_id != first.message_id
    message = parse(first.raw)
    assert message["X-Syncd-Booking"] == "booking-7"
    assert message["Date"] is not None
    assert b"\r\n" in first.raw


def test_client_without_email_gets_no_draft() -> None:
    with pytest.raises(BadEvent, match="no email"):
        build_draft(make_session(email=""), SUBJECT, "Hi\n", now=START)


def test_client_email_with_a_smuggled_header_is_refused() -> None:
    with pytest.raises(BadEvent):
        build_draft(
            make_session(email="ada@client.example\r\nBcc: x@evil.example"), SUBJECT, "Hi\n", now=START
        )


def test_same_booking_with_a_new_text_is_not_stored_twice(maildir: MaildirDrafts) -> None:
    first = maildir.ensure(make_draft(body="First text\n"))
    again: DraftMessage = make_draft(body="Edited template\n")
    assert maildir.ensure(again) == first
    assert len(stored_files(maildir.path)) == 1
