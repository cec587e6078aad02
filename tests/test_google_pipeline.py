"""The whole pipeline on Google Calendar through the real `syncd` command, against the local fake.

The fake (`tests.fakegoogle`) serves Calendar v3 and the OAuth token endpoint on 127.0.0.1 in
this process; `syncd` commands run in this process too (`syncd.cli.main`, as `syncd` would),
the daemon in a subprocess exactly as a coach runs it; both reach the fake over HTTP through
the real googleapiclient client (static discovery, `google.api_endpoint`) and the
real google-auth refresh (`google.token_uri`). Notes are Markdown files, drafts a Maildir.

Every test reads what a coach would see: the note files, the drafts, the event as Google stores
it, the log lines on stderr, and the requests the fake received.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from syncd.google.auth import SCOPE_CALENDAR_EVENTS
from syncd.linkblock import BEGIN, find_note_url
from tests.fakegoogle import FakeGoogle, LoggedRequest
from tests.fakegoogle.helpers import CLIENT, COACH, booking
from tests.support import event_ics, kill, run_in_process, wait_for

EVENTS = r"^/calendars/primary/events$"
EVENT = r"^/calendars/primary/events/[^/]+$"
REAUTH = "syncd auth google"
VDIR_COACH = "ada@coach.example"  # the organizer tests.support.event_ics writes

CONFIG = """\
state_dir: state
poll_interval: 1s
lookback: 2d
google:
  client_secrets: client.json
  token: google-token.json
  token_uri: {token_uri}
  api_endpoint: {api_endpoint}
coaches:
  - name: Casey Coach
    email: {coach}
    timezone: {timezone}
    pricing_url: https://coach.example.com/pricing
    specialties: [engineering leadership]
    calendar: {{type: google, link_placement: both}}
    notes: {{type: markdown, path: notes}}
    drafts: {{type: maildir, path: Mail/Drafts, delay: 15m}}
    reminder: 5m
{extra}"""

VDIR_COACH_CONFIG = f"""\
  - name: Ada Coach
    email: {VDIR_COACH}
    timezone: Europe/Berlin
    pricing_url: https://ada.example/pricing
    calendar: {{type: vdir, path: vcal}}
    notes: {{type: markdown, path: vnotes}}
    drafts: {{type: maildir, path: vMail/Drafts}}
