"""The fake Microsoft identity platform: OpenID configuration, device code, token endpoint.

Enough of `login.microsoftonline.com/{tenant}/...` for msal's device-code flow and its silent
refresh: tokens are random strings the fake remembers with their scopes; refresh tokens roll
forward on use and can be revoked (`revoke_all`), after which a refresh answers `invalid_grant`.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .server import FakeRequest, FakeResponse, GraphError

if TYPE_CHECKING:
    from .server import FakeGraph

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
USER = "casey@coach.example"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class DeviceCode:
    scopes: frozenset[str]
    user_code: str
    pending: int  # polls answered authorization_pending before the coach "signs in"
    outcome: str = "approve"  # or "decline", "expire"
    user: str = USER  # the account that signs in with this code


@dataclass
class FakeLogin:
    fake: FakeGraph
    access: dict[str, frozenset[str]] = field(default_factory=dict)  # access token -> scopes
    refresh: dict[str, frozenset[str]] = field(default_factory=dict)
    devices: dict[str, DeviceCode] = field(default_factory=dict)
    # How the next device code behaves: polls pending before it resolves, and how it resolves.
    next_pending: int = 0
    next_outcome: str = "approve"
    # Scopes the coach grants, when fewer than asked (an admin refused one); None: all asked.
    granted: frozenset[str] | None = None
    access_lifetime: int = 3600
    # The account the next device code signs in (a coach of its own: `FakeGraph.add_mailbox`).
    next_user: str = USER
    users: dict[str, str] = field(default_factory=dict)  # access or refresh token -> account

    def __post_init__(self) -> None:
        tenant = r"/(?P<tenant>[^/]+)"
        self.fake.route("GET", tenant + r"/v2\.0/\.well-known/openid-configuration", self._openid)
        self.fake.route("POST", tenant + r"/oauth2/v2\.0/devicecode", self._devicecode)
        self.fake.route("POST", tenant + r"/oauth2/v2\.0/token", self._token)

    # --- for tests --------------------------------------------------------------------------

    def revoke_all(self) -> None:
        """Every refresh and access token stops working (a password reset, a revoked consent)."""
        with self.fake.lock:
            self.refresh.clear()
            self.access.clear()

    def revoke_user(self, user: str) -> None:
        """Every token of `user` stops working (that account revoked syncd); others keep theirs."""
        with self.fake.lock:
            for tokens in (self.refresh, self.access):
                for token in [t for t in tokens if self.users.get(t) == user]:
                    del tokens[token]

    def user_of(self, authorization: str | None) -> str:
        """The account the bearer token in `authorization` was issued to."""
        return self.users.get((authorization or "").removeprefix("Bearer "), USER)

    def expire_access_tokens(self) -> None:
        """Graph refuses every access token issued so far (401): msal must refresh."""
        with self.fake.lock:
            self.access.clear()

    def token_for(self, scopes: set[str]) -> str:
        """An access token with `scopes`, for tests that call Graph without msal."""
        token = "at-" + secrets.token_urlsafe(16)
        self.access[token] = frozenset(scopes)
        return token

    def check(self, authorization: str | None, scope: str) -> None:
        """Raise Graph's 401/403 unless `authorization` carries a live token with `scope`."""
        token = (authorization or "").removeprefix("Bearer ")
        scopes = self.access.get(token)
        if not authorization or not authorization.startswith("Bearer ") or scopes is None:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty or expired.")
        if not any(s == scope or s.endswith("/" + scope) for s in scopes):
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")

    # --- endpoints --------------------------------------------------------------------------

    def _openid(self, request: FakeRequest) -> FakeResponse:
        tenant = request.match["tenant"] if request.match else "common"
        base = f"{self.fake.url}/{tenant}"
        return FakeResponse(
            200,
            {
                "issuer": f"{self.fake.url}/{TENANT_ID}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            },
        )

    def _devicecode(self, request: FakeRequest) -> FakeResponse:
        form = request.form()
        if form.get("client_id") != CLIENT_ID:
            return UNKNOWN_CLIENT
        code = secrets.token_urlsafe(24)
        user_code = secrets.token_hex(4).upper()
        self.devices[code] = DeviceCode(
            frozenset(form.get("scope", "").split()),
            user_code,
            self.next_pending,
            self.next_outcome,
            self.next_user,
        )
        return FakeResponse(
            200,
            {
                "device_code": code,
                "user_code": user_code,
                "verification_uri": "https://microsoft.com/devicelogin",
                "expires_in": 900,
                "interval": 1,
                "message": f"To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code {user_code} to authenticate.",
            },
        )

    def _token(self, request: FakeRequest) -> FakeResponse:
        form = request.form()
        if form.get("client_id") != CLIENT_ID:
            return UNKNOWN_CLIENT
        grant = form.get("grant_type")
        if grant == DEVICE_GRANT:
            return self._device_token(form)
        if grant == "refresh_token":
            scopes = self.refresh.pop(form.get("refresh_token", ""), None)
            if scopes is None:
                return _oauth_error(
                    "invalid_grant",
                    "AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.",
                )
            return self._issue(scopes, self.users.get(form.get("refresh_token", ""), USER))
        return _oauth_error("unsupported_grant_type", f"AADSTS70003: unsupported grant {grant}")

    def _device_token(self, form: dict[str, str]) -> FakeResponse:
        device = self.devices.get(form.get("device_code", ""))
        if device is None:
            return _oauth_error("expired_token", "AADSTS70019: Verification code expired.")
        if device.pending > 0:
            device.pending -= 1
            return _oauth_error(
                "authorization_pending", "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending."
            )
        del self.devices[form["device_code"]]
        if device.outcome == "decline":
            return _oauth_error(
                "authorization_declined", "AADSTS70000: the user declined to authorize the application."
            )
        if device.outcome == "expire":
            return _oauth_error("expired_token", "AADSTS70019: Verification code expired.")
        return self._issue(device.scopes, device.user)

    def _issue(self, asked: frozenset[str], user: str = USER) -> FakeResponse:
        scopes = asked - {"openid", "profile", "offline_access"}
        if self.granted is not None:
            scopes &= self.granted
        access, refresh = "at-" + secrets.token_urlsafe(16), "rt-" + secrets.token_urlsafe(24)
        self.access[access], self.refresh[refresh] = scopes, scopes
        self.users[access] = self.users[refresh] = user
        # One object id per account (msal tells accounts apart by it); the first stays "object-1".
        oid = "object-1" if user == USER else f"object-{user}"
        now = int(time.time())
        claims = {
            "iss": f"{self.fake.url}/{TENANT_ID}/v2.0",
            "aud": CLIENT_ID,
            "sub": "subject-1" if user == USER else f"subject-{user}",
            "oid": oid,
            "tid": TENANT_ID,
            "preferred_username": user,
            "name": "Casey Coach",
            "iat": now,
            "exp": now + 3600,
        }
        return FakeResponse(
            200,
            {
                "token_type": "Bearer",
                "scope": " ".join(sorted(scopes)),
                "expires_in": self.access_lifetime,
                "ext_expires_in": self.access_lifetime,
                "access_token": access,
                "refresh_token": refresh,
                "id_token": _unsigned_jwt(claims),
                "client_info": _b64(json.dumps({"uid": oid, "utid": TENANT_ID}).encode()),
            },
        )


def _oauth_error(code: str, description: str) -> FakeResponse:
    return FakeResponse(400, {"error": code, "error_description": description, "error_codes": [0]})


UNKNOWN_CLIENT = _oauth_error("unauthorized_client", "AADSTS700016: Application not found in the directory.")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unsigned_jwt(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."
