"""Log lines for terminals, journald and JSON consumers, with secrets masked in every one."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd import logs


def _record(msg: str, *args: object, level: int = logging.INFO, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("token ya29.a0AfH6SMBexample in a traceback")
        except RuntimeError:
            exc_info = sys.exc_info()
    return logging.LogRecord("syncd.test", level, __file__, 1, msg, args, exc_info)


def _emit(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    """What a handler with syncd's filter and `formatter` writes for `record`."""
    assert logs.RedactingFilter().filter(record)
    return formatter.format(record)


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


# --- formats ----------------------------------------------------------------------------------


def test_text_format_has_one_timestamp_and_the_level() -> None:
    """In a terminal: `YYYY-mm-dd HH:MM:SS LEVEL message`."""
    line = _emit(logs.make_formatter("text", journal=False), _record("pass finished: %d bookings", 3))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO pass finished: 3 bookings", line)


@pytest.mark.parametrize(
    ("level", "prefix"),
    [(logging.DEBUG, "<7>"), (logging.INFO, "<6>"), (logging.WARNING, "<4>"), (logging.ERROR, "<3>")],
)
def test_journal_format_is_priority_prefix_without_timestamp(level: int, prefix: str) -> None:
    """Under journald: the syslog priority as `<N>` and no time (journald adds its own)."""
    line = _emit(logs.make_formatter("text", journal=True), _record("coach a@b.example: 401", level=level))
    assert line == f"{prefix}coach a@b.example: 401"


def test_journal_format_prefixes_every_traceback_line() -> None:
    """journald splits on newlines: each traceback line keeps the error priority."""
    output = _emit(logs.make_formatter("text", journal=True), _record("boom", level=logging.ERROR, exc=True))
    lines = output.splitlines()
    assert len(lines) > 2
    assert all(line.startswith("<3>") for line in lines)


def test_json_format_is_one_object_per_line() -> None:
    """`log_format: json`: ts, level, logger, msg (and exc), one line per record."""
    output = _emit(logs.make_formatter("json", journal=False), _record("hello %s", "world"))
    assert "\n" not in output
    entry = json.loads(output)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "syncd.test"
    assert entry["msg"] == "hello world"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", entry["ts"])


def test_json_format_under_journald_keeps_priority_and_valid_json() -> None:
    """Under journald the `<N>` prefix (stripped by journald) precedes a parseable object."""
    output = _emit(logs.make_formatter("json", journal=True), _record("oops", level=logging.ERROR, exc=True))
    assert output.startswith("<3>{")
    entry = json.loads(output.removeprefix("<3>"))
    assert "RuntimeError" in entry["exc"]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log format"):
        logs.make_formatter("xml", journal=False)


# --- journald detection -----------------------------------------------------------------------


def test_stream_is_journal_when_device_and_inode_match(tmp_path: Path) -> None:
    """JOURNAL_STREAM naming stderr's device:inode means stderr goes to journald."""
    with (tmp_path / "stream").open("w") as stream:
        info = os.fstat(stream.fileno())
        assert logs.stream_is_journal(stream, {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"})
        assert not logs.stream_is_journal(stream, {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino + 1}"})
        assert not logs.stream_is_journal(stream, {})
        assert not logs.stream_is_journal(stream, {"JOURNAL_STREAM": "garbage"})


def test_setup_logging_uses_journal_format_under_systemd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_root: None
) -> None:
    """setup_logging picks the `<N>` format by itself when stderr is the journal stream."""
    with (tmp_path / "stderr").open("w+") as fake_stderr:
        info = os.fstat(fake_stderr.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
        monkeypatch.setattr(sys, "stderr", fake_stderr)
        logs.setup_logging("text")
        logging.getLogger("syncd").warning("refresh_token=1//0gAbCdEfGhIjKlMnOp expired")
        fake_stderr.seek(0)
        assert fake_stderr.read() == "<4>refresh_token=*** expired\n"


# --- redaction --------------------------------------------------------------------------------

SECRETS = {
    "access token": ("using ya29.a0AfH6SMBx-yZ_1234567890.abc now", "ya29.a0AfH6SMB"),
    "refresh token": ("token 1//0gDEFabc-ghijklmnopQRSTUV rejected", "0gDEFabc"),
    "json access_token": ('{"access_token": "abc.DEF-123", "expires_in": 3599}', "abc.DEF-123"),
    "json refresh_token": ('{"refresh_token":"r3fr3sh","scope":"x"}', "r3fr3sh"),
    "python repr": ("{'client_secret': 'shh-123', 'client_id': 'id.apps'}", "shh-123"),
    "yaml client_secret": ("client_secret: GOCSPX-abcdEFGH1234", "abcdEFGH1234"),
    "bare client secret": ("secret GOCSPX-abcdEFGH1234 in a url", "abcdEFGH1234"),
    "form body": ("grant_type=refresh_token&refresh_token=xyz987&client_secret=s3cr3t", "xyz987"),
    "bearer header": ("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig", "eyJhbGci"),
    "consent redirect": ('"GET /?state=st4te&code=4/0AfJohXkQ&scope=x HTTP/1.1" 200', "4/0AfJohXkQ"),
}


@pytest.mark.parametrize("case", SECRETS, ids=list(SECRETS))
def test_redaction_masks_secrets(case: str) -> None:
    """Each kind of OAuth secret is replaced by *** in the message."""
    text, secret = SECRETS[case]
    redacted = logs.redact(text)
    assert secret not in redacted
    assert "***" in redacted


def test_redaction_keeps_ordinary_messages() -> None:
    """Messages without secrets pass through unchanged (ids, emails, paths, times)."""
    text = "coach ann@example.com: event 1//x abc, note /srv/notes/Intro Sessions/Bo.md at 10:00"
    assert logs.redact(text) == text


def test_redaction_covers_arguments_and_tracebacks() -> None:
    """A secret in a %s argument or in an exception's text is masked too."""
    output = _emit(
        logs.make_formatter("text", journal=False),
        _record("sending %s", {"access_token": "zzz-secret-zzz"}, level=logging.ERROR, exc=True),
    )
    assert "zzz-secret-zzz" not in output
    assert "a0AfH6SMBexample" not in output
    assert "RuntimeError" in output
