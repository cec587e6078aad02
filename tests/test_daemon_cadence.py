"""The daemon's cadence: passes start every poll_interval from the previous start, never
overlapping; one longer than the interval is followed by the next at once, said once.

The loop runs in this process on a fake monotonic clock: the fake engine's passes and the
loop's pauses move it forward, so nothing here waits or depends on the machine's speed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncd import daemon
from syncd.config import Settings, load_settings
from tests.support import Workspace


@dataclass
class FakeMonotonic:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Report:
    started: datetime
    finished: datetime
    errors: dict[str, int] = field(default_factory=dict)
    auth_failed: bool = False
    stopped_early: bool = False

    def summary(self) -> str:
        return "fake pass"


@dataclass
class State:
    meta: dict[str, str] = field(default_factory=dict)

    def get_meta(self, key: str) -> str | None:
        return self.meta.get(key)

    def put_meta(self, key: str, value: str) -> None:
        self.meta[key] = value


@dataclass
class TimedEngine:
    """Each pass takes the next of `durations` seconds of the fake clock; after the last one
    the daemon is asked to stop."""

    clock: FakeMonotonic
    flags: daemon.Flags
    durations: list[float]
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    state: State = field(default_factory=State)

    def run_pass(
        self, now: datetime, *, dry_run: bool = False, should_stop: Callable[[], bool] = lambda: False
    ) -> Report:
        self.starts.append(self.clock.now)
        self.clock.now += self.durations.pop(0)
        self.ends.append(self.clock.now)
        if not self.durations:
            self.flags.stop = True
        return Report(now, now)

    def close(self) -> None:
        pass


def run(tmp_path: Path, durations: list[float]) -> TimedEngine:
    ws = Workspace(tmp_path, poll_interval="10s")
    settings: Settings = load_settings(ws.config)
    clock = FakeMonotonic()
    flags = daemon.Flags()
    engine = TimedEngine(clock, flags, durations)
    loop = daemon.Daemon(
        ws.config,
        settings,
        lambda _: engine,
        flags,
        clock=lambda: datetime.now(UTC),
        monotonic=clock,
        pause=clock.pause,
    )
    assert loop.run() == 0
    return engine


@pytest.fixture(autouse=True)
def _no_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)


def test_passes_start_every_interval_from_the_previous_start(tmp_path: Path) -> None:
    """With 10 s between passes and passes of 3 s, they start 10 s apart (not 13 s: the
    interval counts from the start, so the period does not stretch with the pass)."""
    engine = run(tmp_path, [3.0, 3.0, 3.0, 3.0])
    gaps = [round(b - a, 3) for a, b in zip(engine.starts, engine.starts[1:], strict=False)]
    assert gaps == [10.0, 10.0, 10.0]


def test_a_pass_longer_than_the_interval_is_followed_at_once_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Passes never overlap: one of 25 s is followed by the next as soon as it ends; while
    passes keep overrunning it is logged once, and again after one has fit."""
    caplog.set_level(logging.WARNING, logger="syncd.daemon")
    engine = run(tmp_path, [25.0, 12.0, 2.0, 14.0, 2.0])
    assert all(start >= end for start, end in zip(engine.starts[1:], engine.ends, strict=False))
    assert [round(s - engine.starts[0], 3) for s in engine.starts] == [0.0, 25.0, 37.0, 47.0, 61.0]
    warnings = [r.getMessage() for r in caplog.records if "longer than poll_interval" in r.getMessage()]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("a pass took 25s, longer than poll_interval (10s)")
