"""The whole pipeline through the real `syncd` command with Google Docs notes and Gmail drafts,
Google-only and mixed with local parts, against the local fake Google API server."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from urllib.request import urlopen
from zoneinfo import ZoneInfo

import pytest

from syncd.calendars.google_items import MAX_ATTACHMENTS, annotation_patch
from syncd.config import load_settings
from syncd.google.auth import SCOPE_CALENDAR_EVENTS, SCOPE_DRIVE_FILE, SCOPE_GMAIL_COMPOSE, token_path
from syncd.model import GOOGLE_DOC_MIME, Annotation
from tests.draft_contract import parse
from tests.fakegoogle import CLIENT_ID, CLIENT_SECRET, FakeGoogle
from tests.fakegoogle.helpers import CLIENT, booking
from tests.fakegoogle.workspace import GoogleWorkspace, note_docs
from tests.support import kill

WRITES = ("POST", "PATCH", "PUT", "DELETE")
ZONE = ZoneInfo("Europe/Berlin")
START_DATE = "Agree on a start date for the first coaching session"


def now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle() as server:
        yield server


def workspace(tmp_path: Path, fake: FakeGoogle, calendar: str, notes: str, drafts: str) -> GoogleWorkspace:
    return GoogleWorkspace(
        tmp_path, fake=fake, calendar_type=calendar, notes_type=notes, drafts_type=drafts, port=free_port()
    )


def gmail_messages(fake: FakeGoogle) -> list[EmailMessage]:
    return [parse(raw) for raw in fake.gmail.raw_messages()]


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def writes(fake: FakeGoogle) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.requests if r.method in WRITES and r.path != "/token"]


def the_doc(fake: FakeGoogle, client: str = "Ada Lovelace") -> dict[str, Any]:
    [doc] = [d for d in note_docs(fake) if d["name"].startswith(client)]
    return doc


# --- Google only ------------------------------------------------------------------------------


def test_google_only_note_in_docs_attached_to_the_event_and_draft_in_gmail(
    tmp_path: Path, fake: FakeGoogle
) -> None:
    ws = workspace(tmp_path, fake, "google", "google_docs", "gmail")
    fake.calendar.put_event(booking("intro0001", now() - timedelta(hours=2)))
    fake.calendar.put_event(
        booking(
            "intro0002",
            now() + timedelta(days=1),
            attendees=[{"email": "grace@client.test", "displayName": "Grace Hopper"}],
            summary="Intro session: Grace Hopper",
        )
    )
    result = ws.run("once")
    assert "Traceback" not in result.stderr
    assert len(note_docs(fake)) == 2
    ada = the_doc(fake)
    assert "Analytical Engines" in fake.docs.text(ada["id"]) and "scaling the team" in fake.docs.text(
        ada["id"]
    )
    event = fake.calendar.event("intro0001")
    [attachment] = event["attachments"]
    assert attachment["fileUrl"] == ada["webViewLink"] and attachment["mimeType"] == GOOGLE_DOC_MIME
    assert attachment["title"] == ada["name"]
    assert ada["webViewLink"] in event["description"]
    [draft] = gmail_messages(fake)
    assert draft["To"].addresses[0].addr_spec == CLIENT
    assert draft["From"].addresses[0].addr_spec == "coach@example.com"
    assert "https://coach.example.com/pricing" in body_of(draft) and START_DATE in body_of(draft)
    assert [r for r in fake.requests if "permission" in r.path] == []


def test_google_only_second_pass_writes_nothing(tmp_path: Path, fake: FakeGoogle) -> None:
    ws = workspace(tmp_path, fake, "google", "google_docs", "gmail")
    fake.calendar.put_event(booking("intro0001", now() - timedelta(hours=2)))
    ws.run("once")
    fake.clear_log()
    second = ws.run("once")
    assert writes(fake) == []
    assert "session note ready" not in second.stderr and "draft queued" not in second.stderr
    assert len(note_docs(fake)) == 1 and len(fake.gmail.drafts) == 1


def test_reschedule_updates_the_doc_header_and_the_draft_lists_the_docs_open_items(
    tmp_path: Path, fake: FakeGoogle
) -> None:
    """The coach checks an item off and adds one in the Doc; the follow-up reflects both."""
    ws = workspace(tmp_path, fake, "google", "google_docs", "gmail")
    fake.calendar.put_event(booking("intro0001", now() + timedelta(hours=3)))
    ws.run("once")
    doc = the_doc(fake)["id"]
    # Checked off, and one more typed on a line of its own under the Action items heading.
    fake.docs.edit(doc, f"☐ {START_DATE}", f"☑ {START_DATE}\n☐ Share the reading list")
    fake.docs.edit(doc, "Notes\n", "Notes\nWants a weekly rhythm.\n")
    moved = now() - timedelta(hours=2)
    fake.calendar.modify(
        "intro0001",
        start={"dateTime": moved.isoformat(), "timeZone": "Europe/Berlin"},
        end={"dateTime": (moved + timedelta(minutes=45)).isoformat(), "timeZone": "Europe/Berlin"},
    )
    ws.run("once")
    text = fake.docs.text(doc)
    assert f"Session: {moved.astimezone(ZONE).date().isoformat()}" in text
    assert "Wants a weekly rhythm." in text and text.count("Session: ") == 1
    [draft] = gmail_messages(fake)
    assert "- Share the reading list" in body_of(draft) and START_DATE not in body_of(draft)
    assert len(note_docs(fake)) == 1


def test_reschedule_renames_the_events_attachment_with_the_doc_once(tmp_path: Path, fake: FakeGoogle) -> None:
    ws = workspace(tmp_path, fake, "google", "google_docs", "gmail")
    own = {"fileUrl": "https://drive.google.com/file/d/agenda9/view", "title": "Agenda"}
    fake.calendar.put_event(booking("intro0001", now() + timedelta(days=1), attachments=[own]))
    ws.run("once")
    first = the_doc(fake)
    assert [a["title"] for a in fake.calendar.event("intro0001")["attachments"]] == ["Agenda", first["name"]]

    moved = now() + timedelta(days=3)
    fake.calendar.modify(
        "intro0001",
        start={"dateTime": moved.isoformat(), "timeZone": "Europe/Berlin"},
        end={"dateTime": (moved + timedelta(minutes=45)).isoformat(), "timeZone": "Europe/Berlin"},
    )
    ws.run("once")
    doc = the_doc(fake)
    assert doc["id"] == first["id"] and doc["name"] != first["name"]
    assert moved.astimezone(ZONE).date().isoformat() in doc["name"]
    own_kept, note = fake.calendar.event("intro0001")["attachments"]
    assert own_kept["fileUrl"] == own["fileUrl"] and own_kept["title"] == "Agenda"
    assert note["fileUrl"] == doc["webViewLink"] and note["title"] == doc["name"]

    fake.clear_log()
    ws.run("once")
    assert writes(fake) == []


# --- mixed ------------------------------------------------------------------------------------


def test_google_calendar_with_markdown_notes_and_gmail_drafts(tmp_path: Path, fake: FakeGoogle) -> None:
    ws = workspace(tmp_path, fake, "google", "markdown", "gmail")
    fake.calendar.put_event(booking("intro0001", now() - timedelta(hours=2)))
    ws.run("once")
    [note] = ws.notes()
    event = fake.calendar.event("intro0001")
    assert note.as_uri() in event["description"] and "attachments" not in event  # not a Drive file
    [draft] = gmail_messages(fake)
    assert START_DATE in body_of(draft)
    assert note_docs(fake) == [] and fake.requests_to(r"^/files") == []
    fake.clear_log()
    ws.run("once")
    assert writes(fake) == [] and len(fake.gmail.drafts) == 1


def test_vdir_calendar_with_google_docs_notes_and_maildir_drafts(tmp_path: Path, fake: FakeGoogle) -> None:
    ws = workspace(tmp_path, fake, "vdir", "google_docs", "maildir")
    ws.put("past1", "Intro session", now() - timedelta(hours=2), description="Challenge: hiring well")
    ws.put("up1", "Intro with Sam", now() + timedelta(days=1), client=("Sam Lee", "sam@x.example"))
    ws.run("once")
    jane = the_doc(fake, "Jane Client")
    assert "hiring well" in fake.docs.text(jane["id"])
    assert jane["webViewLink"] in ws.event_text("past1")
    [draft] = ws.drafts_parsed()
    assert draft["To"].addresses[0].addr_spec == "jane@client.example" and START_DATE in body_of(draft)
    assert fake.gmail.drafts == {} and fake.requests_to(r"^/calendars") == []
    snapshot = {p: p.read_bytes() for p in [*ws.draft_files(), *ws.calendar.glob("*.ics")]}
    fake.clear_log()
    ws.run("once")
    assert writes(fake) == [] and len(note_docs(fake)) == 2
    assert {p: p.read_bytes() for p in snapshot} == snapshot


# --- consent ----------------------------------------------------------------------------------

AUTH_URI = "https://accounts.google.com/o/oauth2/auth"  # only printed: the test stops before it


@pytest.mark.slow
def test_auth_google_asks_for_exactly_the_docs_and_gmail_scopes(tmp_path: Path, fake: FakeGoogle) -> None:
    """With a local calendar, consent covers Drive (files syncd makes) and Gmail compose only."""
    ws = workspace(tmp_path, fake, "vdir", "google_docs", "gmail")
    (tmp_path / "client.json").write_text(
        '{"installed": {"client_id": "x.apps.googleusercontent.com", "client_secret": "s", '
        f'"auth_uri": "{AUTH_URI}", "token_uri": "{fake.token_uri}", '
        '"redirect_uris": ["http://localhost"]}}'
    )
    ws.env["PYTHONUNBUFFERED"] = "1"
    process = ws.start("auth", "google")
    try:
        lines = read_until_consent_url(process)
    finally:
        kill(process)
    listed = [line.strip().removeprefix("- ") for line in lines if line.startswith("  - ")]
    assert listed == [SCOPE_DRIVE_FILE, SCOPE_GMAIL_COMPOSE]
    url = next(line for line in lines if AUTH_URI in line).split()[-1]
    assert parse_qs(urlsplit(url).query)["scope"] == [f"{SCOPE_DRIVE_FILE} {SCOPE_GMAIL_COMPOSE}"]
    assert SCOPE_CALENDAR_EVENTS not in "\n".join(lines)


def write_client_file(tmp_path: Path, fake: FakeGoogle) -> None:
    """The 'Desktop app' client's JSON as the Cloud console downloads it; codes go to the fake."""
    installed = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "auth_uri": AUTH_URI,
        "token_uri": fake.token_uri,
        "redirect_uris": ["http://localhost"],
    }
    (tmp_path / "client.json").write_text(json.dumps({"installed": installed}))


