"""Scopes, the stored token (load, refresh, save 0600) and the consent flow's framing."""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncd.config import VdirCalendarConfig
from syncd.errors import AuthError
from syncd.google import auth as google_auth
from syncd.google.auth import (
    SCOPE_CALENDAR_EVENTS,
    SCOPE_DRIVE_FILE,
    SCOPE_GMAIL_COMPOSE,
    build_service,
    load_credentials,
    run_consent,
    scopes_for,
    token_path,
    write_private_file,
)
from tests.fakegoogle import FakeGoogle
from tests.fakegoogle.helpers import make_settings, write_token


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle() as server:
        yield server


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- scopes -----------------------------------------------------------------------------------


def test_a_google_calendar_needs_only_calendar_events(tmp_path: Path, fake: FakeGoogle) -> None:
    assert scopes_for(make_settings(tmp_path, fake)) == [SCOPE_CALENDAR_EVENTS]


def test_docs_notes_and_gmail_drafts_add_their_narrow_scopes(tmp_path: Path, fake: FakeGoogle) -> None:
    settings = make_settings(tmp_path, fake, notes={"type": "google_docs"}, drafts={"type": "gmail"})
    assert scopes_for(settings) == sorted([SCOPE_CALENDAR_EVENTS, SCOPE_DRIVE_FILE, SCOPE_GMAIL_COMPOSE])


def test_local_backends_need_no_scope(tmp_path: Path, fake: FakeGoogle) -> None:
    settings = make_settings(tmp_path, fake)
    coach = settings.coaches[0].model_copy(
        update={"calendar": VdirCalendarConfig(type="vdir", path=tmp_path)}
    )
    local = settings.model_copy(update={"coaches": [coach]})
    assert scopes_for(local) == []


# --- the stored token -------------------------------------------------------------------------


def test_a_missing_token_says_to_run_auth(tmp_path: Path, fake: FakeGoogle) -> None:
    settings = make_settings(tmp_path, fake)
    with pytest.raises(AuthError, match=r"no Google token at .*google-token\.json: run `syncd auth google`"):
        load_credentials(settings)


def test_a_garbled_token_is_an_auth_error(tmp_path: Path, fake: FakeGoogle) -> None:
    settings = make_settings(tmp_path, fake)
    write_token(settings, fake).write_text("{not json")
    with pytest.raises(AuthError, match="not valid JSON"):
        load_credentials(settings)


def test_a_valid_token_is_used_as_is_with_the_configured_token_uri(tmp_path: Path, fake: FakeGoogle) -> None:
    settings = make_settings(tmp_path, fake)
    write_token(settings, fake)
    creds = load_credentials(settings)
    assert creds.valid and creds.token_uri == fake.token_uri
    assert fake.requests == []


def test_an_expired_token_is_refreshed_and_saved_0600(tmp_path: Path, fake: FakeGoogle) -> None:
    settings = make_settings(tmp_path, fake)
    path = write_token(settings, fake, expired=True)
    path.chmod(0o644)
    before = json.loads(path.read_text())
    creds = load_credentials(settings)
    after = json.loads(path.read_text())
    assert fake.oauth.refreshes == 1 and creds.valid
    assert after["token"] == creds.token != before["token"]
    assert after["refresh_token"] == before["refresh_token"]
    assert mode(path) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind


def test_a_revoked_token_explains_the_7_day_limit(tmp_path: Path, fake: FakeGoogle) -> None:
    settings = make_settings(tmp_path, fake)
    write_token(settings, fake, expired=True)
    fake.oauth.revoke()
    with pytest.raises(AuthError) as caught:
        load_credentials(settings)
    message = str(caught.value)
    assert "revoked or expired" in message and "7 days" in message
    assert "publish the app" in message and "syncd auth google" in message
    assert "\n" not in message


def test_a_token_without_a_needed_scope_asks_for_consent_again(tmp_path: Path, fake: FakeGoogle) -> None:
    settings = make_settings(tmp_path, fake, drafts={"type": "gmail"})
    write_token(settings, fake)  # granted calendar.events only
    with pytest.raises(AuthError, match=r"lacks the scope.*gmail\.compose.*syncd auth google"):
        load_credentials(settings)


