"""`metrics:`: Prometheus metrics and `/healthz` over HTTP, scraped with urllib and parsed with
prometheus-client's own parser, from a pass on the real Google client against the fake."""

from __future__ import annotations

import json
import signal
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from syncd.google.auth import SCOPE_CALENDAR_EVENTS
from syncd.health import OVERDUE_GRACE, Health
from syncd.metrics import MetricsServer, serve_metrics
from syncd.status_view import lease_lines
from syncd.telemetry import health_recorded
from tests.fakegoogle import FakeGoogle
from tests.fakegoogle.helpers import COACH, booking
from tests.support import Workspace, run_in_process, wait_for

LIST = r"/events$"


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def healthz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    started = serve_metrics("127.0.0.1:0")
    yield started
    started.stop()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle() as started:
        yield started


def google_config(tmp_path: Path, fake: FakeGoogle) -> Path:
    """One coach on the fake's primary calendar; notes and drafts in folders."""
    for sub in ("notes", "Mail"):
        (tmp_path / sub).mkdir()
    token = tmp_path / "google-token.json"
    token.write_text(json.dumps(fake.oauth.token_info([SCOPE_CALENDAR_EVENTS])))
    token.chmod(0o600)
    config = tmp_path / "syncd.yaml"
    config.write_text(
        f"""\
state_dir: state
google: {{client_secrets: client.json, token: google-token.json, token_uri: "{fake.token_uri}", api_endpoint: "{fake.api_endpoint}"}}
coaches:
  - name: Casey Coach
    email: {COACH}
    timezone: Europe/Berlin
    pricing_url: https://coach.example.com/pricing
    calendar: {{type: google}}
    notes: {{type: markdown, path: notes}}
    drafts: {{type: maildir, path: Mail}}
"""
    )
    return config


def test_a_pass_is_counted_with_its_requests_bookings_errors_and_leases(
    server: MetricsServer, fake: FakeGoogle, tmp_path: Path
) -> None:
    """One pass with a booking: passes by outcome, its duration, the calendar requests by status
    (the list and the patch, 2xx), the booking by phase, the coach's errors (none) and lease.
    Then a pass whose calendar read is refused (404): counted by its status and as the coach's error."""
    config = google_config(tmp_path, fake)
    fake.calendar.put_event(booking("metrics0001", datetime.now(UTC) + timedelta(days=1)))
    result = run_in_process(["--config", str(config), "once"], {})
    assert result.returncode == 0, result.stderr
    seen = scrape(server.port)
    assert seen[("syncd_passes_total", (("outcome", "ok"),))] == 1
    assert seen[("syncd_pass_duration_seconds_count", ())] == 1
    assert seen[("syncd_requests_total", (("backend", "google_calendar"), ("status", "2xx")))] >= 2
    assert seen[("syncd_bookings", (("phase", "linked"),))] == 1
    assert seen[("syncd_coach_errors_total", (("coach", COACH),))] == 0
    assert seen[("syncd_lease_held", (("coach", COACH),))] == 1
    assert seen[("syncd_last_pass_finished_seconds", ())] > 0
    assert ("process_resident_memory_bytes", ()) in seen

    fake.fail(LIST, 404, times=1, method="GET")
    result = run_in_process(["--config", str(config), "once"], {})
    assert "1 error" in result.stderr, result.stderr
    seen = scrape(server.port)
    assert seen[("syncd_requests_total", (("backend", "google_calendar"), ("status", "404")))] == 1
    assert seen[("syncd_coach_errors_total", (("coach", COACH),))] == 1
    assert seen[("syncd_passes_total", (("outcome", "errors"),))] == 1


def test_healthz_fails_once_the_next_pass_is_overdue_or_the_daemon_stops(server: MetricsServer) -> None:
    """200 while the first pass runs and while passes come on time; 503 once the next pass is
    later than `syncd status`'s grace, and once the daemon said it stops."""
    assert healthz(server.port)[0] == 200
    now = datetime.now(UTC)

    def health(next_pass: datetime | None) -> Health:
        return Health(started=now, finished=now, ok=True, summary="1 booking tracked", next_pass=next_pass)

    health_recorded(health(now + timedelta(minutes=1)))
    assert healthz(server.port) == (200, f"last pass {now.isoformat()}: 1 booking tracked\n")
    health_recorded(health(now - OVERDUE_GRACE - timedelta(seconds=5)))
    status, line = healthz(server.port)
    assert status == 503 and "overdue" in line
    health_recorded(health(None))
    assert healthz(server.port) == (503, "the daemon is stopping\n")
    with pytest.raises(urllib.error.HTTPError, match="404"):
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/other", timeout=5)


def test_status_lists_which_replica_holds_which_coach() -> None:
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    leases = {
        "bea@x.example": ("host-b:12", now + timedelta(minutes=2)),
        "ada@x.example": ("host-a:7", now - timedelta(seconds=1)),
        "gone@x.example": ("host-a:7", now + timedelta(minutes=2)),
    }
    lines = lease_lines(leases, frozenset({"ada@x.example", "bea@x.example"}), now, UTC)
    assert lines == [
        "Coaches by replica:",
        "  ada@x.example  host-a:7  (expired, free to take)",
        "  bea@x.example  host-b:12  (until 2030-01-01 12:02 UTC)",
    ]
    assert lease_lines({}, frozenset({"ada@x.example"}), now, UTC) == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_the_daemon_serves_metrics_and_healthz_and_refuses_a_taken_port(tmp_path: Path) -> None:
    """`syncd run` with `metrics:` serves /metrics (a pass counted) and /healthz (200) while it
    runs; a port already taken fails the start in one line."""
    ws = Workspace(tmp_path)
    port = free_port()
    ws.config.write_text(ws.config.read_text() + f"metrics: {{listen: '127.0.0.1:{port}'}}\n")
    ws.put("m1", "Intro session", datetime.now(UTC) + timedelta(days=1))
    process = ws.start("run")
    try:
        assert wait_for(lambda: _passes(port) >= 1, timeout=30)
        assert healthz(port)[0] == 200
        taken = ws.run_process("run", check=False, timeout=30)
        assert taken.returncode != 0
        assert f"metrics.listen: cannot listen on 127.0.0.1:{port}" in taken.stderr
        assert "Traceback" not in taken.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        _, log = process.communicate(timeout=10)
    assert process.returncode == 0, log


def _passes(port: int) -> float:
    try:
        seen = scrape(port)
    except OSError:
        return 0
    return sum(v for (name, _), v in seen.items() if name == "syncd_passes_total")
