"""syncd-side set-up for tests on the fake: a config pointing at it, a token file, bookings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from syncd.config import Settings
from syncd.google.auth import SCOPE_CALENDAR_EVENTS

from .server import FakeGoogle

COACH = "coach@example.com"
CLIENT = "ada@client.test"
SINCE = datetime(2030, 1, 1, tzinfo=UTC)


def make_settings(
    tmp_path: Path,
    fake: FakeGoogle,
    *,
    placement: str = "both",
    calendar_id: str = "primary",
    notes: dict[str, Any] | None = None,
    drafts: dict[str, Any] | None = None,
) -> Settings:
    """Settings with one coach on a Google calendar, the API and token endpoint on the fake."""
    (tmp_path / "notes").mkdir(exist_ok=True)
    coach = {
        "name": "Casey Coach",
        "email": COACH,
        "timezone": "Europe/Berlin",
        "pricing_url": "https://coach.example.com/pricing",
        "calendar": {"type": "google", "calendar_id": calendar_id, "link_placement": placement},
        "notes": notes or {"type": "markdown", "path": str(tmp_path / "notes")},
        "drafts": drafts or {"type": "maildir", "path": str(tmp_path / "Maildir")},
    }
    google = {
        "client_secrets": str(tmp_path / "client.json"),
        "token_uri": fake.token_uri,
        "api_endpoint": fake.api_endpoint,
    }
    return Settings(state_dir=tmp_path / "state", google=google, coaches=[coach])


def write_token(settings: Settings, fake: FakeGoogle, *, expired: bool = False) -> Path:
    """A token file as `syncd auth google` leaves it, issued by the fake."""
    path = settings.state_dir / "google-token.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fake.oauth.token_info([SCOPE_CALENDAR_EVENTS], expired=expired)))
    return path


def booking(event_id: str, start: datetime, minutes: int = 45, **extra: Any) -> dict[str, Any]:
    """An intro booking as a scheduling tool writes it into the coach's calendar."""
    end = start + timedelta(minutes=minutes)
    event = {
        "id": event_id,
        "summary": "Intro session: Ada Lovelace",
        "description": "Company/Team: Analytical Engines\nChallenge: scaling the team",
        "start": {"dateTime": start.isoformat(), "timeZone": "Europe/Berlin"},
        "end": {"dateTime": end.isoformat(), "timeZone": "Europe/Berlin"},
        "organizer": {"email": COACH},
        "attendees": [
            {"email": COACH, "organizer": True, "responseStatus": "accepted"},
            {"email": CLIENT, "displayName": "Ada Lovelace", "responseStatus": "needsAction"},
        ],
    }
    event.update(extra)
    return event
