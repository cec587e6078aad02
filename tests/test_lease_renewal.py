"""A replica renews the leases of a long pass without giving away its own share: the renewal
counts the share over every coach, as the claim at the start of the pass does (counted over
the coaches it renewed, a replica holding half of them kept a quarter and stopped the rest)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd.calendars.base import ChangeSet
from syncd.calendars.memory import MemoryCalendar
from syncd.coach_pass import CoachParts
from syncd.config import CoachConfig, Settings, StateConfig
from syncd.drafts.memory import MemoryDrafts
from syncd.engine import Engine, coach_parts
from syncd.model import Attendee, CalendarEvent
from syncd.notes.memory import MemoryNotes
from syncd.state_postgres import PostgresStore
from tests.postgres_server import PostgresServer

COACHES = [f"coach{n}@coach.example" for n in range(4)]
START = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)


class SlowCalendar(MemoryCalendar):
    """An in-memory calendar whose reads take as long as a slow network's."""

    def changes(self, cursor: str | None, since: datetime) -> ChangeSet:
        time.sleep(0.5)
        return super().changes(cursor, since)


def settings_for(tmp_path: Path, url: str) -> Settings:
    coaches = [
        {
            "name": f"Coach {n}",
            "email": email,
            "timezone": "Europe/Berlin",
            "pricing_url": "https://coach.example/pricing",
            # Types the config knows (never opened here): the memory parts stand in.
            "calendar": {"type": "vdir", "path": str(tmp_path)},
            "notes": {"type": "markdown", "path": str(tmp_path)},
            "drafts": {"type": "maildir", "path": str(tmp_path), "delay": "15m"},
        }
        for n, email in enumerate(COACHES)
    ]
    return Settings(state_dir=tmp_path / "state", state={"url": url}, coaches=coaches, concurrency=4)


@pytest.fixture
def url(postgres_server: PostgresServer) -> str:
    return postgres_server.url(postgres_server.new_database())


@pytest.fixture
def notes() -> dict[str, MemoryNotes]:
    return {email: MemoryNotes() for email in COACHES}


@pytest.fixture
def engine(tmp_path: Path, url: str, notes: dict[str, MemoryNotes]) -> Iterator[Engine]:
    def opener(config: CoachConfig, settings: Settings) -> CoachParts:
        calendar = SlowCalendar([config.email])
        calendar.put(
            CalendarEvent(
                id="intro-1",
                summary="Intro session",
                start=START,
                end=START + timedelta(minutes=30),
                timezone="Europe/Berlin",
                organizer=config.email,
                attendees=(Attendee("jane@client.example", "Jane Client", response="accepted"),),
            )
        )
        return coach_parts(
            config, settings, source=calendar, notes=notes[config.email], drafts=MemoryDrafts()
        )

    settings = settings_for(tmp_path, url)
    state = PostgresStore.open(StateConfig(url=url))
    running = Engine(settings, state, opener)
    running.lease_ttl = timedelta(seconds=0.3)  # renewed every 0.1 s: several times per read
    yield running
    running.close()


def test_renewing_a_long_pass_keeps_the_replicas_whole_share(
    engine: Engine, url: str, notes: dict[str, MemoryNotes], caplog: pytest.LogCaptureFixture
) -> None:
    other = PostgresStore.open(StateConfig(url=url))
    try:
        # Another replica, alive for minutes, holds half of the coaches.
        assert other.claim(COACHES[2:], "other-host:1", timedelta(minutes=5), datetime.now(UTC)) == set(
            COACHES[2:]
        )
        with caplog.at_level(logging.WARNING, logger="syncd"):
            report = engine.run_pass(datetime.now(UTC))
        assert "lease lost" not in caplog.text, caplog.text
        assert report.tally.notes == 2
        assert [email for email in COACHES if notes[email].texts] == COACHES[:2]
        held = {coach: replica for coach, (replica, _) in other.leases().items()}
        assert held == {
            **dict.fromkeys(COACHES[:2], engine.replica),
            **dict.fromkeys(COACHES[2:], "other-host:1"),
        }
    finally:
        other.close()
