"""The SQLite state store as other processes see it while the daemon runs."""

from __future__ import annotations

import resource
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd.lifecycle import new_booking
from syncd.model import CalendarEvent, Client
from syncd.state import StateStore
from tests.support import NotifySocket, Workspace, starts, wait_for

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def booking(n: int):  # type: ignore[no-untyped-def]
    start = NOW + timedelta(hours=n)
    event = CalendarEvent(id=f"e{n}", summary="Intro", start=start, end=start + timedelta(minutes=30))
    made = new_booking(
        "ada@coach.example", event, Client(name=f"Client {n}"), timedelta(minutes=15), NOW, timedelta(days=2)
    )
    assert made is not None
    return made


@pytest.mark.slow
def test_status_after_a_reload_sees_the_daemons_live_state(tmp_path: Path) -> None:
    """A reload opens the state a second time in the daemon's process; `syncd status` from
    another process must not then take itself for the last user and delete the live WAL
    (which hid every later change from status and lost it on a crash)."""
    ws = Workspace(tmp_path, poll_interval="1s")
    notify = NotifySocket()
    ws.env["NOTIFY_SOCKET"] = notify.address
    ws.put("a1", "Intro session", datetime.now(UTC) + timedelta(days=1))
    daemon = ws.start("run")
    try:
        assert wait_for(lambda: len(ws.notes()) == 1)
        mark = len(notify.drain())
        daemon.send_signal(signal.SIGHUP)
        # The reload is done and the pass that follows it at once has finished.
        notify.wait_for(starts("STATUS=configuration reloaded"), after=mark)
        notify.wait_for(lambda m: " tracked, " in m, after=notify.index(starts("STATUS=configuration")))
        ws.run("status")
        assert (ws.root / "state" / "syncd.sqlite3-wal").exists()
        ws.put(
            "a2", "Intro session", datetime.now(UTC) + timedelta(days=2), client=("Sam Lee", "sam@x.example")
        )
        assert wait_for(lambda: len(ws.notes()) == 2)
        assert wait_for(lambda: "Sam Lee" in ws.run("status").stdout, timeout=10)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=10)
        notify.sock.close()


def test_state_file_is_private_and_a_scratch_copy_writes_nothing(tmp_path: Path) -> None:
    state = StateStore.in_dir(tmp_path / "state")
    state.save(booking(1), NOW)
    state.close()
    before = sorted(p.name for p in (tmp_path / "state").iterdir())
    assert oct((tmp_path / "state" / "syncd.sqlite3").stat().st_mode & 0o777) == "0o600"
    scratch = StateStore.in_dir(tmp_path / "state", scratch=True)
    scratch.save(booking(2), NOW)
    assert scratch.count() == 2
    scratch.close()
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == before
    assert StateStore.in_dir(tmp_path / "state").count() == 1
    assert not (tmp_path / "missing").exists()
    StateStore.in_dir(tmp_path / "missing", scratch=True).close()
    assert not (tmp_path / "missing").exists()


@pytest.mark.slow
def test_a_state_that_cannot_be_written_stops_the_pass_with_one_line_losing_and_doubling_nothing(
    tmp_path: Path,
) -> None:
    """A full disk under the state (here: a file-size limit, which SQLite meets as a write
    error) ends the pass with one line, not a traceback per booking, and keeps the calendar
    cursor where it was; once there is room, the next pass finishes the work, one note and
    one link block per booking."""
    ws = Workspace(tmp_path)
    for n in range(40):
        ws.put(f"e{n:02d}", "Intro session", datetime.now(UTC) + timedelta(days=1, hours=n))

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (96_000, 96_000))

    full = subprocess.run(
        ws.command("once"),
        capture_output=True,
        text=True,
        timeout=60,
        env=ws.full_env(),
        preexec_fn=small_files,
    )
    assert "Traceback" not in full.stderr and "internal error" not in full.stderr, full.stderr
    assert full.stderr.count("cannot write the state") == 1, full.stderr
    assert len(ws.notes()) < 40  # the limit was met mid-pass
    ws.run("once")
    assert len(ws.notes()) == 40
    for n in range(40):
        assert ws.event_text(f"e{n:02d}").count("--- syncd: session note") == 1
    again = ws.run("once")
    assert "0 notes created, 0 links written" in again.stderr and len(ws.notes()) == 40
