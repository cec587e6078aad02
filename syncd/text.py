"""Making untrusted text safe to put on one line (log lines, headers, titles)."""

from __future__ import annotations

import re

# C0/C1 controls, line and paragraph separators, and the bidi marks, embeddings, overrides and
# isolates: those reorder what a terminal or journal viewer shows, so a name could spoof a line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")


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
