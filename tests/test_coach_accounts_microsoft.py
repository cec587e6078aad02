"""Coaches with Microsoft 365 accounts of their own: one syncd, two coaches, two mailboxes.

The fake Graph serves `/me` as the account a token was issued to (`add_mailbox`, signed in
with `login.next_user`). Each coach's entry has `microsoft: {}`: the app registration and
endpoints are the top-level section's, the token cache is
`state_dir/accounts/<email>/microsoft-token.json`, made by `syncd auth microsoft --coach`.
"""

from __future__ import annotations

import email
import email.policy
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from syncd.calendars.outlook_items import COMPANION, NOTE, props_of
from syncd.config import load_settings
from tests.fakegraph import CLIENT_ID, USER, FakeGraph
from tests.fakegraph.calendar import FakeOutlookCalendar
from tests.fakegraph.fixtures import graph_fixture, graph_server_fixture  # noqa: F401
from tests.fakegraph.mail import FakeMail
from tests.outlook_support import graph_time, person
from tests.support import run_in_process

ADA, BOB = "ada@coach.test", "bob@coach.test"

COACH = """\
  - name: {name}
    email: {email}
    timezone: Europe/Berlin
    pricing_url: https://coach.example.com/pricing
    calendar: {{type: outlook}}
    notes: {{type: markdown, path: notes-{name}}}
    drafts: {{type: outlook, delay: 15m}}
{account}"""

CONFIG = """\
state_dir: state
lookback: 2d
microsoft:
  client_id: {client_id}
  authority: {authority}
  graph_endpoint: {graph_endpoint}
coaches:
{coaches}"""


@dataclass
class Platform:
    root: Path
    fake: FakeGraph
    boxes: dict[str, tuple[FakeOutlookCalendar, FakeMail]]

    @property
    def config(self) -> Path:
        return self.root / "syncd.yaml"

    def write_config(self, *, bob_account: str = "    microsoft: {}\n") -> Path:
        coaches = COACH.format(name="ada", email=ADA, account="    microsoft: {}\n")
        coaches += COACH.format(name="bob", email=BOB, account=bob_account)
        self.config.write_text(
            CONFIG.format(
                client_id=CLIENT_ID,
                authority=self.fake.authority,
                graph_endpoint=self.fake.graph_endpoint,
                coaches=coaches,
            )
        )
        for name in ("ada", "bob"):
            (self.root / f"notes-{name}").mkdir(exist_ok=True)
        return self.config

    def cache(self, coach: str) -> Path:
        return self.root / "state" / "accounts" / coach / "microsoft-token.json"

    def sign_in(self, coach: str) -> str:
        """`syncd auth microsoft --coach COACH`, the coach signing in as itself; its stdout."""
        self.fake.login.next_user = coach
        result = run_in_process(["--config", str(self.config), "auth", "microsoft", "--coach", coach], {})
        assert result.returncode == 0, result.stderr
        return result.stdout

    def book(self, coach: str, client: str, start: datetime) -> str:
        item = {
            "subject": f"Intro session: {client.split('@')[0].title()}",
            "body": {"contentType": "text", "content": "Challenge: leading a new team"},
            "start": graph_time(start),
            "end": graph_time(start + timedelta(minutes=30)),
            "attendees": [person(client, client.split("@")[0].title(), "accepted")],
            "organizer": {"emailAddress": {"name": "", "address": coach}},
            "originalStartTimeZone": "W. Europe Standard Time",
        }
        return self.boxes[coach][0].put(item)

    def once(self, expect: int = 0) -> str:
        result = run_in_process(["--config", str(self.config), "once"], {})
        assert result.returncode == expect, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        return result.stderr

    def drafts_to(self, coach: str) -> list[str]:
        messages = [
            email.message_from_bytes(raw, policy=email.policy.default)
            for raw in self.boxes[coach][1].raw_messages()
        ]
        return [address.addr_spec for message in messages for address in message["To"].addresses]

    def prep_notes(self, coach: str) -> list[str]:
        """The note links of the prep (companion) events in `coach`'s calendar."""
        return [props_of(item)[NOTE] for item in self.boxes[coach][0].live() if COMPANION in props_of(item)]


@pytest.fixture
def platform(graph: FakeGraph, tmp_path: Path) -> Iterator[Platform]:
    boxes = {coach: graph.add_mailbox(coach) for coach in (ADA, BOB)}
    yield Platform(tmp_path, graph, boxes)
    graph.login.next_user = USER


def now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def test_auth_microsoft_coach_writes_that_coachs_cache_0600(platform: Platform) -> None:
    """`syncd auth microsoft --coach ada@...` signs in Ada and stores her cache in her own
    file, 0600 in a 0700 folder; the shared cache and Bob's are not made."""
    platform.write_config()
    out = platform.sign_in(ADA)
    cache = platform.cache(ADA)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(cache.parent.parent.stat().st_mode) == 0o700  # accounts/ lists the coaches
    assert f"Signed in as {ADA}" in out and str(cache) in out and "Note:" not in out
    assert not platform.cache(BOB).exists()
    assert not (platform.root / "state" / "microsoft-token.json").exists()


