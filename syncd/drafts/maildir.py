"""Follow-up drafts as messages in a Maildir folder (e.g. `~/Mail/Drafts`), flagged as drafts.

Each draft's unique name carries `syncd-HASH` (from the booking id), so it is found again after a
crash; a mail client that renamed the file is caught by the Message-ID in its headers. Messages
are stored with LF line ends, as local mail stores keep them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from syncd.config import CoachConfig, MaildirDraftsConfig, Settings
from syncd.errors import BackendError
from syncd.model import DraftMessage

DRAFT_INFO = ":2,D"
MAX_HEADER_BYTES = 65536


def draft_key(booking_id: str) -> str:
    """The part of a draft's file name that names its booking: `syncd-` and 16 hex digits."""
    return "syncd-" + hashlib.sha256(booking_id.encode("utf-8")).hexdigest()[:16]


def _hostname() -> str:
    # The Maildir spec's escapes for the two characters a unique name may not hold.
    return socket.gethostname().replace("/", "\\057").replace(":", "\\072") or "localhost"


def _base_name(file_name: str) -> str:
    return file_name.split(":", 1)[0]


def _header_value(path: Path, name: str) -> str:
    """The `name` header of the message in `path`, unfolded; "" if absent or unreadable."""
    try:
        with path.open("rb") as handle:
            head = handle.read(MAX_HEADER_BYTES)
    except OSError:
        return ""
    headers = BytesHeaderParser(policy=compat32).parsebytes(head)
    return "".join(str(headers.get(name, "")).split())


class MaildirDrafts:
    """A DraftSink writing into the Maildir at `path` (created, mode 0700, when missing)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def ensure(self, draft: DraftMessage, *, maybe_exists: bool = True) -> str:
        """Store `draft` in cur/ flagged as a draft unless its booking's draft is there already;
        return the draft's unique name (the file name before `:2,`).

        The look-up by file name is always done (it is cheap); `maybe_exists=False` skips only
        the scan of every draft's headers for one a mail client renamed.
        """
        try:
            self._make_folders()
            found = self._find(draft, by_headers=maybe_exists)
            return found if found is not None else self._store(draft)
        except OSError as exc:
            raise BackendError(f"drafts: {self.path}: {exc.strerror or exc}") from exc

    def _make_folders(self) -> None:
        for folder in (self.path, self.path / "cur", self.path / "new", self.path / "tmp"):
            if not folder.is_dir():
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _messages(self) -> list[Path]:
        return [p for sub in ("cur", "new") for p in sorted((self.path / sub).iterdir()) if p.is_file()]

    def _find(self, draft: DraftMessage, *, by_headers: bool) -> str | None:
        """The draft of this booking: by the key in its name, else by its Message-ID."""
        key = draft_key(draft.booking_id)
        messages = self._messages()
        for path in messages:
            if key in _base_name(path.name):
                return _base_name(path.name)
        if not by_headers:
            return None
        wanted = "".join(draft.message_id.split())
        for path in messages:
            if _header_value(path, "Message-ID") == wanted:
                return _base_name(path.name)
        return None

    def _store(self, draft: DraftMessage) -> str:
        key = draft_key(draft.booking_id)
        self._drop_stale_tmp(key)
        unique = f"{int(time.time())}.{key}.{_hostname()}"
        tmp = self.path / "tmp" / unique
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(draft.raw.replace(b"\r\n", b"\n"))
                handle.flush()
                os.fsync(handle.fileno())
            tmp.rename(self.path / "cur" / (unique + DRAFT_INFO))
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return unique

    def _drop_stale_tmp(self, key: str) -> None:
        """Remove what an earlier, interrupted write of this draft left in tmp/."""
        for path in (self.path / "tmp").iterdir():
            if key in path.name:
                path.unlink(missing_ok=True)


def from_config(section: MaildirDraftsConfig, coach: CoachConfig, settings: Settings) -> MaildirDrafts:
    """The sink a coach's `drafts: {type: maildir}` section describes."""
    return MaildirDrafts(section.path)
