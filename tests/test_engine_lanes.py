"""Coaches whose parts are all folders on this machine run one after another in one lane of
the pool: their passes are CPU work, which threads side by side only slow down."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syncd.calendars.memory import MemoryCalendar
from syncd.coach_pass import CoachParts
from syncd.config import CoachConfig, Settings
from syncd.drafts.memory import MemoryDrafts
from syncd.engine import Engine, coach_parts
from syncd.model import ChangeSet
from syncd.notes.memory import MemoryNotes
from syncd.state import StateStore


class Watch:
    """How many coaches' calendars are being read at once, and the most seen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0


class WatchedCalendar(MemoryCalendar):
    def __init__(self, addresses: list[str], watch: Watch) -> None:
        super().__init__(addresses)
        self.watch = watch

    def changes(self, cursor: str | None, since: datetime) -> ChangeSet:
        with self.watch.lock:
            self.watch.running += 1
            self.watch.most = max(self.watch.most, self.watch.running)
        time.sleep(0.05)  # long enough for a second thread to start its coach meanwhile
        with self.watch.lock:
            self.watch.running -= 1
        return super().changes(cursor, since)


def coach(root: Path, name: str) -> dict[str, Any]:
    folder = root / name
    for sub in ("calendar", "notes", "drafts"):
        (folder / sub).mkdir(parents=True)
    return {
        "name": name.title(),
        "email": f"{name}@coach.example",
        "timezone": "Europe/Berlin",
        "pricing_url": "https://coach.example/pricing",
        "calendar": {"type": "vdir", "path": str(folder / "calendar")},
        "notes": {"type": "markdown", "path": str(folder / "notes")},
        "drafts": {"type": "maildir", "path": str(folder / "drafts")},
    }


def test_local_coaches_run_one_after_another_and_all_of_them_run(tmp_path: Path) -> None:
    watch = Watch()
    names = ["ada", "bea", "cy", "dee"]
    settings = Settings(
        state_dir=tmp_path / "state", concurrency=4, coaches=[coach(tmp_path, name) for name in names]
    )
    read: list[str] = []

    def opener(config: CoachConfig, settings: Settings) -> CoachParts:
        read.append(config.email)
        calendar = WatchedCalendar([config.email], watch)
        return coach_parts(config, settings, source=calendar, notes=MemoryNotes(), drafts=MemoryDrafts())

    engine = Engine(settings, StateStore.in_dir(settings.state_dir), opener)
    try:
        report = engine.run_pass(datetime.now(UTC))
    finally:
        engine.close()
    assert sorted(read) == [f"{name}@coach.example" for name in names]
    assert watch.most == 1
    assert sum(report.errors.values()) == 0
