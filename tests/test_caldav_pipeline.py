"""The whole pipeline on a CalDAV calendar (a real Radicale) with Markdown notes and a Maildir:
a booking gets its note, the link in the event on the server, and its draft; a second pass
changes nothing anywhere."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.radicale_server import dav, make_calendar
from tests.support import Workspace, event_ics

# The Radicale server and the refusing server are those fixtures, shared per module.
from tests.test_caldav_calendar import _Refusing, refusing, refusing_server, server  # noqa: F401


@dataclass
class CaldavWorkspace(Workspace):
    """A Workspace whose coach's calendar is a Radicale calendar, not the vdir folder."""

    server: str = ""
    user: str = ""

    @property
    def collection_url(self) -> str:
        return f"{self.server}{self.user}/coaching/"

    def write_config(self) -> None:
        super().write_config()
        (self.root / "caldav-password").write_text("secret\n")
        section = (
            f"calendar: {{type: caldav, url: '{self.server}', username: {self.user}, "
            "password_file: caldav-password, calendar: Coaching}"
        )
        text = self.config.read_text().replace("calendar: {type: vdir, path: calendar}", section)
        assert section in text
        self.config.write_text(text)

    def put(self, uid: str, summary: str, start: datetime, **kwargs: object) -> Path:
        body = event_ics(uid, summary, start, **kwargs).encode()  # type: ignore[arg-type]
        status, _, _ = dav(
            "PUT", f"{self.collection_url}{uid}.ics", self.user, body, {"Content-Type": "text/calendar"}
        )
        assert status in (201, 204)
        return self.calendar / f"{uid}.ics"  # not written: Workspace's signature

    def event_text(self, uid: str) -> str:
        status, _, raw = dav("GET", f"{self.collection_url}{uid}.ics", self.user)
        assert status == 200
        return raw.decode().replace("\r\n ", "").replace("\r\n\t", "").replace("\r\n", "\n")

    def event_etags(self) -> dict[str, str]:
        return {
            uid: dav("GET", f"{self.collection_url}{uid}.ics", self.user)[1]["etag"]
            for uid in ("past1", "up1")
        }


@pytest.fixture
def ws(tmp_path: Path, server: str) -> CaldavWorkspace:  # noqa: F811
    user = f"coach-{uuid.uuid4().hex[:10]}"
    make_calendar(server, user, "coaching", "Coaching")
    return CaldavWorkspace(tmp_path, server=server, user=user)


def test_a_booking_on_caldav_gets_note_link_and_draft_and_a_second_pass_changes_nothing(
    ws: CaldavWorkspace,
) -> None:
    now = datetime.now(UTC)
    ws.put("past1", "Intro session", now - timedelta(hours=2))
    ws.put("up1", "Intro with Sam", now + timedelta(hours=3), client=("Sam Lee", "sam@x.example"))
    ws.run("once")
    notes = ws.notes()
    assert len(notes) == 2
    [draft] = ws.drafts_parsed()
    assert draft["To"].addresses[0].addr_spec == "jane@client.example"
    for uid in ("past1", "up1"):
        event = ws.event_text(uid)
        assert event.count("--- syncd:") == 1 and any(note.as_uri() in event for note in notes)
        assert "SCHEDULE-AGENT=CLIENT" in event
    snapshot = {p: p.read_bytes() for p in [*ws.notes(), *ws.draft_files()]}
    etags = ws.event_etags()
    second = ws.run("once")
    assert {p: p.read_bytes() for p in [*ws.notes(), *ws.draft_files()]} == snapshot
    assert ws.event_etags() == etags
    assert "session note ready" not in second.stderr and "draft queued for" not in second.stderr


def test_a_refused_password_is_one_line_and_a_failing_exit(
    tmp_path: Path,
    refusing: tuple[str, type[_Refusing]],  # noqa: F811
) -> None:
    ws = CaldavWorkspace(tmp_path, server=refusing[0], user="ann")
    result = ws.run("once", check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "401" in line]
    assert len(lines) == 1 and "'ann'" in lines[0]
    assert "secret" not in result.stderr and "Traceback" not in result.stderr
