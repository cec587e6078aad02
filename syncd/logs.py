"""Logging set-up: one line per action, to stderr, fit for a terminal and for journald.

- In a terminal: `2025-01-31 09:00:00 INFO message`.
- Under systemd (stderr is the journal stream named by `$JOURNAL_STREAM`): `<6>message`.
  journald stamps every line itself and reads the `<N>` prefix as the syslog priority, so
  `journalctl -p warning` works and no line carries two timestamps.
- `fmt="json"`: one JSON object per line (`ts`, `level`, `logger`, `msg`, `exc` when there is a
  traceback), still behind the `<N>` prefix under systemd, which journald strips.

Every record passes a redaction filter first: OAuth tokens and secrets never reach the log.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

from syncd.text import escaped

# syslog priorities (RFC 5424) for Python's levels; journald understands the `<N>` prefix.
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}

_MASK = "***"

# What credentials look like when they leak into a message or a traceback: Google access tokens
# (ya29.), refresh tokens (1//), client secrets (GOCSPX-), bearer headers, and key/value pairs in
# JSON (compact or spaced, or itself escaped inside a string), Python reprs, YAML and form or query
# strings, the key in snake_case, kebab-case or camelCase.
# (Names of secrets, not one.)
_SECRET_KEYS = r"access[_-]?token|refresh[_-]?token|id[_-]?token|client[_-]?secret|password|passwd"  # noqa: S105
_SECRET_KEYS += r"|api[_-]?key|assertion|code[_-]?verifier|authorization"
_QUOTE = r"(?:\\?[\"'])"  # a quote, or an escaped one (JSON inside a string)
# A secret's value: an escaped-quoted, quoted or bare string.
_SECRET_VALUE = r"(\\\"(?:[^\"\\]|\\[^\"])*\\\"|\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s,;&}\]]+)"  # noqa: S105 (a pattern, not a secret)
_REDACTIONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bya29\.[\w.\-]+"), "ya29." + _MASK),
    (re.compile(r"(?<![\w/])1//[\w.\-]{8,}"), "1//" + _MASK),
    (re.compile(r"\bGOCSPX-[\w\-]+"), "GOCSPX-" + _MASK),
    (re.compile(r"(?i)\b(bearer|basic)(\s+|\s*[:=]\s*)[\w.~+/=\-]+"), r"\1\2" + _MASK),
    # The OAuth authorization code in the consent redirect's request line (`GET /?code=...`).
    (re.compile(r"([?&]code=)[^&\s\"']+"), r"\1" + _MASK),
    # A bare "token" or "secret" key only when quoted (JSON, reprs) or in a form (`token=`):
    # "token: expired" in a sentence is no secret.
    (
        re.compile(
            rf"(?i)({_QUOTE}(?:token|secret){_QUOTE}\s*[:=]\s*|(?<![\w-])(?:token|secret)=)"
            rf"(?!(?:bearer|basic)\s){_SECRET_VALUE}"
        ),
        r"\1" + _MASK,
    ),
    (
        re.compile(
            rf"(?i)({_QUOTE}?\b(?:{_SECRET_KEYS})\b{_QUOTE}?\s*[:=]\s*)(?!(?:bearer|basic)\s){_SECRET_VALUE}"
        ),
        r"\1" + _MASK,
    ),
]


def redact(text: str) -> str:
    """`text` with anything that looks like an OAuth token or secret replaced by `***`."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets in the message, its arguments and its traceback, before any formatter,
    and escapes line breaks and control characters in the message (`escaped`): whatever a
    UID, a name or a file held, one message is one log line, with no terminal escapes."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = escaped(redact(record.getMessage()))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        # A traceback keeps its lines; a CR or a terminal escape in an exception's text does not.
        if record.exc_text:
            record.exc_text = escaped(redact(record.exc_text), keep="\n")
        if record.stack_info:
            record.stack_info = escaped(redact(record.stack_info), keep="\n")
        return True


