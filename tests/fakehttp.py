"""The HTTP core the fake API servers (`fakegoogle`, `fakegraph`, `fakenotion`) share.

A threaded server on 127.0.0.1 on a free port (TLS when the fake has a certificate), a
routing table, a request log, queued faults and JSON answers. A fake subclasses `FakeServer`,
adds its routes, its error shape (an `HttpError` subclass) and, through the hooks `admit`,
`no_route` and `counts`, what it checks and counts.

Order of processing for each request: log it, apply a queued fault (status, slow, drop),
`admit` it, route it, run the route's guard (auth, scopes), then its handler under the lock.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit


class HttpError(Exception):
    """Raised by handlers and guards; each fake's subclass answers in its service's error shape."""

    def response(self) -> FakeResponse:
        raise NotImplementedError


@dataclass
class FakeResponse:
    """What a handler answers: a status and a JSON-serialisable body (None for no body)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    """One request as a handler sees it: `params` and `match` come from the route's regex."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    match: re.Match[str] | None = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The single value of query parameter `name`."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body parsed as JSON (None when empty); the fake's 400 when it does not parse."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            raise self.unreadable() from None

    def form(self) -> dict[str, str]:
        """The body as a form (`application/x-www-form-urlencoded`), one value a field."""
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8")).items()}

    def unreadable(self) -> HttpError:
        """The error a body that is not JSON gets; each fake says it in its own words."""
        raise NotImplementedError


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
    """A queued misbehaviour for requests whose path matches `pattern` (and `method`, if set).

    `kind` is "status" (answer `response` instead), "slow" (wait `delay` first) or "drop"
    (close the connection unanswered); with `after`, slow and drop come once the request is
    carried out, so its effect lands and only the answer is late or lost.
    """

    pattern: re.Pattern[str]
    method: str | None
    kind: str
    remaining: int
    after: bool = False
    delay: float = 0.0
    response: FakeResponse | None = None

    def matches(self, method: str, path: str) -> bool:
        return self.remaining > 0 and self.method in (None, method) and bool(self.pattern.search(path))


Handler = Callable[[Any], FakeResponse]
Guard = Callable[[Any], None]


@dataclass(frozen=True)
class Route:
    method: str
    regex: re.Pattern[str]
    handler: Handler
    guard: Guard | None  # raises an HttpError to refuse the request before its handler runs
    priority: int  # higher first; equal ones in the order they were added


class FakeServer:
    """Serving, routing, faults and the request log; use as a context manager or call
    `start()`/`stop()`."""

    request_type: type[Request] = Request
    content_type = "application/json; charset=utf-8"
    keep_blank_values = True  # in the query string

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[LoggedRequest] = []
        self.certificate: tuple[Path, Path] | None = None  # (cert, key) PEM files: serve TLS
        self.in_flight = 0
        self.most_in_flight = 0  # the most counted requests (`counts`) served at once
        self._routes: list[Route] = []
        self._faults: list[Fault] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._url = ""
        # The connections being served: stop() closes them, so a client's kept-alive
        # connection is never answered by a stopped fake (a new fake may have its port by then).
        self._connections: set[socket.socket] = set()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Listen on 127.0.0.1 on a free port, serving from a daemon thread."""
        httpd = _Server(("127.0.0.1", 0), _make_handler(self))
        if self.certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.certificate)
            # The handshake happens in the handler's thread, so a client that never speaks TLS
            # cannot stall the accepting loop.
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        self._httpd = httpd
        scheme = "http" if self.certificate is None else "https"
        self._url = f"{scheme}://127.0.0.1:{httpd.server_address[1]}"
        # A short poll interval: shutdown() waits for the serving loop to notice.
        serve = functools.partial(httpd.serve_forever, poll_interval=0.02)
        threading.Thread(target=serve, name=type(self).__name__, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        with self.lock:
            open_now = list(self._connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """`http(s)://127.0.0.1:PORT`, no trailing slash (the last one, once stopped: a request
        already being answered may still need it)."""
        assert self._url, f"{type(self).__name__} was never started"
        return self._url

    # --- routing -----------------------------------------------------------------------------

    def add(
        self,
        method: str,
        regex: str | re.Pattern[str],
        handler: Handler,
        *,
        guard: Guard | None = None,
        priority: int = 0,
    ) -> None:
        """Serve `method` on paths that `regex` matches from their start (named groups: params)."""
        self._routes.append(Route(method, re.compile(regex), handler, guard, priority))
        self._routes.sort(key=lambda route: -route.priority)

    # --- faults ------------------------------------------------------------------------------

    def fail_with(
        self, path: str, response: FakeResponse, *, times: int = 1, method: str | None = None
    ) -> None:
        """Answer the next `times` requests whose path matches regex `path` with `response`."""
        self._queue(Fault(re.compile(path), method, "status", times, response=response))

    def slow(
        self, path: str, seconds: float, *, times: int = 1, method: str | None = None, after: bool = False
    ) -> None:
        """Delay the next `times` matching requests by `seconds`; they are carried out afterwards
        (with `after`: carried out first, their answer delayed)."""
        self._queue(Fault(re.compile(path), method, "slow", times, after=after, delay=seconds))

    def drop(self, path: str, *, times: int = 1, method: str | None = None, after: bool = False) -> None:
        """Close the connection without an answer; with `after`, the request is carried out
        first (the answer is what gets lost)."""
        self._queue(Fault(re.compile(path), method, "drop", times, after=after))

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def _queue(self, fault: Fault) -> None:
        with self.lock:
            self._faults.append(fault)

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

    def admit(self, request: Request) -> None:
        """Checks every request passes before routing (raise an HttpError to refuse it)."""

    def no_route(self, request: Request) -> HttpError:
        """The error for a request no route matches."""
        raise NotImplementedError

    def counts(self, request: Request) -> bool:
        """Whether `request` counts towards `in_flight`."""
        return True

    def handle(self, request: Request) -> FakeResponse:
        """Admit, route, guard and answer one request (faults already applied)."""
        try:
            self.admit(request)
            for route in self._routes:
                match = route.regex.match(request.path) if route.method == request.method else None
                if match is None:
                    continue
                request.match = match
                request.params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                if route.guard is not None:
                    route.guard(request)
                with self.lock:
                    return route.handler(request)
            raise self.no_route(request)
        except HttpError as exc:
            return exc.response()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a slow handler must not block stop()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-request or mid-handshake (a killed daemon, a pool closing an
        # idle connection) is no fault of the fake's; its traceback on stderr would land in the
        # output of an in-process syncd run, which the tests check for tracebacks.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


def _make_handler(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the client libraries expect
        # Headers and body go out in separate writes: with Nagle's algorithm on, the body then
        # waits for the client's delayed ACK, about 40 ms per response.
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            with fake.lock:
                fake._connections.add(self.connection)

        def finish(self) -> None:
            with fake.lock:
                fake._connections.discard(self.connection)
            super().finish()

        def do_GET(self) -> None:
            self._serve()

        do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the request log is the record; stderr noise helps no one

        def _serve(self) -> None:
            request = self._read_request()
            self._counted = fake.counts(request)
            with fake.lock:
                fake.in_flight += self._counted
                fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
            try:
                self._answer(request)
            finally:
                self._count_out()

        def _count_out(self) -> None:
            # Before the answer goes out: a client that has its answer may send the next
            # request at once, which must not find this one still counted.
            with fake.lock:
                fake.in_flight -= self._counted
            self._counted = False

        def _answer(self, request: Request) -> None:
            fault = fake._take_fault(request.method, request.path)
            before = fault if fault is not None and not fault.after else None
            if before is not None and before.kind == "drop":
                self._drop()
                return
            if before is not None and before.kind == "slow":
                time.sleep(before.delay)
            if before is not None and before.response is not None:
                self._write(before.response)
                return
            response = fake.handle(request)
            late = fault if fault is not None and fault.after else None
            if late is not None and late.kind == "drop":
                self._drop()
                return
            if late is not None and late.kind == "slow":
                time.sleep(late.delay)
            self._write(response)

        def _read_request(self) -> Request:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=fake.keep_blank_values)
            headers = {name.lower(): value for name, value in self.headers.items()}
            with fake.lock:
                fake.requests.append(LoggedRequest(self.command, parts.path, query, headers, body))
            return fake.request_type(self.command, parts.path, query, self.headers, body)

        def _drop(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def _write(self, response: FakeResponse) -> None:
            payload = b"" if response.body is None else json.dumps(response.body).encode()
            self._count_out()
            try:
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if payload:
                    self.send_header("Content-Type", fake.content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                self.close_connection = True  # the client gave up (a timeout test): fine

    return _Handler
