"""Credentials for every Google backend: scopes, the stored token, consent on a headless box.

One OAuth token serves the calendar, Docs and Gmail backends of every coach of one account
(the top-level `google:` one, or a coach's own: `syncd.accounts` gives a coach's own account
as settings of its own), so the scopes are the union of what those backends need, and no more. Tokens and client secrets are
never logged; error messages name files and commands, never their contents.

The Google libraries are imported inside the functions: importing them costs a noticeable
fraction of a second, and a daemon configured for local folders never needs them.
"""

from __future__ import annotations

import errno
import json
import logging
import stat
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from syncd.errors import AuthError, AuthExpired, Unavailable
from syncd.files import atomic_write, make_private_folders
from syncd.text import error_line

if TYPE_CHECKING:
    from google.oauth2.credentials import Credentials

    from syncd.config import Settings

log = logging.getLogger(__name__)

SCOPE_CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"
SCOPE_DRIVE_FILE = "https://www.googleapis.com/auth/drive.file"
SCOPE_GMAIL_COMPOSE = "https://www.googleapis.com/auth/gmail.compose"

# Which scope each Google backend type needs, keyed on the config section's `type`.
_CALENDAR_SCOPES = {"google": SCOPE_CALENDAR_EVENTS}
_NOTES_SCOPES = {"google_docs": SCOPE_DRIVE_FILE}
_DRAFTS_SCOPES = {"gmail": SCOPE_GMAIL_COMPOSE}

# Default socket timeout of API calls: long enough for a slow page of 2500 events, short enough
# that a hung connection does not stall a pass for minutes.
DEFAULT_HTTP_TIMEOUT = 30.0

# What InstalledAppFlow needs of the client file's "installed" section.
_CLIENT_KEYS = ("client_id", "client_secret", "auth_uri", "token_uri")

REAUTH_HINT = "run `syncd auth google` again"
TESTING_APP_HINT = (
    "apps left in 'testing' publishing status lose their refresh token after 7 days: "
    "publish the app or use an internal Workspace app"
)


def scopes_for(settings: Settings) -> list[str]:
    """The minimum OAuth scopes for the Google backends in `settings` that use its `google:`
    account (not those of coaches with an account of their own), sorted, no duplicates.

    Empty when no such coach uses a Google backend.
    """
    wanted: set[str] = set()
    for coach in settings.coaches:
        if coach.google is not None:
            continue
        for table, section in (
            (_CALENDAR_SCOPES, coach.calendar),
            (_NOTES_SCOPES, coach.notes),
            (_DRAFTS_SCOPES, coach.drafts),
        ):
            scope = table.get(section.type)
            if scope:
                wanted.add(scope)
    return sorted(wanted)


def token_path(settings: Settings) -> Path:
    """Where the OAuth token lives: `google.token`, else `state_dir/google-token.json` (a
    coach's own account's settings always name its token: `syncd.accounts`)."""
    return settings.google.token or settings.state_dir / "google-token.json"


def load_credentials(settings: Settings) -> Credentials:
    """The stored user credentials, refreshed when expired (and saved again).

    Raises `AuthError` when the token is missing, unreadable, revoked or lacks a scope the
    configuration needs; `Unavailable` when the token endpoint cannot be reached.
    """
    path = token_path(settings)
    info = _read_token(path)
    creds = _credentials_from_info(info, settings.google.token_uri, path)
    _check_scopes(creds, scopes_for(settings), path)
    if not creds.valid:
        refresh_credentials(creds)
        save_credentials(creds, path)
    return creds


def refresh_credentials(creds: Credentials) -> None:
    """Get a new access token, turning the library's failures into syncd errors."""
    from google.auth.exceptions import RefreshError, TransportError
    from google.auth.transport.requests import Request

    if not creds.refresh_token:
        raise AuthError(f"the stored Google token has no refresh token; {REAUTH_HINT}")
    try:
        creds.refresh(Request())  # type: ignore[no-untyped-call]
    except RefreshError as exc:
        raise auth_error_from_refresh(exc) from None
    except TransportError as exc:
        raise Unavailable(f"cannot reach Google's token endpoint: {_one_line(exc)}") from None


