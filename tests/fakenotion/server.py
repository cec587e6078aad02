"""The fake's HTTP core: a threaded server on 127.0.0.1, routes, fault injection, a request log.

Every request is logged, then a queued fault applies (a status with Retry-After, slow,
dropped), then the Notion-Version header (exactly 2025-09-03) and the bearer token are
checked, then the handler runs under the workspace lock. Errors have Notion's shape:
`{"object": "error", "status": 400, "code": "validation_error", "message": "..."}`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

VERSION = "2025-09-03"
TOKEN = "ntn_fake_integration_token_0001"


class NotionError(Exception):
    """Raised by handlers; answered in Notion's error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def invalid(message: str) -> NotionError:
    """A 400 validation_error, as Notion answers a body that fails its checks."""
    return NotionError(400, "validation_error", message)


@dataclass
class Request:
    """One request as a handler sees it; `params` are the path's decoded groups."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise NotionError(400, "invalid_json", "Error parsing JSON body.") from None


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


Handler = Callable[[Request], Any]


class HttpCore:
    """Serving, routing, faults and the log; `FakeNotion` adds the API on top."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[Request] = []
        self.tokens: set[str] = {TOKEN}
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[Fault] = []
        self._httpd: ThreadingHTTPServer | None = None
        self.in_flight = 0
        self.most_in_flight = 0  # the most requests served at once: 1 when syncd serialises

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> HttpCore:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        httpd.daemon_threads = True
        self._httpd = httpd
        serve = functools.partial(httpd.serve_forever, poll_interval=0.02)
        threading.Thread(target=serve, name="fakenotion", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        """The API root for notion-client's `base_url` (it adds `/v1/`)."""
        assert self._httpd is not None, "the fake is not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def route(self, method: str, path: str, handler: Handler) -> None:
        """Serve `method` on `path`, a regex with named groups, under /v1."""
        self._routes.append((method, re.compile(f"^/v1{path}$"), handler))

    # --- faults and the log --------------------------------------------------------------------

    def fail(
        self,
        path: str,
        status: int,
        code: str = "",
        *,
        retry_after: float | None = None,
        times: int = 1,
        method: str | None = None,
    ) -> None:
        """Answer the next `times` requests whose path matches regex `path` with `status`."""
        after = None if retry_after is None else str(retry_after)
        fault = Fault(
            re.compile(path), method, "status", times, status, code or _CODES.get(status, ""), after
        )
        with self.lock:
            self._faults.append(fault)

    def slow(
        self, path: str, seconds: float, *, times: int = 1, method: str | None = None, after: bool = False
    ) -> None:
        """Delay the next matching requests by `seconds`; they are carried out afterwards
        (with `after`: carried out first, their answer delayed)."""
        kind = "slow-after" if after else "slow"
        with self.lock:
            self._faults.append(Fault(re.compile(path), method, kind, times, delay=seconds))

    def drop(self, path: str, *, times: int = 1, method: str | None = None, after: bool = False) -> None:
        """Close the connection without an answer; with `after`, the request is carried out
        first (the answer is what gets lost)."""
        with self.lock:
            self._faults.append(Fault(re.compile(path), method, "drop-after" if after else "drop", times))

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def requests_to(self, path: str = "", method: str | None = None) -> list[Request]:
        regex = re.compile(path)
        with self.lock:
            return [r for r in self.requests if regex.search(r.path) and method in (None, r.method)]

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    return fault
        return None

    # --- dispatch ------------------------------------------------------------------------------

    def handle(self, request: Request) -> tuple[int, Any]:
        try:
            self._check_headers(request)
            for method, regex, handler in self._routes:
                match = regex.match(request.path)
                if method == request.method and match:
                    request.params = {k: unquote(v) for k, v in match.groupdict().items()}
                    with self.lock:
                        return 200, handler(request)
            raise NotionError(400, "invalid_request_url", "Invalid request URL.")
        except NotionError as exc:
            return exc.status, error_body(exc.status, exc.code, exc.message)

    def _check_headers(self, request: Request) -> None:
        version = request.headers.get("notion-version")
        if version is None:
            raise NotionError(400, "missing_version", "Notion-Version header failed validation.")
        if version != VERSION:
            raise invalid(f"The fake speaks Notion-Version {VERSION}, not {version}.")
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.tokens:
            raise NotionError(401, "unauthorized", "API token is invalid.")


_CODES = {
    400: "validation_error",
    401: "unauthorized",
    404: "object_not_found",
    409: "conflict_error",
    429: "rate_limited",
    500: "internal_server_error",
    503: "service_unavailable",
    529: "service_overload",
}


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    return {"object": "error", "status": status, "code": code, "message": message}


def _make_handler(core: HttpCore) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._serve()

        do_POST = do_PATCH = do_DELETE = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            headers = {name.lower(): value for name, value in self.headers.items()}
            request = Request(self.command, parts.path, parse_qs(parts.query), headers, body)
            with core.lock:
                core.requests.append(request)
                core.in_flight += 1
                core.most_in_flight = max(core.most_in_flight, core.in_flight)
            try:
                self._answer(request)
            finally:
                with core.lock:
                    core.in_flight -= 1

        def _answer(self, request: Request) -> None:
            fault = core._take_fault(request.method, request.path)
            if fault is not None and fault.kind == "drop":
                self._drop()
                return
            if fault is not None and fault.kind == "slow":
                time.sleep(fault.delay)
            if fault is not None and fault.kind == "status":
                extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                self._write(
                    fault.status, error_body(fault.status, fault.code, f"Injected {fault.status}"), extra
                )
                return
            status, answer = core.handle(request)
            if fault is not None and fault.kind == "drop-after":
                self._drop()
                return
            if fault is not None and fault.kind == "slow-after":
                time.sleep(fault.delay)
            self._write(status, answer)

        def _drop(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def _write(self, status: int, answer: Any, headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(answer).encode()
            try:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                self.close_connection = True

    return _Handler