"""


def now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


@dataclass
class GoogleWorkspace:
    """A coach's folders and config in a temp dir, a token issued by the fake, and `syncd`."""

    root: Path
    fake: FakeGoogle
    timezone: str = "Europe/Berlin"
    extra_coach: str = ""
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for sub in ("notes", "Mail", "state", "vcal", "vnotes", "vMail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.write_config()
        self.write_token()

    # --- set-up ---------------------------------------------------------------------------

    @property
    def config(self) -> Path:
        return self.root / "syncd.yaml"

    @property
    def token(self) -> Path:
        return self.root / "google-token.json"

    def write_config(self) -> None:
        self.config.write_text(
            CONFIG.format(
                token_uri=self.fake.token_uri,
                api_endpoint=self.fake.api_endpoint,
                coach=COACH,
                timezone=self.timezone,
                extra=self.extra_coach,
            ),
            encoding="utf-8",
        )

    def write_token(self, *, expired: bool = False) -> None:
        """A token as `syncd auth google` leaves it (replaced atomically, as it does)."""
        info = self.fake.oauth.token_info([SCOPE_CALENDAR_EVENTS], expired=expired)
        temp = self.token.with_suffix(".tmp")
        temp.write_text(json.dumps(info), encoding="utf-8")
        temp.chmod(0o600)
        temp.replace(self.token)

    def put(self, event: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an event in the coach's Google calendar (as a booking tool would)."""
        return self.fake.calendar.put_event(event)

    # --- running syncd ----------------------------------------------------------------------

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "syncd", "--config", str(self.config), *args]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
        env.pop("NOTIFY_SOCKET", None)
        return env

    def run(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        """Run `syncd ARGS` to completion; the exit code must be `expect`."""
        result = run_in_process(self.command(*args)[3:], {})
        assert result.returncode == expect, (
            f"syncd {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def once(self, expect: int = 0) -> subprocess.CompletedProcess[str]:
        """One pass, with the fake's request log cleared first (so it holds this pass only)."""
        self.fake.clear_log()
        return self.run("once", expect=expect)

    def start_daemon(self, log: Path) -> subprocess.Popen[str]:
        """`syncd run` in the background, its stderr (the log) going to `log`."""
        with log.open("w", encoding="utf-8") as sink:
            process = subprocess.Popen(
                self.command("run"), stdout=subprocess.DEVNULL, stderr=sink, text=True, env=self.env()
            )
        self.processes.append(process)
        return process

    # --- what the coach sees ------------------------------------------------------------------

    def notes(self, folder: str = "notes") -> list[Path]:
        return sorted((self.root / folder / "Intro Sessions").glob("*.md"))

    def draft_files(self, folder: str = "Mail") -> list[Path]:
        drafts = self.root / folder / "Drafts"
        return sorted(p for sub in ("cur", "new") for p in (drafts / sub).glob("*") if p.is_file())

    def drafts(self, folder: str = "Mail") -> list[EmailMessage]:
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in self.draft_files(folder)
        ]

    def event(self, event_id: str) -> dict[str, Any]:
        return self.fake.calendar.event(event_id)

    def lists(self) -> list[LoggedRequest]:
        return self.fake.requests_to(EVENTS, "GET")

    def patches(self, event_id: str = "") -> list[LoggedRequest]:
        return self.fake.requests_to(EVENT if not event_id else rf"/events/{event_id}$", "PATCH")

    def writes(self) -> list[LoggedRequest]:
        return [r for r in self.fake.requests if r.method != "GET" and r.path != "/token"]


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[GoogleWorkspace]:
    with FakeGoogle() as fake:
        workspace = GoogleWorkspace(tmp_path, fake)
        yield workspace
        for process in workspace.processes:
            if process.poll() is None:
                kill(process)


def lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


def syncd_popups(event: dict[str, Any]) -> list[dict[str, Any]]:
    overrides = event["reminders"].get("overrides") or []
    return [o for o in overrides if o == {"method": "popup", "minutes": 5}]


def at(event_id: str, begin: datetime, minutes: int = 45, **fields: Any) -> dict[str, Any]:
    """An intro booking (tests.fakegoogle.helpers.booking) at `begin`, with any field
    replaced (`start` and `end` included)."""
    event = booking(event_id, begin, minutes)
    event.update(fields)
    return event


def ended(event_id: str, **fields: Any) -> dict[str, Any]:
    """A booking that ended an hour ago: its follow-up (15 minutes after the end) is due."""
    return at(event_id, now() - timedelta(hours=1, minutes=45), **fields)


def upcoming(event_id: str, **fields: Any) -> dict[str, Any]:
    """A booking tomorrow."""
    return at(event_id, now() + timedelta(days=1), **fields)


# --- the happy path ---------------------------------------------------------------------------


def test_a_booking_gets_a_note_a_quiet_guarded_patch_and_after_it_ends_a_draft(gw: GoogleWorkspace) -> None:
    """Note created; the event patched with sendUpdates=none and If-Match, carrying the link
    block, the private properties and a 5-minute popup; the draft only once the session ended."""
    gw.put(upcoming("soon00001"))
    gw.put(ended("past00001", attendees=[{"email": CLIENT, "displayName": "Bea Client"}]))
    gw.once()

    notes = gw.notes()
    assert len(notes) == 2
    for event_id in ("soon00001", "past00001"):
        event = gw.event(event_id)
        url = find_note_url(event["description"])
        assert url in {note.as_uri() for note in notes}
        assert event["description"].count(BEGIN) == 1
        assert event["description"].startswith("Company/Team: Analytical Engines")  # theirs kept
        private = event["extendedProperties"]["private"]
        assert private["syncdNote"] == url and private["syncdBooking"] == f"{COACH}/{event_id}"
        assert len(syncd_popups(event)) == 1
        assert {"method": "popup", "minutes": 10} in event["reminders"]["overrides"]  # the default kept
    patches = gw.patches()
    assert patches and all(p.query["sendUpdates"] == ["none"] for p in patches)
    assert all(p.headers.get("if-match", "").startswith('"') for p in patches)

    [draft] = gw.drafts()
    assert draft["To"].addresses[0].addr_spec == CLIENT
    assert "https://coach.example.com/pricing" in draft.get_body().get_content()  # type: ignore[union-attr]
    assert "Follow-up: draft waiting" in gw.event("past00001")["description"]
    assert "Follow-up: draft will be prepared" in gw.event("soon00001")["description"]


def test_an_expired_access_token_is_refreshed_once_and_saved_0600(gw: GoogleWorkspace) -> None:
    gw.write_token(expired=True)
    before = json.loads(gw.token.read_text())["token"]
    gw.put(upcoming("soon00001"))
    gw.once()
    assert gw.fake.oauth.refreshes == 1 and len(gw.notes()) == 1
    assert json.loads(gw.token.read_text())["token"] != before
    assert gw.token.stat().st_mode & 0o777 == 0o600
    gw.once()
    assert gw.fake.oauth.refreshes == 1  # the saved token serves the next run

    gw.fake.oauth.expire_access_tokens()  # Google drops the access token early: 401
    gw.put(upcoming("soon00002"))
    gw.once()
    assert gw.fake.oauth.refreshes == 2 and len(gw.notes()) == 2


def test_a_token_refreshed_mid_run_is_saved_so_the_next_process_need_not_refresh(
    gw: GoogleWorkspace,
) -> None:
    """The transport refreshes a token Google dropped early (a 401) by itself; syncd writes
    the new token back (0600), so the next `syncd once` starts with it."""
    gw.put(upcoming("soon00001"))
    gw.once()
    assert gw.fake.oauth.refreshes == 0
    gw.fake.oauth.expire_access_tokens()
    gw.put(upcoming("soon00002"))
    result = gw.once()
    assert gw.fake.oauth.refreshes == 1 and len(gw.notes()) == 2
    saved = json.loads(gw.token.read_text())
    assert saved["token"] in gw.fake.oauth.access_tokens and saved["refresh_token"]
    assert gw.token.stat().st_mode & 0o777 == 0o600
    assert saved["token"] not in result.stderr and saved["refresh_token"] not in result.stderr
    assert [p.name for p in gw.token.parent.glob(".syncd-*")] == []  # no temp file left behind
    gw.put(upcoming("soon00003"))
    gw.once()
    assert gw.fake.oauth.refreshes == 1 and len(gw.notes()) == 3


@pytest.mark.slow
def test_the_daemon_saves_a_token_refreshed_while_it_runs(gw: GoogleWorkspace) -> None:
    gw.put(upcoming("soon00001"))
    log = gw.root / "daemon.log"
    daemon = gw.start_daemon(log)
    assert wait_for(lambda: len(gw.notes()) == 1, timeout=20), log.read_text()
    before = json.loads(gw.token.read_text())["token"]
    gw.fake.oauth.expire_access_tokens()
    gw.put(upcoming("soon00002"))
    assert wait_for(lambda: len(gw.notes()) == 2, timeout=20), log.read_text()
    assert wait_for(lambda: json.loads(gw.token.read_text())["token"] != before, timeout=10)
    saved = json.loads(gw.token.read_text())["token"]
    assert saved in gw.fake.oauth.access_tokens and gw.token.stat().st_mode & 0o777 == 0o600
    refreshes = gw.fake.oauth.refreshes
    gw.put(upcoming("soon00003"))  # the daemon goes on with the same credentials...
    assert wait_for(lambda: len(gw.notes()) == 3, timeout=20), log.read_text()
    daemon.terminate()
    assert daemon.wait(timeout=10) == 0
    assert gw.fake.oauth.refreshes == refreshes == 1
    gw.once()  # ...and so does the next process
    assert gw.fake.oauth.refreshes == 1
    text = log.read_text()
    assert "Traceback" not in text and saved not in text


def test_a_pass_without_changes_costs_one_request_and_writes_nothing(gw: GoogleWorkspace) -> None:
    """All pages are read in the first pass; syncd's own patches come back through the sync
    token and are recognised, so the next pass is one list call and no write."""
    gw.fake.calendar.page_plan = [1, 0, 1, 1]
    gw.put(upcoming("soon00001"))
    gw.put(at("soon00002", now() + timedelta(days=2)))
    gw.put(ended("past00001"))
    first = gw.once()
    assert len(gw.lists()) == 4 and len(gw.notes()) == 3 and len(gw.draft_files()) == 1
    assert "3 notes created" in first.stderr
    files = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in [*gw.notes(), *gw.draft_files()]}

    gw.fake.calendar.page_plan = None  # (the plan would page even an empty answer)
    second = gw.once()
    [request] = gw.fake.requests
    assert request.method == "GET" and request.query["syncToken"][0].startswith("sync-")
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in [*gw.notes(), *gw.draft_files()]} == files
    assert "0 notes created, 0 links written, 0 drafts queued, 0 errors" in second.stderr


