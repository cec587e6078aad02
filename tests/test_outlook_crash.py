"""SIGKILL the real daemon while it writes to Outlook (fake Graph), restart it: nothing lost,
nothing doubled. Every booking ends with one note and its link on the event, every ended one
with exactly one draft in the mailbox (the look-up by internetMessageId after a kill)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd.calendars.outlook_items import COMPANION, NOTE, props_of
from tests.fakegraph import FakeGraph
from tests.fakegraph.fixtures import COACH, graph_fixture, graph_server_fixture, write_workspace  # noqa: F401
from tests.outlook_support import graph_time, person
from tests.support import kill, run_in_process, wait_for

pytestmark = pytest.mark.slow

BOOKINGS = 6
ROUNDS = 3


def seed(fake: FakeGraph) -> list[str]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    ids = []
    for i in range(BOOKINGS):
        # The even ones ended an hour ago: their follow-up is due.
        start = now - timedelta(hours=1) if i % 2 == 0 else now + timedelta(days=1, hours=i)
        ids.append(
            fake.outlook.put(
                {
                    "subject": f"Intro: Client {i}",
                    "body": {"contentType": "text", "content": "Challenge: delegation"},
                    "start": graph_time(start),
                    "end": graph_time(start + timedelta(minutes=30)),
                    "attendees": [person(f"client{i}@client.example", f"Client {i}", "accepted")],
                }
            )
        )
    return ids


def writes(fake: FakeGraph) -> int:
    return len(fake.graph_requests("PATCH")) + len(fake.graph_requests("POST"))


def test_sigkill_while_writing_to_outlook_then_restart_gives_exactly_one_of_everything(
    graph: FakeGraph, tmp_path: Path
) -> None:
    graph.outlook.owner = COACH
    config = write_workspace(tmp_path, graph)
    assert run_in_process(["--config", str(config), "auth", "microsoft"], {}).returncode == 0
    ids = seed(graph)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    rng = random.Random(10)
    for _ in range(ROUNDS):
        # Slow writes, so the kill lands while Graph holds one.
        graph.slow(r"/me/(events|messages)", 0.15, times=100, method="PATCH")
        graph.slow(r"/me/(calendars/[^/]+/)?events$", 0.15, times=100, method="POST")
        graph.slow(r"/me/messages$", 0.15, times=100, method="POST")
        seen = writes(graph)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "syncd", "--config", str(config), "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert wait_for(lambda seen=seen: writes(graph) > seen, timeout=20)
            wait_for(lambda: False, timeout=rng.uniform(0.0, 0.4))
        finally:
            kill(daemon)  # type: ignore[arg-type]
        with graph.lock:
            graph._faults.clear()
        # The fake finishes what the killed daemon sent before anything restarts: a slowed create
        # landing after the restarted pass looked for it would be a second prep event.
        assert wait_for(lambda: graph.in_flight == 0, timeout=5)
    for _ in range(2):
        result = run_in_process(["--config", str(config), "once"], {})
        assert result.returncode == 0, result.stderr
    notes = sorted((tmp_path / "notes" / "Intro Sessions").glob("*.md"))
    assert len(notes) == BOOKINGS
    preps = [item for item in graph.outlook.live() if COMPANION in props_of(item)]
    assert sorted(props_of(item)[NOTE] for item in preps) == sorted(note.as_uri() for note in notes)
    for event_id in ids:  # the booked meetings are never written (companion placement)
        assert props_of(graph.outlook.instance(event_id)) == {}
    message_ids = [
        m.split(b"Message-ID:", 1)[1].split(b"\n", 1)[0].strip() for m in graph.mail.raw_messages()
    ]
    assert len(message_ids) == len(set(message_ids)) == BOOKINGS // 2
