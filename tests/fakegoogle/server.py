"""FakeGoogle: the shared HTTP core (`tests.fakehttp`) with Google's routing, auth and errors.

Services (Calendar, OAuth, later Drive/Docs/Gmail) live in their own modules; each is a class
that takes the `FakeGoogle` and registers its handlers, keyed by discovery method id
(`calendar.events.list`). The router derives every route from the discovery document, so the
paths are exactly those the real client sends when `api_endpoint` points at the fake.

Order of processing for each request: log it, apply a queued fault (status, slow, drop), check
the bearer token (401), its scopes against the method's (403 insufficientPermissions) and that
the API is enabled (`disabled_apis`: 403 accessNotConfigured, Google's text), validate the
query and body against discovery, call the handler.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tests.fakehttp import FakeResponse, FakeServer, HttpError, LoggedRequest, Request

from . import discovery

if TYPE_CHECKING:
    from .calendar_v3 import FakeCalendar
    from .docs_v1 import FakeDocs
    from .drive_v3 import FakeDrive
    from .gmail_v1 import FakeGmail
    from .oauth import FakeOAuth

__all__ = ["ApiError", "FakeGoogle", "FakeRequest", "FakeResponse", "LoggedRequest", "error_body"]

# Google's usual `reason` for each status, used when a fault or handler names none.
DEFAULT_REASONS = {
    400: "badRequest",
    401: "authError",
    403: "forbidden",
    404: "notFound",
    409: "duplicate",
    410: "deleted",
    412: "conditionNotMet",
    429: "rateLimitExceeded",
    500: "backendError",
    503: "backendError",
}


class FakeRequest(Request):
    """One request as a Google handler sees it; `params` holds the decoded path parameters."""

    def unreadable(self) -> HttpError:
        return ApiError(400, "Invalid JSON payload received.", "parseError")


class ApiError(HttpError):
    """Raised by handlers; answered with Google's error body shape."""

    def __init__(self, status: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason or DEFAULT_REASONS.get(status, "error")

    def response(self) -> FakeResponse:
        return FakeResponse(self.status, error_body(self.status, self.message, self.reason))


def error_body(status: int, message: str, reason: str) -> dict[str, Any]:
    """Google's JSON error shape, which googleapiclient's retry logic reads `reason` from."""
    detail = {"domain": "global", "reason": reason, "message": message}
    return {"error": {"errors": [detail], "code": status, "message": message}}


Handler = Callable[[FakeRequest], FakeResponse]


class FakeGoogle(FakeServer):
    """A local stand-in for Google's APIs over real HTTP on 127.0.0.1, on a random port.

    Use as a context manager or call `start()`/`stop()`. Point the real client at
    `api_endpoint` and credentials at `token_uri`.
    """

    request_type = FakeRequest
    content_type = "application/json; charset=UTF-8"

    oauth: FakeOAuth
    calendar: FakeCalendar
    drive: FakeDrive
    docs: FakeDocs
    gmail: FakeGmail

    def __init__(self, *, require_auth: bool = True) -> None:
        super().__init__()
        self.require_auth = require_auth
        # APIs not enabled in the OAuth client's Cloud project ("calendar", "drive", "docs", "gmail").
        self.disabled_apis: set[str] = set()
        # Imported here: the service modules import this one.
        from .calendar_v3 import FakeCalendar
        from .docs_v1 import FakeDocs
        from .drive_v3 import FakeDrive
        from .gmail_v1 import FakeGmail
        from .oauth import FakeOAuth

        self.oauth = FakeOAuth(self)
        self.calendar = FakeCalendar(self)
        self.drive = FakeDrive(self)
        self.docs = FakeDocs(self, self.drive)
        self.gmail = FakeGmail(self)

    @property
    def api_endpoint(self) -> str:
        """The value for `client_options={"api_endpoint": ...}` (and config `google.api_endpoint`)."""
        return self.url + "/"

    @property
    def token_uri(self) -> str:
        return self.url + "/token"

    # --- routing ----------------------------------------------------------------------------

    def register_api(self, api: str, version: str, handlers: Mapping[str, Handler]) -> None:
        """Serve `api` `version`: `handlers` maps discovery method ids to handler functions.

        Every other method of the API is routed too and answers 501, so a call the fake does
        not implement fails loudly instead of hitting a wrong route.
        """
        specs = discovery.methods(api, version)
        unknown = set(handlers) - set(specs)
        if unknown:
            raise ValueError(f"not methods of {api} {version}: {sorted(unknown)}")
        for method_id, spec in specs.items():
            # Literal characters in the path: literal segments win over {params}.
            literal = len(re.sub(r"\{[^}]*\}", "", spec.path))
            handler = handlers.get(method_id, _not_implemented)
            guard = functools.partial(self._check_api_request, spec, method_id in handlers)
            self.add(spec.http_method, spec.path_regex(), handler, guard=guard, priority=literal)

    def add_route(self, method: str, path_regex: str, handler: Handler) -> None:
        """Serve a path that no discovery document describes (the OAuth token endpoint)."""
        self.add(method, path_regex, handler, priority=1 << 30)

    # --- fault injection ---------------------------------------------------------------------

    def fail(
        self,
        path: str,
        status: int,
        *,
        reason: str | None = None,
        message: str | None = None,
        times: int = 1,
        method: str | None = None,
    ) -> None:
        """Answer the next `times` requests whose path matches regex `path` with `status`.

        `reason` goes into `error.errors[0].reason` (e.g. "rateLimitExceeded" or "forbidden"
        for 403), which decides whether googleapiclient retries.
        """
        error = ApiError(status, message or f"Injected {status}", reason)
        self.fail_with(path, error.response(), times=times, method=method)

    # --- dispatch ----------------------------------------------------------------------------

    def no_route(self, request: Request) -> HttpError:
        return ApiError(404, f"No such path: {request.method} {request.path}", "notFound")

    def _check_api_request(self, spec: discovery.MethodSpec, implemented: bool, request: Request) -> None:
        if not implemented:
            raise ApiError(501, f"{spec.id} is not implemented by the fake", "notImplemented")
        authorization = request.headers.get("Authorization")
        if self.require_auth and not self.oauth.authorizes(authorization):
            raise ApiError(401, "Request had invalid authentication credentials.", "authError")
        if self.require_auth and not self.oauth.permits(authorization, spec.scopes):
            raise ApiError(403, "Request had insufficient authentication scopes.", "insufficientPermissions")
        api = spec.id.split(".")[0]
        if api in self.disabled_apis:
            raise ApiError(403, _not_enabled_message(api), "accessNotConfigured")
        problem = discovery.validate_query(spec, request.query)
        if problem is None and request.method in ("POST", "PUT", "PATCH"):
            problem = discovery.validate_body(spec, request.json())
        if problem:
            raise ApiError(400, problem, "invalid")


def _not_implemented(request: FakeRequest) -> FakeResponse:
    raise AssertionError("unreachable: the route's guard answers 501")


# Each API's name and service as Google's "API not enabled" answer gives them.
_API_SERVICES = {
    "calendar": ("Google Calendar API", "calendar-json.googleapis.com"),
    "drive": ("Google Drive API", "drive.googleapis.com"),
    "docs": ("Google Docs API", "docs.googleapis.com"),
    "gmail": ("Gmail API", "gmail.googleapis.com"),
}
FAKE_PROJECT = "123456789012"


def _not_enabled_message(api: str) -> str:
    title, service = _API_SERVICES[api]
    return (
        f"{title} has not been used in project {FAKE_PROJECT} before or it is disabled. Enable it by "
        f"visiting https://console.developers.google.com/apis/api/{service}/overview?project={FAKE_PROJECT} "
        "then retry. If you enabled this API recently, wait a few minutes for the action to propagate "
        "to our systems and retry."
    )
