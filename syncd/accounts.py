"""Which Google or Microsoft account a coach's backends sign in with.

A coach entry may carry its own `google:` and/or `microsoft:` section. Keys it does not give
are the top-level section's (the platform's OAuth client, tenant, endpoints); the token is
always the coach's own: `token`/`token_cache` when given, else a file in the coach's folder
`state_dir/accounts/<coach email>/` (`google-token.json`, `microsoft-token.json`). A coach
without such a section uses the top-level account, as a single-coach install always has.

The backends and the auth commands take a `Settings`; for a coach with an account of its
own they get `google_settings`/`microsoft_settings`: a view of the configuration in which
that account is the top-level one and that coach the only one. Everything keyed by the
settings' token file (credentials, Graph's per-mailbox gate) is then keyed by the coach's
token, and the scopes asked for are those of that coach's backends. The view is made once
per configuration and coach, so all of a coach's backends share it (and one token source).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

from syncd.errors import AuthError

if TYPE_CHECKING:
    from syncd.config import CoachConfig, GoogleAuthConfig, MicrosoftAuthConfig, Settings

Service = Literal["google", "microsoft"]
ACCOUNTS_DIR = "accounts"
TOKEN_FILES: dict[Service, str] = {"google": "google-token.json", "microsoft": "microsoft-token.json"}
# The key of each account section that names its token file.
TOKEN_KEYS: dict[Service, str] = {"google": "token", "microsoft": "token_cache"}
_LOCK = threading.Lock()
_SHOWN_COACHES = 20  # a platform may have hundreds: an error line names this many


def account_dir(state_dir: Path, coach_key: str) -> Path:
    """The coach's folder for its tokens: `state_dir/accounts/<coach key>`, the key made a
    single safe file name (an address may hold `/`: it must not reach another folder)."""
    # A coach's key is an address (it holds `@`), so never `.` or `..` once `/` is quoted.
    return state_dir / ACCOUNTS_DIR / quote(coach_key, safe="@+-_.")


def own_token_path(settings: Settings, coach: CoachConfig, service: Service) -> Path | None:
    """The token file of `coach`'s own `service` account; None when the coach has none (it
    uses the top-level account)."""
    own = own_section(coach, service)
    if own is None:
        return None
    given: Path | None = getattr(own, TOKEN_KEYS[service])
    return given or account_dir(settings.state_dir, coach.key) / TOKEN_FILES[service]


def own_section(coach: CoachConfig, service: Service) -> GoogleAuthConfig | MicrosoftAuthConfig | None:
    """The coach's own `google:` or `microsoft:` section; None when it shares the top-level one."""
    return coach.google if service == "google" else coach.microsoft


def google_settings(settings: Settings, coach: CoachConfig) -> Settings:
    """The settings the Google backends of `coach` use: `settings` itself for the top-level
    account, else the view of the coach's own account (see the module)."""
    return settings if coach.google is None else _view(settings, coach, "google")


def microsoft_settings(settings: Settings, coach: CoachConfig) -> Settings:
    """The settings the Outlook backends of `coach` use (as `google_settings`)."""
    return settings if coach.microsoft is None else _view(settings, coach, "microsoft")


def _view(settings: Settings, coach: CoachConfig, service: Service) -> Settings:
    # Keyed by the settings object too: `model_copy` hands a copy the same (private) dict.
    key = (service, coach.key, id(settings))
    with _LOCK:
        kept = settings._accounts.get(key)
        if kept is None or kept[0] is not settings:
            kept = settings._accounts[key] = (settings, _make_view(settings, coach, service))
        return kept[1]


def _make_view(settings: Settings, coach: CoachConfig, service: Service) -> Settings:
    own = own_section(coach, service)
    assert own is not None
    top = settings.google if service == "google" else settings.microsoft
    given = {name: getattr(own, name) for name in own.model_fields_set}
    given[TOKEN_KEYS[service]] = own_token_path(settings, coach, service)
    merged = top.model_copy(update=given)
    # In the view the coach has no section of its own: its account is the top-level one.
    alone = coach.model_copy(update={service: None})
    return settings.model_copy(update={service: merged, "coaches": [alone]})


def coach_for_auth(settings: Settings, email: str, service: Service) -> tuple[CoachConfig, Settings]:
    """The coach `syncd auth SERVICE --coach EMAIL` names (by email or alias) and the settings
    of its own account. Raises `AuthError`, one line, when no coach has that address or the
    coach has no `SERVICE:` section of its own (it shares the top-level account)."""
    wanted = email.strip().lower()
    found = [c for c in settings.coaches if wanted in c.addresses]
    if not found:
        raise AuthError(f"no coach {email!r} is configured; the coaches are {_listed(settings)}")
    coach = found[0]
    if own_section(coach, service) is None:
        raise AuthError(
            f"coach {coach.email} has no `{service}:` section of its own, so it uses the shared "
            f"account: add `{service}: {{}}` to its entry for an account of its own, or run "
            f"`syncd auth {service}` for the shared one"
        )
    view = google_settings(settings, coach) if service == "google" else microsoft_settings(settings, coach)
    return coach, view


def reauth_command(coach: CoachConfig | None, service: Service) -> str:
    """The command that signs in again the `service` account `coach` uses."""
    own = coach is not None and own_section(coach, service) is not None
    return f"syncd auth {service} --coach {coach.email}" if own and coach else f"syncd auth {service}"


def for_coach(message: str, coach: CoachConfig) -> str:
    """`message` with each `syncd auth google`/`microsoft` it names made the command for
    `coach`'s own account, when it has one: the backends say the command without knowing
    whose account failed, the pass that reports it knows."""
    for service in TOKEN_FILES:
        plain = f"`syncd auth {service}`"
        wanted = f"`{reauth_command(coach, service)}`"
        if wanted != plain:
            message = message.replace(plain, wanted)
    return message


def _listed(settings: Settings) -> str:
    emails = sorted(c.email for c in settings.coaches)
    shown = ", ".join(emails[:_SHOWN_COACHES])
    more = len(emails) - _SHOWN_COACHES
    return shown + (f" and {more} more (see `syncd check-config`)" if more > 0 else "")