WEB_CLIENT = (
    '{"web": {"client_id": "x.apps.googleusercontent.com", "client_secret": "GOCSPX-hush", '
    '"auth_uri": "https://accounts.google.com/o/oauth2/auth", '
    '"token_uri": "https://oauth2.googleapis.com/token", "redirect_uris": ["https://x.example/cb"]}}'
)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "not found"),
        ("client_secret_1234.apps.googleusercontent.com\n", "is not an OAuth client's JSON"),
        ("{}", "is not an OAuth client's JSON"),
        (WEB_CLIENT, "of type 'Web application', not 'Desktop app'"),
    ],
    ids=["missing", "not-json", "empty", "web-client"],
)
def test_auth_google_with_a_wrong_client_file_says_which_client_to_create(
    tmp_path: Path, fake: FakeGoogle, content: str | None, problem: str
) -> None:
    """Refused before any consent starts (a web client would otherwise fail in the browser,
    on a redirect Google refuses), in one line naming the file, never its secret."""
    ws = workspace(tmp_path, fake, "google", "markdown", "maildir")
    if content is not None:
        (tmp_path / "client.json").write_text(content)
    result = ws.run("auth", "google", check=False, timeout=20)
    assert result.returncode == 3 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert problem in line and str(tmp_path / "client.json") in line
    assert "type 'Desktop app'" in line and "GOCSPX" not in line


