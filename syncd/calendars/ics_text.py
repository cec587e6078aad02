"""Editing iCalendar text in place, one VEVENT at a time, without re-serialising the file.

icalendar's `to_ical()` reorders properties and refolds every line, which makes a calendar
client (or vdirsyncer) see a whole-file change and can drop formatting other tools rely on.
Here a file is a list of *logical lines*: each is kept exactly as written (its folds and its
line ending included), is unfolded only to be read, and is rewritten only when syncd changes
it. Lines syncd writes are escaped and folded at 75 octets as RFC 5545 asks.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

FOLD_OCTETS = 75
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)
_UNESCAPE = {"n": "\n", "N": "\n", "\\": "\\", ";": ";", ",": ",", ":": ":"}


# --- text values ------------------------------------------------------------------------------


def escape_text(value: str) -> str:
    """`value` as an RFC 5545 TEXT value: backslash, `;`, `,` and newlines escaped.

    Control characters other than tab are dropped: RFC 5545 forbids them in a value and a
    stray one (from a booking form, say) would make the whole file unreadable for some clients.
    """
    value = _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\n", "\\n")


def unescape_text(value: str) -> str:
    """The text an escaped TEXT value stands for (the inverse of `escape_text`)."""
    return _ESCAPED.sub(lambda m: _UNESCAPE.get(m.group(1), m.group(0)), value)


def fold(line: str, eol: str) -> str:
    """`line` (no line ending) folded at 75 octets, each physical line ended with `eol`.

    A multi-byte character or an escape sequence is never split across a fold, and a fold
    follows each escaped newline, so every line of a description starts a physical line of
    its own: the file stays readable (and greppable) as text.
    """
    parts: list[str] = []
    current, size = "", 0
    units = re.findall(r"\\.|.", line, re.DOTALL)
    for index, unit in enumerate(units):
        width = len(unit.encode("utf-8"))
        if size + width > FOLD_OCTETS:
            parts.append(current)
            current, size = " ", 1
        current += unit
        size += width
        if unit in ("\\n", "\\N") and index + 1 < len(units):
            parts.append(current)
            current, size = " ", 1
    parts.append(current)
    return "".join(part + eol for part in parts)


# --- logical lines ----------------------------------------------------------------------------


def split_lines(text: str) -> list[str]:
    """`text` as logical lines, each exactly as written: `"".join(result) == text`.

    Only LF ends a line (a CRLF line keeps its CR), so a stray U+2028 or form feed inside a
    value never splits it the way `str.splitlines` would.
    """
    lines: list[str] = []
    for physical in re.findall(r"[^\n]*\n|[^\n]+$", text):
        if lines and physical[:1] in (" ", "\t"):
            lines[-1] += physical
        else:
            lines.append(physical)
    return lines


def unfold(line: str) -> str:
    """A logical line's content: folds and the line ending removed."""
    return re.sub(r"\r?\n[ \t]", "", line).rstrip("\r\n")


def _value_start(content: str) -> int:
    # The value starts after the first colon outside a quoted parameter (ALTREP="http://...").
    quoted = False
    for index, char in enumerate(content):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return index
    return len(content)


def parse_line(line: str) -> tuple[str, str, str]:
    """`(NAME, params, value)` of a logical line; params keep their leading `;`."""
    content = unfold(line)
    colon = _value_start(content)
    head, value = content[:colon], content[colon + 1 :]
    semicolon = head.find(";")
    name, params = (head, "") if semicolon < 0 else (head[:semicolon], head[semicolon:])
    return name.upper(), params, value


def name_of(line: str) -> str:
    """The property name of a logical line, upper-cased."""
    return parse_line(line)[0]


def line_ending(text: str) -> str:
    """The line ending the file uses: that of its first line (CRLF or LF)."""
    newline = text.find("\n")
    return "\r\n" if newline > 0 and text[newline - 1] == "\r" else "\n"


# --- components -------------------------------------------------------------------------------


def component_spans(lines: list[str], kind: str, depth: int) -> list[tuple[int, int]]:
    """`(begin, end)` indices (inclusive) of the `kind` components nested `depth` levels deep.

    `depth=1` on a whole file finds the VEVENTs of its VCALENDAR; `depth=1` on one VEVENT's
    lines finds its VALARMs.
    """
    spans: list[tuple[int, int]] = []
    stack: list[tuple[str, int]] = []
    for index, line in enumerate(lines):
        name, _, value = parse_line(line)
        if name == "BEGIN":
            stack.append((value.upper(), index))
        elif name == "END" and stack:
            opened, begin = stack.pop()
            if opened == kind and len(stack) == depth:
                spans.append((begin, index))
    return spans


def top_level_indices(block: list[str], name: str) -> list[int]:
    """Indices of a component's own `name` properties (not those of its sub-components)."""
    found: list[int] = []
    depth = 0
    for index, line in enumerate(block):
        prop = name_of(line)
        depth += (prop == "BEGIN") - (prop == "END")
        if depth == 1 and prop == name:
            found.append(index)
    return found


def property_insert_index(block: list[str]) -> int:
    """Where a new property goes: before the first sub-component, else before END."""
    for index, line in enumerate(block[1:], start=1):
        if name_of(line) == "BEGIN":
            return index
    return len(block) - 1


def set_single_property(block: list[str], name: str, line: str | None) -> list[str]:
    """`block` with exactly one `name` property, written as `line` (None: with none at all).

    An existing line whose content already equals `line` is kept as written.
    """
    found = top_level_indices(block, name)
    if line is not None and len(found) == 1 and unfold(block[found[0]]) == unfold(line):
        return block
    kept = [text for index, text in enumerate(block) if index not in found[1:]]
    if not found:
        return block if line is None else _insert(kept, property_insert_index(kept), [line])
    if line is None:
        del kept[found[0]]
    else:
        kept[found[0]] = line
    return kept


def _insert(block: list[str], index: int, new: list[str]) -> list[str]:
    return block[:index] + new + block[index:]


def replace_subcomponents(block: list[str], spans: list[tuple[int, int]], new: list[str]) -> list[str]:
    """`block` with the sub-components at `spans` removed and `new` put where the first was.

    Without spans, `new` goes just before the block's END line.
    """
    if not spans:
        return _insert(block, len(block) - 1, new)
    dropped = {index for begin, end in spans for index in range(begin, end + 1)}
    first = spans[0][0]
    before = [line for index, line in enumerate(block[:first]) if index not in dropped]
    after = [line for index, line in enumerate(block[first:], start=first) if index not in dropped]
    return before + new + after


def date_value(value: date | datetime, params: str) -> str:
    """A DATE or DATE-TIME value as written after `params` (a TZID means local wall time)."""
    if not isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    if "TZID=" in params.upper() or value.tzinfo is None:
        return value.strftime("%Y%m%dT%H%M%S")
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
