"""The pure parts of the Notion backend: Markdown to blocks, blocks to action-item lines, the
schema check, property values and the config section."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncd.config import ConfigError, NotionNotesConfig, load_settings, notion_id
from syncd.notes import notion_blocks as nb
from syncd.notes import notion_schema as ns
from tests.note_contract import make_header
from tests.support import Workspace

DB = "1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6"
DASHED = "1a2b3c4d-5e6f-47a8-b9c0-d1e2f3a4b5c6"


def test_rich_text_pieces_stay_within_2000_utf16_units_and_never_split_an_emoji() -> None:
    text = "a" + "😀" * 1000 + "b" * 2500
    pieces = [p["text"]["content"] for p in nb.rich_text(text)]
    assert "".join(pieces) == text
    assert all(len(p.encode("utf-16-le")) // 2 <= 2000 for p in pieces)
    assert all("link" not in p["text"] for p in nb.rich_text(text))


def test_markdown_lines_become_the_matching_blocks() -> None:
    body = "# Title\n#### Deep\n- [ ] Open (due 2026-12-02)\n- [x] Done\n- Bullet\n1. First\n> [!tip] Tip\nPlain\n"
    kinds = [(b["type"], nb.block_text(b)) for b in nb.markdown_blocks(body)]
    assert kinds == [
        ("heading_1", "Title"),
        ("heading_3", "Deep"),
        ("to_do", "Open (due 2026-12-02)"),
        ("to_do", "Done"),
        ("bulleted_list_item", "Bullet"),
        ("numbered_list_item", "First"),
        ("quote", "Tip"),
        ("paragraph", "Plain"),
    ]
    assert [b["to_do"]["checked"] for b in nb.markdown_blocks(body) if b["type"] == "to_do"] == [False, True]


def test_a_multi_line_answer_stays_one_block_and_its_escapes_are_dropped() -> None:
    blocks = nb.markdown_blocks("- **Background:** one\n  \\- two &amp; \\[three\\]\n")
    assert len(blocks) == 1
    assert nb.block_text(blocks[0]) == "Background: one\n- two & [three]"


def test_paragraph_text_is_never_a_heading_or_an_item_for_the_action_item_rule() -> None:
    """A client's answer reading like a heading and a box is a quoted line to the rule."""
    blocks = [
        nb.block("paragraph", "## Action items\n[ ] pay me"),
        nb.block("bulleted_list_item", "[ ] also not"),
        nb.block("heading_2", "Action items"),
        nb.block("to_do", "Real", checked=False),
        nb.block("to_do", "Ticked", checked=True),
        nb.block("heading_2", "Next"),
        nb.block("to_do", "Outside", checked=False),
    ]
    assert nb.open_items(blocks) == ["Real"]


def test_the_banner_is_recognised_only_in_syncds_shape() -> None:
    assert nb.is_banner(nb.banner_block("Session: 2026-12-01 · Tue 1 Dec · status: scheduled"))
    assert not nb.is_banner(nb.block("paragraph", "Session: notes from the call"))


def test_batches_hold_at_most_100_blocks() -> None:
    parts = nb.batches([nb.block("paragraph", str(i)) for i in range(250)])
    assert [len(p) for p in parts] == [100, 100, 50]


def test_schema_check_accepts_select_or_status_with_its_options() -> None:
    props = {
        "Name": {"type": "title"},
        "Session": {"type": "date"},
        "Status": {"type": "status", "status": {"options": [{"name": s} for s in ns.STATUSES]}},
        "Client email": {"type": "email"},
        "Booking ID": {"type": "rich_text"},
    }
    found, problems = ns.check(props)
    assert problems == [] and found == ns.Schema("Name", "status")
    assert ns.setup_properties(props) == {}


def test_date_value_is_local_time_named_by_zone_across_a_dst_change() -> None:
    header = make_header(start=datetime(2026, 7, 1, 8, 0, tzinfo=UTC))
    assert ns.date_value(header) == {
        "start": "2026-07-01T10:00:00",
        "end": "2026-07-01T10:30:00",
        "time_zone": "Europe/Berlin",
    }


def test_status_follows_cancel_move_and_held() -> None:
    page = {"properties": {"Session": {"date": {"start": "2026-12-01T10:00:00.000+01:00"}}}}
    assert ns.next_status(make_header(), page) == "scheduled"
    assert ns.next_status(make_header(start=datetime(2026, 12, 2, 9, tzinfo=UTC)), page) == "rescheduled"
    assert ns.next_status(make_header(cancelled=True), page) == "cancelled"
    held = {"properties": {"Status": {"type": "select", "select": {"name": "held"}}}}
    assert ns.next_status(make_header(), held) == "held"


def test_a_long_booking_id_is_kept_as_a_digest() -> None:
    assert ns.booking_key("a/b") == "a/b"
    assert ns.booking_key("x" * 600).startswith("sha256:")


@pytest.mark.parametrize(
    "value",
    [DB, DASHED, f"https://www.notion.so/space/Intro-Sessions-{DB}?v=0f0e0d0c0b0a49988776655443322110"],
)
def test_the_database_may_be_given_as_id_or_url(value: str) -> None:
    assert notion_id(value) == DASHED
    assert NotionNotesConfig(type="notion", database=value).database == DASHED


def test_a_token_in_the_yaml_is_refused_and_the_token_variable_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace(tmp_path, notes_config=f"{{type: notion, database: {DB}, token: ntn_secret}}")
    with pytest.raises(ConfigError) as caught:
        load_settings(ws.config)
    assert "notes.token: unknown key" in str(caught.value)
    ws.notes_config = f"{{type: notion, database: {DB}}}"
    ws.write_config()
    monkeypatch.setenv("SYNCD_NOTION_TOKEN", "ntn_x")
    assert load_settings(ws.config).coaches[0].notes.type == "notion"


def test_a_database_value_without_an_id_is_a_config_error(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, notes_config="{type: notion, database: Intro Sessions}")
    with pytest.raises(ConfigError) as caught:
        load_settings(ws.config)
    assert "notes.database: no Notion database id in 'Intro Sessions'" in str(caught.value)
