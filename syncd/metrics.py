"""The operator's view over HTTP (`metrics: {listen: HOST:PORT}`): Prometheus metrics at
`/metrics`, and `/healthz` for container orchestrators.

`/healthz` answers 200 while passes come on time and 503 once the next pass is overdue by the
same measure `syncd status` uses (`syncd.health.overdue`), or after the daemon said it stops:
a hung or dead loop is restarted, a coach with errors is not (a restart would not help it).

Imported only when `metrics:` is configured (prometheus-client is then loaded); the rest of
syncd reports through `syncd.telemetry`, which does nothing until `serve_metrics` installs the
`Metrics` here. Requests are counted where the backends send them from one place: the Google
backends (one count per API call, after the client library's own retries; `2xx` for an answer
that was used) and CalDAV (one per HTTP exchange). The folder backends make no requests.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from syncd import telemetry
from syncd.engine import PassReport
from syncd.errors import ConfigError
from syncd.health import Health, overdue

log = logging.getLogger(__name__)

# Pass durations worth telling apart: an idle pass of a few coaches to a slow one of hundreds.
_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    """syncd's metrics in a registry of their own (so tests may make several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # RSS, CPU seconds, open files
        self.started = datetime.now(UTC)
        self._lock = threading.Lock()
        self._health: Health | None = None
        self._held: frozenset[str] = frozenset()
        self.passes = Counter(
            "syncd_passes",
            "Passes over the coaches, by outcome (ok, errors, stopped).",
            ["outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "syncd_pass_duration_seconds",
            "How long a pass over the coaches took.",
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.last_pass = Gauge(
            "syncd_last_pass_finished_seconds",
            "When the last pass finished (Unix time).",
            registry=self.registry,
        )
        self.requests = Counter(
            "syncd_requests",
            "Requests to the backends' services, by backend and status (HTTP code, 2xx, network).",
            ["backend", "status"],
            registry=self.registry,
        )
        self.bookings = Gauge(
            "syncd_bookings",
            "Bookings tracked in the state, by phase.",
            ["phase"],
            registry=self.registry,
        )
        self.errors = Counter(
            "syncd_coach_errors",
            "Errors in the coaches' passes, by coach.",
            ["coach"],
            registry=self.registry,
        )
        self.leases = Gauge(
            "syncd_lease_held",
            "1 for each coach whose lease this replica held in its last pass.",
            ["coach"],
            registry=self.registry,
        )

    # --- telemetry.Observer -------------------------------------------------------------

    def request(self, backend: str, status: str) -> None:
        self.requests.labels(backend=backend, status=status).inc()

    def pass_done(self, report: PassReport, held: frozenset[str], phases: Mapping[str, int]) -> None:
        outcome = "stopped" if report.stopped_early else "errors" if any(report.errors.values()) else "ok"
        self.passes.labels(outcome=outcome).inc()
        self.duration.observe(max(0.0, (report.finished - report.started).total_seconds()))
        self.last_pass.set(report.finished.timestamp())
        for coach, count in report.errors.items():
            self.errors.labels(coach=coach).inc(count)  # 0 too: every coach has its series
        for phase, count in phases.items():
            self.bookings.labels(phase=phase).set(count)
        with self._lock:
            for coach in self._held - held:
                self.leases.remove(coach)
            for coach in held:
                self.leases.labels(coach=coach).set(1)
            self._held = held

    def health(self, health: Health) -> None:
        with self._lock:
            self._health = health

    # --- /healthz -------------------------------------------------------------------------

    def healthz(self, now: datetime) -> tuple[int, str]:
        """(HTTP status, one line): 503 when the next pass is overdue or the daemon stopped."""
        with self._lock:
            health = self._health
        if health is None:
            # The first pass starts with the daemon: it is due then.
            if overdue(self.started, now):
                return 503, f"no pass finished since the start at {self.started.isoformat()}"
            return 200, "first pass running"
        if health.next_pass is None:
            return 503, "the daemon is stopping"
        if overdue(health.next_pass, now):
            return 503, f"pass due at {health.next_pass.isoformat()} is overdue; last: {health.summary}"
        return 200, f"last pass {health.finished.isoformat()}: {health.summary}"


class MetricsServer:
    """The HTTP server of one `Metrics`, serving from a daemon thread."""

    def __init__(self, metrics: Metrics, listen: str) -> None:
        self.metrics = metrics
        self.listen = listen
        self._httpd = _bind(listen, _handler(metrics))
        # A short poll: `stop` waits for the serving loop to notice, and SIGTERM has 5 s in all.
        serve = functools.partial(self._httpd.serve_forever, poll_interval=0.1)
        self._thread = threading.Thread(target=serve, name="syncd-metrics", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        """The port listened on (the one asked for, or the one given for port 0)."""
        return int(self._httpd.server_address[1])

    def stop(self) -> None:
        """Stop serving and stop receiving syncd's events."""
        telemetry.install(None)
        self._httpd.shutdown()
        self._httpd.server_close()


def serve_metrics(listen: str) -> MetricsServer:
    """Serve a new `Metrics` on `listen` (HOST:PORT) and send syncd's events to it. Raises
    ConfigError when the address cannot be listened on (in use, not this machine's)."""
    metrics = Metrics()
    server = MetricsServer(metrics, listen)
    telemetry.install(metrics)
    log.info("serving metrics at http://%s/metrics and /healthz", listen)
    return server


def _bind(listen: str, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        daemon_threads = True  # a stuck scraper must not hold up the daemon's exit

    try:
        return Server((host, int(port)), handler)
    except OSError as exc:
        raise ConfigError(f"metrics.listen: cannot listen on {listen}: {exc.strerror or exc}") from None


def _handler(metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                status, line = metrics.healthz(datetime.now(UTC))
                self._answer(status, (line + "\n").encode(), "text/plain; charset=utf-8")
            else:
                self._answer(404, b"not found: try /metrics or /healthz\n", "text/plain; charset=utf-8")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a scrape every 15 s is not worth a log line

    return Handler
