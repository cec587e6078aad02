"""The whole pipeline with Notion notes, through the real `syncd` command: vdir and Google
Calendar on one side, the fake Notion for notes, Maildir drafts; and SIGKILL at random."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from syncd.google.auth import SCOPE_CALENDAR_EVENTS
from tests.fakegoogle import FakeGoogle
from tests.fakegoogle.helpers import CLIENT, COACH, booking
from tests.fakenotion import TOKEN, FakeNotion
from tests.fakenotion.helpers import TEMPLATE
from tests.support import Workspace, kill, run_in_process, wait_for

ANSWERS = "Background: Physicist\nChallenge: scaling the team\nTime zone: America/New_York"


def now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture(scope="module")
def notion() -> Iterator[FakeNotion]:
    with FakeNotion(template_delay=0.05) as fake:
        yield fake


def notion_section(notion: FakeNotion, database: str, template: str = "none", extra: str = "") -> str:
    return f"{{type: notion, database: {database}, template: {template}, api_url: '{notion.url}'{extra}}}"


def notion_workspace(root: Path, notion: FakeNotion, **kwargs: Any) -> tuple[Workspace, str]:
    database, source = notion.add_database()
    ws = Workspace(
        root, notes_config=notion_section(notion, database), env={"SYNCD_NOTION_TOKEN": TOKEN}, **kwargs
    )
    return ws, source


def draft_body(ws: Workspace) -> str:
    [draft] = ws.drafts_parsed()
    return str(draft.get_body().get_content())  # type: ignore[union-attr]


def test_vdir_notion_maildir_from_booking_to_draft_with_the_pages_open_to_dos(
    tmp_path: Path, notion: FakeNotion
) -> None:
    """An upcoming booking gets its page and link; the coach ticks one to-do and adds one;
    the session moved into the past gets the follow-up listing the page's open to-dos."""
    ws, source = notion_workspace(tmp_path, notion)
    ws.put("b1", "Intro session", now() + timedelta(days=1), description=ANSWERS)
    ws.run("once")
    [page] = notion.pages_of(source)
    assert page["url"] in ws.event_text("b1")
    assert notion.property(page["id"], "Status")["name"] == "scheduled"
    assert "Background: Physicist" in notion.text_of(page["id"])
    assert ws.draft_files() == []

    start_item = notion.find_block(page["id"], "Agree on a start date")
    notion.set_block(start_item, checked=True)
    notion.add_block(page["id"], "to_do", "Send Jane the reading list", after=start_item, checked=False)
    ws.put("b1", "Intro session", now() - timedelta(hours=2), description=ANSWERS)
    ws.run("once")

    body = draft_body(ws)
    assert "Send Jane the reading list" in body
    assert "Agree on a start date" not in body
    assert notion.property(page["id"], "Status")["name"] == "held"
    assert len(notion.pages_of(source)) == 1
    assert notion.text_of(page["id"]).count("Session: ") == 1

    notion.clear_log()
    ws.run("once")
    assert not notion.requests_to(r"^/v1/pages$", method="POST")
    assert len(ws.draft_files()) == 1


@pytest.mark.slow
def test_a_database_template_fills_the_page_and_its_to_dos_reach_the_draft(
    tmp_path: Path, notion: FakeNotion
) -> None:
    """`template: default` through the real command: syncd waits the template out (about 2 s
    of quiet), adds its part below, and the template's open to-dos become next steps."""
    database, source = notion.add_database(templates=[("Intro", TEMPLATE, True)])
    ws = Workspace(
        tmp_path, notes_config=notion_section(notion, database, "default"), env={"SYNCD_NOTION_TOKEN": TOKEN}
    )
    ws.put("b1", "Intro session", now() - timedelta(hours=2), description=ANSWERS)
    ws.run("once")
    [page] = notion.pages_of(source)
    lines = notion.text_of(page["id"]).splitlines()
    assert lines[0] == "Intro session focus areas"
    assert lines[len(TEMPLATE)].startswith("Session: ") and "Background: Physicist" in lines
    assert "Agree on a start date" in draft_body(ws)


def test_a_cancelled_booking_marks_the_page_and_keeps_the_coachs_text(
    tmp_path: Path, notion: FakeNotion
) -> None:
    ws, source = notion_workspace(tmp_path, notion)
    ws.put("b1", "Intro session", now() + timedelta(days=1))
    ws.run("once")
    [page] = notion.pages_of(source)
    notion.add_block(page["id"], "paragraph", "Prefers mornings.")
    ws.put("b1", "Intro session", now() + timedelta(days=1), status="CANCELLED")
    ws.run("once")
    assert notion.property(page["id"], "Status")["name"] == "cancelled"
    text = notion.text_of(page["id"])
    assert "status: cancelled" in text and "Prefers mornings." in text


def test_check_config_checks_the_database_and_setup_adds_what_is_missing(
    tmp_path: Path, notion: FakeNotion
) -> None:
    database, _ = notion.add_database({"Name": "title", "Session": "date"})
    ws = Workspace(tmp_path, notes_config=notion_section(notion, database), env={"SYNCD_NOTION_TOKEN": TOKEN})
    result = ws.run("check-config", check=False)
    assert result.returncode == 1
    assert "property 'Booking ID' is missing: add a Text property named Booking ID" in result.stdout
    assert "syncd notion setup" in result.stdout
    assert "added the properties Booking ID, Client email, Status" in ws.run("notion", "setup").stdout
    assert "database reachable, properties present" in ws.run("check-config").stdout