@pytest.mark.slow
@pytest.mark.parametrize("unticked", [False, True], ids=["all-granted", "gmail-unticked"])
def test_auth_google_through_the_browser_saves_the_token_or_says_a_box_was_unticked(
    tmp_path: Path, fake: FakeGoogle, unticked: bool
) -> None:
    """The whole consent: the printed URL, the browser's redirect to localhost (here sent by
    the test), the code exchanged at the token endpoint. A permission the coach unticked on
    Google's page leaves no token and one line saying to consent again with every box ticked."""
    ws = workspace(tmp_path, fake, "google", "markdown", "gmail")
    write_client_file(tmp_path, fake)
    token = token_path(load_settings(ws.config))
    token.unlink()
    ws.env.update(PYTHONUNBUFFERED="1", OAUTHLIB_INSECURE_TRANSPORT="1")  # the fake speaks http
    process = ws.start("auth", "google")
    try:
        url = next(line for line in read_until_consent_url(process) if AUTH_URI in line).split()[-1]
        query = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
        granted = [SCOPE_CALENDAR_EVENTS] if unticked else query["scope"].split()
        fake.oauth.auth_codes["code-1"] = granted
        redirect = f"{query['redirect_uri']}?{urlencode({'state': query['state'], 'code': 'code-1'})}"
        with urlopen(redirect, timeout=10) as answer:
            assert answer.status == 200
        out, err = process.communicate(timeout=20)
    finally:
        kill(process)
    if unticked:
        assert process.returncode == 3 and not token.exists()
        [line] = [line for line in err.splitlines() if "WARNING" in line or "syncd:" in line]
        assert "fewer permissions" in line and "leave every permission ticked" in line
    else:
        assert process.returncode == 0, err
        assert f"Token saved to {token} (mode 0600)." in out
        assert stat.S_IMODE(token.stat().st_mode) == 0o600
        assert sorted(json.loads(token.read_text())["scopes"]) == granted


