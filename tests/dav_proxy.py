"""A fault-injecting HTTP proxy in front of the test Radicale: requests go through unchanged
unless a `Fault` matches them (by method and a path substring), which then answers in its
place a given number of times: a status (412, 500, 503, 429 with Retry-After...), a slow
answer (a delay before forwarding), or a dropped connection (closed with no answer)."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

Action = Literal["status", "delay", "drop", "drop_after"]


@dataclass
class Fault:
    """Answer the next `count` requests whose method is `method` ("*": any) and whose path
    contains `path` with `action`: `status` (with `headers`), a `delay` in seconds before
    the request is forwarded, a `drop` of the connection, or `drop_after`: the request is
    forwarded (the server acts on it) and the connection dropped before the answer."""

    method: str
    path: str = ""
    action: Action = "status"
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    count: int = 1
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return self.hits < self.count and self.method in ("*", method) and self.path in path


class DavProxy:
    """The proxy's URL, its faults (add with `inject`) and the requests it saw."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream).netloc
        self.faults: list[Fault] = []
        self.seen: list[tuple[str, str]] = []  # (method, path) of every request
        self._lock = threading.Lock()
        self.url = ""

    def inject(self, fault: Fault) -> Fault:
        """Add `fault` (checked before the ones added earlier); return it to read its hits."""
        with self._lock:
            self.faults.insert(0, fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The fault that answers this request, counted as used; None to forward it."""
        with self._lock:
            self.seen.append((method, path))
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None


def _handler(proxy: DavProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fault = proxy.take(self.command, self.path)
            if fault is not None and fault.action == "drop":
                self.close_connection = True
                return  # the socket closes with no status line: the client sees a dropped connection
            if fault is not None and fault.action == "status":
                self.send_response(fault.status)
                for name, value in fault.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if fault is not None:
                time.sleep(fault.delay)
            self._forward(body, answer=fault is None or fault.action != "drop_after")

        def _forward(self, body: bytes, *, answer: bool) -> None:
            upstream = http.client.HTTPConnection(proxy.upstream, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                reply = upstream.getresponse()
                data = reply.read()
            except OSError:
                return  # the client gave up (a timeout test): nobody to answer
            finally:
                upstream.close()
            if not answer:
                self.close_connection = True
                return
            try:
                self.send_response(reply.status)
                for name, value in reply.getheaders():
                    if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client timed out and closed its end

        do_GET = do_PUT = do_DELETE = do_PROPFIND = do_REPORT = _serve
        do_MKCALENDAR = do_OPTIONS = do_POST = do_PROPPATCH = do_HEAD = _serve

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def dav_proxy(upstream: str) -> Iterator[DavProxy]:
    """A running proxy to `upstream` (a Radicale URL) on a free port of 127.0.0.1."""
    proxy = DavProxy(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
