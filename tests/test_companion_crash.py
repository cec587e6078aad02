"""SIGKILL the real daemon at random moments with `link_placement: companion`, restart it: one
prep event per booking that is on, none for one that is off, the booked files never written."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar

from tests.support import COACH, Workspace, kill, wait_for

BOOKINGS = 80


def prep_uids(ws: Workspace) -> list[str]:
    """The UID of every prep event file in the folder (a duplicate would show twice)."""
    uids = []
    for path in ws.calendar.glob("*.ics"):
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # deleted by the daemon since the listing
            continue
        for event in Calendar.from_ical(data).walk("VEVENT"):
            if "X-SYNCD-COMPANION" in event:
                uids.append(str(event["X-SYNCD-COMPANION"]))
    return sorted(uids)


def progress(ws: Workspace) -> int:
    return len(ws.notes()) + len(prep_uids(ws))


def kill_while_working(ws: Workspace, rng: random.Random, done: int) -> bool:
    """Start `syncd run`, kill it once a pass visibly works (until `done` is reached); True
    when a kill landed before the work was complete."""
    partial = False
    for _ in range(10):
        before = progress(ws)
        if before == done:
            break
        process = ws.start("run")
        assert wait_for(lambda: progress(ws) != before, timeout=20)  # noqa: B023 (fixed per round)
        time.sleep(rng.uniform(0.0, 0.02))
        kill(process)
        partial = partial or progress(ws) != done
    return partial


@pytest.mark.slow
def test_sigkill_never_leaves_two_prep_events_or_one_for_a_cancelled_booking(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, link_placement="companion")
    now = datetime.now(UTC)
    booked = {}
    for i in range(BOOKINGS):
        client = (f"Client {i:02d}", f"client{i:02d}@x.example")
        booked[f"b{i:02d}"] = ws.put(
            f"b{i:02d}", "Intro session", now + timedelta(hours=2, minutes=i), client=client
        )
    originals = {uid: path.read_bytes() for uid, path in booked.items()}
    rng = random.Random(20261201)
    partial = kill_while_working(ws, rng, done=2 * BOOKINGS)
    ws.run("once")
    assert partial, "no kill landed mid-pass; the test proved nothing"
    assert len(ws.notes()) == BOOKINGS
    assert prep_uids(ws) == sorted(f"{COACH}/{uid}" for uid in booked)

    # Half are cancelled: their prep events go, under kills too.
    for i in range(0, BOOKINGS, 2):
        uid = f"b{i:02d}"
        client = (f"Client {i:02d}", f"client{i:02d}@x.example")
        ws.put(uid, "Intro session", now + timedelta(hours=2, minutes=i), client=client, status="CANCELLED")
        originals[uid] = booked[uid].read_bytes()
    kill_while_working(ws, rng, done=BOOKINGS + BOOKINGS // 2)
    ws.run("once")
    assert prep_uids(ws) == sorted(f"{COACH}/b{i:02d}" for i in range(1, BOOKINGS, 2))
    assert {uid: path.read_bytes() for uid, path in booked.items()} == originals
