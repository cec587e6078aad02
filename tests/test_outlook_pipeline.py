"""The whole pipeline on Microsoft 365 through the real `syncd` command, against the fake Graph:
Outlook calendar + Markdown notes + Outlook drafts, signed in with `syncd auth microsoft`.

What a coach would see is read back: the note files, the event's private properties and its
untouched body, the drafts in the fake mailbox, the log lines, and the requests Graph got."""

from __future__ import annotations

import base64
import email
import email.policy
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from syncd.calendars.outlook_items import BOOKING, COMPANION, NOTE, props_of
from tests.fakegraph import FakeGraph
from tests.fakegraph.fixtures import COACH, graph_fixture, graph_server_fixture, write_workspace  # noqa: F401
from tests.outlook_support import graph_time, person
from tests.support import run_in_process

CLIENT = ("Jane Client", "jane@client.example")
DESCRIPTION = "Challenge: leading a new team\nCompany: Acme"


def now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


@dataclass
class OutlookWorkspace:
    root: Path
    fake: FakeGraph
    config: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_in_process(["--config", str(self.config), *args], {})

    def once(self) -> subprocess.CompletedProcess[str]:
        result = self.run("once")
        assert result.returncode == 0, result.stderr
        return result

    def book(self, start: datetime, minutes: int = 30, **changes: Any) -> str:
        item = {
            "subject": f"Intro session: {CLIENT[0]}",
            "body": {"contentType": "text", "content": DESCRIPTION},
            "start": graph_time(start),
            "end": graph_time(start + timedelta(minutes=minutes)),
            "attendees": [person(CLIENT[1], CLIENT[0], "accepted")],
            "originalStartTimeZone": "W. Europe Standard Time",
            **changes,
        }
        return self.fake.outlook.put(item)

    def notes(self) -> list[Path]:
        return sorted((self.root / "notes" / "Intro Sessions").glob("*.md"))

    def drafts(self) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[misc]
            for raw in self.fake.mail.raw_messages()
        ]


def companions(fake: FakeGraph) -> list[dict[str, Any]]:
    return [item for item in fake.outlook.live() if COMPANION in props_of(item)]


@pytest.fixture
def ws(graph: FakeGraph, tmp_path: Path) -> OutlookWorkspace:
    graph.outlook.owner = COACH
    workspace = OutlookWorkspace(tmp_path, graph, write_workspace(tmp_path, graph))
    signed = workspace.run("auth", "microsoft")
    assert signed.returncode == 0, signed.stderr
    graph.clear_log()
    return workspace


def test_booking_gets_a_note_and_a_prep_event_and_its_own_event_is_never_written(
    ws: OutlookWorkspace,
) -> None:
    """The default placement (companion): nothing is written to the meeting the client is
    invited to, so Graph has nothing to mail them; the link and the reminder are in a private
    prep event with no attendees."""
    event_id = ws.book(now() + timedelta(days=1))
    result = ws.once()
    [note] = ws.notes()
    text = note.read_text()
    assert "Jane Client" in text and "leading a new team" in text
    stored = ws.fake.outlook.instance(event_id)
    assert stored["body"]["content"] == DESCRIPTION and props_of(stored) == {}
    assert not [r for r in ws.fake.graph_requests("PATCH") if event_id in r.path]
    [prep] = companions(ws.fake)
    assert prep["attendees"] == [] and prep["subject"] == "Prep: intro with Jane Client"
    assert props_of(prep)[NOTE] == note.as_uri()
    assert prep["isReminderOn"] is True
    assert "Traceback" not in result.stderr


def test_private_placement_writes_only_per_user_fields(graph: FakeGraph, tmp_path: Path) -> None:
    """`link_placement: private`: the link in the event's own extended properties and the
    reminder in its per-user reminder; the shared body is never in a PATCH."""
    graph.outlook.owner = COACH
    config = write_workspace(tmp_path, graph, calendar="{type: outlook, link_placement: private}")
    ws = OutlookWorkspace(tmp_path, graph, config)
    assert ws.run("auth", "microsoft").returncode == 0
    event_id = ws.book(now() + timedelta(days=1))
    ws.once()
    [note] = ws.notes()
    stored = ws.fake.outlook.instance(event_id)
    assert stored["body"]["content"] == DESCRIPTION  # the client's copy is never touched
    assert props_of(stored)[NOTE] == note.as_uri() and props_of(stored)[BOOKING]
    assert stored["reminderMinutesBeforeStart"] == 5
    assert all("body" not in (r.json() or {}) for r in ws.fake.graph_requests("PATCH"))
    assert companions(ws.fake) == []


