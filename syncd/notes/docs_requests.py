"""A Google Doc as syncd reads and writes it, without I/O: the paragraphs read from a
`documents.get` answer, and the `documents.batchUpdate` requests that fill a new note (its
Markdown turned into Docs paragraphs and heading styles), set syncd's `Session: ...` line and
replace a template's placeholders. `syncd.notes.google_docs` is the adapter that sends them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from syncd.model import NoteHeader
from syncd.notes import action_items
from syncd.rendering import MD_HEADING, MD_QUOTE, NOTE_HEADER_LINE, markdown_unescaped, without_emphasis
from syncd.timefmt import format_date, format_span
from syncd.zones import zone_or_utc

OPEN_BOX = "☐ "
DONE_BOX = "☑ "
HEADER_PREFIX = "Session: "
_MD_ITEM = re.compile(r"^\s*[-*+]\s+\[([ xX])\]\s+(.*)$")


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of a Doc as `documents.get` reports it (text without its newline)."""

    text: str
    style: str = "NORMAL_TEXT"


@dataclass(frozen=True)
class Document:
    """What syncd reads of a Doc: its title and paragraphs."""

    title: str
    paragraphs: tuple[Paragraph, ...]

    @property
    def empty(self) -> bool:
        return all(not p.text for p in self.paragraphs)

    @property
    def header_line(self) -> str | None:
        """The text of syncd's `Session: ...` line, or None when the coach removed it."""
        return next((p.text for p in self.paragraphs if NOTE_HEADER_LINE.match(p.text)), None)

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.paragraphs)


def header_line(header: NoteHeader) -> str:
    """`Session: 2026-12-01 · Tue 1 Dec 2026, 10:00-10:30 CET · status: scheduled` (times joined
    by an en dash, as `format_span` writes them)."""
    zone = zone_or_utc(header.timezone)
    day = format_date(header.start, zone)
    status = "cancelled" if header.cancelled else "scheduled"
    return f"{HEADER_PREFIX}{day} · {format_span(header.start, header.end, zone)} · status: {status}"


def header_requests(document: Document, line: str) -> list[dict[str, Any]]:
    """What sets syncd's line to `line`: its exact old text replaced (no indices, so a coach
    typing meanwhile is safe), or the line put back at the top when it was removed."""
    current = document.header_line
    if current == line:
        return []
    if current is None:
        return [_insert_at_start(line + "\n")]
    return [_replace_all(current, line)]


def placeholder_requests(fields: dict[str, str]) -> list[dict[str, Any]]:
    """`{{key}}` → value for every field; action items become `☐` lines."""
    values = dict(fields)
    if "action_items" in values:
        values["action_items"] = "\n".join(OPEN_BOX + i for i in values["action_items"].splitlines() if i)
    return [_replace_all(f"{{{{{key}}}}}", value) for key, value in values.items()]


def body_requests(line: str, body: str) -> list[dict[str, Any]]:
    """Fill an empty Doc: syncd's line, then the Markdown `body` as paragraphs, headings styled."""
    paragraphs = [Paragraph(line), *markdown_paragraphs(body)]
    while len(paragraphs) > 1 and not paragraphs[-1].text:
        paragraphs.pop()  # the Doc's own last paragraph ends the text
    requests = [_insert_at_start("\n".join(p.text for p in paragraphs))]
    index = 1  # Docs count UTF-16 code units, from 1
    for paragraph in paragraphs:
        length = _utf16(paragraph.text)
        if paragraph.style != "NORMAL_TEXT" and length:
            requests.append(_paragraph_style(index, index + length, paragraph.style))
        index += length + 1
    return requests


def markdown_paragraphs(body: str) -> list[Paragraph]:
    """The note's Markdown as Docs paragraphs: headings get a heading style, `- [ ]` items
    become `☐` lines (`☑` when checked), quote and callout marks and emphasis are dropped."""
    out: list[Paragraph] = []
    for line in body.replace("\r\n", "\n").split("\n"):
        heading = MD_HEADING.match(line)
        item = _MD_ITEM.match(line)
        quote = MD_QUOTE.match(line)
        if heading:
            out.append(Paragraph(_plain(heading.group(2)), f"HEADING_{len(heading.group(1))}"))
        elif item:
            box = OPEN_BOX if item.group(1) == " " else DONE_BOX
            out.append(Paragraph(box + _plain(item.group(2))))
        else:
            out.append(Paragraph(_plain(quote.group(1) if quote else line)))
    return out


def _plain(text: str) -> str:
    # The client's text was escaped to be inert Markdown; a Doc shows it as plain text, as typed.
    return markdown_unescaped(without_emphasis(text))


def open_items(paragraphs: Iterable[Paragraph]) -> list[str]:
    """The Doc's open action items, in order (the rule is `syncd.notes.action_items`: every
    "Action items" section counts, a Docs heading style gives a paragraph's level)."""
    return action_items.open_items((p.text, style_level(p.style)) for p in paragraphs)


def style_level(style: str) -> int:
    """The heading level of a Docs named style (`HEADING_2`: 2, `TITLE`: 1); 0 for text."""
    if style.startswith("HEADING_"):
        return int(style.removeprefix("HEADING_"))
    return 1 if style == "TITLE" else 0


def document_from(raw: dict[str, Any]) -> Document:
    """A `Document` from a `documents.get` answer (tables and other elements are skipped)."""
    paragraphs = []
    for element in (raw.get("body") or {}).get("content") or []:
        paragraph = element.get("paragraph")
        if paragraph is None:
            continue
        text = "".join(
            (run.get("textRun") or {}).get("content", "") for run in paragraph.get("elements") or []
        )
        style = str((paragraph.get("paragraphStyle") or {}).get("namedStyleType") or "NORMAL_TEXT")
        paragraphs.append(Paragraph(text.rstrip("\n"), style))
    return Document(str(raw.get("title") or ""), tuple(paragraphs))


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _insert_at_start(text: str) -> dict[str, Any]:
    return {"insertText": {"location": {"index": 1}, "text": text}}


def _replace_all(find: str, replacement: str) -> dict[str, Any]:
    return {"replaceAllText": {"containsText": {"text": find, "matchCase": True}, "replaceText": replacement}}


def _paragraph_style(start: int, end: int, style: str) -> dict[str, Any]:
    return {
        "updateParagraphStyle": {
            "range": {"startIndex": start, "endIndex": end},
            "paragraphStyle": {"namedStyleType": style},
            "fields": "namedStyleType",
        }
    }
