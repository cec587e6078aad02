"""The fakes' shared HTTP core (`tests/fakehttp.py`): routing, the request log, queued faults,
and quiet hang-ups, on a minimal fake of its own (one server for the module)."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakegraph.tls import shared_certificate
from tests.fakehttp import FakeResponse, FakeServer, HttpError, Request
from tests.support import wait_for


class Refused(HttpError):
    def __init__(self, status: int) -> None:
        super().__init__(str(status))
        self.status = status

    def response(self) -> FakeResponse:
        return FakeResponse(self.status, {"refused": self.status})


class Echo(FakeServer):
    """Answers `/things/NAME` with the decoded name; `/things/special` by a route of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.handled: list[str] = []
        self.add("GET", r"^/things/(?P<name>[^/]+)$", self._thing)
        self.add("POST", r"^/things/(?P<name>[^/]+)$", self._thing)
        self.add("GET", r"^/things/special$", lambda request: FakeResponse(200, "special"), priority=1)
        self.add("GET", r"^/private$", self._thing, guard=self._refuse)

    def _thing(self, request: Request) -> FakeResponse:
        self.handled.append(request.method + " " + request.params.get("name", ""))
        return FakeResponse(200, {"name": request.params.get("name")})

    def _refuse(self, request: Request) -> None:
        raise Refused(403)

    def no_route(self, request: Request) -> HttpError:
        return Refused(404)


@pytest.fixture(scope="module")
def server() -> Iterator[Echo]:
    with Echo() as fake:
        yield fake


@pytest.fixture
def fake(server: Echo) -> Echo:
    server.clear_faults()
    server.clear_log()
    server.handled.clear()
    return server


def call(fake: FakeServer, method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
    port = int(fake.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, body=body, headers={"X-Probe": "yes"})
        answer = connection.getresponse()
        payload = answer.read()
        return answer.status, json.loads(payload) if payload else None
    finally:
        connection.close()


def test_routes_decode_path_groups_and_a_higher_priority_route_wins(fake: Echo) -> None:
    assert call(fake, "GET", "/things/a%20b") == (200, {"name": "a b"})
    assert call(fake, "GET", "/things/special") == (200, "special")
    assert call(fake, "GET", "/private") == (403, {"refused": 403})  # the guard, before the handler
    assert call(fake, "DELETE", "/things/a") == (404, {"refused": 404})
    assert fake.handled == ["GET a b"]


def test_the_log_keeps_method_path_query_lower_case_headers_and_body(fake: Echo) -> None:
    call(fake, "POST", "/things/x?mode=fast&empty=", b'{"k": 1}')
    [logged] = fake.requests_to("/things/x", method="POST")
    assert logged.query == {"mode": ["fast"], "empty": [""]}
    assert logged.headers["x-probe"] == "yes" and logged.json() == {"k": 1}
    assert fake.requests_to("/things/x", method="GET") == []


def test_a_fault_hits_only_its_method_and_path_and_only_as_often_as_queued(fake: Echo) -> None:
    fake.fail_with(
        r"/things/a$", FakeResponse(503, {"busy": True}, {"Retry-After": "1"}), times=2, method="GET"
    )
    assert call(fake, "POST", "/things/a")[0] == 200
    assert call(fake, "GET", "/things/b")[0] == 200
    assert [call(fake, "GET", "/things/a")[0] for _ in range(3)] == [503, 503, 200]
    assert fake.handled == ["POST a", "GET b", "GET a"]  # a faulted request never reaches its handler
    assert len(fake.requests_to("/things/a", "GET")) == 3  # but is logged


def test_a_drop_before_loses_the_request_and_a_drop_after_only_its_answer(fake: Echo) -> None:
    fake.drop(r"/things/before$")
    fake.drop(r"/things/after$", after=True)
    for name in ("before", "after"):
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            call(fake, "GET", f"/things/{name}")
    assert fake.handled == ["GET after"]


def test_slow_delays_the_answer_and_counts_the_request_in_flight_meanwhile(fake: Echo) -> None:
    fake.most_in_flight = 0
    fake.slow(r"/things/late$", 0.2, after=True)
    started = time.monotonic()
    assert call(fake, "GET", "/things/late")[0] == 200
    assert time.monotonic() - started >= 0.2
    assert fake.handled == ["GET late"] and fake.most_in_flight == 1
    # The server counts the request out after its answer is sent, so maybe after `call` returns.
    assert wait_for(lambda: fake.in_flight == 0, timeout=2)


def test_a_client_hanging_up_in_the_tls_handshake_leaves_no_traceback_on_stderr(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """An in-process syncd run's stderr is checked for tracebacks; the fake must not put one there."""
    tls = Echo()
    tls.certificate = shared_certificate()
    with tls:
        assert tls.url.startswith("https://")
        port = int(tls.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as plain:
            plain.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # not TLS: the handshake fails
            with contextlib.suppress(OSError):
                plain.recv(100)  # returns once the server has closed it, its error handled
    assert "Traceback" not in capfd.readouterr().err


def test_a_stopped_fake_closes_the_connections_it_kept_alive() -> None:
    """A client's kept-alive connection is not answered by a fake once stopped: a new fake
    may have its port by then, and the old one's answers would land in the wrong test."""
    stopped = Echo().start()
    port = int(stopped.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/things/first")
        assert connection.getresponse().read()
        stopped.stop()
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            connection.request("GET", "/things/second")
            connection.getresponse()
    finally:
        connection.close()
    assert stopped.handled == ["GET first"]
