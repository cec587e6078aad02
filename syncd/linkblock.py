"""The delimited block syncd keeps in an event's description.

The block is replaced as a whole on every write and stripped before syncd looks at what the
coach or the client wrote, so syncd's own edits are never mistaken for a change.
"""

from __future__ import annotations

import re

from syncd.model import Annotation

BEGIN = "--- syncd: session note (private to the coach) ---"
END = "--- end syncd ---"
_BLOCK = re.compile(r"\n*" + re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.DOTALL)


def render_block(annotation: Annotation) -> str:
    """The block's text for `annotation`, delimiters included."""
    lines = [BEGIN, f"Session note: {annotation.note_url}"]
    if annotation.status_line:
        lines.append(annotation.status_line)
    lines.append(END)
    return "\n".join(lines)


def strip_block(description: str) -> str:
    """`description` without syncd's block (and the blank lines syncd put before it)."""
    return _BLOCK.sub("", description.replace("\r\n", "\n")).rstrip("\n")


def apply_block(description: str, annotation: Annotation) -> str:
    """`description` with exactly one syncd block, at its end, carrying `annotation`."""
    base = strip_block(description)
    block = render_block(annotation)
    return f"{base}\n\n{block}" if base else block


def find_note_url(description: str) -> str:
    """The note URL in syncd's block, or "" when there is no block."""
    match = re.search(re.escape(BEGIN) + r"\nSession note: (\S+)", description.replace("\r\n", "\n"))
    return match.group(1) if match else ""