# --- changes made by the client or the booking tool -------------------------------------------


def test_a_reschedule_moves_the_follow_up_the_note_header_and_the_event_block(gw: GoogleWorkspace) -> None:
    gw.put(upcoming("move00001"))
    gw.once()
    [note] = gw.notes()
    note.write_text(note.read_text() + "\nMy own prep stays.\n")

    later = now() + timedelta(days=3)
    gw.fake.calendar.modify(
        "move00001",
        start={"dateTime": later.isoformat(), "timeZone": "Europe/Berlin"},
        end={"dateTime": (later + timedelta(minutes=45)).isoformat(), "timeZone": "Europe/Berlin"},
    )
    result = gw.once()
    assert "rescheduled" in result.stderr
    berlin = ZoneInfo("Europe/Berlin")
    text = note.read_text()
    assert "My own prep stays." in text
    assert f"session_start: {later.astimezone(berlin).isoformat()}" in text
    due = (later + timedelta(minutes=60)).astimezone(berlin)
    assert due.strftime("%Y-%m-%d %H:%M") in gw.run("status").stdout
    assert due.strftime("%H:%M") in gw.event("move00001")["description"]
    assert len(gw.patches("move00001")) == 1

    gw.fake.calendar.modify(
        "move00001",
        start={"dateTime": (now() - timedelta(hours=2)).isoformat()},
        end={"dateTime": (now() - timedelta(hours=1)).isoformat()},
    )
    gw.once()
    assert len(gw.draft_files()) == 1 and gw.notes() == [note]


