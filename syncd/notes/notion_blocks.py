"""A Notion page's content as syncd writes and reads it, without I/O.

Writing: the note rendered from the Jinja template (Markdown) becomes Notion blocks (headings,
bulleted and numbered items, to-dos with their `(due YYYY-MM-DD)`, quotes, paragraphs), and
syncd's `Session: ... · status: ...` line becomes a callout. All text is plain `rich_text`:
no `link` is ever set, so nothing a client typed turns into a link, and long text is cut
into pieces within Notion's limits (2,000 UTF-16 units a piece, 100 pieces a block).

Reading: blocks become `(line, heading level)` pairs for the one action-item rule
(`syncd.notes.action_items`): a to-do reads `[ ] text` or `[x] text`, a heading its text with
its level, and every other block a quoted line, which the rule never takes for a heading or
an item, whatever a client typed into it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

from syncd.notes import action_items
from syncd.rendering import MD_HEADING, MD_QUOTE, NOTE_HEADER_LINE, without_emphasis

MAX_TEXT = 2000  # UTF-16 units of one rich_text object's content
MAX_PIECES = 100  # rich_text objects in one block
MAX_CHILDREN = 100  # blocks in one create or append request
BANNER_ICON = "📅"  # one code point: no variation selector for Notion to refuse

Block = dict[str, Any]

_MD_TODO = re.compile(r"^[-*+]\s+\[([ xX])\]\s+(.*)$")
_MD_BULLET = re.compile(r"^[-*+]\s+(.*)$")
_MD_NUMBER = re.compile(r"^\d{1,3}[.)]\s+(.*)$")
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_TEXT_TYPES = (
    "paragraph",
    "bulleted_list_item",
    "numbered_list_item",
    "to_do",
    "quote",
    "callout",
    "toggle",
    "heading_1",
    "heading_2",
    "heading_3",
)


# --- writing -----------------------------------------------------------------------------------


def rich_text(text: str) -> list[dict[str, Any]]:
    """`text` as plain rich_text pieces within Notion's limits (cut at the 100th piece)."""
    pieces: list[dict[str, Any]] = []
    for chunk in _chunks(text):
        if len(pieces) == MAX_PIECES:
            break
        pieces.append({"type": "text", "text": {"content": chunk}})
    return pieces


def _chunks(text: str) -> Iterable[str]:
    """`text` in pieces of at most MAX_TEXT UTF-16 units, never splitting a character."""
    start, units = 0, 0
    for index, char in enumerate(text):
        width = 2 if ord(char) > 0xFFFF else 1
        if units + width > MAX_TEXT:
            yield text[start:index]
            start, units = index, 0
        units += width
    if start < len(text):
        yield text[start:]


def block(kind: str, text: str, **extra: Any) -> Block:
    """A block of type `kind` holding `text` (plus `extra` fields, e.g. `checked`)."""
    return {"object": "block", "type": kind, kind: {"rich_text": rich_text(text), **extra}}


def banner_block(line: str) -> Block:
    """syncd's `Session: ...` line, as a callout at the head of syncd's part of the page."""
    return block("callout", line, icon={"type": "emoji", "emoji": BANNER_ICON})


def markdown_blocks(body: str) -> list[Block]:
    """The note's Markdown as blocks. A list item's indented continuation lines (a client's
    multi-line answer) stay in the item, as lines of its text, so a long answer is one block."""
    blocks: list[Block] = []
    continuable = False
    for raw in body.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        if not line.strip():
            continuable = continuable and bool(blocks)
            continue
        if continuable and raw[:1] in (" ", "\t"):
            _extend(blocks[-1], _plain(line.strip()))
            continue
        made, continuable = _line_block(line)
        blocks.append(made)
    return blocks


