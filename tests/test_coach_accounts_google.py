"""Coaches with Google accounts of their own: one syncd, two coaches, two Google accounts.

The fake Google knows which account each token was issued to (`token_info(user=)`): a token
reaches its own account's calendar (`primary`) and Gmail mailbox only. Each coach's entry has
`google: {}`, so its token is `state_dir/accounts/<email>/google-token.json`; the OAuth client
and endpoints are the top-level section's. `syncd` runs in this process (`run_in_process`).
"""

from __future__ import annotations

import email
import email.policy
import io
import itertools
import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from syncd.config import load_settings
from syncd.google.auth import SCOPE_CALENDAR_EVENTS, SCOPE_GMAIL_COMPOSE
from syncd.linkblock import find_note_url
from tests.fakegoogle import FakeGoogle
from tests.support import run_in_process

SCOPES = [SCOPE_CALENDAR_EVENTS, SCOPE_GMAIL_COMPOSE]
_RUNS = itertools.count(1)

COACH = """\
  - name: {name}
    email: {email}
    timezone: Europe/Berlin
    pricing_url: https://coach.example.com/pricing
    calendar: {{type: google, link_placement: both}}
    notes: {{type: markdown, path: notes-{name}}}
    drafts: {{type: gmail, delay: 15m}}
{account}"""

CONFIG = """\
state_dir: state
lookback: 2d
google:
  client_secrets: client.json
  token_uri: {token_uri}
  api_endpoint: {api_endpoint}
coaches:
{coaches}"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle() as started:
        yield started


@dataclass
class Platform:
    """Two coaches, each with its own Google account on the fake (distinct per test, so the
    module's one fake server serves every test)."""

    root: Path
    fake: FakeGoogle
    ada: str
    bob: str

    def write_config(self, *, bob_account: str = "    google: {}\n") -> Path:
        coaches = COACH.format(name="ada", email=self.ada, account="    google: {}\n")
        coaches += COACH.format(name="bob", email=self.bob, account=bob_account)
        config = self.root / "syncd.yaml"
        config.write_text(
            CONFIG.format(token_uri=self.fake.token_uri, api_endpoint=self.fake.api_endpoint, coaches=coaches)
        )
        for name in ("ada", "bob"):
            (self.root / f"notes-{name}").mkdir(exist_ok=True)
        return config

    def token(self, coach: str) -> Path:
        return self.root / "state" / "accounts" / coach / "google-token.json"

    def sign_in(self, coach: str) -> None:
        """The token `syncd auth google --coach COACH` leaves, issued to that account."""
        path = self.token(coach)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.fake.oauth.token_info(SCOPES, user=coach)))
        path.chmod(0o600)

    def book(self, coach: str, event_id: str, client: str, start: datetime) -> None:
        """An intro booking by `client` in `coach`'s own Google calendar."""
        end = start + timedelta(minutes=45)
        self.fake.calendar.put_event(
            {
                "id": event_id,
                "summary": f"Intro session: {client.split('@')[0].title()}",
                "description": "Challenge: scaling the team",
                "start": {"dateTime": start.isoformat(), "timeZone": "Europe/Berlin"},
                "end": {"dateTime": end.isoformat(), "timeZone": "Europe/Berlin"},
                "organizer": {"email": coach},
                "attendees": [
                    {"email": coach, "organizer": True, "self": True, "responseStatus": "accepted"},
                    {"email": client, "responseStatus": "needsAction"},
                ],
            },
            calendar_id=coach,
        )

    def once(self, expect: int = 0) -> str:
        result = run_in_process(["--config", str(self.root / "syncd.yaml"), "once"], {})
        assert result.returncode == expect, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        return result.stderr

    def drafts_to(self, coach: str) -> list[str]:
        """The To: of each draft in `coach`'s Gmail."""
        messages = [
            email.message_from_bytes(raw, policy=email.policy.default)
            for raw in self.fake.gmail.raw_messages(coach)
        ]
        return [address.addr_spec for message in messages for address in message["To"].addresses]

    def notes(self, name: str) -> list[str]:
        return [p.read_text() for p in sorted((self.root / f"notes-{name}").rglob("*.md"))]


@pytest.fixture
def platform(tmp_path: Path, fake: FakeGoogle) -> Platform:
    run = next(_RUNS)
    ada, bob = f"ada{run}@coach.test", f"bob{run}@coach.test"
    for coach in (ada, bob):
        fake.calendar.add_calendar(coach)
    return Platform(tmp_path, fake, ada, bob)


