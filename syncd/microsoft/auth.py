"""Signing in to Microsoft for the Outlook backends: device code, a 0600 token cache, silent refresh.

`syncd auth microsoft` runs msal's device-code flow: it prints a URL and a code, the coach
opens the URL on any device and types the code, and msal's token cache (refresh token
included) is saved to the state directory with mode 0600. A daemon pass then asks msal for an
access token silently; msal refreshes it with the refresh token when it has expired, and the
cache is saved again whenever msal changed it. One signed-in account serves every Outlook
backend of the coaches that use it (one mailbox: `/me`): the top-level `microsoft:` account,
or a coach's own (`syncd.accounts` gives it as settings of its own, with its own cache file).

Tokens are never logged; messages name files and commands, never their contents. msal is
imported inside the functions: a daemon without an Outlook backend never loads it.
"""

from __future__ import annotations

import stat
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from syncd.errors import AuthError, AuthExpired, Unavailable
from syncd.files import atomic_write, file_stamp, make_private_folders
from syncd.text import error_line, one_line

if TYPE_CHECKING:
    from syncd.config import Settings

REAUTH_HINT = "run `syncd auth microsoft` again"
HTTP_TIMEOUT = 30.0
TOKEN_MARGIN = 300.0  # an access token this close to expiry is renewed before use
# Sign-in hosts msal knows itself; any other (a test server) skips its online instance check.
MICROSOFT_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    }
)
# What each Outlook backend needs, by its config `type`, and why (`syncd auth microsoft` says).
_CALENDAR_SCOPES = {"outlook": ("Calendars.ReadWrite", "read bookings and write the note link into events")}
_DRAFTS_SCOPES = {"outlook": ("Mail.ReadWrite", "save follow-up drafts in Drafts (never sent)")}
# The refresh errors that only a new sign-in cures.
_SIGN_IN_AGAIN = frozenset({"invalid_grant", "interaction_required", "consent_required", "login_required"})


def needed_permissions(settings: Settings) -> dict[str, str]:
    """Each Graph permission the Outlook backends on `settings`' `microsoft:` account need
    (short name), with why; coaches with an account of their own are not counted."""
    wanted: dict[str, str] = {}
    for coach in settings.coaches:
        if coach.microsoft is not None:
            continue
        for table, section in ((_CALENDAR_SCOPES, coach.calendar), (_DRAFTS_SCOPES, coach.drafts)):
            if section.type in table:
                name, why = table[section.type]
                wanted[name] = why
    return dict(sorted(wanted.items()))


def scopes_for(settings: Settings) -> list[str]:
    """The scopes to ask for: the permissions on the Graph host of `microsoft.graph_endpoint`
    (so a national cloud's Graph gets its own); msal adds openid, profile, offline_access."""
    parts = urlsplit(settings.microsoft.graph_endpoint)
    resource = f"{parts.scheme}://{parts.netloc}"
    return [f"{resource}/{name}" for name in needed_permissions(settings)]


def token_cache_path(settings: Settings) -> Path:
    """`microsoft.token_cache`, else `state_dir/microsoft-token.json`."""
    return settings.microsoft.token_cache or settings.state_dir / "microsoft-token.json"


def authority_url(settings: Settings) -> str:
    return f"{settings.microsoft.authority.rstrip('/')}/{settings.microsoft.tenant.strip('/')}"


def _application(settings: Settings, cache: Any) -> Any:
    """msal's public client for the configured app and authority, over `cache`."""
    import msal
    import requests

    cfg = settings.microsoft
    if not cfg.client_id.strip():
        raise AuthError("microsoft.client_id is not set: see the README's Microsoft section")
    host = urlsplit(cfg.authority).hostname or ""
    try:
        return msal.PublicClientApplication(
            cfg.client_id,
            authority=authority_url(settings),
            token_cache=cache,
            timeout=HTTP_TIMEOUT,
            instance_discovery=host in MICROSOFT_HOSTS,
        )
    except requests.RequestException as exc:
        raise Unavailable(
            f"cannot reach the Microsoft sign-in service {cfg.authority}: {_describe(exc)}"
        ) from None
    except ValueError as exc:  # an unknown tenant or authority
        raise AuthError(f"Microsoft sign-in at {authority_url(settings)} failed: {error_line(exc)}") from None