def test_deleting_the_event_withdraws_the_follow_up_and_marks_the_note(gw: GoogleWorkspace) -> None:
    """The sync token reports the deletion as a stub carrying only the id; the booking is
    found by id, its follow-up withdrawn, the note kept and marked cancelled."""
    gw.put(at("gone00001", now() - timedelta(minutes=50)))  # due in 10 minutes
    gw.put(upcoming("gone00002"))
    gw.once()
    assert len(gw.notes()) == 2 and gw.draft_files() == []
    for note in gw.notes():
        note.write_text(note.read_text() + "\nWhat I wrote.\n")

    gw.fake.calendar.delete_event("gone00001")
    gw.fake.calendar.modify("gone00002", status="cancelled")
    gw.once()
    assert len(gw.fake.requests) == 1  # the stubs need no re-read and deleted events no patch
    assert gw.draft_files() == []
    for note in gw.notes():
        text = note.read_text()
        assert "status: cancelled" in text and "**Cancelled**" in text and "What I wrote." in text
    assert gw.run("status").stdout.count("withdrawn") == 2


def test_an_expired_sync_token_triggers_one_full_resync_without_duplicates(gw: GoogleWorkspace) -> None:
    gw.put(ended("past00001"))
    gw.once()
    gw.fake.calendar.expire_sync_tokens()
    result = gw.once()
    refused, full = gw.fake.requests
    assert "syncToken" in refused.query and "syncToken" not in full.query and "timeMin" in full.query
    assert len(lines_with(result.stderr, "a full sync is needed")) == 1
    assert len(gw.notes()) == 1 and len(gw.draft_files()) == 1 and gw.writes() == []
    gw.once()
    assert len(gw.fake.requests) == 1  # the new token was stored


# --- credentials ------------------------------------------------------------------------------


def test_invalid_grant_exits_3_in_one_line_and_other_coaches_carry_on(gw: GoogleWorkspace) -> None:
    gw.extra_coach = VDIR_COACH_CONFIG
    gw.write_config()
    (gw.root / "vcal" / "v1.ics").write_text(event_ics("v1", "Intro session", now() + timedelta(hours=5)))
    gw.put(upcoming("soon00001"))
    gw.fake.oauth.revoke()  # what Google does to a 'testing' app's token after 7 days

    result = gw.once(expect=3)
    [line] = lines_with(result.stderr, REAUTH)
    assert "invalid_grant" in line and "7 days" in line and "testing" in line and COACH in line
    assert gw.notes() == [] and len(gw.notes("vnotes")) == 1
    assert "Session note:" in (gw.root / "vcal" / "v1.ics").read_text()


