"""Follow-up drafts as messages in a Maildir folder (e.g. `~/Mail/Drafts`), flagged as drafts.

Each draft's unique name carries `syncd-HASH` (from the booking id), so it is found again after a
crash. A draft a mail client renamed (new name, flags changed, moved to new/) is found by its
Message-ID or `X-Syncd-Booking` header, and so is one the coach already sent, in the Sent folder
when one is configured: after the state was lost, nothing already drafted or sent is drafted
again. Only headers are read, and each message once per process. Messages are stored with LF
line ends, as local mail stores keep them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import time
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from syncd.config import CoachConfig, MaildirDraftsConfig, Settings
from syncd.errors import BackendError
from syncd.followup import BOOKING_HEADER, booking_header
from syncd.model import DraftMessage
from syncd.text import one_line

log = logging.getLogger("syncd")

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


def _read_head(path: Path) -> bytes:
    """The header block of the message in `path` (up to MAX_HEADER_BYTES): the body is never read."""
    head = b""
    with path.open("rb") as handle:
        while len(head) < MAX_HEADER_BYTES:
            chunk = handle.read(4096)
            head += chunk
            if not chunk or b"\n\n" in head or b"\r\n\r\n" in head:
                break
    return head


def _identity(path: Path) -> tuple[str, str]:
    """(Message-ID, booking header) of the message in `path`, unfolded; "" where absent or
    unreadable (a message deleted while the folder was listed is simply not there)."""
    try:
        head = _read_head(path)
    except OSError:
        return "", ""
    headers = BytesHeaderParser(policy=compat32).parsebytes(head)
    return _unfolded(headers.get("Message-ID")), _unfolded(headers.get(BOOKING_HEADER))


def _unfolded(value: object) -> str:
    if value is None:
        return ""
    try:
        text = str(make_header(decode_header(str(value))))
    except (ValueError, LookupError, UnicodeError):  # a malformed encoded word: compare it raw
        text = str(value)
    return "".join(text.split())


class MaildirDrafts:
    """A DraftSink writing into the Maildir at `path` (created, mode 0700, when missing); with
    `sent`, a follow-up found in that Maildir counts as done."""

    def __init__(self, path: Path, sent: Path | None = None) -> None:
        self.path = Path(path)
        self.sent = Path(sent) if sent is not None else None
        # (folder, unique name) -> the message's identity. A Maildir message's content never
        # changes (a client that edits a draft stores a new file), only the flags in its name.
        self._seen: dict[tuple[Path, str], tuple[str, str]] = {}

    def ensure(self, draft: DraftMessage, *, maybe_exists: bool = True) -> str:
        """Store `draft` in cur/ flagged as a draft unless its booking's draft is there already
        (by file name, else by Message-ID or booking header) or was sent (in `sent`); return
        the found or stored message's unique name (the file name before `:2,`).

        The headers are always looked at, `maybe_exists` or not: after the state was lost
        syncd cannot know a draft was made before, and reading each message's headers once is
        cheap.
        """
        try:
            self._make_folders()
            found = self._find(draft)
            return found if found is not None else self._store(draft)
        except OSError as exc:
            raise BackendError(f"drafts: {exc.filename or self.path}: {exc.strerror or exc}") from exc

    def _make_folders(self) -> None:
        for folder in (self.path, self.path / "cur", self.path / "new", self.path / "tmp"):
            if not folder.is_dir():
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    @staticmethod
    def _messages(folder: Path) -> list[Path]:
        return [p for sub in ("cur", "new") for p in sorted((folder / sub).iterdir()) if p.is_file()]

    def _find(self, draft: DraftMessage) -> str | None:
        """The draft of this booking: by the key in its name, else by its headers; else the
        follow-up already sent."""
        key = draft_key(draft.booking_id)
        drafts = self._messages(self.path)
        for path in drafts:
            if key in _base_name(path.name):
                return _base_name(path.name)
        found = self._by_headers(self.path, drafts, draft)
        if found is None and self.sent is not None:
            found = self._by_headers(self.sent, self._messages(self.sent), draft)
            if found is not None:
                log.info(
                    "drafts: the follow-up of %s is already in %s (%s); not drafted again",
                    one_line(draft.booking_id, 80),
                    self.sent,
                    one_line(found, 80),
                )
        return found

    def _by_headers(self, folder: Path, messages: list[Path], draft: DraftMessage) -> str | None:
        wanted = ("".join(draft.message_id.split()), "".join(booking_header(draft.booking_id).split()))
        for path in messages:
            name = _base_name(path.name)
            identity = self._seen.get((folder, name))
            if identity is None:
                identity = self._seen[folder, name] = _identity(path)
            message_id, booking = identity
            if message_id == wanted[0] or (booking and booking == wanted[1]):
                return name
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
    return MaildirDrafts(section.path, section.sent)
