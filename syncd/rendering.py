"""What the note and follow-up templates see; `syncd.templating` loads and renders them.

The context is built by pure functions from the `Session` dataclass, reading no file: times in
the coach's zone (and the client's, when the booking gives a different one), talking points,
the six focus areas of an intro session and the action items with their due dates. Booking
values are data: they are cleaned (single-line fields lose control characters and line breaks,
long values are cut) and are never evaluated as template code. In the note's context they are
also made inert Markdown (`inert_markdown`): no HTML, link, image or block a client could inject.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from syncd.client_zones import client_zone, zone_key
from syncd.detection import natural_order
from syncd.model import Client, Coach, Session
from syncd.text import cut, one_line, without_controls
from syncd.timefmt import (
    format_clock,
    format_date,
    format_day,
    format_moment,
    format_short_day,
    format_span,
)
from syncd.zones import zone_or_utc

MAX_TEXT = 5000  # characters kept of a multi-line booking answer
MAX_ID = 2000  # characters kept of ids and URLs
AGENDA_LEAD = timedelta(minutes=5)  # review the agenda at least this long before the session
START_DATE_WITHIN = timedelta(days=7)
SHORT_NOTICE = timedelta(hours=1)

FOLLOWUP_ITEM = "Send the follow-up email with your pricing link"
START_DATE_ITEM = "Agree on a start date for the first coaching session"

# The six things to focus on during an intro session (from the coach's intro checklist).
FOCUS_AREAS = (
    ("Building Rapport", "Get to know each other: do your communication styles and approach fit?"),
    ("Assessing Client's Needs", "Listen and ask probing questions: what do they need, can you help?"),
    ("Clarifying Expectations", "Explain your approach and the outcomes they can expect; align on goals."),
    ("Showcasing Value", "Share a success story or case study that matches their challenge."),
    ("Establishing a Connection", "Gauge their openness and commitment; let them see how you work."),
    ("Decision Making", "Help both of you decide, with confidence, whether to work together."),
)

_HONORIFICS = frozenset({"dr", "dr.", "mr", "mr.", "mrs", "mrs.", "ms", "ms.", "mx", "mx.", "prof", "prof."})
_WORD_PUNCTUATION = ',;:!?"()[]{}<>'
_DUE_SUFFIX = re.compile(r"\s*\(due (\d{4}-\d{2}-\d{2})\)\s*$")


# --- cleaning values ---------------------------------------------------------------------------


def multi_line(value: str, limit: int = MAX_TEXT) -> str:
    """`value` with its lines kept (as LF) but control characters removed, cut to `limit`."""
    # Cut before cleaning, with room for what cleaning removes: an event file may hold
    # megabytes of description, and the note keeps only `limit` characters of it.
    text = value[: 4 * limit].replace("\r\n", "\n").replace("\r", "\n")
    text = without_controls(text, keep="\n\t")
    lines = [line.rstrip() for line in text.split("\n")]
    return cut("\n".join(lines).strip("\n"), limit)


# --- client text in a Markdown note ------------------------------------------------------------

_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MD_INLINE = re.compile(r"[\\\[\]&<>]")
_MD_SCRIPT_SCHEME = re.compile(r"(?i)\b(javascript|vbscript)(\s*):")
# What makes a line a heading, list item, quote, fence, table row or rule (or a Setext underline).
_MD_LINE_MARK = re.compile(r"^([ \t]*)([#\-*+=|`~_])", re.MULTILINE)
_MD_LINE_NUMBER = re.compile(r"^([ \t]*\d+)([.)])", re.MULTILINE)
# A backslash escape a plain-text reader may drop: not one before a bracket or a line's first
# mark, which a Google Doc's reader would take for a task box, heading or list item.
_MD_ESCAPE = re.compile(r"(^[ \t]*\d*\\[#\-*+=|`~_.)]|\\[\[\]])|\\([!-/:-@\[-`{-~])", re.MULTILINE)


def inert_markdown(text: str) -> str:
    """Client text made inert in a Markdown note: shown as typed, never rendered as HTML, a
    link, an image or an embed, a heading, list item, task or quote.

    `&`, `<` and `>` become entities (no tag, no autolink `<http...>`, no quote), `\\`, `[` and
    `]` are backslash-escaped (no link, image, wiki link or embed), as are the marks that
    would start a block at a line's start and the colon of a `javascript:` scheme.
    """
    text = _MD_INLINE.sub(lambda match: _MD_ENTITIES.get(match.group(), "\\" + match.group()), text)
    text = _MD_SCRIPT_SCHEME.sub(r"\1\2\\:", text)
    text = _MD_LINE_MARK.sub(r"\1\\\2", text)
    return _MD_LINE_NUMBER.sub(r"\1\\\2", text)


def markdown_unescaped(text: str) -> str:
    """`text` for a backend that shows the note's Markdown as plain text (a Google Doc):
    entities decoded and backslash escapes dropped, except before brackets and a line's first
    mark, so that the client's text is not read back as a heading, list item or task box."""
    return html.unescape(_MD_ESCAPE.sub(lambda match: match.group(1) or match.group(2), text))