@pytest.mark.slow
def test_the_daemon_survives_invalid_grant_and_picks_up_a_new_token(gw: GoogleWorkspace) -> None:
    """`syncd run` logs the revoked token every pass and keeps polling; once the coach has
    run `syncd auth google` (a new token file), the next pass works without a restart."""
    gw.put(upcoming("soon00001"))
    gw.fake.oauth.revoke()
    log = gw.root / "daemon.log"
    daemon = gw.start_daemon(log)
    assert wait_for(lambda: len(lines_with(log.read_text(), REAUTH)) >= 2, timeout=20), log.read_text()
    assert daemon.poll() is None and gw.notes() == []

    gw.write_token()
    assert wait_for(lambda: len(gw.notes()) == 1 and gw.patches(), timeout=20), log.read_text()
    assert daemon.poll() is None
    daemon.terminate()
    assert daemon.wait(timeout=10) == 0
    assert "Traceback" not in log.read_text()


@pytest.mark.slow
def test_sigterm_while_a_request_hangs_exits_within_5_seconds_and_the_next_start_resumes(
    gw: GoogleWorkspace,
) -> None:
    gw.put(ended("hang00001"))
    gw.fake.slow(EVENTS, 60)  # Google stops answering the sync
    log = gw.root / "daemon.log"
    daemon = gw.start_daemon(log)
    assert wait_for(lambda: gw.fake.requests_to(EVENTS), timeout=20), log.read_text()
    time.sleep(0.5)
    stopped = time.monotonic()
    daemon.terminate()
    assert daemon.wait(timeout=10) == 0
    assert time.monotonic() - stopped < 5
    assert "exiting now" in log.read_text() and "Traceback" not in log.read_text()
    gw.fake.clear_faults()
    gw.once()
    assert len(gw.notes()) == 1 and len(gw.draft_files()) == 1


# --- failures on the wire ---------------------------------------------------------------------


def test_rate_limits_and_server_errors_are_retried_within_the_pass(gw: GoogleWorkspace) -> None:
    gw.put(ended("past00001"))
    gw.fake.fail(EVENTS, 429)
    gw.fake.fail(EVENT, 503, method="PATCH")
    gw.fake.fail(EVENT, 403, reason="rateLimitExceeded", method="GET")
    result = gw.once()
    assert "ERROR" not in result.stderr
    methods = [r.method for r in gw.fake.requests]
    assert methods == ["GET", "GET", "PATCH", "PATCH", "GET", "GET", "PATCH"]
    assert len(gw.notes()) == 1 and len(gw.draft_files()) == 1
    assert len(syncd_popups(gw.event("past00001"))) == 1


def test_an_event_changed_while_syncd_writes_is_reread_and_written_once(gw: GoogleWorkspace) -> None:
    """A 412 on the guarded patch (the coach edited the event meanwhile): syncd re-reads the
    event and applies its block to the fresh copy, keeping the coach's edit."""
    gw.put(upcoming("soon00001"))
    gw.fake.fail(EVENT, 412, method="PATCH")
    gw.fake.calendar.modify("soon00001", location="Room 1")  # what the re-read must keep
    result = gw.once()
    assert "ERROR" not in result.stderr
    assert [r.method for r in gw.fake.requests] == ["GET", "PATCH", "GET", "PATCH"]
    event = gw.event("soon00001")
    assert event["location"] == "Room 1" and event["description"].count(BEGIN) == 1
    assert len(gw.notes()) == 1


def test_a_dropped_connection_fails_one_pass_in_one_line_and_the_next_recovers(
    gw: GoogleWorkspace,
) -> None:
    gw.put(upcoming("soon00001"))
    gw.once()
    gw.put(upcoming("soon00002"))
    gw.write_token(expired=True)  # the hour-long access token ran out...
    gw.fake.drop("^/token$")  # ...and the connection drops while refreshing it
    result = gw.once()
    [line] = lines_with(result.stderr, "ERROR")
    assert "token endpoint" in line and "closed connection" in line
    assert len(gw.notes()) == 1

    gw.fake.drop(EVENT, times=1, method="PATCH")  # one drop is absorbed by a reconnect
    result = gw.once()
    assert "ERROR" not in result.stderr
    assert len(gw.notes()) == 2
    event = gw.event("soon00002")
    assert event["description"].count(BEGIN) == 1 and len(syncd_popups(event)) == 1
    gw.once()
    assert len(gw.fake.requests) == 1 and len(gw.notes()) == 2


