"""Which events are intro bookings, and what they say about the client.

Pure functions over `CalendarEvent`: no files, no HTTP, no clock.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from syncd.client_zones import client_zone
from syncd.linkblock import strip_block
from syncd.model import Attendee, CalendarEvent, Client

_LABEL_LINE = re.compile(r"^\s*([^:\n]{1,80}?)\s*:\s*(.*)$")
_URL_START = re.compile(r"^\s*[a-z][a-z0-9+.-]*://", re.IGNORECASE)
# Tags that mark a description as HTML (Google Calendar stores what its editor writes as HTML).
_HTML_TAG = re.compile(
    r"</?(?:a|b|br|div|em|font|h[1-6]|i|li|ol|p|span|strong|table|td|tr|u|ul)(?:\s[^<>]*)?/?>",
    re.IGNORECASE,
)
# A paragraph's start and end break the line (once between two paragraphs), as do <br> and <li>.
_HTML_BREAK = re.compile(
    r"(?:</(?:p|div)\s*>\s*)?<(?:p|div)(?:\s[^<>]*)?>|<br\s*/?>|</(?:p|div|h[1-6]|tr)\s*>|<li(?:\s[^<>]*)?>",
    re.IGNORECASE,
)
_ANY_TAG = re.compile(r"</?[a-z][a-z0-9]*(?:\s[^<>]*)?/?>", re.IGNORECASE)
_NAME_WORD = re.compile(r"^[^\W\d_][\w'\u2019.-]*$")
_NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "phd", "md", "esq", "mba", "cpa"})


@dataclass(frozen=True)
class Rules:
    """A coach's detection rules, compiled once."""

    title: re.Pattern[str]
    coach_addresses: frozenset[str]
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    exclude: re.Pattern[str] | None = None
    organizer: re.Pattern[str] | None = None
    attendee_domain: str | None = None
    # The other coaches of the same daemon: an event of theirs is not this coach's booking,
    # and a coach is never anyone's client.
    other_coaches: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Verdict:
    """The outcome of looking at one event: a client, or why it is not a booking.

    `problem` is set when the event looks like a booking but cannot be used; it is worth a
    log line. A plain non-match has neither client nor problem.
    """

    client: Client | None = None
    problem: str = ""
    declined: bool = False  # the client was invited and declined: the booking is off


def detect(event: CalendarEvent, rules: Rules) -> Verdict:
    """Decide whether `event` is an intro booking and, if so, who the client is."""
    if event.cancelled or event.all_day or event.start is None or event.end is None:
        return Verdict()
    title_match = rules.title.search(event.summary)
    if not title_match or not _passes_filters(event, rules) or _another_coachs(event, rules):
        return Verdict()
    answers = parse_answers(strip_block(description_text(event.description)), rules.labels)
    guest = client_attendee(event, rules.coach_addresses | rules.other_coaches)
    if guest is None and _declined(event, rules.coach_addresses | rules.other_coaches):
        return Verdict(declined=True)
    name = _client_name(guest, title_match, answers)
    email = guest.email if guest else _clean_email(answers.get("email", ""))
    if not name:
        return Verdict(problem="matches the intro rule but names no client (no attendee, no name)")
    return Verdict(
        client=Client(
            name=name,
            email=email,
            timezone=_first_line(answers.get("timezone", "")) or _readable_zone(event.timezone),
            background=answers.get("background", ""),
            company=answers.get("company", ""),
            challenge=answers.get("challenge", ""),
            preferences=answers.get("preferences", ""),
        )
    )


def _readable_zone(name: str) -> str:
    # The event's own zone stands in for the client's only when syncd can read it: an
    # Outlook custom TZID says nothing about the client, so it is not worth a warning.
    return name if client_zone(name) is not None else ""


def _passes_filters(event: CalendarEvent, rules: Rules) -> bool:
    if rules.exclude and rules.exclude.search(event.summary):
        return False
    if rules.organizer and not rules.organizer.search(event.organizer):
        return False
    if rules.attendee_domain:
        domain = "@" + rules.attendee_domain.lower().lstrip("@")
        guests = [a for a in event.attendees if a.email.lower() not in rules.coach_addresses]
        if not any(a.email.lower().endswith(domain) for a in guests):
            return False
    return True


def _another_coachs(event: CalendarEvent, rules: Rules) -> bool:
    """True when another coach of this daemon is on the event and this coach is not (two
    coaches reading one shared calendar)."""
    people = {event.organizer.lower()} | {a.email.lower() for a in event.attendees}
    if any(a.is_self for a in event.attendees) or people & rules.coach_addresses:
        return False
    return bool(people & rules.other_coaches)