def test_the_token_path_defaults_to_the_state_dir(tmp_path: Path, fake: FakeGoogle) -> None:
    settings = make_settings(tmp_path, fake)
    assert token_path(settings) == tmp_path / "state" / "google-token.json"


def test_private_files_replace_atomically_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "token.json"
    write_private_file(path, "one")
    path.chmod(0o666)
    write_private_file(path, "two")
    assert path.read_text() == "two" and mode(path) == 0o600


def test_build_service_talks_to_the_configured_endpoint(tmp_path: Path, fake: FakeGoogle) -> None:
    settings = make_settings(tmp_path, fake)
    creds = fake.oauth.credentials([SCOPE_CALENDAR_EVENTS])
    service = build_service("calendar", "v3", settings, creds, timeout=2)
    assert service.events().list(calendarId="primary").execute()["items"] == []
    assert fake.requests[0].path == "/calendars/primary/events"


# --- consent ----------------------------------------------------------------------------------


class _StubFlow:
    """Stands in for InstalledAppFlow: records how it was run, returns the fake's credentials."""

    calls: list[dict[str, Any]] = []

    def __init__(self, creds: Any) -> None:
        self.creds = creds

    def run_local_server(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.creds


def write_client_secrets(tmp_path: Path, fake: FakeGoogle) -> dict[str, Any]:
    """A 'Desktop app' client's file as the Cloud console downloads it, at the configured path."""
    installed = {
        "client_id": "id.apps.example",
        "client_secret": "not-a-secret",
        "auth_uri": "http://127.0.0.1:9/auth",
        "token_uri": fake.token_uri,
        "redirect_uris": ["http://localhost"],
    }
    (tmp_path / "client.json").write_text(json.dumps({"installed": installed}))
    return {"installed": installed}


def test_consent_without_client_secrets_names_the_file(tmp_path: Path, fake: FakeGoogle) -> None:
    settings = make_settings(tmp_path, fake)
    with pytest.raises(AuthError, match=r"client secrets file .*client\.json not found.*Desktop app"):
        run_consent(settings, out=io.StringIO())


def test_consent_explains_the_tunnel_and_saves_the_token_0600(
    tmp_path: Path, fake: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, fake, drafts={"type": "gmail"})
    client = write_client_secrets(tmp_path, fake)
    creds = fake.oauth.credentials([SCOPE_CALENDAR_EVENTS, SCOPE_GMAIL_COMPOSE])
    asked: list[tuple[dict[str, Any], list[str]]] = []

    def from_config(config: dict[str, Any], scopes: list[str]) -> _StubFlow:
        asked.append((config, scopes))
        return _StubFlow(creds)

    from google_auth_oauthlib.flow import InstalledAppFlow

    monkeypatch.setattr(InstalledAppFlow, "from_client_config", staticmethod(from_config))
    _StubFlow.calls.clear()
    out = io.StringIO()
    path = run_consent(settings, out=out)
    assert asked == [(client, [SCOPE_CALENDAR_EVENTS, SCOPE_GMAIL_COMPOSE])]
    assert _StubFlow.calls == [
        {"port": 8765, "open_browser": False, "access_type": "offline", "prompt": "consent"}
    ]
    text = out.getvalue()
    assert SCOPE_GMAIL_COMPOSE in text and "ssh -L 8765:localhost:8765 user@server" in text
    assert str(creds.token) not in text and str(creds.refresh_token) not in text
    assert path == token_path(settings) and mode(path) == 0o600
    assert json.loads(path.read_text())["refresh_token"] == creds.refresh_token


def test_consent_failure_is_one_line(
    tmp_path: Path, fake: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, fake)
    write_client_secrets(tmp_path, fake)

    def broken(config: dict[str, Any], scopes: list[str]) -> Any:
        raise ValueError("Client secrets must be for a web or installed app.\nsee docs")

    monkeypatch.setattr(google_auth_flow(), "from_client_config", staticmethod(broken))
    with pytest.raises(AuthError, match=r"^Google consent failed: Client secrets must be") as caught:
        run_consent(settings, out=io.StringIO())
    assert "\n" not in str(caught.value)


def google_auth_flow() -> Any:
    from google_auth_oauthlib.flow import InstalledAppFlow

    return InstalledAppFlow


def test_google_auth_imports_no_google_library_at_module_level() -> None:
    """The daemon pays for googleapiclient only when a Google backend is configured."""
    source = Path(google_auth.__file__).read_text()
    top_level = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert not [line for line in top_level if "google" in line.split()[1] and "syncd" not in line]


def test_consent_on_a_port_already_in_use_says_which_key_to_change(tmp_path: Path, fake: FakeGoogle) -> None:
    """The real InstalledAppFlow binds the redirect port; a taken port gets one clear line."""
    import socket

    busy = socket.socket()
    busy.bind(("localhost", 0))
    busy.listen()
    port = busy.getsockname()[1]
    base = make_settings(tmp_path, fake)
    settings = base.model_copy(update={"google": base.google.model_copy(update={"port": port})})
    write_client_secrets(tmp_path, fake)
    try:
        with pytest.raises(AuthError, match=rf"port {port} is already in use.*google\.port"):
            run_consent(settings, out=io.StringIO())
    finally:
        busy.close()


# --- saving a token the transport refreshed -----------------------------------------------------


def _list_events(service: Any) -> Any:
    from syncd.google.transport import execute

    return execute(service.events().list(calendarId="primary"), num_retries=0)


def test_a_token_refreshed_by_the_transport_is_saved_and_not_taken_for_a_new_file(
    tmp_path: Path, fake: FakeGoogle
) -> None:
    from syncd.google.transport import lazy_factory, shared_credentials

    settings = make_settings(tmp_path, fake)
    path = write_token(settings, fake)
    credentials = shared_credentials(settings)
    service = lazy_factory("calendar", "v3", settings, timeout=2)()
    before = path.stat()
    _list_events(service)
    assert json.loads(path.read_text())["token"] == credentials().token  # unchanged: not rewritten
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    loaded = credentials()
    fake.oauth.expire_access_tokens()
    _list_events(service)  # 401, refreshed by the transport, retried
    saved = json.loads(path.read_text())
    assert fake.oauth.refreshes == 1 and saved["token"] == loaded.token in fake.oauth.access_tokens
    assert mode(path) == 0o600 and [p.name for p in path.parent.iterdir()] == [path.name]
    assert credentials() is loaded  # syncd's own save is not a token file replaced by the coach


def test_a_refresh_is_not_saved_over_a_token_file_the_coach_replaced(
    tmp_path: Path, fake: FakeGoogle
) -> None:
    from syncd.google.transport import lazy_factory, shared_credentials

    settings = make_settings(tmp_path, fake)
    write_token(settings, fake)
    credentials = shared_credentials(settings)
    service = lazy_factory("calendar", "v3", settings, timeout=2)()
    loaded = credentials()
    fake.oauth.expire_access_tokens()
    theirs = write_token(settings, fake).read_text()  # `syncd auth google` meanwhile
    _list_events(service)
    assert fake.oauth.refreshes == 1 and token_path(settings).read_text() == theirs
    assert credentials() is not loaded  # the coach's file is loaded next time
    assert credentials().token == json.loads(theirs)["token"]


def test_every_backend_of_a_configuration_shares_one_token_refresh(tmp_path: Path, fake: FakeGoogle) -> None:
    from syncd.google.transport import lazy_factory, shared_credentials

    settings = make_settings(tmp_path, fake)
    write_token(settings, fake)
    services = [lazy_factory("calendar", "v3", settings, timeout=2)() for _ in range(2)]
    fake.oauth.expire_access_tokens()
    for service in services:
        _list_events(service)
    assert fake.oauth.refreshes == 1  # the second backend uses the first one's refresh
    reloaded = settings.model_copy()  # SIGHUP: loaded afresh, it may want other scopes
    assert shared_credentials(reloaded) is not shared_credentials(settings) is shared_credentials(settings)
