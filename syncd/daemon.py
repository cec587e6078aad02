"""`syncd run`: poll forever, as a systemd `Type=notify` service or in a terminal.

The main loop owns three promises to systemd:
- `READY=1` once the config is valid, the engine is open and the first pass has begun;
- `WATCHDOG=1` while the loop is alive, also from inside a pass each time the engine asks
  whether to stop (so a pass that makes progress is not killed, and one that hangs is);
- SIGTERM is honoured within seconds: signals only set flags, the loop sleeps in short
  slices and the engine polls `should_stop` between steps.

SIGHUP reloads the config between passes; a bad new config is logged and the old one kept.
Everything a pass raises is caught and logged in one line, and the outcome is recorded as the
daemon's health in the state.

Passes start on a fixed cadence: every `poll_interval` from the previous pass's START, never
overlapping; a pass that takes longer than the interval is followed by the next one at once
(logged once, until passes fit in the interval again), so the real period never stretches
with the pass the way an "interval after the end" would.

The wall clock decides nothing about the cadence: the wait between passes is measured on the
monotonic clock, so a clock stepped back (or a DST fall-back) does not hold the passes up, and
each pass is handed a `TrustedClock` time, so a forward jump corrected later skips nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Protocol

from syncd import health as healthmod
from syncd import telemetry
from syncd.clock import TrustedClock
from syncd.config import Settings, load_settings
from syncd.durations import format_duration
from syncd.errors import SyncdError
from syncd.logs import setup_logging
from syncd.sdnotify import Watchdog, notify, reloading_message, status_message
from syncd.text import error_line

if TYPE_CHECKING:
    from syncd.metrics import MetricsServer

log = logging.getLogger(__name__)

# Longest sleep between two looks at the stop/reload flags: SIGTERM is acted on within this.
MAX_SLICE = 0.5
# How long a stop may wait for a step that is stuck in a network request (SIGTERM: 5 s promised).
STOP_DEADLINE = 4.0
# How long a forward jump of the wall clock must hold before passes believe it (at least this,
# and three poll intervals): NTP and operators correct a wrong clock well within it.
CONFIRM_JUMP = timedelta(minutes=15)


class EngineLike(Protocol):
    """What the daemon needs from syncd.engine.Engine."""

    @property
    def state(self) -> healthmod.MetaStore: ...

    def run_pass(
        self, now: datetime, *, dry_run: bool = ..., should_stop: Callable[[], bool] = ...
    ) -> healthmod.PassReportLike: ...

    def close(self) -> None: ...


EngineOpener = Callable[[Settings], EngineLike]


def open_real_engine(settings: Settings) -> EngineLike:
    """Open syncd's engine (imported here so the daemon module loads without the backends)."""
    from syncd.engine import open_engine

    return open_engine(settings)


def run_daemon(config: Path, opener: EngineOpener | None = None) -> int:
    """Run passes every `poll_interval` until SIGTERM/SIGINT; returns the exit code (0).

    Raises ConfigError for a bad config and whatever `open_engine` raises (ConfigError,
    AuthError) before the first pass: the command line prints those as one line and exits
    non-zero, so systemd sees the start fail instead of a daemon that never becomes ready.
    """
    settings = load_settings(config)
    _configure_logging(settings)
    with _signal_handlers() as flags:
        daemon = Daemon(config, settings, opener or open_real_engine, flags)
        return daemon.run()


class Flags:
    """What the signal handlers ask of the main loop; set from handlers, read by the loop."""

    def __init__(self) -> None:
        self.stop = False
        self.reload = False
        self._deadline: threading.Timer | None = None

    def on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop = True
        if self._deadline is None:
            # A pass stops between steps; a network request hanging in a step would hold the
            # stop past systemd's patience. Every step is recorded before and after, so leaving
            # mid-request is as safe as the SIGKILL that would follow (and is tested as such).
            self._deadline = threading.Timer(STOP_DEADLINE, _leave_now)
            self._deadline.daemon = True
            self._deadline.start()

    def cancel_deadline(self) -> None:
        """The stop finished in time: no forced exit."""
        if self._deadline is not None:
            self._deadline.cancel()

    def on_reload(self, signum: int, frame: FrameType | None) -> None:
        self.reload = True


def _leave_now() -> None:
    log.warning(
        "stop requested %.0f s ago and a request is still running; exiting now "
        "(every step is recorded: the next start resumes)",
        STOP_DEADLINE,
    )
    notify("STOPPING=1")
    logging.shutdown()
    os._exit(0)


