"""Making untrusted text safe to put on one line (log lines, headers, titles)."""

from __future__ import annotations

import re

# C0/C1 controls, line and paragraph separators, and the bidi marks, embeddings, overrides and
# isolates: those reorder what a terminal or journal viewer shows, so a name could spoof a line.
_CONTROLS = r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
_CONTROL = re.compile(_CONTROLS + "+")
_ONE_CONTROL = re.compile(_CONTROLS)
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# A quoted fragment of an error message: up to the same quote again, or to the end.
_QUOTED = re.compile(r"([\"'])(.*?)(?:\1|\Z)", re.DOTALL)


def one_line(text: str, limit: int = 200) -> str:
    """`text` with control characters and line breaks turned into single spaces, cut to
    `limit` characters (with an ellipsis) so a hostile value cannot forge lines or flood."""
    return cut(" ".join(_CONTROL.sub(" ", text).split()), limit)


def has_controls(text: str) -> bool:
    """True when `text` holds a character `one_line` would fold (controls, line breaks, bidi)."""
    return _CONTROL.search(text) is not None


def without_controls(text: str, keep: str = "") -> str:
    """`text` without the characters `one_line` folds, except those in `keep` (say "\n\t")."""
    return _CONTROL.sub(lambda match: "".join(c for c in match.group() if c in keep), text)


def escaped(text: str, keep: str = "") -> str:
    """`text` with each character `one_line` would fold written as a visible escape, as `repr`
    does (`\\n`, `\\r`, `\\x1b`, `\\u202e`): it stays on one line, and shows what it held.
    Characters in `keep` (say "\\n" for a traceback) are left as they are."""
    return _ONE_CONTROL.sub(lambda match: _escape(match, keep), text)


def _escape(match: re.Match[str], keep: str) -> str:
    char = match.group()
    if char in keep:
        return char
    if char in _ESCAPES:
        return _ESCAPES[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def excerpt(text: str, limit: int = 12) -> str:
    """A short, escaped, quoted excerpt of text read from outside (a file's line): at most
    `limit` characters of it, so a log line never carries more of a file than that."""
    return "'" + escaped(cut(text, limit)) + "'"


def without_quoted_content(message: str, limit: int = 12) -> str:
    """`message` (a library's error text that quotes what it read, say a file's line) with each
    quoted fragment cut to an `excerpt` of `limit` characters."""
    return _QUOTED.sub(lambda match: excerpt(match.group(2), limit), message)


def error_line(error: object, limit: int = 300) -> str:
    """An error (or any message) as one log line: its lines joined with "; ", control
    characters and runs of white space folded, cut to `limit`; the type's name if empty."""
    parts = [one_line(line, limit) for line in str(error).splitlines()]
    text = "; ".join(part for part in parts if part)
    if not text:
        return type(error).__name__
    return cut(text, limit)


def cut(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, the last an ellipsis when it was longer."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def counted(n: int, noun: str, verb: str = "") -> str:
    """`n noun(s) [verb]`, the noun singular for one: "1 note created", "2 drafts queued"."""
    return f"{n} {noun}{'' if n == 1 else 's'}" + (f" {verb}" if verb else "")