def test_signing_in_as_another_account_is_pointed_out(platform: Platform) -> None:
    """The device code was entered signed in as someone else: the command says so."""
    platform.write_config()
    platform.fake.login.next_user = "someone@else.test"
    result = run_in_process(["--config", str(platform.config), "auth", "microsoft", "--coach", ADA], {})
    assert result.returncode == 0
    assert "someone@else.test is not one of the coach's addresses" in result.stdout
    log = platform.once(expect=3)  # Bob has not signed in
    [warning] = [line for line in log.splitlines() if "WARNING" in line]
    assert "belongs to someone@else.test" in warning
    assert f"run `syncd auth microsoft --coach {ADA}` again signed in as {ADA}" in warning


def test_each_coach_works_in_its_own_mailbox(platform: Platform) -> None:
    """Ada's and Bob's bookings get their prep events in their own calendars and their
    follow-up drafts in their own mailboxes, each through the coach's own sign-in."""
    platform.write_config()
    platform.sign_in(ADA)
    platform.sign_in(BOB)
    platform.book(ADA, "carol@client.test", now() + timedelta(days=1))
    platform.book(BOB, "dave@client.test", now() + timedelta(days=1))
    platform.book(ADA, "erin@client.test", now() - timedelta(hours=2))
    platform.book(BOB, "frank@client.test", now() - timedelta(hours=2))
    platform.once()

    assert platform.drafts_to(ADA) == ["erin@client.test"]
    assert platform.drafts_to(BOB) == ["frank@client.test"]
    assert platform.fake.mail.raw_messages() == []  # the default account's mailbox: untouched
    # Each calendar's prep events link that coach's own notes, of that coach's clients only.
    assert _names(platform.prep_notes(ADA)) == _notes(platform, "ada") == ["Carol", "Erin"]
    assert _names(platform.prep_notes(BOB)) == _notes(platform, "bob") == ["Dave", "Frank"]


def test_a_revoked_sign_in_stops_only_its_coach_and_names_the_command(platform: Platform) -> None:
    """Bob's account revokes syncd: one line naming Bob and `syncd auth microsoft --coach
    bob@...`; Ada's booking made meanwhile gets its prep event."""
    platform.write_config()
    platform.sign_in(ADA)
    platform.sign_in(BOB)
    platform.once()
    platform.fake.login.revoke_user(BOB)
    platform.book(ADA, "gina@client.test", now() + timedelta(days=1))
    platform.book(BOB, "hank@client.test", now() + timedelta(days=1))
    log = platform.once(expect=3)

    failed = [line for line in log.splitlines() if "ERROR" in line]
    assert len(failed) == 1, log
    assert f"coach {BOB}:" in failed[0] and f"`syncd auth microsoft --coach {BOB}`" in failed[0]
    assert len(platform.prep_notes(ADA)) == 1 and platform.prep_notes(BOB) == []


def test_each_coachs_mailbox_has_its_own_token_source_and_gate(platform: Platform) -> None:
    """Graph's limit of 4 requests in flight is per mailbox: each coach's account gets its
    own gate and token source; the backends of one coach share theirs."""
    from syncd.accounts import microsoft_settings
    from syncd.microsoft.graph import mailbox

    settings = load_settings(platform.write_config())
    ada, bob = settings.coaches
    ada_tokens, ada_gate = mailbox(microsoft_settings(settings, ada))
    bob_tokens, bob_gate = mailbox(microsoft_settings(settings, bob))
    assert ada_gate is not bob_gate and ada_tokens is not bob_tokens
    assert ada_tokens.path == platform.cache(ADA) and bob_tokens.path == platform.cache(BOB)
    assert mailbox(microsoft_settings(settings, ada)) == (ada_tokens, ada_gate)


def test_the_graph_clients_of_one_mailbox_share_their_http_sessions(platform: Platform) -> None:
    """A coach's calendar and drafts (two Graph clients) use one session per thread for their
    mailbox, not one each; another coach's mailbox has its own."""
    from syncd.accounts import microsoft_settings
    from syncd.microsoft.graph import graph_for

    settings = load_settings(platform.write_config())
    ada, bob = settings.coaches
    calendar, drafts = (graph_for(microsoft_settings(settings, ada)) for _ in range(2))
    assert calendar._session() is drafts._session()
    assert graph_for(microsoft_settings(settings, bob))._session() is not calendar._session()


def _names(uris: list[str]) -> list[str]:
    """The client names of note files from their file:// URIs (`2026-12-02 Carol.md`)."""
    return sorted(unquote(urlsplit(uri).path).rsplit(" ", 1)[-1].removesuffix(".md") for uri in uris)


def _notes(platform: Platform, name: str) -> list[str]:
    return _names([p.as_uri() for p in (platform.root / f"notes-{name}").rglob("*.md")])
