"""The exceptions syncd raises on purpose.

User mistakes and service failures derive from `SyncdError`; the command line prints them as
one line and an exit code. Anything else is a bug and keeps its traceback (in the log).

What happened is said by the exception's type, so the pass decides by type, never by a flag:

    SyncdError
    ├── ConfigError            the config file or a template is wrong
    ├── AuthError              credentials missing or unusable: the operator acts
    │   └── AuthExpired        the token was revoked or expired: sign in again
    ├── StateError             syncd's own state store (not a backend)
    │   ├── StateUnwritable    nothing can be recorded: the pass stops
    │   └── StateCorrupt       one record cannot be read: it is skipped, named
    ├── BadEvent               one event cannot be used; the others go on
    └── BackendError           a calendar, note or draft backend failed
        ├── Unavailable        may pass by itself (network, 5xx, I/O): retried next pass
        │   ├── RateLimited    the service asked us to slow down
        │   └── FolderReadOnly the folder is on a read-only mount: write nothing more there this pass
        ├── CursorExpired      the sync cursor is gone: read everything again
        ├── PreconditionFailed the item changed under us: re-read and re-apply
        ├── EventGone          the event no longer exists             (final)
        ├── NotPermitted       the coach may not do this to the item  (final)
        │   └── ReadOnlyEvent  the coach may not edit this event      (final)
        ├── NoteMissing        the note is no longer where recorded   (final)
        └── Rejected           the service refuses the request as is  (final)

A final error will not pass by retrying the same thing: the pass records it and moves on. Every
other `BackendError` is tried again on the next pass.
"""

from __future__ import annotations

from typing import ClassVar


class SyncdError(Exception):
    """Base of every error syncd expects and explains."""


class ConfigError(SyncdError):
    """The configuration file or a template is wrong; the message names file, key and problem."""


class AuthError(SyncdError):
    """Credentials are missing or unusable; the message says what to run or fix."""


class AuthExpired(AuthError):
    """The stored token was revoked or has expired; the message says how to sign in again."""


class StateError(SyncdError):
    """syncd's own state store failed. Not a backend error: no retry of an effect helps."""


class StateUnwritable(StateError):
    """The state database cannot be written (disk full, I/O error, locked): nothing can be
    recorded, so nothing more may be done in this pass."""


class StateCorrupt(StateError):
    """One stored record cannot be read (bad encoding, an unknown value); the message names it."""


class BadEvent(SyncdError):
    """One event cannot be read or used; it is skipped with this message, the rest go on."""


class BackendError(SyncdError):
    """A calendar, note or draft backend failed. Tried again next pass unless `final`."""

    final: ClassVar[bool] = False


class Unavailable(BackendError):
    """The service or file could not be reached or answered with a failure that may pass
    (network loss, a timeout, 5xx, an I/O error, a permission that may be given back)."""


class RateLimited(Unavailable):
    """The service asked syncd to slow down; `retry_after` seconds, when it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FolderReadOnly(Unavailable):
    """The calendar (or other) folder is on a file system mounted read-only: no write into it
    can succeed until it is remounted, so the pass writes nothing more there this pass (and
    says so once), and tries again next pass."""


class CursorExpired(BackendError):
    """The incremental-sync cursor is no longer valid: drop it and read everything again."""


class PreconditionFailed(BackendError):
    """The item changed under us (ETag mismatch): re-read and re-apply."""


class EventGone(BackendError):
    """The event no longer exists (deleted, or its file is gone)."""

    final = True


class NotPermitted(BackendError):
    """The coach's account may not do this to the item; retrying will not change that."""

    final = True


class ReadOnlyEvent(NotPermitted):
    """The event may not be edited by the coach (not the organizer, or no write access)."""


class NoteMissing(BackendError):
    """The note is no longer where syncd recorded it (renamed, moved or deleted)."""

    final = True


class Rejected(BackendError):
    """The service or store refuses the request as it is (a malformed item, a name it will
    not take); sending it again unchanged would fail again."""

    final = True