def test_an_event_the_coach_may_not_edit_gets_its_note_and_the_link_on_the_private_copy(
    gw: GoogleWorkspace,
) -> None:
    gw.put(
        upcoming(
            "guest0001",
            organizer={"email": "bookings@scheduler.test"},
            attendees=[
                {"email": COACH, "responseStatus": "accepted"},
                {"email": CLIENT, "displayName": "Ada Lovelace"},
            ],
        )
    )
    gw.fake.calendar.set_read_only("guest0001")
    result = gw.once()
    [line] = lines_with(result.stderr, "the coach is a guest here")
    assert "guest0001" in line
    event = gw.event("guest0001")
    assert len(gw.notes()) == 1 and BEGIN not in event.get("description", "")
    assert event["extendedProperties"]["private"]["syncdNote"].startswith("file://")
    assert 5 in [r["minutes"] for r in event["reminders"]["overrides"]]  # syncd's popup, defaults kept
    gw.once()
    assert len(gw.fake.requests) == 1  # not tried again every pass


# --- detection on Google's data ---------------------------------------------------------------


def test_all_day_non_matching_cancelled_and_old_events_are_ignored_quietly(gw: GoogleWorkspace) -> None:
    tomorrow = (now() + timedelta(days=1)).date()
    gw.put(
        upcoming(
            "allday001",
            start={"date": tomorrow.isoformat()},
            end={"date": (tomorrow + timedelta(days=1)).isoformat()},
        )
    )
    gw.put(upcoming("standup01", summary="Team standup"))
    gw.put(upcoming("cancel001", status="cancelled"))
    gw.put(at("ancient01", now() - timedelta(days=3)))  # ended before the 2-day look-back
    result = gw.once()
    [request] = gw.fake.requests
    since = datetime.fromisoformat(request.query["timeMin"][0])
    assert abs(since - (now() - timedelta(days=2))) < timedelta(minutes=2)
    assert gw.notes() == [] and gw.draft_files() == []
    assert "WARNING" not in result.stderr and "ERROR" not in result.stderr
    assert "0 bookings tracked" in result.stderr


def test_the_coach_is_known_by_googles_self_flag_and_the_client_by_display_name(gw: GoogleWorkspace) -> None:
    """The coach's calendar lists them under an address missing from the config: the `self`
    flag still tells them apart from the client, whose `displayName` names the note."""
    work = "casey@work.example"
    gw.put(
        ended(
            "alias0001",
            summary="Intro session",
            organizer={"email": work, "self": True},
            attendees=[
                {"email": work, "self": True, "organizer": True, "responseStatus": "accepted"},
                {"email": "grace@navy.test", "displayName": "Grace Hopper", "responseStatus": "accepted"},
            ],
        )
    )
    gw.once()
    [note] = gw.notes()
    assert "Grace Hopper" in note.name
    [draft] = gw.drafts()
    assert draft["To"].addresses[0].addr_spec == "grace@navy.test"


def test_a_europe_berlin_event_is_shown_in_the_coachs_zone(gw: GoogleWorkspace) -> None:
    gw.timezone = "America/New_York"
    gw.write_config()
    berlin, new_york = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
    start = (now() + timedelta(days=1)).astimezone(berlin).replace(hour=15, minute=0)
    end = start + timedelta(minutes=45)
    gw.put(
        at(
            "berlin001",
            start,
            start={"dateTime": start.isoformat(), "timeZone": "Europe/Berlin"},
            end={"dateTime": end.isoformat(), "timeZone": "Europe/Berlin"},
        )
    )
    gw.once()
    [note] = gw.notes()
    text = note.read_text()
    ny_start, ny_end = start.astimezone(new_york), end.astimezone(new_york)
    assert f"session_start: {ny_start.isoformat()}" in text
    assert f"{ny_start:%H:%M}\u2013{ny_end:%H:%M} {ny_start:%Z}" in text  # the coach's time
    assert f"15:00\u201315:45 {start:%Z} (Europe/Berlin)" in text  # the client's, labelled


