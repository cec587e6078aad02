"""Clock steps: a wall clock stepped back (or a DST fall-back) does not stall the daemon's
passes, and a forward jump that is corrected later skips no pending follow-up.

The daemon really runs under libfaketime (installed by .ci/run from the distribution's
packages), whose offset is changed while it runs; the monotonic clock is left alone, as a
real clock step leaves it. `TrustedClock` itself is pinned down with injected clocks.
"""

from __future__ import annotations

import glob
import logging
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd.clock import TrustedClock
from tests.support import Workspace, wait_for

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CONFIRM = timedelta(minutes=15)


# --- TrustedClock with injected clocks ---------------------------------------------------------


@dataclass
class Clocks:
    """A wall clock that can be set and an elapsed-time clock that cannot."""

    wall: datetime = START
    elapsed: float = 1000.0

    def tick(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.elapsed += seconds

    def trusted(self) -> TrustedClock:
        return TrustedClock(CONFIRM, wall=lambda: self.wall, elapsed=lambda: self.elapsed)


def test_a_forward_jump_is_not_believed_and_its_correction_is() -> None:
    clocks = Clocks()
    clock = clocks.trusted()
    assert clock.now() == START
    clocks.tick(60)
    clocks.wall += timedelta(days=3)  # a bad NTP answer
    assert clock.now() == START + timedelta(seconds=60)
    clocks.tick(60)
    assert clock.now() == START + timedelta(seconds=120)
    clocks.wall -= timedelta(days=3)  # corrected
    clocks.tick(60)
    assert clock.now() == clocks.wall == START + timedelta(seconds=180)


def test_a_forward_jump_that_holds_is_believed_after_the_confirm_period() -> None:
    """A clock that was really slow (set right at last) is trusted once the jump has held."""
    clocks = Clocks()
    clock = clocks.trusted()
    clock.now()
    clocks.wall += timedelta(hours=5)
    clocks.tick(1)
    assert clock.now() == START + timedelta(seconds=1)
    clocks.tick(CONFIRM.total_seconds() - 2)
    assert clock.now() < clocks.wall
    clocks.tick(2)
    assert clock.now() == clocks.wall
    clocks.tick(30)
    assert clock.now() == clocks.wall


def test_a_step_back_is_believed_at_once(caplog: pytest.LogCaptureFixture) -> None:
    clocks = Clocks()
    clock = clocks.trusted()
    clock.now()
    clocks.wall -= timedelta(hours=1)
    clocks.tick(5)
    with caplog.at_level(logging.INFO, logger="syncd"):
        assert clock.now() == clocks.wall
    assert "stepped back 1h" in caplog.text


def test_ordinary_drift_between_passes_is_not_a_jump() -> None:
    clocks = Clocks()
    clock = clocks.trusted()
    clock.now()
    clocks.tick(60)
    clocks.wall += timedelta(seconds=2)  # NTP slewing, a slow pass
    assert clock.now() == clocks.wall


# --- syncd run under libfaketime -----------------------------------------------------------------


def _libfaketime() -> str | None:
    patterns = ("/usr/lib/*/faketime/libfaketimeMT.so.1", "/usr/lib/faketime/libfaketimeMT.so.1")
    found = [path for pattern in patterns for path in glob.glob(pattern)]
    return found[0] if found else None


@dataclass
class FakeTime:
    """The offset file libfaketime reads on every clock call; `set("-1h")` steps the clock."""

    file: Path

    def set(self, offset: str) -> None:
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(offset + "\n", encoding="ascii")
        tmp.replace(self.file)


@pytest.fixture
def faketime(tmp_path: Path) -> FakeTime:
    library = _libfaketime()
    if library is None:
        pytest.skip("libfaketime is not installed (.ci/run installs it: apt-get install faketime)")
    fake = FakeTime(tmp_path / "faketime.offset")
    fake.set("+0")
    return fake


def faked(ws: Workspace, fake: FakeTime) -> None:
    library = _libfaketime()
    assert library is not None
    ws.env.update(
        LD_PRELOAD=library,
        FAKETIME_TIMESTAMP_FILE=str(fake.file),
        FAKETIME_NO_CACHE="1",
        # Only the wall clock steps, as with a real clock: the monotonic clock runs on.
        FAKETIME_DONT_FAKE_MONOTONIC="1",
    )


@dataclass
class Running:
    process: subprocess.Popen[str]
    log: Path

    def passes(self) -> int:
        return self.log.read_text(encoding="utf-8").count("pass finished")

    def wait_passes(self, more: int, timeout: float = 20.0) -> bool:
        target = self.passes() + more
        return wait_for(lambda: self.passes() >= target, timeout=timeout)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for run in started:
        if run.process.poll() is None:
            run.process.send_signal(signal.SIGTERM)
        run.process.communicate(timeout=15)


def start(ws: Workspace, started: list[Running]) -> Running:
    log = ws.root / "daemon.log"
    run = Running(ws.start("run", log=log), log)
    started.append(run)
    assert run.wait_passes(2), run.text()
    return run


@pytest.mark.slow
def test_passes_keep_coming_after_the_wall_clock_steps_back_an_hour(
    tmp_path: Path, faketime: FakeTime, daemon: list[Running]
) -> None:
    """schedule's naive wall-clock wait held the next pass for the whole hour."""
    ws = Workspace(tmp_path, poll_interval="1s")
    faked(ws, faketime)
    ws.put("a1", "Intro session", datetime.now(UTC) + timedelta(days=1))
    run = start(ws, daemon)
    faketime.set("-1h")
    assert run.wait_passes(3, timeout=15), "passes stalled after the clock stepped back:\n" + run.text()
    assert "stepped back 1h" in run.text()
    assert run.process.poll() is None


@pytest.mark.slow
def test_passes_keep_coming_through_a_dst_fall_back(
    tmp_path: Path, faketime: FakeTime, daemon: list[Running]
) -> None:
    """Berlin, 25 Oct 2026: local time goes from 02:59:59 back to 02:00:00 two seconds after
    the daemon starts; the passes go on every second."""
    ws = Workspace(tmp_path, poll_interval="1s")
    faked(ws, faketime)
    before_fall_back = datetime(2026, 10, 25, 0, 59, 58, tzinfo=UTC)  # 02:59:58 CEST
    faketime.set(f"@{int(before_fall_back.timestamp())}")
    ws.env.update(TZ="Europe/Berlin", FAKETIME_FMT="%s")
    del ws.env["FAKETIME_NO_CACHE"]  # a start time, read once; the clock runs on from it
    run = start(ws, daemon)
    assert run.wait_passes(4, timeout=30), "passes stalled at the fall-back:\n" + run.text()
    assert "2026-10-25 02:00:0" in run.text(), "the fall-back was not reached:\n" + run.text()


@pytest.mark.slow
def test_a_forward_jump_later_corrected_leaves_pending_follow_ups_pending(
    tmp_path: Path, faketime: FakeTime, daemon: list[Running]
) -> None:
    """Three days ahead for a few passes, then back: the follow-up due in a few hours (with a
    max_lateness of 1h, so the jump would make it overdue) is still pending, no draft made."""
    ws = Workspace(tmp_path, poll_interval="1s", max_lateness="1h")
    faked(ws, faketime)
    ws.put("a1", "Intro session", datetime.now(UTC) + timedelta(hours=2))
    run = start(ws, daemon)
    faketime.set("+3d")
    assert run.wait_passes(3), run.text()
    faketime.set("+0")
    assert run.wait_passes(2), run.text()
    run.process.send_signal(signal.SIGTERM)
    run.process.communicate(timeout=15)

    text = run.text()
    assert "follow-up skipped" not in text
    assert ws.draft_files() == []
    status = ws.run("status").stdout
    assert "pending (due" in status and "skipped" not in status
    assert "jumped 3d ahead" in text and "back in line" in text
