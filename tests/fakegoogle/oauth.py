"""The fake's OAuth 2.0 token endpoint (`POST /token`) and bearer-token bookkeeping.

Refresh tokens can be revoked (the endpoint then answers `invalid_grant`, as Google does for a
revoked token or one of a 'testing' app older than 7 days); access tokens can be expired all
at once, so the next API call gets a 401 and the client refreshes. Tokens carry the scopes they
were granted (an access token those of its refresh token): a call outside them gets Google's
403 `insufficientPermissions`. A token issued without scopes may call anything.
"""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote_plus

from .server import FakeRequest, FakeResponse

if TYPE_CHECKING:
    from google.oauth2.credentials import Credentials

    from .server import FakeGoogle

CLIENT_ID = "fake-client.apps.googleusercontent.com"
CLIENT_SECRET = "fake-client-secret"


class FakeOAuth:
    """Issues and checks tokens; `refreshes` counts successful refresh grants."""

    def __init__(self, fake: FakeGoogle) -> None:
        self._fake = fake
        self._counter = itertools.count(1)
        self.access_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.scopes: dict[str, frozenset[str]] = {}  # access or refresh token -> scopes granted
        # access or refresh token -> the account it was issued to; tokens without one act for
        # the fake's single coach (calendar `primary`, the one Gmail mailbox)
        self.users: dict[str, str] = {}
        self.auth_codes: dict[str, list[str]] = {}  # code -> scopes granted
        self.refreshes = 0
        fake.add_route("POST", r"^/token$", self._token)

    # --- test-side API -----------------------------------------------------------------------

    def issue_access_token(self, scopes: frozenset[str] = frozenset(), user: str | None = None) -> str:
        token = f"ya29.fake-{next(self._counter)}"
        self.access_tokens.add(token)
        self.scopes[token] = scopes
        if user is not None:
            self.users[token] = user
        return token

    def issue_refresh_token(self, scopes: frozenset[str] = frozenset(), user: str | None = None) -> str:
        token = f"1//fake-refresh-{next(self._counter)}"
        self.refresh_tokens.add(token)
        self.scopes[token] = scopes
        if user is not None:
            self.users[token] = user
        return token

    def revoke_user(self, user: str) -> None:
        """Revoke every token issued to `user` (the account removed syncd's access); the
        other accounts' tokens keep working."""
        mine = {token for token, owner in self.users.items() if owner == user}
        self.refresh_tokens -= mine
        self.access_tokens -= mine

    def user_of(self, header: str | None) -> str | None:
        """The account the bearer token in an `Authorization` header was issued to, if any."""
        return self.users.get((header or "").removeprefix("Bearer "))

    def revoke(self, refresh_token: str | None = None) -> None:
        """Revoke one refresh token (all when None) and every access token."""
        if refresh_token is None:
            self.refresh_tokens.clear()
        else:
            self.refresh_tokens.discard(refresh_token)
        self.access_tokens.clear()

    def expire_access_tokens(self) -> None:
        """Make every access token invalid: the next API call gets 401."""
        self.access_tokens.clear()

    def token_info(
        self, scopes: list[str], *, expired: bool = False, user: str | None = None
    ) -> dict[str, Any]:
        """A token file's content (the shape `Credentials.to_json()` writes), pointing here;
        `user`: the account the tokens act for (see `users`)."""
        expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=-1 if expired else 1)
        granted = frozenset(scopes)
        return {
            "token": self.issue_access_token(granted, user),
            "refresh_token": self.issue_refresh_token(granted, user),
            "token_uri": self._fake.token_uri,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scopes": scopes,
            "expiry": expiry.isoformat() + "Z",
        }

    def credentials(self, scopes: list[str] | None = None) -> Credentials:
        """Valid google-auth user credentials whose refreshes go to this fake."""
        from google.oauth2.credentials import Credentials

        info = self.token_info(scopes or [])
        return Credentials(  # type: ignore[no-untyped-call]
            token=info["token"],
            refresh_token=info["refresh_token"],
            token_uri=info["token_uri"],
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            scopes=scopes,
        )

    def authorizes(self, header: str | None) -> bool:
        """Whether an `Authorization` header carries a live access token."""
        if not header or not header.startswith("Bearer "):
            return False
        return header.removeprefix("Bearer ") in self.access_tokens

    def permits(self, header: str | None, method_scopes: frozenset[str]) -> bool:
        """Whether the (live) access token in `header` was granted a scope of the method."""
        granted = self.scopes.get((header or "").removeprefix("Bearer "), frozenset())
        return not granted or not method_scopes or bool(granted & method_scopes)

    # --- the endpoint ------------------------------------------------------------------------

    def _token(self, request: FakeRequest) -> FakeResponse:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET) and (
            _basic_credentials(request.headers.get("Authorization")) != (CLIENT_ID, CLIENT_SECRET)
        ):
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        grant = form.get("grant_type")
        if grant == "refresh_token":
            return self._refresh(form)
        if grant == "authorization_code":
            return self._exchange_code(form)
        return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")

    def _refresh(self, form: dict[str, str]) -> FakeResponse:
        if form.get("refresh_token") not in self.refresh_tokens:
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        self.refreshes += 1
        granted = self.scopes.get(form["refresh_token"], frozenset())
        user = self.users.get(form["refresh_token"])
        body = {
            "access_token": self.issue_access_token(granted, user),
            "expires_in": 3599,
            "token_type": "Bearer",
        }
        if form.get("scope"):
            body["scope"] = form["scope"]
        return FakeResponse(200, body)

    def _exchange_code(self, form: dict[str, str]) -> FakeResponse:
        scopes = self.auth_codes.pop(form.get("code", ""), None)
        if scopes is None:
            return _oauth_error(400, "invalid_grant", "Malformed auth code.")
        granted = frozenset(scopes)
        return FakeResponse(
            200,
            {
                "access_token": self.issue_access_token(granted),
                "refresh_token": self.issue_refresh_token(granted),
                "expires_in": 3599,
                "scope": " ".join(scopes),
                "token_type": "Bearer",
            },
        )


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """The client id and secret of HTTP Basic auth, which Google's token endpoint accepts as
    well as form fields (requests-oauthlib, behind the consent flow, sends them so)."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    except ValueError:
        return None
    return unquote_plus(user), unquote_plus(password)


def _oauth_error(status: int, error: str, description: str) -> FakeResponse:
    # OAuth errors have their own flat shape, not the APIs' {"error": {"errors": [...]}}.
    return FakeResponse(status, {"error": error, "error_description": description})