# --- operator mistakes ------------------------------------------------------------------------


def problem_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " WARNING " in line or " ERROR " in line]


def with_a_local_coach_booked(gw: GoogleWorkspace) -> None:
    """A second coach on a local calendar, with one booking: must carry on whatever Google says."""
    gw.extra_coach = VDIR_COACH_CONFIG
    gw.write_config()
    (gw.root / "vcal" / "v1.ics").write_text(event_ics("v1", "Intro session", now() + timedelta(hours=5)))
    gw.put(upcoming("soon00001"))


def test_an_api_not_enabled_in_the_cloud_project_says_which_and_where_to_enable_it(
    gw: GoogleWorkspace,
) -> None:
    """One line naming the API and the console page that enables it; once enabled, the next
    pass works (nothing was recorded as given up)."""
    with_a_local_coach_booked(gw)
    gw.fake.disabled_apis.add("calendar")
    result = gw.once(expect=3)
    [line] = problem_lines(result.stderr)
    assert f"coach {COACH}: Google calendar primary" in line
    assert "Google Calendar API is not enabled in the Google Cloud project" in line
    assert "https://console.developers.google.com/apis/api/calendar-json.googleapis.com/overview" in line
    assert gw.notes() == [] and len(gw.notes("vnotes")) == 1

    gw.fake.disabled_apis.clear()
    gw.once()
    assert len(gw.notes()) == 1 and gw.patches()


def test_a_token_google_granted_fewer_scopes_than_it_records_says_to_consent_again_in_one_line(
    gw: GoogleWorkspace,
) -> None:
    """Google answers 403 insufficientPermissions (the token file claims a scope the grant
    lacks): one line, not the client library's warning as well."""
    with_a_local_coach_booked(gw)
    info = gw.fake.oauth.token_info(["https://www.googleapis.com/auth/gmail.compose"])
    gw.token.write_text(json.dumps({**info, "scopes": [SCOPE_CALENDAR_EVENTS]}), encoding="utf-8")
    result = gw.once(expect=3)
    [line] = problem_lines(result.stderr)
    assert "insufficientPermissions" in line and REAUTH in line
    assert len(gw.notes("vnotes")) == 1


def test_a_calendar_id_google_does_not_know_names_the_key_to_check(gw: GoogleWorkspace) -> None:
    with_a_local_coach_booked(gw)
    gw.config.write_text(
        gw.config.read_text().replace("{type: google,", "{type: google, calendar_id: nobody@example.com,")
    )
    result = gw.once()
    [line] = problem_lines(result.stderr)
    assert "Google calendar nobody@example.com" in line and "HTTP 404" in line
    assert "calendar.calendar_id" in line and "shared with" in line
    assert len(gw.notes("vnotes")) == 1


def test_a_token_file_others_can_read_is_made_private_with_one_warning(gw: GoogleWorkspace) -> None:
    """It holds a refresh token: syncd makes it 0600 (as `syncd auth google` writes it), says
    so once with what to do if it leaked, and works on."""
    gw.put(upcoming("soon00001"))
    gw.token.chmod(0o644)
    result = gw.once()
    [line] = problem_lines(result.stderr)
    assert str(gw.token) in line and "0644" in line and "0600" in line and REAUTH in line
    assert gw.token.stat().st_mode & 0o777 == 0o600 and len(gw.notes()) == 1
    assert problem_lines(gw.once().stderr) == []


def test_a_token_of_another_google_account_is_named_in_one_warning(gw: GoogleWorkspace) -> None:
    """The consent was given signed in as someone else (an assistant, a private account): the
    primary calendar Google serves is theirs (its own attendee, marked `self`, is not the
    coach). One warning says whom to sign in as, or which address to add to aliases."""
    gw.put(upcoming("soon00001"))
    gw.config.write_text(gw.config.read_text().replace(f"email: {COACH}", "email: casey@coach.example"))
    [line] = problem_lines(gw.once().stderr)
    assert (
        f"Google calendar primary belongs to {COACH}" in line and "signed in as casey@coach.example" in line
    )
    assert REAUTH in line and f"if {COACH} is the coach's, add it to aliases" in line
