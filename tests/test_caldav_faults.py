"""CalDAV through a fault-injecting proxy in front of a real Radicale: a 412 on the write is
read again and applied once; 5xx, 429 and dropped connections are retried within bounds and
then are one `Unavailable` line, and the next pass recovers; a slow server times out."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from syncd.calendars.caldav import CaldavCalendar
from syncd.calendars.caldav_http import DavClient
from syncd.errors import Unavailable
from tests.dav_proxy import DavProxy, Fault, dav_proxy
from tests.radicale_server import make_calendar
from tests.test_caldav_calendar import server  # noqa: F401 (the shared Radicale fixture)
from tests.test_caldav_pipeline import CaldavWorkspace


@dataclass
class ProxiedWorkspace(CaldavWorkspace):
    """A CalDAV workspace whose syncd talks to Radicale through the proxy at `proxy_url`,
    while the test's own reads and writes go to Radicale directly."""

    proxy_url: str = ""

    def write_config(self) -> None:
        super().write_config()
        text = self.config.read_text()
        self.config.write_text(text.replace(f"url: '{self.server}'", f"url: '{self.proxy_url}'"))


@pytest.fixture
def proxy(server: str) -> Iterator[DavProxy]:  # noqa: F811
    with dav_proxy(server) as running:
        yield running


@pytest.fixture
def ws(tmp_path: Path, server: str, proxy: DavProxy) -> ProxiedWorkspace:  # noqa: F811
    user = f"coach-{uuid.uuid4().hex[:10]}"
    make_calendar(server, user, "coaching", "Coaching")
    workspace = ProxiedWorkspace(tmp_path, server=server, user=user, proxy_url=proxy.url)
    assert proxy.url in workspace.config.read_text()
    workspace.put("up1", "Intro session", datetime.now(UTC) + timedelta(hours=3))
    return workspace


def _linked_once(ws: ProxiedWorkspace) -> bool:
    [note] = ws.notes()
    event = ws.event_text("up1")
    return event.count("--- syncd:") == 1 and event.count(note.as_uri()) == 1


def _failure_lines(stderr: str, word: str) -> list[str]:
    return [line for line in stderr.splitlines() if word in line]


def test_a_412_on_the_write_is_read_again_and_the_link_written_exactly_once(
    ws: ProxiedWorkspace, proxy: DavProxy
) -> None:
    refused = proxy.inject(Fault("PUT", "/up1", status=412))
    ws.run("once")
    assert refused.hits == 1
    assert [m for m, _ in proxy.seen].count("PUT") == 2  # the refused write, then the re-applied one
    assert _linked_once(ws)
    ws.run("once")
    assert _linked_once(ws)


def test_5xx_are_retried_within_the_pass_when_they_pass(ws: ProxiedWorkspace, proxy: DavProxy) -> None:
    failing = proxy.inject(Fault("*", status=503))
    ws.run("once")
    assert failing.hits == 1
    assert _linked_once(ws)


def test_5xx_beyond_the_retries_are_one_unavailable_line_and_the_next_pass_recovers(
    ws: ProxiedWorkspace, proxy: DavProxy
) -> None:
    failing = proxy.inject(Fault("*", status=500, count=100))
    first = ws.run("once", check=False)
    assert failing.hits == 3  # bounded: DavClient's three attempts, then no more this pass
    [line] = _failure_lines(first.stderr, "(500)")
    assert urlsplit(proxy.url).netloc in line, line  # the server as configured, its port included
    assert "Traceback" not in first.stderr and "secret" not in first.stderr
    assert ws.notes() == []
    proxy.clear()
    ws.run("once")
    assert _linked_once(ws)


def _source(server: str, proxy: DavProxy, sleeps: list[float]) -> CaldavCalendar:  # noqa: F811
    """A source through the proxy whose client records its backoff instead of sleeping."""
    user = f"coach-{uuid.uuid4().hex[:10]}"
    make_calendar(server, user, "coaching", "Coaching")
    client = DavClient(user, "secret", sleep=sleeps.append)
    return CaldavCalendar(client, proxy.url, name="Coaching")


def test_a_429_waits_as_long_as_retry_after_says_and_the_read_goes_on(
    server: str,  # noqa: F811
    proxy: DavProxy,
) -> None:
    sleeps: list[float] = []
    source = _source(server, proxy, sleeps)
    limited = proxy.inject(Fault("*", status=429, headers={"Retry-After": "7"}))
    assert source.changes(None, datetime.now(UTC)).events == []
    assert limited.hits == 1 and sleeps == [7.0]


def test_a_dropped_connection_is_retried_then_unavailable_and_the_next_pass_recovers(
    server: str,  # noqa: F811
    proxy: DavProxy,
) -> None:
    sleeps: list[float] = []
    source = _source(server, proxy, sleeps)
    dropped = proxy.inject(Fault("*", action="drop", count=100))
    with pytest.raises(Unavailable, match="cannot be reached") as caught:
        source.changes(None, datetime.now(UTC))
    assert dropped.hits == 3 and len(sleeps) == 2 and "\n" not in str(caught.value)
    proxy.clear()
    assert source.changes(None, datetime.now(UTC)).events == []


def test_a_write_whose_answer_is_lost_is_not_written_twice(ws: ProxiedWorkspace, proxy: DavProxy) -> None:
    """The PUT reaches the server but the connection drops before the answer: the retry's
    If-Match no longer matches (412), the event is read again and already carries the block."""
    lost = proxy.inject(Fault("PUT", "/up1", action="drop_after"))
    ws.run("once")
    assert lost.hits == 1
    assert [m for m, _ in proxy.seen].count("PUT") == 2  # the lost one and the refused retry
    assert _linked_once(ws)


def test_a_slow_server_times_out_as_unavailable(server: str, proxy: DavProxy) -> None:  # noqa: F811
    user = f"coach-{uuid.uuid4().hex[:10]}"
    make_calendar(server, user, "coaching", "Coaching")
    slow = proxy.inject(Fault("*", action="delay", delay=2.0, count=2))
    client = DavClient(user, "secret", timeout=0.3, attempts=2, backoff=0.0)
    source = CaldavCalendar(client, proxy.url, name="Coaching")
    started = time.monotonic()
    with pytest.raises(Unavailable, match="cannot be reached: timed out"):
        source.changes(None, datetime.now(UTC))
    assert slow.hits == 2 and time.monotonic() - started < 1.5
    # Once the server answers in time, the same source reads the calendar.
    assert source.changes(None, datetime.now(UTC)).events == []


def test_the_configured_client_gives_up_on_a_silent_server_within_a_bounded_time() -> None:
    """A server that never answers cannot hang a pass: the client's timeout is bounded."""
    client = DavClient("ann", "secret")
    assert 0 < client.timeout <= 60 and client.attempts <= 5