def ago(hours: float) -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=hours)


def test_each_coach_reads_its_own_calendar_and_drafts_into_its_own_gmail(platform: Platform) -> None:
    """Two coaches, two accounts: each coach's booking gets its note link in that coach's
    calendar and its follow-up in that coach's Gmail, through that coach's own token."""
    platform.write_config()
    platform.sign_in(platform.ada)
    platform.sign_in(platform.bob)
    platform.book(platform.ada, "adabook01", "carol@client.test", ago(2))
    platform.book(platform.bob, "bobbook01", "dave@client.test", ago(2))
    platform.fake.clear_log()
    platform.once()
    api = [r for r in platform.fake.requests if r.path != "/token"]
    users = {platform.fake.oauth.user_of(r.headers.get("authorization")) for r in api}
    assert users == {platform.ada, platform.bob}  # every API call carried one coach's own token

    for coach, event_id in ((platform.ada, "adabook01"), (platform.bob, "bobbook01")):
        event = platform.fake.calendar.event(event_id, calendar_id=coach)
        assert find_note_url(event.get("description", "")), f"{coach}'s event has no note link"
    assert platform.drafts_to(platform.ada) == ["carol@client.test"]
    assert platform.drafts_to(platform.bob) == ["dave@client.test"]
    assert platform.fake.gmail.raw_messages() == []  # nothing in the fake's single-user mailbox
    ada_notes, bob_notes = platform.notes("ada"), platform.notes("bob")
    assert len(ada_notes) == 1 and "Carol" in ada_notes[0] and "Dave" not in ada_notes[0]
    assert len(bob_notes) == 1 and "Dave" in bob_notes[0]
    assert not (platform.root / "state" / "google-token.json").exists()


def test_a_revoked_token_stops_only_its_coach_and_names_the_command(platform: Platform) -> None:
    """Ada's account revokes syncd: her pass fails in one line naming her and
    `syncd auth google --coach ada...`; Bob's booking made meanwhile is handled."""
    platform.write_config()
    platform.sign_in(platform.ada)
    platform.sign_in(platform.bob)
    platform.once()
    platform.fake.oauth.revoke_user(platform.ada)
    platform.book(platform.ada, "adabook02", "erin@client.test", ago(-24))
    platform.book(platform.bob, "bobbook02", "frank@client.test", ago(-24))
    log = platform.once(expect=3)  # EXIT_AUTH: a coach's credentials need the operator

    failed = [line for line in log.splitlines() if "invalid_grant" in line]
    assert len(failed) == 1, log
    assert f"coach {platform.ada}:" in failed[0]
    assert f"`syncd auth google --coach {platform.ada}`" in failed[0]
    assert platform.bob not in failed[0]
    bob_event = platform.fake.calendar.event("bobbook02", calendar_id=platform.bob)
    assert find_note_url(bob_event.get("description", ""))
    assert not find_note_url(
        platform.fake.calendar.event("adabook02", calendar_id=platform.ada).get("description", "")
    )


def test_a_token_of_another_account_is_pointed_out_with_the_coachs_command(platform: Platform) -> None:
    """Ada's token was made signed in as Bob: her pass warns that her calendar is Bob's and
    says to sign her in again with `--coach`."""
    platform.write_config()
    platform.sign_in(platform.bob)
    path = platform.token(platform.ada)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(platform.fake.oauth.token_info(SCOPES, user=platform.bob)))
    platform.book(platform.bob, "bobbook03", "ivy@client.test", ago(-24))
    log = platform.once()
    warnings = [
        line for line in log.splitlines() if "WARNING" in line and f"belongs to {platform.bob}" in line
    ]
    assert warnings, log
    assert f"run `syncd auth google --coach {platform.ada}` again signed in as {platform.ada}" in warnings[0]


def test_a_coach_without_a_section_uses_the_shared_token_as_before(platform: Platform) -> None:
    """Backwards compatible: a coach entry without `google:` keeps the top-level token."""
    config = platform.write_config(bob_account="")
    settings = load_settings(config)
    from syncd.accounts import google_settings
    from syncd.google.auth import scopes_for, token_path

    ada, bob = settings.coaches
    assert google_settings(settings, bob) is settings
    assert token_path(google_settings(settings, bob)) == platform.root / "state" / "google-token.json"
    assert token_path(google_settings(settings, ada)) == platform.token(platform.ada)
    assert google_settings(settings, ada) is google_settings(settings, ada)  # one per coach: one token store
    # The shared token is asked only what the coaches on it need; Ada's only what she needs.
    assert scopes_for(settings) == SCOPES and scopes_for(google_settings(settings, ada)) == SCOPES


