"""Backends by their config `type`, imported only when a coach uses them.

Each backend module exposes `from_config(section, coach, settings)`. Importing lazily keeps
the Google client libraries (slow to import) out of installs that do not use them.
"""

from __future__ import annotations

import importlib
from typing import Any, cast

from syncd.calendars.base import CalendarSource
from syncd.config import CoachConfig, Settings
from syncd.drafts.base import DraftSink
from syncd.notes.base import NoteStore

CALENDARS = {
    "vdir": "syncd.calendars.vdir",
    "google": "syncd.calendars.google",
    "caldav": "syncd.calendars.caldav",
    "outlook": "syncd.calendars.outlook",
}
NOTES = {
    "markdown": "syncd.notes.markdown",
    "google_docs": "syncd.notes.google_docs",
    "notion": "syncd.notes.notion",
}
DRAFTS = {"maildir": "syncd.drafts.maildir", "gmail": "syncd.drafts.gmail", "outlook": "syncd.drafts.outlook"}


def _build(table: dict[str, str], section: Any, coach: CoachConfig, settings: Settings) -> Any:
    module = importlib.import_module(table[section.type])
    return module.from_config(section, coach, settings)


def open_calendar(coach: CoachConfig, settings: Settings) -> CalendarSource:
    """The calendar source configured for `coach`."""
    return cast(CalendarSource, _build(CALENDARS, coach.calendar, coach, settings))


def open_notes(coach: CoachConfig, settings: Settings) -> NoteStore:
    """The note store configured for `coach`."""
    return cast(NoteStore, _build(NOTES, coach.notes, coach, settings))


def open_drafts(coach: CoachConfig, settings: Settings) -> DraftSink:
    """The draft sink configured for `coach`."""
    return cast(DraftSink, _build(DRAFTS, coach.drafts, coach, settings))
