"""What an open action item is: one rule for every notes backend.

A note's open action items are its unchecked items in every section titled "Action items", in
the order they appear in the note:

- a title is a heading (any level) reading "Action items" (case and a trailing colon do not
  matter). Never a plain line: the note holds the client's answers, and a client who typed
  "Action items" and a box on lines of their own would otherwise choose the follow-up's next
  steps;
- a section runs up to the next heading of the same or a higher level, so sub-headings inside
  it do not end it;
- an unchecked item is a line starting with `☐` or `[ ]` (after an optional `-`, `*` or `+`
  bullet); a checked one (`[x]`, `☑`, `☒`), an empty one or a deleted one does not count.

Backends hand in the note as lines with the heading level their format gives each line (a Docs
paragraph style), 0 where the format says nothing; Markdown `#` headings are recognised in the
text either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_HEADING = re.compile(r"^(#{1,6})[ \t]+\S")
_TITLE = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+)?action items[ \t]*:?[ \t#]*$", re.IGNORECASE)
_OPEN_ITEM = re.compile(r"^\s*(?:☐|(?:[-*+]\s+)?\[ \])\s*(.*?)\s*$")


def heading_level(text: str, styled: int = 0) -> int:
    """The heading level of a line: `styled` when its format gives one, else the number of its
    Markdown `#` marks; 0 when the line is not a heading."""
    if styled:
        return styled
    match = _HEADING.match(text)
    return len(match.group(1)) if match else 0


def open_items(lines: Iterable[tuple[str, int]]) -> list[str]:
    """The open action items of a note given as `(text, styled heading level or 0)` lines,
    without their box, in note order (see the module docstring for the rule)."""
    items: list[str] = []
    level = 0  # the level of the action-items section we are in; 0: not in one
    for text, styled in lines:
        heading = heading_level(text, styled)
        if level and heading and heading <= level:
            level = 0
        if not level and heading and _TITLE.match(text):
            level = heading
            continue
        item = _OPEN_ITEM.match(text) if level else None
        if item and item.group(1):
            items.append(item.group(1))
    return items


def open_items_in_text(text: str) -> list[str]:
    """`open_items` of a plain-text (Markdown) note body."""
    return open_items((line, 0) for line in text.splitlines())
