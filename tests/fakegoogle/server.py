"""The fake's HTTP core: a threaded server on 127.0.0.1, a router, fault injection, a request log.

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

import contextlib
import functools
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import discovery

if TYPE_CHECKING:
    from .calendar_v3 import FakeCalendar
    from .docs_v1 import FakeDocs
    from .drive_v3 import FakeDrive
    from .gmail_v1 import FakeGmail
    from .oauth import FakeOAuth

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


@dataclass
class FakeRequest:
    """One request as a handler sees it; `params` holds the decoded path parameters."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The single value of query parameter `name`."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body parsed as JSON (None when empty); 400 when it does not parse."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            raise ApiError(400, "Invalid JSON payload received.", "parseError") from None


@dataclass
class FakeResponse:
    """What a handler answers: a status and a JSON-serialisable body (None for no body)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
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


@dataclass(frozen=True)
class LoggedRequest:
    """One request the fake received (faulted ones included); header names are lower case."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Fault:
    """A queued misbehaviour for requests whose path matches `pattern` (and `method`, if set)."""

    pattern: re.Pattern[str]
    method: str | None
    kind: str  # "status", "slow" or "drop"
    remaining: int
    status: int = 0
    reason: str = ""
    message: str = ""
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return self.remaining > 0 and (self.method in (None, method)) and bool(self.pattern.search(path))


Handler = Callable[[FakeRequest], FakeResponse]


@dataclass(frozen=True)
class _Route:
    method: str
    regex: re.Pattern[str]
    handler: Handler | None  # None: the API has the method but the fake does not implement it
    spec: discovery.MethodSpec | None
    specificity: int  # literal characters in the path: literal segments win over {params}