class TokenSource:
    """Access tokens for Graph from the token cache file, refreshed silently by msal.

    Thread-safe; the cache file is read again when it was replaced (the coach ran
    `syncd auth microsoft` after a refusal: no restart needed) and saved, 0600, when msal
    changed it (a refresh). Raises `AuthError` (`AuthExpired` when only a new sign-in helps)
    and `Unavailable` when the sign-in service cannot be reached.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = token_cache_path(settings)
        self._lock = threading.Lock()
        self._app: Any = None
        self._cache: Any = None
        self._stamp: tuple[int, int, int] | None = None
        self._token = ""
        self._valid_until = 0.0
        self.username = ""  # the signed-in account's address, once a token was asked for

    def __call__(self, force_refresh: bool = False) -> str:
        """A valid access token; `force_refresh` after Graph refused the last one (401)."""
        import requests

        with self._lock:
            # msal's own look-up costs milliseconds; a pass sends hundreds of requests.
            if not force_refresh and self._token and time.monotonic() < self._valid_until:
                return self._token
            app = self._load()
            accounts = app.get_accounts()
            if not accounts:
                raise AuthError(f"no Microsoft account is signed in in {self.path}; {REAUTH_HINT}")
            self.username = str(accounts[0].get("username") or "").lower()
            try:
                result = app.acquire_token_silent_with_error(
                    scopes_for(self.settings), account=accounts[0], force_refresh=force_refresh
                )
            except requests.RequestException as exc:
                raise Unavailable(f"cannot reach the Microsoft sign-in service: {_describe(exc)}") from None
            self._save_if_changed()
        if not result:
            raise AuthExpired(
                f"the Microsoft token cache {self.path} holds no usable token for the scopes syncd "
                f"needs; {REAUTH_HINT}"
            )
        if "access_token" not in result:
            raise refresh_error(result)
        with self._lock:
            self._token = str(result["access_token"])
            lifetime = float(result.get("expires_in") or 0)
            self._valid_until = time.monotonic() + max(0.0, lifetime - TOKEN_MARGIN)
        return self._token

    def _load(self) -> Any:
        import msal

        stamp = file_stamp(self.path)
        if self._app is None or stamp != self._stamp:
            if stamp is None:
                raise AuthError(f"no Microsoft token cache at {self.path}: run `syncd auth microsoft` first")
            cache = msal.SerializableTokenCache()
            try:
                cache.deserialize(_read_private(self.path))
            except ValueError:
                raise AuthError(
                    f"the Microsoft token cache {self.path} is not valid JSON; {REAUTH_HINT}"
                ) from None
            self._app, self._cache, self._stamp = _application(self.settings, cache), cache, stamp
        return self._app

    def _save_if_changed(self) -> None:
        if self._cache is None or not self._cache.has_state_changed:
            return
        if file_stamp(self.path) != self._stamp:
            return  # replaced by a new sign-in meanwhile: that one wins
        save_cache(self._cache, self.path)
        self._stamp = file_stamp(self.path)


def refresh_error(result: Mapping[str, Any]) -> AuthError:
    """One line for msal's error answer; a revoked or expired sign-in says to sign in again."""
    code = str(result.get("error") or "error")
    text = one_line(str(result.get("error_description") or ""), 200)
    if code in _SIGN_IN_AGAIN:
        return AuthExpired(f"Microsoft refused the stored sign-in ({code}: {text}); {REAUTH_HINT}")
    return AuthError(f"getting a Microsoft access token failed ({code}: {text}); {REAUTH_HINT}")


def save_cache(cache: Any, path: Path) -> None:
    """Write msal's serialised cache atomically with mode 0600 (it holds a refresh token)."""
    make_private_folders(path.parent)
    atomic_write(path, str(cache.serialize()).encode("utf-8"), 0o600)
    cache.has_state_changed = False


def run_device_login(
    settings: Settings, out: TextIO = sys.stdout, *, expected: frozenset[str] = frozenset()
) -> Path:
    """Sign in with the device-code flow and store the token cache; returns its path.

    Prints which permissions are asked for and why, then the URL and the code, and waits
    (msal polls) until the coach has signed in, declined, or the code expired. `expected`:
    the coach's addresses, when signing in a coach's own account; another account is said.
    """
    import msal

    permissions = needed_permissions(settings)
    if not permissions:
        if any(coach.microsoft is not None for coach in settings.coaches):
            raise AuthError(
                "no coach uses the shared Microsoft account (the others have their own: "
                "`syncd auth microsoft --coach EMAIL`), so there is nothing to sign in to"
            )
        raise AuthError("no coach uses an Outlook backend, so there is nothing to sign in to")
    import requests

    cache = msal.SerializableTokenCache()
    app = _application(settings, cache)
    try:
        flow = app.initiate_device_flow(scopes=scopes_for(settings))
    except requests.RequestException as exc:
        raise Unavailable(f"cannot reach the Microsoft sign-in service: {_describe(exc)}") from None
    if "user_code" not in flow:
        raise refresh_error(flow)
    print(
        "syncd asks Microsoft for these permissions (delegated, for the account you sign in with):", file=out
    )
    for name, why in permissions.items():
        print(f"  - {name}: {why}", file=out)
    print("  - offline_access, openid, profile: stay signed in, and know which account it is", file=out)
    if expected:
        print(f"Sign in as {min(expected)} (the coach's Microsoft account).", file=out)
    print(
        f"To sign in, open {flow.get('verification_uri')} on any device and enter the code {flow['user_code']}",
        file=out,
    )
    print("Waiting for the sign-in to finish...", file=out)
    out.flush()
    try:
        result = app.acquire_token_by_device_flow(flow)
    except requests.RequestException as exc:
        raise Unavailable(f"lost the Microsoft sign-in service while waiting: {_describe(exc)}") from None
    if "access_token" not in result:
        code = str(result.get("error") or "error")
        text = one_line(str(result.get("error_description") or ""), 200)
        raise AuthError(
            f"Microsoft sign-in did not complete ({code}: {text}); run `syncd auth microsoft` again"
        )
    path = token_cache_path(settings)
    save_cache(cache, path)
    who = (result.get("id_token_claims") or {}).get("preferred_username") or "the account"
    print(f"Signed in as {one_line(str(who), 100)}; token cache saved to {path} (mode 0600).", file=out)
    if expected and str(who).lower() not in expected:
        print(
            f"Note: {one_line(str(who), 100)} is not one of the coach's addresses "
            f"({', '.join(sorted(expected))}): if that is the wrong account, sign in again; "
            "if it is the coach's, add it to the coach's aliases.",
            file=out,
        )
    return path


def _read_private(path: Path) -> str:
    """The cache file's text, made 0600 first when others could read it."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(0o600)
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuthError(f"cannot read the Microsoft token cache {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise AuthError(f"the Microsoft token cache {path} is not text; {REAUTH_HINT}") from None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {one_line(str(exc), 200)}" if str(exc) else type(exc).__name__
