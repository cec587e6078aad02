"""Which events are intro bookings, and what they say about the client.

Pure functions over `CalendarEvent`: no files, no HTTP, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from syncd.linkblock import strip_block
from syncd.model import Attendee, CalendarEvent, Client

# Fields a booking form can fill, in the order the note shows them.
ANSWER_FIELDS = ("background", "company", "challenge", "preferences", "timezone", "email", "name")
_LABEL_LINE = re.compile(r"^\s*([^:\n]{1,80}?)\s*:\s*(.*)$")
_URL_START = re.compile(r"^\s*[a-z][a-z0-9+.-]*://", re.IGNORECASE)


@dataclass(frozen=True)
class Rules:
    """A coach's detection rules, compiled once."""

    title: re.Pattern[str]
    coach_addresses: frozenset[str]
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    exclude: re.Pattern[str] | None = None
    organizer: re.Pattern[str] | None = None
    attendee_domain: str | None = None


@dataclass(frozen=True)
class Verdict:
    """The outcome of looking at one event: a client, or why it is not a booking.

    `problem` is set when the event looks like a booking but cannot be used; it is worth a
    log line. A plain non-match has neither client nor problem.
    """

    client: Client | None = None
    problem: str = ""


def detect(event: CalendarEvent, rules: Rules) -> Verdict:
    """Decide whether `event` is an intro booking and, if so, who the client is."""
    if event.cancelled or event.all_day or event.start is None or event.end is None:
        return Verdict()
    title_match = rules.title.search(event.summary)
    if not title_match or not _passes_filters(event, rules):
        return Verdict()
    answers = parse_answers(strip_block(event.description), rules.labels)
    guest = client_attendee(event, rules.coach_addresses)
    name = _client_name(guest, title_match, answers)
    email = guest.email if guest else _clean_email(answers.get("email", ""))
    if not name:
        return Verdict(problem="matches the intro rule but names no client (no attendee, no name)")
    return Verdict(
        client=Client(
            name=name,
            email=email,
            timezone=answers.get("timezone", "") or event.timezone,
            background=answers.get("background", ""),
            company=answers.get("company", ""),
            challenge=answers.get("challenge", ""),
            preferences=answers.get("preferences", ""),
        )
    )


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


def _client_name(guest: Attendee | None, title_match: re.Match[str], answers: dict[str, str]) -> str:
    if guest and guest.name.strip() and guest.name.strip().lower() != guest.email.lower():
        return guest.name.strip()
    captured = title_match.groupdict().get("client") or title_match.groupdict().get("name")
    if captured and captured.strip():
        return captured.strip()
    if answers.get("name"):
        return answers["name"].splitlines()[0].strip()
    if guest:
        return guest.email.split("@", 1)[0]
    return ""


def _clean_email(text: str) -> str:
    match = re.search(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+", text)
    return match.group(0).lower() if match else ""


def parse_answers(description: str, labels: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Booking-form answers from "Label: value" lines, keyed by field name.

    A known label starts a field; following lines without a label of their own belong to
    it (multi-line answers keep their line breaks); an unknown label ends it. Some booking
    pages put the answer on the line after the label: that works too.
    """
    lookup = {_norm(label): name for name, names in labels.items() for label in names}
    answers: dict[str, list[str]] = {}
    current: str | None = None
    for line in description.replace("\r\n", "\n").split("\n"):
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
    return re.sub(r"[\s*_]+", " ", label).strip().rstrip(":?").strip().lower()
