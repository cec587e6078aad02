"""The fake's HTTPS core: a threaded TLS server on 127.0.0.1, a router, faults, a request log.

msal accepts only an `https://` authority, so the fake speaks TLS with a throw-away
certificate made once per process (`tls.py`); clients trust it through `REQUESTS_CA_BUNDLE` (the
`ca_env` context manager). Sign-in and Graph are served by the same server, so one
certificate does for both.

Order of processing for each request: log it, apply a queued fault (status, slow, drop), then
route: Graph routes check the bearer token (401) and its scopes (403) before their handler.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from .tls import shared_certificate

if TYPE_CHECKING:
    from .calendar import FakeOutlookCalendar
    from .login import FakeLogin
    from .mail import FakeMail

GRAPH_PREFIX = "/v1.0"


@dataclass
class FakeRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    match: re.Match[str] | None = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from None

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8")).items()}


@dataclass
class FakeResponse:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class GraphError(Exception):
    """Raised by handlers; answered with Graph's error shape."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def response(self) -> FakeResponse:
        body = {"error": {"code": self.code, "message": self.message}}
        return FakeResponse(self.status, body, self.headers)


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Fault:
    pattern: re.Pattern[str]
    method: str | None
    kind: str  # "status", "slow" or "drop"
    remaining: int
    status: int = 0
    code: str = ""
    retry_after: str | None = None
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return self.remaining > 0 and self.method in (None, method) and bool(self.pattern.search(path))


Handler = Callable[[FakeRequest], FakeResponse]


@dataclass(frozen=True)
class _Route:
    method: str
    regex: re.Pattern[str]
    handler: Handler
    scope: str | None  # a Graph route: the permission its token must carry


