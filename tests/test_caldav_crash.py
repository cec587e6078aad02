"""SIGKILL the real daemon at random moments on a CalDAV calendar (a real Radicale) with
Markdown notes and a Maildir, restart it: nothing lost, nothing doubled.

The CalDAV version of tests/test_crash.py: `syncd run` is killed while a pass is visibly at
work (notes or drafts appearing), started again, a bounded number of rounds; a last `syncd
once` finishes. Then every booking has exactly one note, one link block and one reminder in
its event as read back from the server, and every ended booking exactly one draft."""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.radicale_server import make_calendar
from tests.support import kill, wait_for
from tests.test_caldav_calendar import server  # noqa: F401 (the shared Radicale fixture)
from tests.test_caldav_pipeline import CaldavWorkspace

BOOKINGS = 30
ENDED = BOOKINGS // 2  # the even ones: their follow-up is due
ROUNDS = 10


def _progress(ws: CaldavWorkspace) -> int:
    """Notes plus drafts on disk: grows through a pass."""
    return len(ws.notes()) + len(ws.draft_files())


@pytest.mark.slow
def test_sigkill_during_caldav_passes_then_restart_gives_exactly_one_of_everything(
    tmp_path: Path,
    server: str,  # noqa: F811
) -> None:
    user = f"coach-{uuid.uuid4().hex[:10]}"
    make_calendar(server, user, "coaching", "Coaching")
    ws = CaldavWorkspace(tmp_path, server=server, user=user)
    now = datetime.now(UTC)
    uids = [f"b{i:02d}" for i in range(BOOKINGS)]
    for i, uid in enumerate(uids):
        start = now - timedelta(hours=1, minutes=i) if i % 2 == 0 else now + timedelta(hours=2, minutes=i)
        ws.put(uid, "Intro session", start, client=(f"Client {i:02d}", f"client{i:02d}@x.example"))
    rng = random.Random(20261201)
    done = BOOKINGS + ENDED
    partial_seen = False
    for _ in range(ROUNDS):
        before = _progress(ws)
        if before == done:
            break
        process = ws.start("run")
        # Kill only once the pass is visibly at work, then after a random moment within it.
        assert wait_for(lambda: _progress(ws) > before, timeout=20)  # noqa: B023 (fixed per round)
        time.sleep(rng.uniform(0.0, 0.08))
        kill(process)
        partial_seen = partial_seen or 0 < _progress(ws) < done
    ws.run("once")

    assert partial_seen, "no kill landed mid-pass; the test proved nothing"
    notes = ws.notes()
    assert len(notes) == BOOKINGS and len({p.name for p in notes}) == BOOKINGS
    drafts = ws.drafts_parsed()
    assert len(drafts) == ENDED and len({str(d["Message-ID"]) for d in drafts}) == ENDED
    events = {uid: ws.event_text(uid) for uid in uids}
    assert {uid: text.count("--- syncd: session note") for uid, text in events.items()} == dict.fromkeys(
        uids, 1
    )
    assert {uid: text.count("X-SYNCD-ALARM") for uid, text in events.items()} == dict.fromkeys(uids, 1)
    # Each event links the one note made for it, and no two events share a note.
    linked = {uid: [n for n in notes if n.as_uri() in text] for uid, text in events.items()}
    assert all(len(found) == 1 for found in linked.values()), linked
    assert len({found[0] for found in linked.values()}) == BOOKINGS
    assert list((ws.drafts / "tmp").iterdir()) == []
