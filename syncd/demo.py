"""`syncd demo`: a throw-away local calendar with sample bookings, and one pass over it.

A newcomer sees a session note, the link written into the event and a follow-up draft within
seconds, with no account and nothing outside the demo folder touched.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import shutil
import sys
import tempfile
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from syncd.calendars.ics_events import load_calendar, vevents
from syncd.config import load_settings
from syncd.linkblock import BEGIN
from syncd.runner import run_once

COACH_EMAIL = "ada@coach.example"
ENDED_SAMPLE = "demo-maya"  # the sample whose session is over: it gets the draft

_CONFIG = """\
# A demo config: every path is inside this folder.
state_dir: state
poll_interval: 60s
lookback: 2d
max_lateness: 7d
coaches:
  - name: Ada Coach
    email: {coach}
    timezone: Europe/Berlin
    pricing_url: https://ada.example/pricing
    specialties: [engineering leadership, career change, public speaking]
    calendar: {{type: vdir, path: calendar}}
    match: {{title: "(?i)\\\\bintro\\\\b"}}
    notes: {{type: markdown, path: notes, collection: Intro Sessions}}
    drafts: {{type: maildir, path: Mail/Drafts, delay: 15m}}
    reminder: 5m
"""

_EVENT = """\
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//syncd//demo//EN\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:{stamp}\r
DTSTART:{start}\r
DTEND:{end}\r
SUMMARY:{summary}\r
STATUS:{status}\r
ORGANIZER;CN=Ada Coach:mailto:{coach}\r
{attendee}DESCRIPTION:{description}\r
END:VEVENT\r
END:VCALENDAR\r
"""

_SAMPLES = [
    # uid, summary, start offset from now, minutes, client (name, email) or None, status, answers
    (
        "demo-maya",
        "Intro session: Maya Lopez",
        timedelta(hours=-2),
        45,
        ("Maya Lopez", "maya@client.example"),
        "CONFIRMED",
        "Background: Senior engineer, 8 years in fintech\\nCompany/Team: Ledgerly, payments team of 12"
        "\\nChallenge: Stepping into engineering leadership without losing touch with the code"
        "\\nCoaching preferences: Direct feedback, async check-ins\\nTime zone: America/New_York",
    ),
    (
        "demo-sam",
        "Coaching intro with Sam Lee",
        timedelta(days=1, hours=2),
        30,
        ("Sam Lee", "sam@client.example"),
        "CONFIRMED",
        "Background: Teacher moving into tech\\nChallenge: A career change into product management",
    ),
    (
        "demo-kim",
        "Intro session: Kim Park",
        timedelta(days=2),
        30,
        ("Kim Park", "kim@client.example"),
        "CANCELLED",
        "Challenge: Public speaking at conferences",
    ),
    ("demo-standup", "Team standup", timedelta(hours=3), 15, None, "CONFIRMED", "Daily sync"),
]


def run_demo(folder: Path | None = None) -> int:
    """Build the demo under `folder` (a new temp folder by default), run one pass, show results."""
    root = folder or Path(tempfile.mkdtemp(prefix="syncd-demo-"))
    config = build_demo(root, datetime.now(UTC))
    code = run_once(load_settings(config))
    show_results(root, config)
    return code


def build_demo(root: Path, now: datetime) -> Path:
    """Write the sample calendar and a config using it under `root`; return the config path."""
    for sub in ("calendar", "notes", "Mail", "state"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    base = now.replace(minute=0, second=0, microsecond=0)
    for uid, summary, offset, minutes, client, status, answers in _SAMPLES:
        start = base + offset
        attendee = ""
        if client:
            attendee = f"ATTENDEE;CN={client[0]};PARTSTAT=ACCEPTED:mailto:{client[1]}\r\n"
        text = _EVENT.format(
            uid=uid,
            stamp=_ics_time(now),
            start=_ics_time(start),
            end=_ics_time(start + timedelta(minutes=minutes)),
            summary=summary,
            status=status,
            coach=COACH_EMAIL,
            attendee=attendee,
            description=answers,
        )
        (root / "calendar" / f"{uid}.ics").write_bytes(text.encode())
    config = root / "syncd.yaml"
    config.write_text(_CONFIG.format(coach=COACH_EMAIL), encoding="utf-8")
    return config


def show_results(root: Path, config: Path) -> None:
    """Tell the newcomer where to look."""
    notes = sorted((root / "notes").rglob("*.md"))
    drafts = sorted((root / "Mail" / "Drafts" / "cur").glob("*"))
    print(f"\nsyncd demo in {root}")
    print(f"  calendar (vdir):  {root / 'calendar'}  (links and reminders were written into the events)")
    for note in notes:
        print(f"  session note:     {note}")
    for draft in drafts:
        print(f"  follow-up draft:  {draft}")
    # The files are for calendar and mail apps (the draft is quoted-printable): show them as
    # those apps would, so the newcomer sees the result without opening anything.
    block = _link_block(root / "calendar" / f"{ENDED_SAMPLE}.ics")
    if block:
        print(f"\nWritten into the event's description ({ENDED_SAMPLE}.ics):")
        print(textwrap.indent(block, "    "))
    for draft in drafts:
        print("\nThe follow-up draft, as your mail client shows it (syncd never sends it):")
        print(textwrap.indent(_readable_draft(draft), "    "))
    syncd = _command()
    print(f"\nSee the tracked bookings:  {syncd} --config {config} status")
    print(f"Run it again (nothing is duplicated):  {syncd} --config {config} once")


def _link_block(event_file: Path) -> str:
    """syncd's block in the event's description, as text; "" when there is none."""
    for event in vevents(load_calendar(event_file.read_text(encoding="utf-8"))):
        description = str(event.get("DESCRIPTION", ""))
        if BEGIN in description:
            return description[description.index(BEGIN) :]
    return ""


def _readable_draft(path: Path) -> str:
    """The draft's From, To, Subject and body, decoded."""
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    head = "\n".join(f"{name}: {message[name]}" for name in ("From", "To", "Subject"))
    body = message.get_body()
    text = body.get_content() if isinstance(body, email.message.EmailMessage) else ""
    return f"{head}\n\n{text.rstrip()}"


def _command() -> str:
    """How the newcomer can type `syncd`: plain when it is on PATH, else its full path."""
    installed = Path(sys.executable).parent / "syncd"
    on_path = shutil.which("syncd")
    if on_path and Path(on_path).resolve() == installed.resolve():
        return "syncd"
    return str(installed) if installed.exists() else f"{sys.executable} -m syncd"


def _ics_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