class FakeGraph:
    """Microsoft's sign-in service and Graph on https://127.0.0.1:PORT, in one threaded server.

    `login` (FakeLogin), `outlook` (FakeOutlookCalendar) and `mail` (FakeMail) hold the state;
    point syncd's `microsoft.authority` at `authority` and `microsoft.graph_endpoint` at
    `graph_endpoint`, and make clients trust `ca_file` (`with fake.ca_env(): ...`).
    """

    login: FakeLogin
    outlook: FakeOutlookCalendar
    mail: FakeMail

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[LoggedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0  # the most Graph requests handled at once
        self._routes: list[_Route] = []
        self._faults: list[Fault] = []
        self._httpd: ThreadingHTTPServer | None = None
        self.ca_file, _ = shared_certificate()
        from .calendar import FakeOutlookCalendar
        from .login import FakeLogin
        from .mail import FakeMail

        self.login = FakeLogin(self)
        self.outlook = FakeOutlookCalendar(self)
        self.mail = FakeMail(self)
        # Other accounts' calendars and mail, by address: `/me` is the token's account.
        self.mailboxes: dict[str, tuple[FakeOutlookCalendar, FakeMail]] = {}

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeGraph:
        cert, key = shared_certificate()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        httpd.daemon_threads = True
        # The handshake happens in the handler's thread, so a client that never speaks TLS
        # cannot stall the accepting loop.
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        self._httpd = httpd
        serve = functools.partial(httpd.serve_forever, poll_interval=0.02)
        threading.Thread(target=serve, name="fakegraph", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeGraph:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "FakeGraph is not started"
        return f"https://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def authority(self) -> str:
        """The value for `microsoft.authority` (the tenant is appended by syncd)."""
        return self.url

    @property
    def graph_endpoint(self) -> str:
        return self.url + GRAPH_PREFIX

    @contextlib.contextmanager
    def ca_env(self) -> Iterator[None]:
        """`REQUESTS_CA_BUNDLE` set to the fake's certificate inside the block."""
        saved = os.environ.get("REQUESTS_CA_BUNDLE")
        os.environ["REQUESTS_CA_BUNDLE"] = str(self.ca_file)
        try:
            yield
        finally:
            if saved is None:
                os.environ.pop("REQUESTS_CA_BUNDLE", None)
            else:
                os.environ["REQUESTS_CA_BUNDLE"] = saved

    def reset(self) -> None:
        """Forget events, messages, faults and the log (a module-wide fake between tests);
        signed-in tokens stay valid."""
        with self.lock:
            self.outlook.reset()
            self.mail.reset()
            self.mailboxes.clear()
            self._faults.clear()
            self.requests.clear()
            self.max_in_flight = 0

    def add_mailbox(self, user: str) -> tuple[FakeOutlookCalendar, FakeMail]:
        """A second (third...) account: its calendar and mail, which Graph's `/me` routes
        serve to tokens issued to `user` (sign in with `login.next_user = user`). Tokens of
        any other account keep `outlook` and `mail`."""
        from .calendar import FakeOutlookCalendar
        from .mail import FakeMail

        with self.lock:
            calendar, mail = FakeOutlookCalendar(self, routes=False), FakeMail(self, routes=False)
            calendar.owner = user
            self.mailboxes[user] = (calendar, mail)
            return calendar, mail

    def _for_account(self, handler: Handler, authorization: str | None) -> Handler:
        """`handler` bound to the calendar or mail of the token's account."""
        box = self.mailboxes.get(self.login.user_of(authorization))
        owner = getattr(handler, "__self__", None)
        if box is None or owner not in (self.outlook, self.mail):
            return handler
        twin = box[0] if owner is self.outlook else box[1]
        found: Handler = getattr(twin, handler.__name__)
        return found

    # --- routing ----------------------------------------------------------------------------

    def route(self, method: str, regex: str, handler: Handler, scope: str | None = None) -> None:
        """Serve `method` on paths matching `regex`; with `scope`, a Graph route under /v1.0."""
        prefix = GRAPH_PREFIX if scope else ""
        self._routes.append(_Route(method, re.compile(f"^{prefix}{regex}$"), handler, scope))

    # --- faults -----------------------------------------------------------------------------

    def fail(
        self,
        path: str,
        status: int,
        *,
        code: str = "",
        retry_after: str | None = None,
        times: int = 1,
        method: str | None = None,
    ) -> None:
        """Answer the next `times` requests whose path matches regex `path` with `status`."""
        fault = Fault(
            re.compile(path), method, "status", times, status, code or f"Injected{status}", retry_after
        )
        with self.lock:
            self._faults.append(fault)

    def slow(self, path: str, seconds: float, *, times: int = 1, method: str | None = None) -> None:
        with self.lock:
            self._faults.append(Fault(re.compile(path), method, "slow", times, delay=seconds))

    def drop(self, path: str, *, times: int = 1, method: str | None = None) -> None:
        with self.lock:
            self._faults.append(Fault(re.compile(path), method, "drop", times))

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    return fault
        return None

    # --- log --------------------------------------------------------------------------------

    def requests_to(self, path: str = "", method: str | None = None) -> list[LoggedRequest]:
        regex = re.compile(path)
        with self.lock:
            return [r for r in self.requests if regex.search(r.path) and method in (None, r.method)]

    def graph_requests(self, method: str | None = None) -> list[LoggedRequest]:
        """The requests to Graph (not to the sign-in service)."""
        return self.requests_to("^" + GRAPH_PREFIX + "/", method)

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()

    # --- dispatch ---------------------------------------------------------------------------

    def handle(self, request: FakeRequest) -> FakeResponse:
        for route in self._routes:
            if route.method != request.method:
                continue
            match = route.regex.match(request.path)
            if match is None:
                continue
            request.match = match
            try:
                handler = route.handler
                if route.scope is not None:
                    self.login.check(request.headers.get("Authorization"), route.scope)
                    handler = self._for_account(handler, request.headers.get("Authorization"))
                with self.lock:
                    return handler(request)
            except GraphError as exc:
                return exc.response()
        return GraphError(
            400, "BadRequest", f"Resource not found for the segment in {request.path}."
        ).response()


def _make_handler(fake: FakeGraph) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._serve()

        do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            request = self._read_request()
            graph = request.path.startswith(GRAPH_PREFIX + "/")
            with fake.lock:
                fake.in_flight += graph
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            try:
                self._answer(request)
            finally:
                with fake.lock:
                    fake.in_flight -= graph

        def _answer(self, request: FakeRequest) -> None:
            fault = fake._take_fault(request.method, request.path)
            if fault is not None and fault.kind == "drop":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault is not None and fault.kind == "slow":
                time.sleep(fault.delay)
            if fault is not None and fault.kind == "status":
                headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                response = GraphError(fault.status, fault.code, "Injected failure.", headers).response()
            else:
                response = fake.handle(request)
            self._write(response)

        def _read_request(self) -> FakeRequest:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            headers = {name.lower(): value for name, value in self.headers.items()}
            with fake.lock:
                fake.requests.append(LoggedRequest(self.command, parts.path, query, headers, body))
            return FakeRequest(self.command, parts.path, query, self.headers, body)

        def _write(self, response: FakeResponse) -> None:
            payload = b"" if response.body is None else json.dumps(response.body).encode()
            try:
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if payload:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                self.close_connection = True

    return _Handler
