"""Parsing a calendar file one VEVENT at a time, each VEVENT once for as long as its text stays.

syncd annotates a series by adding an override to its file, then reads the file again for the
next instance: the whole-file text is new every time, but the master VEVENT (which may carry
thousands of RDATEs) is not. So the file is cut into its top-level components; each VEVENT is
parsed on its own, together with all of the file's VTIMEZONEs (icalendar resolves a TZID
through the VTIMEZONEs of the file, forward references included), and remembered by its text;
the rest of the file (calendar properties, VTIMEZONEs, VTODOs...) is parsed as it is, and the
VEVENTs are put back among its components in file order.

A file that cannot be cut cleanly (text outside the VCALENDAR, an END that does not close the
component its BEGIN opened, a fold after a blank line) is parsed whole, as before.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from icalendar import Calendar, Event

from syncd.calendars.ics_text import parse_line, split_lines, unfold

# icalendar unfolds a line break followed by blank lines and then a space or tab, where
# `split_lines` sees a blank line and a fold: the two would cut such a file differently.
_FOLD_AFTER_BLANK = re.compile(r"\n(?:\r?\n)+[ \t]")

# Parsed VEVENTs remembered: enough for the files one pass reads again and again (a series
# of a few hundred overrides), few enough to bound the memory. A file with more VEVENTs than
# half of that would only push its own out of the cache on every read: it is parsed whole.
CACHED_EVENTS = 1024
_MOST_EVENTS = CACHED_EVENTS // 2


@dataclass(frozen=True)
class Layout:
    """A calendar file cut into its parts.

    `rest`: the file without its VEVENTs. `timezones`: the text of each of its VTIMEZONEs.
    `children`: the VCALENDAR's components in file order, a VEVENT as its text, any other as
    None (it is parsed with `rest`)."""

    rest: str
    timezones: tuple[str, ...]
    children: tuple[str | None, ...]


def layout(text: str) -> Layout | None:
    """`text` cut into its parts (see `Layout`), or None when it cannot be cut cleanly."""
    if _FOLD_AFTER_BLANK.search(text):
        return None
    lines = split_lines(text)
    rest: list[str] = []
    timezones: list[str] = []
    children: list[str | None] = []
    stack: list[str] = []
    closed = False  # the VCALENDAR has ended
    child_start = 0
    for index, line in enumerate(lines):
        name, _, value = parse_line(line)
        kind = value.upper()
        if not stack:
            if not unfold(line):
                rest.append(line)
                continue
            if closed or name != "BEGIN" or kind != "VCALENDAR":
                return None
        if name == "BEGIN":
            stack.append(kind)
            if len(stack) == 2:
                child_start = index
        elif name == "END":
            if not stack or stack.pop() != kind:
                return None
            if len(stack) == 1:
                block = "".join(lines[child_start : index + 1])
                children.append(block if kind == "VEVENT" else None)
                if kind != "VEVENT":
                    rest.append(block)
                if kind == "VTIMEZONE":
                    timezones.append(block)
                continue
            closed = closed or not stack
        if len(stack) <= 1:
            rest.append(line)
    if stack or not closed:
        return None
    return Layout("".join(rest), tuple(timezones), tuple(children))


def parse(text: str) -> Calendar:
    """`Calendar.from_ical(text)`, its VEVENTs parsed once per distinct text (see the module
    docstring). They are shared between the calendars returned: they must not be changed.

    Raises what `Calendar.from_ical` raises for the whole text."""
    # A rough count (a folded BEGIN line escapes it): it only decides what is cheaper.
    shape = layout(text) if text.upper().count("BEGIN:VEVENT") <= _MOST_EVENTS else None
    if shape is None:
        return Calendar.from_ical(text)
    try:
        calendar = Calendar.from_ical(shape.rest)
        kept = iter(calendar.subcomponents)
        if len(calendar.subcomponents) != shape.children.count(None):
            raise ValueError("the file without its VEVENTs has other components")
        calendar.subcomponents = [
            next(kept) if child is None else _event(shape.timezones, child) for child in shape.children
        ]
    except Exception:  # any surprise: the whole-file parse decides, error included
        return Calendar.from_ical(text)
    return calendar


@functools.lru_cache(maxsize=CACHED_EVENTS)
def _event(timezones: tuple[str, ...], block: str) -> Event:
    """The VEVENT `block` parsed, its TZIDs resolved through `timezones`."""
    calendar = Calendar.from_ical("BEGIN:VCALENDAR\r\n" + "".join(timezones) + block + "END:VCALENDAR\r\n")
    events = [comp for comp in calendar.subcomponents if isinstance(comp, Event)]
    if len(events) != 1:
        raise ValueError("a VEVENT block does not parse as one VEVENT")
    return events[0]