def auth_error_from_refresh(exc: Exception) -> AuthError:
    """One clear line for a failed refresh; `invalid_grant` gets the 7-day explanation."""
    if "invalid_grant" in str(exc):
        return AuthExpired(
            "Google refused the stored refresh token (invalid_grant): it was revoked or expired "
            f"({TESTING_APP_HINT}); {REAUTH_HINT}"
        )
    # The library's message carries the endpoint's error text, never the token itself.
    return AuthError(f"refreshing the Google token failed ({_one_line(exc)}); {REAUTH_HINT}")


def save_credentials(creds: Credentials, path: Path) -> None:
    """Write `creds` to `path` atomically with mode 0600 (it holds a refresh token)."""
    write_private_file(path, creds.to_json())  # type: ignore[no-untyped-call]


def write_private_file(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically, mode 0600: a crash never leaves half a token."""
    make_private_folders(path.parent)
    atomic_write(path, text.encode("utf-8"), 0o600)


def run_consent(settings: Settings, out: TextIO = sys.stdout, *, login_hint: str | None = None) -> Path:
    """Ask the user's consent in a browser (reached over SSH) and store the token; returns its path.

    `login_hint` (a coach's address) preselects that Google account on the consent page.
    Raises `AuthError` when the client secrets file is missing or not a 'Desktop app' client's,
    or when the flow fails.
    """
    from google_auth_oauthlib.flow import InstalledAppFlow

    cfg = settings.google
    scopes = scopes_for(settings)
    if not scopes:
        if any(coach.google is not None for coach in settings.coaches):
            raise AuthError(
                "no coach uses the shared Google account (the others have their own: "
                "`syncd auth google --coach EMAIL`), so there is nothing to authorise"
            )
        raise AuthError("no coach uses a Google backend, so there is nothing to authorise")
    client_config = read_client_secrets(Path(cfg.client_secrets))
    _print_consent_intro(out, scopes, cfg.port)
    if login_hint:
        print(f"Sign in as {login_hint} (the coach's Google account).", file=out)
        out.flush()
    hint = {"login_hint": login_hint} if login_hint else {}
    try:
        flow = InstalledAppFlow.from_client_config(client_config, scopes=scopes)
        creds = flow.run_local_server(
            port=cfg.port, open_browser=False, access_type="offline", prompt="consent", **hint
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise AuthError(
                f"port {cfg.port} is already in use on this machine; set google.port to a free "
                "port (and use the same number in ssh -L)"
            ) from None
        raise AuthError(f"Google consent failed: {exc.strerror or _one_line(exc)}") from None
    except Warning as exc:  # oauthlib's "Scope has changed": a box was unticked on the consent page
        raise AuthError(
            f"Google granted fewer permissions than syncd asked for ({_one_line(exc)}); run "
            "`syncd auth google` again and leave every permission ticked"
        ) from None
    except ValueError as exc:
        raise AuthError(f"Google consent failed: {_one_line(exc)}") from None
    except Exception as exc:  # oauthlib raises its own hierarchy; the user needs one line
        raise AuthError(f"Google consent failed: {type(exc).__name__}: {_one_line(exc)}") from None
    path = token_path(settings)
    save_credentials(creds, path)
    print(f"Token saved to {path} (mode 0600).", file=out)
    return path


def read_client_secrets(path: Path) -> dict[str, Any]:
    """The OAuth client file downloaded from the Google Cloud console, checked to be one of a
    'Desktop app' client: only that type may redirect to `http://localhost:PORT/`, so any other
    would fail in the browser, long after the operator typed the command."""
    fix = (
        "create an OAuth client of type 'Desktop app' in the Google Cloud console (APIs & Services "
        "> Credentials), download its JSON to that path (or set google.client_secrets)"
    )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuthError(f"Google client secrets file {path} not found: {fix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not text"
        raise AuthError(f"cannot read the Google client secrets file {path}: {reason}") from None
    try:
        config = json.loads(text)
    except ValueError:
        config = None
    if not isinstance(config, dict) or not config:
        raise AuthError(f"Google client secrets file {path} is not an OAuth client's JSON: {fix}")
    client = config.get("installed")
    if not isinstance(client, dict):
        kind = "'Web application'" if "web" in config else "unknown"
        raise AuthError(
            f"Google client secrets file {path} is of an OAuth client of type {kind}, "
            f"not 'Desktop app': {fix}"
        )
    missing = [key for key in _CLIENT_KEYS if not client.get(key)]
    if missing:
        raise AuthError(f"Google client secrets file {path} lacks {', '.join(missing)}: {fix}")
    return config


def build_service(
    api: str,
    version: str,
    settings: Settings,
    credentials: Credentials,
    *,
    timeout: float = DEFAULT_HTTP_TIMEOUT,
) -> Any:
    """A googleapiclient service for `api`/`version` from the shipped discovery document.

    The returned object is not thread-safe (httplib2): build one per thread.
    """
    import google_auth_httplib2  # type: ignore[import-untyped]
    from googleapiclient.discovery import build
    from googleapiclient.http import build_http

    # What build(credentials=...) does itself, plus a socket timeout we choose.
    http = build_http()
    http.timeout = timeout
    authed = google_auth_httplib2.AuthorizedHttp(credentials, http=http)
    endpoint = settings.google.api_endpoint
    options = {"api_endpoint": endpoint} if endpoint else None
    return build(
        api,
        version,
        http=authed,
        static_discovery=True,
        cache_discovery=False,
        client_options=options,
    )


def _read_token(path: Path) -> dict[str, Any]:
    try:
        _make_private(path)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuthError(f"no Google token at {path}: run `syncd auth google` first") from None
    except OSError as exc:
        raise AuthError(f"cannot read the Google token {path}: {exc.strerror}") from None
    try:
        info = json.loads(text)
    except ValueError:
        info = None
    if not isinstance(info, dict):
        raise AuthError(f"the Google token {path} is not valid JSON; {REAUTH_HINT}")
    return info


def _make_private(path: Path) -> None:
    """Make the token file 0600 when others may read it (copied with `cp`, restored from a
    backup): it holds a refresh token. Says so once, since syncd cannot know who read it."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return
    leaked = (
        f"the Google token {path} was readable by other users (mode {mode:04o}); if someone else "
        "may have read it, revoke syncd at https://myaccount.google.com/permissions and "
        f"{REAUTH_HINT}"
    )
    try:
        path.chmod(0o600)
    except OSError as exc:
        log.warning("%s; cannot make it 0600 (%s): run `chmod 600 %s`", leaked, exc.strerror, path)
        return
    log.warning("%s; syncd made it 0600", leaked)


def _credentials_from_info(info: dict[str, Any], token_uri: str, path: Path) -> Credentials:
    # Not from_authorized_user_file: it always points refreshes at Google's endpoint, and the
    # token URI is configurable (the tests' fake, or a proxy).
    from google.oauth2.credentials import Credentials

    missing = [key for key in ("refresh_token", "client_id", "client_secret") if not info.get(key)]
    if missing:
        raise AuthError(f"the Google token {path} lacks {', '.join(missing)}; {REAUTH_HINT}")
    scopes = info.get("scopes")
    return Credentials(  # type: ignore[no-untyped-call]
        token=info.get("token"),
        refresh_token=info["refresh_token"],
        token_uri=token_uri,
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        scopes=scopes.split() if isinstance(scopes, str) else scopes,
        expiry=_parse_expiry(info.get("expiry")),
    )


def _parse_expiry(value: object) -> datetime | None:
    # google-auth keeps expiry as a naive UTC datetime and writes it as ISO with a "Z".
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.strptime(value.rstrip("Z").split(".")[0], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None  # no expiry known: the token is used and a 401 triggers a refresh


def _check_scopes(creds: Credentials, needed: list[str], path: Path) -> None:
    granted = set(creds.scopes or ())
    lacking = [scope for scope in needed if scope not in granted]
    # A token that does not record its scopes is given the benefit of the doubt.
    if granted and lacking:
        names = ", ".join(scope.rsplit("/", 1)[-1] for scope in lacking)
        raise AuthError(f"the Google token {path} lacks the scope(s) {names}; {REAUTH_HINT}")


def _print_consent_intro(out: TextIO, scopes: list[str], port: int) -> None:
    print("syncd asks Google for these permissions:", file=out)
    for scope in scopes:
        print(f"  - {scope}", file=out)
    print(
        f"Google redirects your browser to http://localhost:{port}/ when you accept.\n"
        "On a headless server, open an SSH tunnel from your own machine first:\n"
        f"  ssh -L {port}:localhost:{port} user@server\n"
        "then open the URL below in your local browser.",
        file=out,
    )
    out.flush()


def _one_line(exc: BaseException) -> str:
    # Only the message: google-auth's RefreshError carries the token endpoint's whole answer
    # as its second argument, which `str(exc)` would print as a tuple.
    return error_line(exc.args[0]) if exc.args and str(exc.args[0]).strip() else type(exc).__name__
