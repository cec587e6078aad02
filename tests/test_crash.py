"""SIGKILL the real daemon at random moments, restart it: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import Workspace, kill, wait_for

BOOKINGS = 60


def progress(ws: Workspace) -> int:
    """Notes plus drafts on disk: grows through a pass."""
    return len(ws.notes()) + len(ws.draft_files())


def _count_in_events(ws: Workspace, marker: str) -> list[int]:
    return [ws.event_text(p.stem).count(marker) for p in sorted(ws.calendar.glob("b*.ics"))]


@pytest.mark.slow
def test_sigkill_during_passes_then_restart_gives_exactly_one_of_everything(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    now = datetime.now(UTC)
    for i in range(BOOKINGS):
        # Half ended already (note, link, draft), half upcoming (note and link only).
        start = now - timedelta(hours=1, minutes=i) if i % 2 == 0 else now + timedelta(hours=2, minutes=i)
        # Every third as Outlook writes it, with an HTML description that gets the block too.
        html = "X-ALT-DESC;FMTTYPE=text/html:<html><body><p>Agenda</p></body></html>" if i % 3 == 0 else ""
        client = (f"Client {i:02d}", f"client{i:02d}@x.example")
        ws.put(f"b{i:02d}", "Intro session", start, client=client, extra=html)
    rng = random.Random(20261125)
    partial_seen = False
    for _ in range(12):
        before = progress(ws)
        if before == BOOKINGS + BOOKINGS // 2:
            break
        process = ws.start("run")
        # Kill only once the pass is visibly at work, then after a random moment within it.
        assert wait_for(lambda: progress(ws) > before, timeout=20)  # noqa: B023 (before is fixed per round)
        time.sleep(rng.uniform(0.0, 0.15))
        kill(process)
        partial_seen = partial_seen or 0 < progress(ws) < BOOKINGS + BOOKINGS // 2
    ws.run("once")

    assert partial_seen, "no kill landed mid-pass; the test proved nothing"
    assert len(ws.notes()) == BOOKINGS
    assert len({p.name for p in ws.notes()}) == BOOKINGS
    drafts = ws.drafts_parsed()
    assert len(drafts) == BOOKINGS // 2
    assert len({str(d["Message-ID"]) for d in drafts}) == BOOKINGS // 2
    # The block's first line, once in the DESCRIPTION and once more in the HTML where there is one.
    outlook = [int(i % 3 == 0) for i in range(BOOKINGS)]
    assert _count_in_events(ws, "--- syncd: session note") == [1 + n for n in outlook]
    assert _count_in_events(ws, "X-SYNCD-ALARM") == [1] * BOOKINGS
    assert _count_in_events(ws, 'class="syncd-note"') == outlook
    # An interrupted draft write is finished on the retry, its temp file cleared then.
    assert list((ws.drafts / "tmp").iterdir()) == []


def test_temp_files_left_by_a_killed_process_are_cleared_on_a_later_start(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.put("b00", "Intro session", datetime.now(UTC) - timedelta(hours=1))
    ws.run("once")
    # What a SIGKILL between writing a temp file and renaming it leaves behind, a while ago.
    leftovers = [
        ws.collection / ".syncd-abc123.tmp",
        ws.calendar / ".syncd-def456.tmp",
    ]
    for path in leftovers:
        path.write_text("half written")
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    fresh = ws.collection / ".syncd-fresh.tmp"
    fresh.write_text("another process is writing this right now")
    ws.run("once")
    assert [p for p in leftovers if p.exists()] == []
    assert fresh.exists()
    assert len(ws.notes()) == 1 and len(ws.draft_files()) == 1
