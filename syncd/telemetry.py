"""Where syncd tells the operator's metrics what happened, without importing them.

The backends' one place for HTTP (syncd/google/transport.py, syncd/calendars/caldav_http.py),
the engine and the daemon call the functions here; they do nothing until `syncd.metrics`
(imported only when `metrics:` is configured) installs its `Observer`. One per process: the
daemon is one process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from syncd.engine import PassReport
    from syncd.health import Health


class Observer(Protocol):
    """What receives the events (syncd.metrics.Metrics)."""

    def request(self, backend: str, status: str) -> None: ...

    def pass_done(self, report: PassReport, held: frozenset[str], phases: Mapping[str, int]) -> None: ...

    def health(self, health: Health) -> None: ...


_observer: Observer | None = None


def install(observer: Observer | None) -> None:
    """Send the events to `observer` from now on (None: to no one)."""
    global _observer
    _observer = observer


def installed() -> bool:
    """Whether anyone listens (the engine skips work only metrics need when no one does)."""
    return _observer is not None


def request_done(backend: str, status: int | str) -> None:
    """A request to `backend` ended with HTTP `status` (or a word: `network` when no answer came)."""
    if _observer is not None:
        _observer.request(backend, str(status))


def pass_done(report: PassReport, held: frozenset[str], phases: Mapping[str, int]) -> None:
    """The engine finished a pass over the coaches `held` (this replica's leases)."""
    if _observer is not None:
        _observer.pass_done(report, held, phases)


def health_recorded(health: Health) -> None:
    """The daemon recorded its health after a pass (what `/healthz` answers from)."""
    if _observer is not None:
        _observer.health(health)
