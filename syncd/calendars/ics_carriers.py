"""The RECURRENCE-ID overrides syncd writes only to carry its annotation on one instance.

To put the note link on one instance of a series, syncd copies the series into an override of
that instance (see `ics_annotate.override_block`). Such a *carrier* is marked
`X-SYNCD-OVERRIDE;X-SERIES-START=<the series' DTSTART then>:<digest>`, the digest being of
everything in it that syncd does not own. While the digest still matches, nobody else has
touched the carrier: it says nothing but what the series said then, plus syncd's annotation.

When the coach moves the whole series, a carrier's RECURRENCE-ID may no longer be an instance
of it: calendar apps would show it as an extra event, at the old time. Such an orphan is not an
event of its own; its instance is the one the series' move shifted it to, where the booking
follows it (see `ics_events`). An override the coach made or edited never matches its digest, so it is
never taken for a carrier.
"""

from __future__ import annotations

import hashlib
from typing import Any

from icalendar import Event

from syncd.linkblock import strip_block, strip_html_block

OVERRIDE_MARK = "X-SYNCD-OVERRIDE"
SERIES_START = "X-SERIES-START"
# Stamped anew by calendar apps whenever they save, without a change to the event.
_VOLATILE = {"DTSTAMP", "LAST-MODIFIED", "SEQUENCE", "CREATED"}


def carrier_digest(event: Event) -> str:
    """A digest of what in `event` syncd does not own (its marks, block and alarm left out)."""
    lines: list[str] = []
    items: list[tuple[str, Any]] = event.property_items(recursive=False, sorted=False)
    for name, value in items:
        if name in ("BEGIN", "END") or name in _VOLATILE or name.startswith("X-SYNCD-"):
            continue
        if name == "DESCRIPTION":
            text = strip_block(str(value))
        elif name == "X-ALT-DESC":
            text = strip_html_block(str(value))
        else:
            text = value.params.to_ical().decode() + ":" + value.to_ical().decode()
        if text:
            lines.append(f"{name};{text}")
    lines += [alarm.to_ical().decode() for alarm in event.subcomponents if "X-SYNCD-ALARM" not in alarm]
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()[:24]


def mark_line(event: Event, series_start: str) -> str:
    """The mark of a carrier `event` (unfolded, no line end): `series_start` is the stamp of
    the series' DTSTART it was copied from."""
    return f"{OVERRIDE_MARK};{SERIES_START}={series_start}:{carrier_digest(event)}"


def is_carrier(event: Event) -> bool:
    """True for an override syncd made whose content nobody has changed since."""
    mark = event.get(OVERRIDE_MARK)
    return mark is not None and not isinstance(mark, list) and str(mark) == carrier_digest(event)


def series_start_of(event: Event) -> str:
    """The series' DTSTART (a UTC stamp, or a date) when syncd made this carrier; "" if unknown."""
    mark = event.get(OVERRIDE_MARK)
    return str(getattr(mark, "params", {}).get(SERIES_START, ""))
