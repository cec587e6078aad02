"""What a coach reads in the log, through the real `syncd` command: durations as the config
spells them, no claim of work a dry run did not do."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import Workspace, kill


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


@pytest.mark.slow
def test_the_daemon_says_its_poll_interval_as_the_config_spells_it(ws: Workspace) -> None:
    daemon = ws.start("run")
    assert daemon.stderr is not None
    first = daemon.stderr.readline()
    kill(daemon, signal.SIGTERM)
    assert "a pass every 1s" in first, first


def test_a_dry_run_does_not_say_a_note_is_ready(ws: Workspace) -> None:
    ws.put("d1", "Intro session", datetime.now(UTC) + timedelta(days=1))
    result = ws.run("once", "--dry-run")
    assert "would create the session note" in result.stderr
    assert "session note ready" not in result.stderr, result.stderr


def test_an_intro_without_a_client_is_named_by_its_title_and_time(ws: Workspace) -> None:
    """Calendar apps give events ids like 040000008200E00074C5B7101A82E008: the coach finds the
    event by its title and time."""
    start = datetime(2030, 3, 4, 9, 30, tzinfo=UTC)
    ws.put("040000008200E00074C5B7101A82E008", "Prep for intro sessions", start, client=None)
    result = ws.run("once")
    [line] = [x for x in result.stderr.splitlines() if "no client" in x]
    assert '"Prep for intro sessions" on 2030-03-04 10:30 CET' in line, line


def test_the_demo_shows_the_link_block_and_the_draft_as_the_coach_would_read_them(tmp_path: Path) -> None:
    """The draft file is quoted-printable (`t=` line breaks, `=F0=9F=92=8E`): the demo prints it
    decoded, with the link block it wrote into the event, so a newcomer need not open files."""
    ws = Workspace(tmp_path / "unused")
    out = ws.run("demo", "--dir", str(tmp_path / "demo")).stdout
    assert "Subject: 💎 Looking forward to working with you" in out
    assert "To: Maya Lopez <maya@client.example>" in out
    assert "I'm very excited about the possibility of working with you" in out
    assert "Session note: file://" in out and "Follow-up: draft waiting in your drafts folder" in out