def test_a_coach_whose_database_is_archived_gets_one_line_and_the_other_coach_carries_on(
    tmp_path: Path, notion: FakeNotion
) -> None:
    (tmp_path / "cal2").mkdir()
    other = """\
  - name: Bo Coach
    email: bo@coach.example
    timezone: Europe/Berlin
    pricing_url: https://bo.example/pricing
    calendar: {type: vdir, path: cal2}
    notes: {type: markdown, path: notes}
    drafts: {type: maildir, path: Mail/Drafts}
"""
    ws, _ = notion_workspace(tmp_path, notion, extra_coach=other)
    database = ws.notes_config.split("database: ")[1].split(",")[0]
    notion.databases[database]["in_trash"] = True
    ws.put("b1", "Intro session", now() + timedelta(days=1))
    (tmp_path / "cal2" / "c1.ics").write_text(
        (ws.calendar / "b1.ics")
        .read_text()
        .replace("ada@coach.example", "bo@coach.example")
        .replace("b1", "c1")
    )
    result = ws.run("once")
    archived = [line for line in result.stderr.splitlines() if "archived" in line]
    assert len(archived) == 1 and "coach ada@coach.example" in archived[0]
    assert "restore it in Notion" in archived[0]
    assert len(ws.notes()) == 1  # Bo's Markdown note


def test_a_revoked_token_is_one_line_naming_the_coach_and_exit_3(tmp_path: Path, notion: FakeNotion) -> None:
    ws, source = notion_workspace(tmp_path, notion)
    ws.env = {"SYNCD_NOTION_TOKEN": "ntn_revoked_token_value"}
    ws.put("b1", "Intro session", now() + timedelta(days=1))
    result = ws.run("once", check=False)
    assert result.returncode == 3
    [line] = [line for line in result.stderr.splitlines() if "revoked" in line]
    assert "coach ada@coach.example" in line and "ntn_revoked_token_value" not in result.stderr
    assert "Traceback" not in result.stderr
    assert notion.pages_of(source) == []


# --- Google Calendar + Notion ------------------------------------------------------------------

GOOGLE_CONFIG = """\
state_dir: state
lookback: 2d
google:
  client_secrets: client.json
  token: google-token.json
  token_uri: {token_uri}
  api_endpoint: {api_endpoint}
coaches:
  - name: Casey Coach
    email: {coach}
    timezone: Europe/Berlin
    pricing_url: https://coach.example.com/pricing
    calendar: {{type: google, link_placement: both}}
    notes: {notes}
    drafts: {{type: maildir, path: Mail/Drafts, delay: 15m}}
"""


def test_google_calendar_and_notion_notes_with_the_token_in_a_file(
    tmp_path: Path, notion: FakeNotion
) -> None:
    database, source = notion.add_database()
    (tmp_path / "notion-token").write_text(TOKEN + "\n")
    (tmp_path / "Mail").mkdir()
    with FakeGoogle() as google:
        (tmp_path / "google-token.json").write_text(
            json.dumps(google.oauth.token_info([SCOPE_CALENDAR_EVENTS]))
        )
        notes = notion_section(notion, database, extra=", token_file: notion-token")
        config = tmp_path / "syncd.yaml"
        config.write_text(
            GOOGLE_CONFIG.format(
                token_uri=google.token_uri, api_endpoint=google.api_endpoint, coach=COACH, notes=notes
            )
        )
        google.calendar.put_event(booking("ev1", now() - timedelta(hours=2)))
        result = run_in_process(["--config", str(config), "once"], {})
        assert result.returncode == 0, result.stderr
        [page] = notion.pages_of(source)
        event = google.calendar.event("ev1")
        assert page["url"] in event.get("description", "")
        assert notion.property(page["id"], "Client email") == CLIENT
        assert "Company / team: Analytical Engines" in notion.text_of(page["id"])
        drafts = [p for sub in ("cur", "new") for p in (tmp_path / "Mail" / "Drafts" / sub).glob("*")]
        assert len(drafts) == 1


# --- SIGKILL ------------------------------------------------------------------------------------

BOOKINGS = 16


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_one_page_per_booking(tmp_path: Path, notion: FakeNotion) -> None:
    """Kill `syncd run` while it makes pages (each create answered 0.1 s after the page exists,
    so kills land between a page's making and its record), restart: one page per booking, one draft per
    ended one."""
    ws, source = notion_workspace(tmp_path, notion)
    start = datetime.now(UTC)
    for i in range(BOOKINGS):
        when = start - timedelta(hours=1, minutes=i) if i % 2 == 0 else start + timedelta(hours=2, minutes=i)
        ws.put(f"b{i:02d}", "Intro session", when, client=(f"Client {i:02d}", f"client{i:02d}@x.example"))
    notion.slow(r"^/v1/pages$", 0.1, times=BOOKINGS * 3, method="POST", after=True)
    hits = notion.query_hits

    def progress() -> int:
        return len(notion.pages_of(source)) + len(ws.draft_files())

    rng = random.Random(20261201)
    for _ in range(10):
        before = progress()
        if before == BOOKINGS + BOOKINGS // 2:
            break
        process = ws.start("run")
        try:
            assert wait_for(lambda: progress() > before, timeout=20)  # noqa: B023 (fixed per round)
            time.sleep(rng.uniform(0.0, 0.12))
        finally:
            kill(process)
    notion.clear_faults()
    ws.run("once")

    assert notion.query_hits > hits, "no kill landed between a page's making and its record"
    pages = notion.pages_of(source)
    keys = sorted(p["properties"]["Booking ID"]["rich_text"][0]["plain_text"] for p in pages)
    assert len(pages) == BOOKINGS and len(set(keys)) == BOOKINGS
    assert all(notion.text_of(p["id"]).count("Session: ") == 1 for p in pages)
    assert len(ws.draft_files()) == BOOKINGS // 2
    for i in range(BOOKINGS):
        assert ws.event_text(f"b{i:02d}").count("notion.so") == 1
