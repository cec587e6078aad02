"""The exceptions syncd raises on purpose.

User mistakes and service failures derive from `SyncdError`; the command line prints them as
one line and an exit code. Anything else is a bug and keeps its traceback (in the log).
"""


class SyncdError(Exception):
    """Base of every error syncd expects and explains."""


class ConfigError(SyncdError):
    """The configuration file or a template is wrong; the message names file, key and problem."""


class AuthError(SyncdError):
    """Credentials are missing, expired or revoked; the message says what to run."""


class BackendError(SyncdError):
    """A calendar, note or draft backend failed. `retryable` says whether the next pass may retry."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class StateUnwritable(BackendError):
    """The state database cannot be written (disk full, I/O error, locked): nothing can be
    recorded, so nothing more may be done in this pass."""


class CursorExpired(BackendError):
    """The incremental-sync cursor is no longer valid: drop it and read everything again."""


class PreconditionFailed(BackendError):
    """The item changed under us (ETag mismatch): re-read and re-apply."""


class ReadOnlyEvent(BackendError):
    """The event may not be edited by the coach (not the organizer, or no write access)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class BadEvent(SyncdError):
    """One event cannot be read or used; it is skipped with this message, the rest go on."""


class NoteMissing(BackendError):
    """The note is no longer where syncd recorded it (renamed, moved or deleted)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)