def test_each_account_has_one_credentials_store_shared_by_its_coachs_backends(platform: Platform) -> None:
    """Credentials are kept per token file: Ada's calendar, Docs and Gmail share hers (one
    refresh serves all three), Bob's are his own, and a copied configuration gets its own."""
    from syncd.accounts import google_settings
    from syncd.google.transport import shared_credentials

    settings = load_settings(platform.write_config())
    ada, bob = settings.coaches
    ada_store = shared_credentials(google_settings(settings, ada))
    assert ada_store is shared_credentials(google_settings(settings, ada))
    assert ada_store is not shared_credentials(google_settings(settings, bob))
    changed = settings.model_copy(update={"google": settings.google.model_copy(update={"port": 9999})})
    assert google_settings(changed, ada).google.port == 9999  # not the first one's cached view


# --- syncd auth google --coach ------------------------------------------------------------------


class _Flow:
    """InstalledAppFlow's consent, answered at once with credentials the fake issued (the
    browser step cannot run in a test)."""

    def __init__(self, creds: Any, calls: list[dict[str, Any]]) -> None:
        self.creds, self.calls = creds, calls

    def run_local_server(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.creds


def write_client_secrets(root: Path, fake: FakeGoogle) -> None:
    installed = {
        "client_id": "id.apps.example",
        "client_secret": "not-a-secret",
        "auth_uri": "http://127.0.0.1:9/auth",
        "token_uri": fake.token_uri,
        "redirect_uris": ["http://localhost"],
    }
    (root / "client.json").write_text(json.dumps({"installed": installed}))


def test_auth_google_coach_writes_that_coachs_token_0600(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`syncd auth google --coach EMAIL` asks for that coach's account (login_hint) and
    writes its token to its own file, 0600 in a 0700 folder; no other token file is made."""
    from google_auth_oauthlib.flow import InstalledAppFlow

    config = platform.write_config()
    write_client_secrets(platform.root, platform.fake)
    creds = platform.fake.oauth.credentials(SCOPES)
    calls: list[dict[str, Any]] = []
    asked: list[list[str]] = []

    def from_client_config(config: dict[str, Any], scopes: list[str]) -> _Flow:
        asked.append(scopes)
        return _Flow(creds, calls)

    monkeypatch.setattr(InstalledAppFlow, "from_client_config", staticmethod(from_client_config))
    result = run_in_process(["--config", str(config), "auth", "google", "--coach", platform.bob.upper()], {})
    assert result.returncode == 0, result.stderr
    token = platform.token(platform.bob)
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert stat.S_IMODE(token.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(token.parent.parent.stat().st_mode) == 0o700  # accounts/ lists the coaches
    assert json.loads(token.read_text())["refresh_token"] == creds.refresh_token
    assert calls[0]["login_hint"] == platform.bob and asked == [SCOPES]
    assert str(token) in result.stdout and str(creds.refresh_token) not in result.stdout
    assert not platform.token(platform.ada).exists()
    assert not (platform.root / "state" / "google-token.json").exists()


def test_auth_coach_naming_no_coach_lists_them_in_one_line(platform: Platform) -> None:
    config = platform.write_config()
    result = run_in_process(["--config", str(config), "auth", "google", "--coach", "nobody@x.test"], {})
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1, result.stderr
    assert "nobody@x.test" in result.stderr
    assert platform.ada in result.stderr and platform.bob in result.stderr


def test_auth_coach_without_an_account_of_its_own_says_so(platform: Platform) -> None:
    """Signing in 'Bob' when Bob shares the top-level account would replace every sharing
    coach's token: refused, saying how to give him his own or sign in the shared one."""
    config = platform.write_config(bob_account="")
    result = run_in_process(["--config", str(config), "auth", "google", "--coach", platform.bob], {})
    assert result.returncode != 0
    assert "no `google:` section of its own" in result.stderr and "`syncd auth google`" in result.stderr
    assert result.stderr.count("\n") == 1


def test_auth_google_without_coach_asks_only_for_the_shared_accounts_coaches(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every Google coach has its own account: the top-level sign-in has nothing to do."""
    config = platform.write_config()
    write_client_secrets(platform.root, platform.fake)
    from syncd.errors import AuthError
    from syncd.google.auth import run_consent

    with pytest.raises(AuthError, match=r"no coach uses the shared Google account.*--coach"):
        run_consent(load_settings(config), out=io.StringIO())
