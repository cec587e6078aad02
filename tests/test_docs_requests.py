"""The pure half of the Google Docs notes backend: Markdown turned into Docs paragraphs and
batchUpdate requests, syncd's session line, placeholders, and reading a Doc back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from syncd.notes.docs_requests import (
    Document,
    Paragraph,
    body_requests,
    document_from,
    header_line,
    header_requests,
    markdown_paragraphs,
    open_items,
    placeholder_requests,
    style_level,
)
from tests.note_contract import make_header

LINE = "Session: 2026-12-01 · Tue 1 Dec 2026, 10:00\u201310:30 CET · status: scheduled"


def styled_ranges(requests: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    return [
        (
            r["updateParagraphStyle"]["range"]["startIndex"],
            r["updateParagraphStyle"]["range"]["endIndex"],
            r["updateParagraphStyle"]["paragraphStyle"]["namedStyleType"],
        )
        for r in requests
        if "updateParagraphStyle" in r
    ]


def test_the_session_line_is_in_the_coachs_zone_with_the_local_date() -> None:
    """23:30 UTC is already the next day in Berlin: the line's date and span say so."""
    line = header_line(make_header(start=datetime(2026, 12, 1, 23, 30, tzinfo=UTC), cancelled=True))
    assert line == "Session: 2026-12-02 · Wed 2 Dec 2026, 00:30\u201301:00 CET · status: cancelled"
    assert header_line(make_header()) == LINE


def test_markdown_becomes_paragraphs_with_boxes_and_no_marks() -> None:
    body = "# Intro: **Ada**\n> [!tip] Review _by_ 09:55\n- [ ] Open one\n- [x] Done one\nplain_name_kept"
    assert markdown_paragraphs(body) == [
        Paragraph("Intro: Ada", "HEADING_1"),
        Paragraph("Review by 09:55"),
        Paragraph("☐ Open one"),
        Paragraph("☑ Done one"),
        Paragraph("plain_name_kept"),
    ]


def test_body_requests_insert_once_and_style_headings_at_utf16_indices() -> None:
    """An emoji is two UTF-16 code units: the heading after it starts two indices later."""
    requests = body_requests("S", "# 💼 A\n\n## Notes\n\n")
    assert requests[0] == {"insertText": {"location": {"index": 1}, "text": "S\n💼 A\n\nNotes"}}
    # "S" is 1..2, "💼 A" (4 units) 3..7, "" 8, "Notes" 9..14
    assert styled_ranges(requests) == [(3, 7, "HEADING_1"), (9, 14, "HEADING_2")]


def test_header_requests_replace_the_exact_old_line_or_put_it_back_on_top() -> None:
    current = Document("t", (Paragraph(LINE), Paragraph("Coach text")))
    assert header_requests(current, LINE) == []
    new = LINE.replace("scheduled", "cancelled")
    [replace] = header_requests(current, new)
    assert replace["replaceAllText"]["containsText"] == {"text": LINE, "matchCase": True}
    assert replace["replaceAllText"]["replaceText"] == new
    gone = Document("t", (Paragraph("Coach text"),))
    assert header_requests(gone, LINE) == [{"insertText": {"location": {"index": 1}, "text": LINE + "\n"}}]


def test_placeholders_are_replaced_and_action_items_become_open_boxes() -> None:
    requests = placeholder_requests({"client_name": "Ada", "action_items": "One\n\nTwo"})
    assert [r["replaceAllText"]["containsText"]["text"] for r in requests] == [
        "{{client_name}}",
        "{{action_items}}",
    ]
    assert requests[1]["replaceAllText"]["replaceText"] == "☐ One\n☐ Two"


def test_a_doc_is_read_as_paragraphs_with_styles_and_tables_skipped() -> None:
    raw = {
        "title": "Ada",
        "body": {
            "content": [
                {"sectionBreak": {}},
                {
                    "paragraph": {
                        "elements": [
                            {"textRun": {"content": "Action "}},
                            {"textRun": {"content": "items\n"}},
                        ],
                        "paragraphStyle": {"namedStyleType": "HEADING_2"},
                    }
                },
                {"table": {}},
                {"paragraph": {"elements": [{"textRun": {"content": "☐ x\n"}}]}},
            ]
        },
    }
    document = document_from(raw)
    assert document == Document("Ada", (Paragraph("Action items", "HEADING_2"), Paragraph("☐ x")))
    assert not document.empty and document.header_line is None


def test_heading_styles_give_the_level_and_every_action_section_counts() -> None:
    assert [style_level(s) for s in ("HEADING_3", "TITLE", "NORMAL_TEXT", "SUBTITLE")] == [3, 1, 0, 0]
    paragraphs = [
        Paragraph("Action items", "HEADING_2"),
        Paragraph("☐ first"),
        Paragraph("Notes", "HEADING_2"),
        Paragraph("☐ a reminder in the notes"),
        Paragraph("Action items", "HEADING_3"),
        Paragraph("☐ second"),
        Paragraph("Intro", "TITLE"),
        Paragraph("☐ after a title"),
    ]
    assert open_items(paragraphs) == ["first", "second"]