def client_attendee(event: CalendarEvent, coach_addresses: frozenset[str]) -> Attendee | None:
    """The first attendee who is not the coach (nor a room or resource)."""
    for attendee in event.attendees:
        email = attendee.email.lower()
        if attendee.is_self or email in coach_addresses or not email:
            continue
        if email.endswith("resource.calendar.google.com") or attendee.response == "declined":
            continue
        return attendee
    return None


def _declined(event: CalendarEvent, coach_addresses: frozenset[str]) -> bool:
    """True when a guest other than the coach declined (asked when no other guest is left)."""
    return any(
        a.response == "declined" and not a.is_self and a.email.lower() not in coach_addresses
        for a in event.attendees
    )


def _client_name(guest: Attendee | None, title_match: re.Match[str], answers: dict[str, str]) -> str:
    # Google writes the address as CN for a guest without a profile name: that is no name.
    if guest and guest.name.strip() and "@" not in guest.name:
        return natural_order(guest.name.strip())
    captured = title_match.groupdict().get("client") or title_match.groupdict().get("name")
    if captured and captured.strip():
        return captured.strip()
    if _first_line(answers.get("name", "")):
        return natural_order(_first_line(answers["name"]))
    if guest:
        return name_from_address(guest.email)
    return ""


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def natural_order(name: str) -> str:
    """A "Last, First" name (as Outlook/Exchange write CNs) as "First Last"; others unchanged.

    Only with exactly one comma and a word or two on each side, and not when the part after
    the comma is a suffix ("Ravi Sharma, PhD").
    """
    parts = name.split(",")
    if len(parts) != 2:
        return name
    last, first = (part.split() for part in parts)
    if not 1 <= len(last) <= 2 or not 1 <= len(first) <= 2:
        return name
    if not all(_NAME_WORD.match(word) for word in last + first):
        return name
    if " ".join(first).lower().replace(".", "") in _NAME_SUFFIXES:
        return name
    return " ".join(first + last)


def name_from_address(email: str) -> str:
    """A readable name from an address' local part: "tom.obrien@x" gives "Tom Obrien".

    Split on `.`, `_`, `-` and `+`; digits are dropped when that leaves something.
    """
    local = email.split("@", 1)[0]
    parts = [part for part in re.split(r"[._+-]+", local) if part]
    letters = [word for word in (re.sub(r"\d+", "", part) for part in parts) if word]
    words = letters or parts
    return " ".join(word[:1].upper() + word[1:] for word in words) or local


def _clean_email(text: str) -> str:
    match = re.search(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+", text)
    return match.group(0).lower() if match else ""


def description_text(description: str) -> str:
    """`description` as plain text: when it holds HTML tags (Google Calendar keeps what its
    editor writes as HTML), line-breaking tags become line breaks, other tags go and entities
    are decoded. Text that merely contains a "<" is returned unchanged."""
    if not _HTML_TAG.search(description):
        return description
    text = _HTML_BREAK.sub("\n", description.replace("\r\n", "\n"))
    text = html.unescape(_ANY_TAG.sub("", text))
    return text.replace("\xa0", " ")


def parse_answers(description: str, labels: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Booking-form answers from "Label: value" lines, keyed by field name.

    A known label starts a field; following lines without a label of their own belong to
    it (multi-line answers keep their line breaks); an unknown label or a blank line ends it,
    so a booking page's footer or a video call's joining details are not taken for an answer.
    Some booking pages put the answer on the line after the label, or after a blank line:
    that works too (a blank line ends an answer only once it has some text).
    """
    lookup = {_norm(label): name for name, names in labels.items() for label in names}
    answers: dict[str, list[str]] = {}
    current: str | None = None
    for line in description.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current is not None and any(part.strip() for part in answers[current]):
                current = None
            continue
        label, value = (line, "") if _norm(line) in lookup else _split_label(line)
        if label is not None:
            current = lookup.get(_norm(label))
            if current is not None and current not in answers:
                answers[current] = [value] if value else []
            elif current is not None:
                current = None  # the first answer for a field wins
            continue
        if current is not None:
            answers[current].append(line.rstrip())
    return {name: "\n".join(lines).strip() for name, lines in answers.items() if "\n".join(lines).strip()}


def _split_label(line: str) -> tuple[str | None, str]:
    if _URL_START.match(line):
        return None, line
    match = _LABEL_LINE.match(line)
    if not match:
        return None, line
    return match.group(1), match.group(2).strip()


def _norm(label: str) -> str:
    # Calendly writes its questions with their full stop before the colon ("...meeting.: ").
    return re.sub(r"[\s*_]+", " ", label).strip().rstrip(":?.").strip().lower()