# How a rendered note's Markdown lines read for the backends that store them as something else
# (Google Docs paragraphs, Notion blocks): syncd's `Session: ...` line, headings, quotes.
NOTE_HEADER_LINE = re.compile(r"^Session: .* · status: (?:scheduled|cancelled)$")
MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)[\s#]*$")
MD_QUOTE = re.compile(r"^>\s?(?:\[!\w+\]\s*)?(.*)$")
_MD_EMPHASIS = re.compile(r"(?<!\w)_(\S(?:.*?\S)?)_(?!\w)")


def without_emphasis(text: str) -> str:
    """A note line's text without its bold and italic marks, for a backend that shows it as
    plain text; its escapes are the backend's to drop (`markdown_unescaped` for a Doc)."""
    return _MD_EMPHASIS.sub(r"\1", text.replace("**", "")).rstrip()


def _inert_values(view: dict[str, Any]) -> dict[str, Any]:
    return {key: inert_markdown(value) if isinstance(value, str) else value for key, value in view.items()}


# --- times -------------------------------------------------------------------------------------


def coach_zone(coach: Coach) -> ZoneInfo:
    """The coach's zone (validated by the config); UTC if it cannot be loaded."""
    return zone_or_utc(coach.timezone.strip())


def client_span(session: Session) -> str:
    """The session in the client's zone, e.g. `Tue 1 Dec 2026, 04:00-04:30 EST
    (America/New_York)` (a fixed offset reads `... UTC+05:30`); "" when the booking gives no
    zone syncd understands (see `syncd.client_zones`) or the same times."""
    return their_span(session.start, session.end, session.client.timezone, coach_zone(session.coach))


def their_span(start: datetime, end: datetime, named: str, coach: tzinfo) -> str:
    """`start`-`end` in the client's zone `named` as a booking wrote it (see `client_span`); ""
    when syncd does not understand it or the times read the same in the coach's zone `coach`."""
    zone = client_zone(named)
    if zone is None:
        return ""
    theirs = format_span(start, end, zone)
    if theirs == format_span(start, end, coach):
        return ""
    key = zone_key(zone)
    return f"{theirs} ({key})" if key else theirs


# --- talking points ----------------------------------------------------------------------------

_WORD = re.compile(r"\w[\w+#]*")
# Words too common to say anything about a client or a specialty.
_STOPWORDS = frozenset(
    """
a an and are as at be but by can could do does for from get got has have how i if in into is it
its just like make me more most my need not of on or our out so some than that the their them
then there they this to too up us very want was we what when where which who why will with would
you your help helping really also about over lot lots better new getting
    """.split()  # noqa: SIM905 (a word list reads better as text)
)
_SUFFIXES = ("ship", "ments", "ment", "ings", "ing", "ers", "er", "ies", "es", "ed", "s")


def _stem(word: str) -> str:
    # Crude on purpose: the same word in its usual forms (lead, leader, leadership, leading)
    # meets itself, and the coach can see why two texts matched.
    for _ in range(2):
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 4:
                word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
                break
    return word.rstrip("e") if len(word) > 4 else word


def keywords(text: str) -> dict[str, str]:
    """The meaningful words of `text`, keyed by stem, each with its first spelling in `text`."""
    found: dict[str, str] = {}
    for word in _WORD.findall(text):
        lower = word.lower()
        short_but_acronym = len(word) == 2 and word.isupper()
        if lower in _STOPWORDS or (len(word) < 3 and not short_but_acronym):
            continue
        found.setdefault(_stem(lower), lower)
    return found


def _answer_keywords(client: Client) -> list[tuple[str, dict[str, str]]]:
    """The keywords of the answers talking points are drawn from, as much as the note shows."""
    answers = (
        ("challenge", client.challenge),
        ("background", client.background),
        ("company/team", client.company),
    )
    return [(label, keywords(multi_line(text))) for label, text in answers]


def _overlap(specialty: str, answers: list[tuple[str, dict[str, str]]]) -> list[str]:
    """Where `specialty` meets the client's `answers`, e.g. `their challenge (“leading”)`."""
    wanted = keywords(specialty)
    parts = []
    for label, found in answers:
        words = [word for stem, word in found.items() if stem in wanted]
        if words:
            parts.append(f"their {label} (“" + "”, “".join(words) + "”)")
    return parts


def _specialties(coach: Coach) -> list[str]:
    """The coach's specialties as short one-line labels, blank ones left out."""
    return [one_line(s, 80) for s in coach.specialties if s.strip()]


def talking_points(coach: Coach, client: Client) -> list[str]:
    """Where the coach's specialties meet what the client wrote, each saying which words met;
    when nothing meets, each specialty offered as an angle on the stated challenge."""
    points = []
    answers = _answer_keywords(client)
    for specialty in _specialties(coach):
        parts = _overlap(specialty, answers)
        if parts:
            points.append(f"Your “{specialty}” meets " + " and ".join(parts))
    return points or _angles(coach, client)


def _angles(coach: Coach, client: Client) -> list[str]:
    challenge = one_line(client.challenge, 120)
    specialties = _specialties(coach)
    if not specialties:
        if challenge:
            return [f"Ask what is behind “{challenge}” and share how you have helped with similar goals"]
        return ["Ask about their top-of-mind challenge and what they want from coaching"]
    if not challenge:
        return [f"Ask about their top-of-mind challenge; one angle: your “{s}”" for s in specialties]
    return [f"Explore how your “{s}” could help with “{challenge}”" for s in specialties]


# --- context -----------------------------------------------------------------------------------


def first_name(name: str) -> str:
    """The name to greet the client with: the first word that is not a title, else "there".

    A "Last, First" name greets First; punctuation around the word is left out (no "Hey
    Sharma,!")."""
    words = [word.strip(_WORD_PUNCTUATION) for word in one_line(natural_order(name)).split()]
    words = [word for word in words if word and word.lower() not in _HONORIFICS]
    return words[0] if words else "there"


def coach_view(coach: Coach) -> dict[str, Any]:
    return {
        "name": one_line(coach.name),
        "first_name": first_name(coach.name),
        "email": one_line(coach.email),
        "pricing_url": one_line(coach.pricing_url, MAX_ID),
        "specialties": _specialties(coach),
    }


def client_view(client: Client) -> dict[str, Any]:
    return {
        "name": one_line(client.name) or "Client",
        "first_name": first_name(client.name),
        "email": one_line(client.email),
        "timezone": one_line(client.timezone, 80),
        "background": multi_line(client.background),
        "company": multi_line(client.company),
        "challenge": multi_line(client.challenge),
        "preferences": multi_line(client.preferences),
    }


def session_view(session: Session) -> dict[str, Any]:
    zone = coach_zone(session.coach)
    start = session.start.astimezone(zone)
    review_by = start - AGENDA_LEAD
    # The day as the client lived it (for the follow-up): the coach's day when the booking
    # gives no zone.
    their_start = session.start.astimezone(client_zone(session.client.timezone) or zone)
    return {
        "booking_id": one_line(session.booking_id, MAX_ID),
        "date": format_date(start, zone),
        "day": format_day(start),
        "when": format_span(session.start, session.end, zone),
        "client_when": client_span(session),
        "client_day": format_short_day(their_start),
        "review_by": format_clock(review_by, zone),
        "timezone": zone.key,
    }


def action_items(session: Session) -> list[dict[str, str]]:
    """The note's starting action items, each due on a date (YYYY-MM-DD, coach's zone)."""
    zone = coach_zone(session.coach)
    return [
        {"text": FOLLOWUP_ITEM, "due": format_date(session.end + session.followup_delay, zone)},
        {"text": START_DATE_ITEM, "due": format_date(session.end + START_DATE_WITHIN, zone)},
    ]


def note_context(session: Session, now: datetime) -> dict[str, Any]:
    """Everything the note template sees."""
    zone = coach_zone(session.coach)
    return {
        "coach": coach_view(session.coach),
        # The client typed these: inert in the note (and in a Doc made from it).
        "client": _inert_values(client_view(session.client)),
        "session": session_view(session),
        "talking_points": [inert_markdown(point) for point in talking_points(session.coach, session.client)],
        "focus_areas": [{"title": title, "prompt": prompt} for title, prompt in FOCUS_AREAS],
        "action_items": action_items(session),
        "prepared": format_moment(now, zone),
        "short_notice": session.start - now < SHORT_NOTICE,
        "started": now >= session.start,
    }


def next_steps(items: list[str]) -> list[str]:
    """Open action items as next steps for the client: the item about sending this very
    email is left out, and a `(due YYYY-MM-DD)` suffix reads `(by Tue 8 Dec)`."""
    steps = []
    for item in items:
        text = one_line(item, 300)
        if not text or text.startswith(FOLLOWUP_ITEM):
            continue
        match = _DUE_SUFFIX.search(text)
        if match:
            due = datetime.fromisoformat(match.group(1))
            text = f"{text[: match.start()]} (by {format_short_day(due)})"
        steps.append(text)
    return steps


def followup_context(session: Session, items: list[str], note_url: str) -> dict[str, Any]:
    """Everything the follow-up template sees. `note_url` is private to the coach."""
    return {
        "coach": coach_view(session.coach),
        "client": client_view(session.client),
        "session": session_view(session),
        "next_steps": next_steps(items),
        "note_url": one_line(note_url, MAX_ID),
    }


def note_fields(session: Session) -> dict[str, str]:
    """The note's values as plain strings (`NoteRequest.fields`), for backends that fill
    placeholders in a document of their own."""
    client, when = client_view(session.client), session_view(session)
    return {
        "client_name": client["name"],
        "client_email": client["email"],
        "background": client["background"],
        "company": client["company"],
        "challenge": client["challenge"],
        "preferences": client["preferences"],
        "session_date": when["date"],
        "session_time": when["when"],
        "session_time_client": when["client_when"],
        "review_by": when["review_by"],
        "talking_points": "\n".join(talking_points(session.coach, session.client)),
        "focus_areas": "\n".join(f"{title}: {prompt}" for title, prompt in FOCUS_AREAS),
        "action_items": "\n".join(f"{i['text']} (due {i['due']})" for i in action_items(session)),
    }