class FakeGoogle:
    """A local stand-in for Google's APIs over real HTTP on 127.0.0.1, on a random port.

    Use as a context manager or call `start()`/`stop()`. Point the real client at
    `api_endpoint` and credentials at `token_uri`.
    """

    oauth: FakeOAuth
    calendar: FakeCalendar
    drive: FakeDrive
    docs: FakeDocs
    gmail: FakeGmail

    def __init__(self, *, require_auth: bool = True) -> None:
        self.lock = threading.RLock()
        self.require_auth = require_auth
        self.requests: list[LoggedRequest] = []
        # APIs not enabled in the OAuth client's Cloud project ("calendar", "drive", "docs", "gmail").
        self.disabled_apis: set[str] = set()
        self._routes: list[_Route] = []
        self._faults: list[Fault] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
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

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeGoogle:
        """Listen on 127.0.0.1 on a free port, serving from a daemon thread."""
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        httpd.daemon_threads = True  # a slow handler must not block stop()
        self._httpd = httpd
        # A short poll interval: shutdown() waits for the serving loop to notice.
        serve = functools.partial(httpd.serve_forever, poll_interval=0.02)
        self._thread = threading.Thread(target=serve, name="fakegoogle", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeGoogle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, no trailing slash."""
        assert self._httpd is not None, "FakeGoogle is not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

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
            literal = len(re.sub(r"\{[^}]*\}", "", spec.path))
            route = _Route(spec.http_method, spec.path_regex(), handlers.get(method_id), spec, literal)
            self._routes.append(route)
        self._routes.sort(key=lambda route: -route.specificity)

    def add_route(self, method: str, path_regex: str, handler: Handler) -> None:
        """Serve a path that no discovery document describes (the OAuth token endpoint)."""
        self._routes.insert(0, _Route(method, re.compile(path_regex), handler, None, 1 << 30))

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
        text = message or f"Injected {status}"
        self._add_fault(
            path,
            method,
            "status",
            times,
            status=status,
            message=text,
            reason=reason or DEFAULT_REASONS.get(status, "error"),
        )

    def slow(self, path: str, seconds: float, *, times: int = 1, method: str | None = None) -> None:
        """Delay the next `times` matching requests by `seconds` before handling them.

        The request is still carried out afterwards (as a real server would).
        """
        self._add_fault(path, method, "slow", times, delay=seconds)

    def drop(self, path: str, *, times: int = 1, method: str | None = None) -> None:
        """Close the connection without answering the next `times` matching requests."""
        self._add_fault(path, method, "drop", times)

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def _add_fault(self, path: str, method: str | None, kind: str, times: int, **extra: Any) -> None:
        with self.lock:
            self._faults.append(Fault(re.compile(path), method, kind, times, **extra))

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    return fault
        return None

    # --- request log -------------------------------------------------------------------------

    def requests_to(self, path: str = "", method: str | None = None) -> list[LoggedRequest]:
        """Logged requests whose path matches regex `path` (and `method`, if given)."""
        regex = re.compile(path)
        with self.lock:
            return [r for r in self.requests if regex.search(r.path) and method in (None, r.method)]

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()

    # --- dispatch ----------------------------------------------------------------------------

    def handle(self, request: FakeRequest) -> FakeResponse:
        """Route, authenticate, validate and answer one request (faults already applied)."""
        route, params = self._route(request)
        if route is None:
            return ApiError(404, f"No such path: {request.method} {request.path}", "notFound").response()
        request.params = params
        try:
            if route.spec is not None:
                self._check_api_request(route, request)
            assert route.handler is not None
            with self.lock:
                return route.handler(request)
        except ApiError as exc:
            return exc.response()

    def _check_api_request(self, route: _Route, request: FakeRequest) -> None:
        assert route.spec is not None
        if route.handler is None:
            raise ApiError(501, f"{route.spec.id} is not implemented by the fake", "notImplemented")
        authorization = request.headers.get("Authorization")
        if self.require_auth and not self.oauth.authorizes(authorization):
            raise ApiError(401, "Request had invalid authentication credentials.", "authError")
        if self.require_auth and not self.oauth.permits(authorization, route.spec.scopes):
            raise ApiError(403, "Request had insufficient authentication scopes.", "insufficientPermissions")
        api = route.spec.id.split(".")[0]
        if api in self.disabled_apis:
            raise ApiError(403, _not_enabled_message(api), "accessNotConfigured")
        problem = discovery.validate_query(route.spec, request.query)
        if problem is None and request.method in ("POST", "PUT", "PATCH"):
            problem = discovery.validate_body(route.spec, request.json())
        if problem:
            raise ApiError(400, problem, "invalid")

    def _route(self, request: FakeRequest) -> tuple[_Route | None, dict[str, str]]:
        for route in self._routes:
            if route.method != request.method:
                continue
            match = route.regex.match(request.path)
            if match:
                return route, {k: unquote(v) for k, v in match.groupdict().items()}
        return None, {}


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


def _make_handler(fake: FakeGoogle) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as httplib2 expects of Google
        # Headers and body go out in separate writes: with Nagle's algorithm on, the body then
        # waits for the client's delayed ACK, about 40 ms per response.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._serve()

        do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the request log is the record; stderr noise helps no one

        def _serve(self) -> None:
            request = self._read_request()
            fault = fake._take_fault(request.method, request.path)
            if fault is not None and fault.kind == "drop":
                self._drop()
                return
            if fault is not None and fault.kind == "slow":
                time.sleep(fault.delay)
            if fault is not None and fault.kind == "status":
                body = error_body(fault.status, fault.message, fault.reason)
                response = FakeResponse(fault.status, body)
            else:
                response = fake.handle(request)
            self._write(response)

        def _read_request(self) -> FakeRequest:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            request = FakeRequest(self.command, parts.path, query, self.headers, body)
            headers = {name.lower(): value for name, value in self.headers.items()}
            logged = LoggedRequest(self.command, parts.path, query, headers, body)
            with fake.lock:
                fake.requests.append(logged)
            return request

        def _drop(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def _write(self, response: FakeResponse) -> None:
            payload = b"" if response.body is None else json.dumps(response.body).encode()
            try:
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if payload:
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                self.close_connection = True  # the client gave up (a timeout test): fine

    return _Handler