def read_until_consent_url(process: subprocess.Popen[str]) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if AUTH_URI in line or len(lines) > 50:
            break
    return lines


# --- the calendar attachment ------------------------------------------------------------------

DOC_URL = "https://docs.google.com/document/d/1abc/edit?usp=drivesdk"


def doc_annotation() -> Annotation:
    attachment = (DOC_URL, "Ada Lovelace — intro session", GOOGLE_DOC_MIME)
    return Annotation("b-1", DOC_URL, "Ada Lovelace", None, attachment=attachment)


def test_the_note_is_added_to_the_coachs_own_attachments() -> None:
    own = {"fileUrl": "https://drive.google.com/file/d/9/view", "title": "Agenda"}
    body = annotation_patch({"id": "e1", "attachments": [own]}, doc_annotation(), "both")
    assert body["attachments"] == [
        own,
        {"fileUrl": DOC_URL, "title": "Ada Lovelace — intro session", "mimeType": GOOGLE_DOC_MIME},
    ]


def test_an_attached_note_is_not_attached_again() -> None:
    attached = {"fileUrl": DOC_URL, "fileId": "1abc", "title": "Ada Lovelace — intro session"}
    assert "attachments" not in annotation_patch(
        {"id": "e1", "attachments": [attached]}, doc_annotation(), "both"
    )


def test_a_renamed_note_renames_its_attachment_and_keeps_the_coachs() -> None:
    own = {"fileUrl": "https://drive.google.com/file/d/9/view", "title": "Agenda"}
    attached = {"fileUrl": DOC_URL, "fileId": "1abc", "title": "Ada Lovelace — old date", "iconLink": "i"}
    body = annotation_patch({"id": "e1", "attachments": [own, attached]}, doc_annotation(), "both")
    assert body["attachments"] == [own, {**attached, "title": "Ada Lovelace — intro session"}]


def test_private_placement_and_a_full_event_attach_nothing() -> None:
    assert "attachments" not in annotation_patch({"id": "e1"}, doc_annotation(), "private")
    full = [{"fileUrl": f"https://drive.google.com/file/d/{n}/view"} for n in range(MAX_ATTACHMENTS)]
    assert "attachments" not in annotation_patch({"id": "e1", "attachments": full}, doc_annotation(), "both")