@contextmanager
def _signal_handlers() -> Iterator[Flags]:
    """Route SIGTERM/SIGINT to a stop flag and SIGHUP to a reload flag; restore on exit."""
    flags = Flags()
    wanted = {signal.SIGTERM: flags.on_stop, signal.SIGINT: flags.on_stop, signal.SIGHUP: flags.on_reload}
    previous = {signum: signal.signal(signum, handler) for signum, handler in wanted.items()}
    try:
        yield flags
    finally:
        flags.cancel_deadline()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _configure_logging(settings: Settings) -> None:
    # Keep the level the command line chose (--verbose); default to INFO when nothing was set up.
    root = logging.getLogger()
    setup_logging(settings.log_format, root.level if root.handlers else logging.INFO)


def _pause(seconds: float) -> None:
    """Sleep `seconds`. Not time.sleep: since Python 3.11 it waits with an absolute
    clock_nanosleep on CLOCK_MONOTONIC, which libfaketime (used to test clock steps) refuses
    with EINVAL when told to leave the monotonic clock alone; a timed wait on a lock is the
    same relative, monotonic wait and works under it."""
    threading.Event().wait(seconds)


class Daemon:
    """The main loop around one engine; `run` returns when a stop is requested."""

    def __init__(
        self,
        config: Path,
        settings: Settings,
        opener: EngineOpener,
        flags: Flags,
        clock: Callable[[], datetime] | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        pause: Callable[[float], None] = _pause,
    ) -> None:
        self.config = config
        self.settings = settings
        self.flags = flags
        self._opener = opener
        confirm = max(CONFIRM_JUMP, 3 * settings.poll_interval)
        self._clock = clock or TrustedClock(confirm).now
        self._metrics: MetricsServer | None = None
        self._engine = opener(settings)
        try:
            self._follow_metrics(settings)
        except BaseException:
            self._close(self._engine)
            raise
        # The loop decides when a pass is due, on the monotonic clock: the `schedule` library
        # (used before) compares naive local wall time (`datetime.now()`, no clock can be
        # given), so a clock stepped back an hour, or a DST fall-back, held the next pass for
        # that hour while the watchdog was still pinged.
        self._next_due: float | None = None  # monotonic time the next pass is due
        self._monotonic = monotonic  # time.monotonic; tests hand in a fake clock with `pause`
        self._pause = pause
        self._overran = False  # the last pass took longer than the interval (logged once)
        self._watchdog = Watchdog()
        self._stopping_sent = False
        self._last_health: healthmod.Health | None = None

    def run(self) -> int:
        """Run the first pass now, then poll until stopped. Returns the exit code."""
        coaches = len(self.settings.coaches)
        log.info(
            "syncd started: %d coach(es), a pass every %s",
            coaches,
            format_duration(self.settings.poll_interval),
        )
        if not self.flags.stop:
            notify("READY=1\n" + status_message("first pass running"))
            self._run_pass()
        while not self.flags.stop:
            if self.flags.reload:
                self._reload()
            if self._next_due is not None and self._monotonic() >= self._next_due:
                self._run_pass()
            self._watchdog.ping()
            self._pause(self._slice())
        return self._shutdown()

    def _slice(self) -> float:
        """Sleep until the next pass, the next watchdog ping or MAX_SLICE, whichever is first."""
        limits = [MAX_SLICE, self._watchdog.interval or MAX_SLICE]
        if self._next_due is not None:
            limits.append(self._next_due - self._monotonic())
        return max(0.0, min(limits))

    def _should_stop(self) -> bool:
        # Called by the engine between steps: a pass that keeps asking is alive, so ping.
        self._watchdog.ping()
        if self.flags.stop:
            self._announce_stopping()
        return self.flags.stop

    def _announce_stopping(self) -> None:
        """Tell systemd once, as soon as the loop or the pass sees the stop request."""
        if not self._stopping_sent:
            self._stopping_sent = True
            notify("STOPPING=1\n" + status_message("stopping"))
            log.info("syncd stopping")

    def _interval(self) -> int:
        """Seconds between the starts of two passes (whole seconds)."""
        return max(1, round(self.settings.poll_interval.total_seconds()))

    def _run_pass(self) -> None:
        """One pass; never raises. The next one is due `poll_interval` after this one started, on the monotonic clock: at once
        when this one took longer."""
        started = self._monotonic()
        self._next_due = started + self._interval()
        try:
            self._pass()
        finally:
            self._note_overrun(self._monotonic() - started)

    def _note_overrun(self, took: float) -> None:
        """Say once when passes start taking longer than the interval (and so follow each
        other at once), and let it be said again after one fits."""
        if took < self._interval():
            self._overran = False
            return
        if not self._overran:
            self._overran = True
            log.warning(
                "a pass took %s, longer than poll_interval (%s): the next one starts right after "
                "it (said once, until a pass fits in the interval again)",
                format_duration(timedelta(seconds=round(took))),
                format_duration(self.settings.poll_interval),
            )

    def _pass(self) -> None:
        started = self._clock()
        try:
            report = self._engine.run_pass(started, should_stop=self._should_stop)
        except SyncdError as exc:
            reason = f"pass failed: {error_line(exc)}"
            log.error("%s", reason)
            self._record_failure(started, reason)
        except Exception as exc:
            log.exception("pass failed with an unexpected error (a bug: please report it)")
            self._record_failure(
                started, f"pass failed: internal error: {type(exc).__name__}: {error_line(exc)}"
            )
        else:
            log.info("pass finished: %s", report.summary())
            self._record(healthmod.from_report(report, self._next_pass()))

    def _record_failure(self, started: datetime, reason: str) -> None:
        self._record(healthmod.from_failure(started, self._clock(), reason, self._next_pass()))

    def _next_pass(self) -> datetime | None:
        # The next pass is due an interval after this one started; a stopping daemon has none.
        if self.flags.stop:
            return None
        if self._next_due is None:
            return self._clock() + self.settings.poll_interval
        return self._clock() + timedelta(seconds=max(0.0, self._next_due - self._monotonic()))

    def _record(self, health: healthmod.Health) -> None:
        """Store the pass's health in the state and show its summary in `systemctl status`."""
        from syncd.engine import health_replica  # as open_real_engine: loaded on first use

        health = replace(health, replica=health_replica(self.settings))
        notify(status_message(health.summary))
        self._last_health = health
        telemetry.health_recorded(health)
        try:
            healthmod.save_health(self._engine.state, health)
        except Exception as exc:
            # Losing the health record must not take the daemon down; the pass itself is done.
            log.error("cannot record the daemon's health in the state: %s", error_line(exc))

    def _reload(self) -> None:
        """Re-read the config and reopen the engine; keep the old ones if that fails."""
        self.flags.reload = False
        notify(reloading_message())
        log.info("reloading %s", self.config)
        try:
            settings = load_settings(self.config)
            self._follow_metrics(settings)
            engine = self._opener(settings)
        except Exception as exc:
            if not isinstance(exc, SyncdError):
                log.debug("reload failed", exc_info=True)
            log.error("reload failed, keeping the running configuration: %s", error_line(exc))
            notify("READY=1\n" + status_message(f"reload failed, old configuration kept: {error_line(exc)}"))
            return
        self._close(self._engine)
        self._engine, self.settings = engine, settings
        _configure_logging(settings)
        log.info("reloaded %s: %d coach(es)", self.config, len(settings.coaches))
        notify("READY=1\n" + status_message("configuration reloaded"))
        # Apply the new configuration at once, as the operator who sent SIGHUP expects.
        self._run_pass()

    def _shutdown(self) -> int:
        self._announce_stopping()
        self._next_due = None
        if self._last_health is not None and self._last_health.next_pass is not None:
            # No pass is coming: `syncd status` should say stopped, not "overdue".
            self._record(replace(self._last_health, next_pass=None))
        self._close(self._engine)
        if self._metrics is not None:
            self._metrics.stop()
        return 0

    def _follow_metrics(self, settings: Settings) -> None:
        """Serve metrics where `settings` says: started, moved (the new address is bound before
        the old one is let go, so a bad one keeps the old), or stopped. Raises ConfigError when
        the address cannot be listened on."""
        wanted = settings.metrics.listen if settings.metrics else None
        running = self._metrics
        if running is not None and running.listen == wanted:
            return
        started = None
        if wanted is not None:
            from syncd.metrics import serve_metrics  # prometheus-client only when configured

            started = serve_metrics(wanted)
        if running is not None:
            running.stop()
            if started is not None:
                telemetry.install(started.metrics)  # the old one's stop uninstalled it
        self._metrics = started

    @staticmethod
    def _close(engine: EngineLike) -> None:
        try:
            engine.close()
        except Exception as exc:
            log.warning("error while closing the engine: %s", error_line(exc))