# The coach whose pass the current thread is running (the engine sets it in each coach's
# context): coaches run side by side, so a backend's line must say whose it is.
COACH: contextvars.ContextVar[str] = contextvars.ContextVar("COACH", default="")


class CoachFilter(logging.Filter):
    """Starts a line logged during a coach's pass with `coach EMAIL: ` when it does not say
    already (the pass's own lines do; a backend's name a file or calendar, not the coach)."""

    def filter(self, record: logging.LogRecord) -> bool:
        coach = COACH.get()
        if coach and not record.getMessage().startswith(f"coach {coach}"):
            record.msg = f"coach {coach}: {record.getMessage()}"
            record.args = None
        return True


def priority(levelno: int) -> int:
    """The syslog priority for a Python log level (custom levels round to the nearest below)."""
    for level in sorted(_PRIORITY, reverse=True):
        if levelno >= level:
            return _PRIORITY[level]
    return _PRIORITY[logging.DEBUG]


class _Forbidden403Filter(logging.Filter):
    """Drops googleapiclient's `Encountered 403 Forbidden with reason "..."`: a 403 that is
    retried is announced by its retry line, one that is not by syncd's error line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Encountered 403 Forbidden")


class TextFormatter(logging.Formatter):
    """`YYYY-mm-dd HH:MM:SS LEVEL message` for terminals and plain files."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")


class JournalFormatter(logging.Formatter):
    """`<N>message`: journald adds the time; every line of a traceback keeps the priority."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self._inner = inner or logging.Formatter("%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{priority(record.levelno)}>"
        return "\n".join(prefix + line for line in self._inner.format(record).splitlines())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, logger, msg and exc if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def stream_is_journal(stream: TextIO, env: Mapping[str, str] | None = None) -> bool:
    """True when `stream` is the journald stream systemd connected (`$JOURNAL_STREAM=dev:ino`).

    Comparing device and inode, not just the variable's presence, keeps the terminal format when
    a process started by systemd redirects stderr elsewhere or passes the variable on.
    """
    value = (env if env is not None else os.environ).get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    try:
        info = os.fstat(stream.fileno())
        return (info.st_dev, info.st_ino) == (int(device), int(inode))
    except (ValueError, OSError, AttributeError):
        # Not a real file (pytest's capture), or a malformed variable: not the journal.
        return False


def make_formatter(fmt: str, journal: bool) -> logging.Formatter:
    """The formatter for `fmt` ("text" or "json"), wrapped for journald when `journal`."""
    if fmt == "json":
        return JournalFormatter(JsonFormatter()) if journal else JsonFormatter()
    if fmt != "text":
        raise ValueError(f"unknown log format {fmt!r} (use text or json)")
    return JournalFormatter() if journal else TextFormatter()


def setup_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    """Send syncd's log lines to stderr in the chosen format ("text" or "json").

    Called again (after a config reload), it replaces the previous handler.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(fmt, stream_is_journal(sys.stderr)))
    handler.addFilter(RedactingFilter())
    handler.addFilter(CoachFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The Google client logs every discovery and retry at INFO; we report failures ourselves.
    logging.getLogger("googleapiclient").setLevel(logging.WARNING)
    # ... and warns of every 403 before syncd's own line about it says what to do.
    http_log = logging.getLogger("googleapiclient.http")
    if not any(isinstance(f, _Forbidden403Filter) for f in http_log.filters):
        http_log.addFilter(_Forbidden403Filter())
    # It announces every token refresh at INFO; syncd reports refresh failures itself.
    logging.getLogger("google_auth_httplib2").setLevel(logging.WARNING)
    # `syncd auth google` prints the consent URL itself; the flow would log it again at INFO.
    logging.getLogger("google_auth_oauthlib").setLevel(logging.WARNING)
    # httpx (under notion-client) logs every request at INFO; syncd says what failed itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)
