"""syncd-side set-up for the Google Workspace backends (Docs notes, Gmail drafts) on the fake.

Backends are built as the daemon builds them (`from_config`, a stored token) but with fast,
sleepless retries; `write_scoped_token` issues a token carrying exactly the scopes the
configuration needs, as `syncd auth google` would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncd.config import Settings, load_settings
from syncd.drafts import gmail
from syncd.google.auth import scopes_for, token_path
from syncd.model import NoteRef
from syncd.notes import google_docs
from tests.support import COACH as LOCAL_COACH
from tests.support import Workspace

from .drive_v3 import DOC_MIME
from .helpers import COACH, make_settings
from .server import FakeGoogle

TIMEOUT = 0.5
RETRIES = 2


def no_sleep(seconds: float) -> None:
    """The client library's backoff sleep, skipped."""


def write_scoped_token(settings: Settings, fake: FakeGoogle) -> Path:
    """The token file `syncd auth google` would leave for `settings`, issued by the fake."""
    path = token_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fake.oauth.token_info(scopes_for(settings))))
    path.chmod(0o600)
    return path


def docs_settings(tmp_path: Path, fake: FakeGoogle, **notes: Any) -> Settings:
    """Settings whose coach keeps notes in Google Docs (`notes` adds keys to the section)."""
    settings = make_settings(tmp_path, fake, notes={"type": "google_docs", **notes})
    write_scoped_token(settings, fake)
    return settings


def make_docs_notes(tmp_path: Path, fake: FakeGoogle, **notes: Any) -> google_docs.GoogleDocsNotes:
    """The Docs note store as the daemon builds it, with fast retries."""
    settings = docs_settings(tmp_path, fake, **notes)
    coach = settings.coaches[0]
    return google_docs.from_config(
        coach.notes,  # type: ignore[arg-type]
        coach,
        settings,
        timeout=TIMEOUT,
        num_retries=RETRIES,
        sleep=no_sleep,
    )


def make_gmail_drafts(tmp_path: Path, fake: FakeGoogle) -> gmail.GmailDrafts:
    """The Gmail draft sink as the daemon builds it, with fast retries."""
    settings = make_settings(tmp_path, fake, drafts={"type": "gmail"})
    write_scoped_token(settings, fake)
    coach = settings.coaches[0]
    return gmail.from_config(
        coach.drafts,  # type: ignore[arg-type]
        coach,
        settings,
        timeout=TIMEOUT,
        num_retries=RETRIES,
        sleep=no_sleep,
    )


def doc_id(ref: NoteRef) -> str:
    """The Drive file id of a note made by the Docs backend."""
    assert ref.drive_file_id, ref
    return ref.drive_file_id


def note_docs(fake: FakeGoogle) -> list[dict[str, Any]]:
    """Every Google Doc syncd made as a note (it carries a booking key), trashed ones left out."""
    return [
        f
        for f in fake.drive.of_type(DOC_MIME)
        if google_docs.PROP_BOOKING in f["appProperties"] and not f["trashed"]
    ]


@dataclass
class GoogleWorkspace(Workspace):
    """A coach's workspace (tests.support) whose config mixes Google and local parts on `fake`.

    `calendar` is "google" or "vdir", `notes` "google_docs" or "markdown", `drafts` "gmail" or
    "maildir"; the token file carries exactly the scopes the mix needs.
    """

    fake: FakeGoogle | None = None
    calendar_type: str = "google"
    notes_type: str = "google_docs"
    drafts_type: str = "gmail"
    port: int = 8765

    def __post_init__(self) -> None:
        super().__post_init__()
        assert self.fake is not None
        write_scoped_token(load_settings(self.config), self.fake)

    @property
    def coach_email(self) -> str:
        # The fake's primary calendar belongs to helpers.COACH; .ics events name support.COACH.
        return COACH if self.calendar_type == "google" else LOCAL_COACH

    def write_config(self) -> None:
        assert self.fake is not None
        sections = {
            "google": "{type: google}",
            "vdir": "{type: vdir, path: calendar}",
            "google_docs": "{type: google_docs, folder: Intro Sessions}",
            "markdown": "{type: markdown, path: notes}",
            "gmail": f"{{type: gmail, delay: {self.delay}}}",
            "maildir": f"{{type: maildir, path: Mail/Drafts, delay: {self.delay}}}",
        }
        self.config.write_text(
            f"""\
state_dir: state
lookback: {self.lookback}
max_lateness: {self.max_lateness}
google:
  client_secrets: client.json
  token_uri: {self.fake.token_uri}
  api_endpoint: {self.fake.api_endpoint}
  port: {self.port}
coaches:
  - name: Casey Coach
    email: {self.coach_email}
    timezone: Europe/Berlin
    pricing_url: https://coach.example.com/pricing
    calendar: {sections[self.calendar_type]}
    notes: {sections[self.notes_type]}
    drafts: {sections[self.drafts_type]}
""",
            encoding="utf-8",
        )