def _line_block(line: str) -> tuple[Block, bool]:
    """The block for one Markdown line, and whether indented lines after it continue it."""
    if heading := MD_HEADING.match(line):
        level = min(len(heading.group(1)), 3)  # Notion has three heading levels
        return block(f"heading_{level}", _plain(heading.group(2))), False
    if todo := _MD_TODO.match(line):
        return block("to_do", _plain(todo.group(2)), checked=todo.group(1) != " "), True
    if bullet := _MD_BULLET.match(line):
        return block("bulleted_list_item", _plain(bullet.group(1))), True
    if number := _MD_NUMBER.match(line):
        return block("numbered_list_item", _plain(number.group(1))), True
    if quote := MD_QUOTE.match(line):
        return block("quote", _plain(quote.group(1))), False
    return block("paragraph", _plain(line)), True


def _extend(target: Block, line: str) -> None:
    content = target[target["type"]]
    content["rich_text"] = rich_text(block_text(target) + "\n" + line)


def _plain(text: str) -> str:
    # The client's text was escaped to be inert Markdown; a block's text is never read as
    # Markdown again (see `lines_of`), so Notion shows it as typed, every escape dropped.
    return html.unescape(_MD_ESCAPE.sub(r"\1", without_emphasis(text)))


def overview_blocks(fields: Mapping[str, str]) -> list[Block]:
    """What a database template cannot know, for below it: the session, the client's
    overview (the booking's answers) and the talking points, from `NoteRequest.fields`."""

    def answer(key: str) -> str:
        return fields.get(key) or "not given in the booking"

    items = [f"When: {fields.get('session_time', '')}"]
    if fields.get("session_time_client"):
        items.append(f"Their time: {fields['session_time_client']}")
    items += [
        f"Email: {answer('client_email')}",
        f"Background: {answer('background')}",
        f"Company / team: {answer('company')}",
        f"Top-of-mind challenge: {answer('challenge')}",
        f"Coaching preferences: {answer('preferences')}",
    ]
    points = [p for p in (fields.get("talking_points") or "").splitlines() if p.strip()]
    return [
        block("heading_2", "Client overview"),
        *(block("bulleted_list_item", item) for item in items),
        block("heading_2", "Talking points"),
        *(block("bulleted_list_item", point) for point in points),
    ]


def batches(blocks: list[Block]) -> list[list[Block]]:
    """`blocks` in runs of at most MAX_CHILDREN, one request each."""
    return [blocks[i : i + MAX_CHILDREN] for i in range(0, len(blocks), MAX_CHILDREN)] or [[]]


# --- reading -----------------------------------------------------------------------------------


def block_text(item: Mapping[str, Any]) -> str:
    """A block's text as Notion shows it (its rich_text pieces joined); "" for blocks without."""
    content = item.get(str(item.get("type"))) or {}
    pieces = content.get("rich_text") or [] if isinstance(content, Mapping) else []
    return "".join(str(p.get("plain_text", (p.get("text") or {}).get("content", ""))) for p in pieces)


def is_banner(item: Mapping[str, Any]) -> bool:
    """Whether `item` is syncd's `Session: ...` line."""
    return item.get("type") in ("callout", "paragraph") and bool(NOTE_HEADER_LINE.match(block_text(item)))


def lines_of(blocks: Iterable[Mapping[str, Any]]) -> list[tuple[str, int]]:
    """The page's blocks (nested ones after their parent) as `(line, heading level)` for the
    shared action-item rule; see the module docstring."""
    lines: list[tuple[str, int]] = []
    for item in blocks:
        kind = str(item.get("type"))
        text = block_text(item)
        if kind.startswith("heading_") and kind[-1].isdigit():
            lines.append((" ".join(text.split()), int(kind[-1])))
        elif kind == "to_do":
            box = "[x]" if (item.get("to_do") or {}).get("checked") else "[ ]"
            lines.append((f"{box} {' '.join(text.split())}", 0))
        elif kind in _TEXT_TYPES:
            lines.extend((f"> {part}", 0) for part in text.split("\n"))
    return lines


def open_items(blocks: Iterable[Mapping[str, Any]]) -> list[str]:
    """The page's open action items, in page order, by the rule every backend shares."""
    return action_items.open_items(lines_of(blocks))
