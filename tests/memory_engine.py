"""The engine over in-memory backends for one coach, for tests of the pass without files.

The config names vdir, markdown and maildir sections (folders made under the test's folder,
never opened): the memory calendar, notes and drafts given stand in for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syncd.calendars.memory import MemoryCalendar
from syncd.coach_pass import CoachParts
from syncd.config import CoachConfig, Settings
from syncd.drafts.memory import MemoryDrafts
from syncd.engine import Engine, coach_parts
from syncd.notes.memory import MemoryNotes
from syncd.state import StateStore

COACH = "ada@coach.example"


def memory_engine(
    root: Path,
    calendar: MemoryCalendar,
    notes: MemoryNotes,
    drafts: MemoryDrafts,
    *,
    link_placement: str | None = None,
    delay: str | None = "15m",
) -> Engine:
    """An engine whose one coach (`COACH`) reads and writes `calendar`, `notes` and `drafts`,
    its state in `root`/state; `link_placement` and the drafts' `delay` go into the config
    as given (None: left out, the default)."""
    for folder in ("calendar", "notes", "drafts"):
        (root / folder).mkdir()
    calendar_section: dict[str, Any] = {"type": "vdir", "path": str(root / "calendar")}
    if link_placement is not None:
        calendar_section["link_placement"] = link_placement
    drafts_section: dict[str, Any] = {"type": "maildir", "path": str(root / "drafts")}
    if delay is not None:
        drafts_section["delay"] = delay
    coach = {
        "name": "Ada Coach",
        "email": COACH,
        "timezone": "Europe/Berlin",
        "pricing_url": "https://ada.example/pricing",
        "calendar": calendar_section,
        "notes": {"type": "markdown", "path": str(root / "notes")},
        "drafts": drafts_section,
    }
    settings = Settings(state_dir=root / "state", coaches=[coach])

    def opener(config: CoachConfig, settings: Settings) -> CoachParts:
        return coach_parts(config, settings, source=calendar, notes=notes, drafts=drafts)

    return Engine(settings, StateStore.in_dir(settings.state_dir), opener)