def test_self_write_and_idle_passes_cost_one_request_each(ws: OutlookWorkspace) -> None:
    ws.book(now() + timedelta(days=1))
    ws.once()
    for _ in range(2):
        ws.fake.clear_log()
        ws.once()
        assert [r.path.rsplit("/", 2)[-2:] for r in ws.fake.graph_requests()] == [["calendarView", "delta"]]


def test_ended_session_gets_one_draft_to_the_client(ws: OutlookWorkspace) -> None:
    ws.book(now() - timedelta(hours=1))
    ws.once()
    ws.once()
    [draft] = ws.drafts()
    assert draft["To"].addresses[0].addr_spec == CLIENT[1]
    assert draft["From"].addresses[0].addr_spec == COACH
    [post] = [r for r in ws.fake.graph_requests("POST") if r.path.endswith("/messages")]
    assert b"Jane Client" in base64.b64decode(post.body) and post.headers["content-type"] == "text/plain"


def test_cancelled_meeting_withdraws_the_follow_up_and_keeps_the_note(ws: OutlookWorkspace) -> None:
    start = now() + timedelta(hours=2)
    event_id = ws.book(start)
    ws.once()
    ws.fake.outlook.put({**ws.fake.outlook.instance(event_id), "isCancelled": True})
    ws.once()
    [note] = ws.notes()
    assert "cancel" in note.read_text().lower()
    status = ws.run("status", "--all")
    assert "withdrawn" in status.stdout.lower()


def test_deleted_event_is_heard_of_through_removed(ws: OutlookWorkspace) -> None:
    event_id = ws.book(now() + timedelta(hours=2))
    ws.once()
    ws.fake.outlook.remove(event_id)
    ws.once()
    assert "withdrawn" in ws.run("status", "--all").stdout.lower()


def test_revoked_sign_in_is_one_line_and_the_next_sign_in_recovers(ws: OutlookWorkspace) -> None:
    ws.book(now() + timedelta(days=1))
    ws.fake.login.revoke_all()
    result = ws.run("once")
    lines = [line for line in result.stderr.splitlines() if "syncd auth microsoft" in line]
    assert lines and "invalid_grant" in lines[0] and "Traceback" not in result.stderr
    assert ws.notes() == []
    assert ws.run("auth", "microsoft").returncode == 0
    ws.once()
    assert len(ws.notes()) == 1


def test_expired_delta_token_reads_again_without_a_second_note(ws: OutlookWorkspace) -> None:
    ws.book(now() + timedelta(days=1))
    ws.once()
    ws.fake.outlook.expire_delta_tokens()
    result = ws.once()
    assert len(ws.notes()) == 1
    assert "reading the whole calendar again" in result.stderr


VDIR_COACH = """\
  - name: Ada Coach
    email: ada@coach.example
    timezone: Europe/Berlin
    pricing_url: https://ada.example/pricing
    calendar: {type: vdir, path: vcal}
    notes: {type: markdown, path: vnotes}
    drafts: {type: maildir, path: vMail/Drafts}
"""


def test_a_refused_microsoft_sign_in_leaves_other_coaches_working(graph: FakeGraph, tmp_path: Path) -> None:
    from tests.support import event_ics

    for sub in ("vcal", "vnotes", "vMail"):
        (tmp_path / sub).mkdir()
    graph.outlook.owner = COACH
    config = write_workspace(tmp_path, graph, extra=VDIR_COACH)
    ws = OutlookWorkspace(tmp_path, graph, config)
    assert ws.run("auth", "microsoft").returncode == 0
    ws.book(now() + timedelta(days=1))
    (tmp_path / "vcal" / "v1.ics").write_text(event_ics("v1", "Intro: Bo Client", now() + timedelta(days=1)))
    graph.login.revoke_all()
    result = ws.run("once")
    assert "syncd auth microsoft" in result.stderr
    assert len(list((tmp_path / "vnotes" / "Intro Sessions").glob("*.md"))) == 1
    assert ws.notes() == []


def test_dry_run_reads_but_writes_nothing_to_graph(ws: OutlookWorkspace) -> None:
    ws.book(now() - timedelta(hours=1))
    result = ws.run("once", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert ws.fake.graph_requests("PATCH") == [] and ws.fake.graph_requests("POST") == []
    assert ws.notes() == []


def test_signed_in_as_someone_else_is_one_warning(graph: FakeGraph, tmp_path: Path) -> None:
    """The fake signs in as casey@coach.example; a coach configured as another address is told
    once (Graph marks nobody as "self": the coach is known by address only)."""
    config = write_workspace(tmp_path, graph)
    config.write_text(
        config.read_text().replace(f"email: {COACH}", "email: sam@coach.example"), encoding="utf-8"
    )
    ws = OutlookWorkspace(tmp_path, graph, config)
    assert ws.run("auth", "microsoft").returncode == 0
    result = ws.once()
    assert result.stderr.count("belongs to casey@coach.example, not to the coach's address") == 1
