"""`syncd run` as a systemd service: notify messages, watchdog, reload, stop and resume.

Two layers. The daemon loop with a scripted fake engine (in this process, real signals, real
notify socket) pins down the loop's promises exactly. Then the real `syncd run` in a subprocess,
against a real NOTIFY_SOCKET and a vdir workspace, as systemd would run it.
"""

from __future__ import annotations

import logging
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd import daemon, health
from syncd.config import Settings
from syncd.errors import BackendError
from tests.support import NotifySocket, Workspace, has, starts


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    bound = NotifySocket()
    yield bound
    bound.sock.close()


# --- the daemon loop with a scripted engine ---------------------------------------------------


@dataclass
class FakeState:
    meta: dict[str, str] = field(default_factory=dict)

    def get_meta(self, key: str) -> str | None:
        return self.meta.get(key)

    def put_meta(self, key: str, value: str) -> None:
        self.meta[key] = value


@dataclass
class FakeReport:
    started: datetime
    finished: datetime
    errors: dict[str, int] = field(default_factory=dict)
    auth_failed: bool = False
    stopped_early: bool = False

    def summary(self) -> str:
        return f"fake pass, {sum(self.errors.values())} errors" + (" (stopped early)" * self.stopped_early)


Step = Callable[["FakeEngine", Callable[[], bool]], None]


@dataclass
class FakeEngine:
    """Runs the next scripted step on each pass; shares one state like the SQLite file."""

    settings: Settings
    state: FakeState
    script: list[Step]
    passes: list[float] = field(default_factory=list)
    closed: int = 0

    def run_pass(
        self, now: datetime, *, dry_run: bool = False, should_stop: Callable[[], bool] = lambda: False
    ) -> FakeReport:
        self.passes.append(time.monotonic())
        step = self.script.pop(0) if self.script else stop_self
        step(self, should_stop)
        return FakeReport(now, datetime.now(UTC), {"ada@coach.example": 0}, stopped_early=should_stop())

    def close(self) -> None:
        self.closed += 1


def stop_self(engine: FakeEngine, should_stop: Callable[[], bool]) -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def idle(engine: FakeEngine, should_stop: Callable[[], bool]) -> None:
    pass


@dataclass
class Harness:
    """Runs `run_daemon` in this process with FakeEngines sharing one FakeState."""

    workspace: Workspace
    script: list[Step]
    state: FakeState = field(default_factory=FakeState)
    engines: list[FakeEngine] = field(default_factory=list)

    def open(self, settings: Settings) -> FakeEngine:
        engine = FakeEngine(settings, self.state, self.script)
        self.engines.append(engine)
        return engine

    def run(self) -> int:
        return daemon.run_daemon(self.workspace.config, opener=self.open)

    @property
    def passes(self) -> list[float]:
        return sorted(t for engine in self.engines for t in engine.passes)


@pytest.fixture
def harness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, notify_socket: NotifySocket
) -> Iterator[Callable[[list[Step]], Harness]]:
    """A daemon wired to a real notify socket. Its real logging goes to (captured) stderr; the
    root logger's handlers are put back afterwards."""
    monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.address)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield lambda script: Harness(Workspace(tmp_path / "ws"), script)
    root.handlers[:], root.level = handlers, level
    assert {s: signal.getsignal(s) for s in previous} == previous, "signal handlers not restored"


def test_ready_then_first_pass_at_once_then_status(
    harness: Callable[[list[Step]], Harness], notify_socket: NotifySocket
) -> None:
    """READY=1 comes before the first pass, which runs at once; STATUS= reports it; the health is
    recorded in the state; SIGTERM ends with STOPPING=1 and exit code 0."""
    h = harness([stop_self])
    h.workspace.poll_interval = "2m"
    h.workspace.write_config()
    started = time.monotonic()
    assert h.run() == 0
    # Far below the interval, far above any slowness of a busy machine.
    assert time.monotonic() - started < 60, "the first pass must not wait one poll interval"
    messages = notify_socket.drain()
    assert messages[0].split("\n")[0] == "READY=1"
    assert any(starts("STATUS=fake pass")(m) for m in messages)
    assert any(has("STOPPING=1")(m) for m in messages)
    recorded = health.load_health(h.state)
    assert recorded is not None and recorded.ok and recorded.summary.startswith("fake pass")
    assert h.engines[0].closed == 1


def test_failing_passes_are_logged_once_and_retried_next_interval(
    harness: Callable[[list[Step]], Harness], capsys: pytest.CaptureFixture[str]
) -> None:
    """A pass that raises is caught: one log line (a traceback only for a bug), the failure in
    the health, and the next pass one interval later, not in a tight loop."""

    def bug(engine: FakeEngine, should_stop: Callable[[], bool]) -> None:
        raise RuntimeError("bug in a backend")

    def service_down(engine: FakeEngine, should_stop: Callable[[], bool]) -> None:
        raise BackendError("calendar unreachable:\nconnection refused")

    h = harness([bug, service_down])
    assert h.run() == 0
    assert len(h.passes) == 3
    gaps = [b - a for a, b in zip(h.passes, h.passes[1:], strict=False)]
    assert all(gap >= 0.9 for gap in gaps), gaps
    log = capsys.readouterr().err.splitlines()
    failures = [i for i, line in enumerate(log) if " pass failed" in line]
    assert len(failures) == 2, log
    assert (
        "a bug: please report it" in log[failures[0]]
        and log[failures[0] + 1] == "Traceback (most recent call last):"
    )
    assert log[failures[1]].endswith(" ERROR pass failed: calendar unreachable:; connection refused"), log
    assert log.count("Traceback (most recent call last):") == 1, log


def test_sighup_reloads_config_and_keeps_old_one_when_broken(
    harness: Callable[[list[Step]], Harness], notify_socket: NotifySocket, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGHUP between passes: RELOADING=1 (with MONOTONIC_USEC), the new config in a new engine,
    READY=1, a pass at once. A broken config is logged in one line and the old engine goes on."""

    def change_config(engine: FakeEngine, should_stop: Callable[[], bool]) -> None:
        h.workspace.lookback = "5d"
        h.workspace.write_config()
        os.kill(os.getpid(), signal.SIGHUP)

    def break_config(engine: FakeEngine, should_stop: Callable[[], bool]) -> None:
        assert engine.settings.lookback == timedelta(days=5), "the reloaded config is in use"
        h.workspace.config.write_text("coaches: [\n")
        os.kill(os.getpid(), signal.SIGHUP)

    h = harness([change_config, break_config, idle])
    assert h.run() == 0
    assert len(h.engines) == 2, "one engine at start, one for the good reload, none for the bad"
    assert [e.closed for e in h.engines] == [1, 1]
    assert len(h.engines[1].passes) == 3, "after the failed reload, passes go on with the old engine"
    reloading = notify_socket.wait_for(has("RELOADING=1"))
    assert starts("MONOTONIC_USEC=")(reloading)
    assert notify_socket.index(has("RELOADING=1")) < notify_socket.index(
        starts("STATUS=configuration reloaded")
    )
    log = capsys.readouterr().err
    assert len([line for line in log.splitlines() if " ERROR reload failed" in line]) == 1, log
    assert "Traceback" not in log, log


def test_sigterm_mid_pass_returns_within_seconds(
    harness: Callable[[list[Step]], Harness], notify_socket: NotifySocket
) -> None:
    """SIGTERM during a long pass: should_stop turns true, the pass ends early, the daemon exits
    0 well within systemd's stop timeout, announcing STOPPING=1 at once."""

    def long_pass(engine: FakeEngine, should_stop: Callable[[], bool]) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 30
        while not should_stop() and time.monotonic() < deadline:
            time.sleep(0.01)

    h = harness([long_pass])
    started = time.monotonic()
    assert h.run() == 0
    assert time.monotonic() - started < 5
    assert len(h.passes) == 1
    recorded = health.load_health(h.state)
    assert recorded is not None and recorded.stopped_early and recorded.next_pass is None
    assert len([m for m in notify_socket.drain() if has("STOPPING=1")(m)]) == 1


def test_watchdog_pinged_while_a_pass_makes_progress(
    harness: Callable[[list[Step]], Harness], notify_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long pass that keeps calling should_stop keeps the watchdog fed (a hung one would not)."""
    monkeypatch.setenv("WATCHDOG_USEC", "200000")

    def slow_pass(engine: FakeEngine, should_stop: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            should_stop()
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    assert harness([slow_pass]).run() == 0
    messages = notify_socket.drain()
    first_status = notify_socket.index(starts("STATUS=fake pass"))
    assert len([m for m in messages[:first_status] if m == "WATCHDOG=1"]) >= 4


# --- the real `syncd run`, as systemd runs it -------------------------------------------------


@dataclass
class Service:
    """`syncd run` in a subprocess with NOTIFY_SOCKET and WATCHDOG_USEC set."""

    workspace: Workspace
    notify: NotifySocket
    process: subprocess.Popen[str] | None = None

    def start(self) -> subprocess.Popen[str]:
        self.notify.messages.clear()
        self.workspace.env.update(NOTIFY_SOCKET=self.notify.address, WATCHDOG_USEC="1000000")
        self.process = self.workspace.start("run")
        return self.process

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self, timeout: float = 5.0) -> tuple[int, float, str]:
        """SIGTERM; the exit code, the seconds it took and the log."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            _, log = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, log = self.process.communicate()
            raise AssertionError(f"syncd did not stop within {timeout}s:\n{log}") from None
        return self.process.returncode, time.monotonic() - started, log


@pytest.fixture
def service(tmp_path: Path, notify_socket: NotifySocket) -> Iterator[Service]:
    svc = Service(Workspace(tmp_path / "ws"), notify_socket)
    yield svc
    if svc.process is not None and svc.process.poll() is None:
        svc.process.kill()
        svc.process.communicate()


def _book(workspace: Workspace, count: int, first: int = 0) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    for i in range(first, first + count):
        workspace.put(f"intro-{i}", f"Intro session with Client {i}", start + timedelta(hours=i),
                      client=(f"Client {i}", f"client{i}@example.com"))  # fmt: skip


@pytest.mark.slow
def test_service_speaks_the_notify_protocol(service: Service) -> None:
    """READY=1, STATUS=<summary>, WATCHDOG=1, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 and
    exit 0 within 5 s on SIGTERM. STATUS counts one link per booking, though the ended
    session's event is written twice (its link, then its status line when the draft is queued)."""
    _book(service.workspace, 1)
    ended = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    service.workspace.put("ended", "Intro session", ended, client=("Ed Ended", "ed@example.com"))
    service.start()
    notify = service.notify
    notify.wait_for(has("READY=1"))
    notify.wait_for(
        has("STATUS=2 bookings tracked, 2 notes created, 2 links written, 1 draft queued, 0 errors")
    )
    notify.wait_for(has("WATCHDOG=1"))
    mark = len(notify.drain())
    service.signal(signal.SIGHUP)
    notify.wait_for(has("RELOADING=1"), after=mark)
    notify.wait_for(has("READY=1"), after=mark)
    code, seconds, log = service.stop()
    assert any(has("STOPPING=1")(m) for m in notify.drain())
    assert code == 0, log
    assert seconds < 5
    assert "Traceback" not in log


@pytest.mark.slow
def test_sighup_picks_up_changed_config_without_losing_state(service: Service) -> None:
    """A reload with a changed config keeps the tracked bookings (SQLite) and their notes; a
    broken config on the next SIGHUP is refused in one line while the daemon runs on."""
    ws = service.workspace
    _book(ws, 1)
    service.start()
    service.notify.wait_for(lambda m: "1 booking tracked" in m)
    ws.poll_interval = "2s"
    ws.write_config()
    _book(ws, 1, first=1)
    mark = len(service.notify.drain())
    service.signal(signal.SIGHUP)
    service.notify.wait_for(lambda m: "2 bookings" in m, after=mark)
    assert len(ws.notes()) == 2
    ws.config.write_text("coaches: [\n")
    mark = len(service.notify.drain())
    service.signal(signal.SIGHUP)
    service.notify.wait_for(lambda m: "reload failed" in m, after=mark)
    service.notify.wait_for(has("WATCHDOG=1"), after=mark)
    assert service.process is not None and service.process.poll() is None, "still running"
    code, _, log = service.stop()
    assert code == 0
    assert len([line for line in log.splitlines() if "reload failed" in line]) == 1


@pytest.mark.slow
def test_sigterm_mid_pass_exits_fast_and_next_start_resumes(service: Service) -> None:
    """SIGTERM right after READY (the first pass under way) exits 0 within 5 s; the next start
    finishes the work with no duplicate note, and `syncd status` shows the daemon's health."""
    ws = service.workspace
    total = 120
    _book(ws, total)
    service.start()
    service.notify.wait_for(has("READY=1"))
    code, seconds, log = service.stop()
    assert code == 0, log
    assert seconds < 5
    first_run_notes = len(ws.notes())
    assert "(stopped early)" in log and first_run_notes < total, "the stop did not land mid-pass"
    service.start()
    service.notify.wait_for(lambda m: f"{total} bookings" in m, timeout=60)
    code, _, log = service.stop()
    assert code == 0, log
    assert first_run_notes <= len(ws.notes()) == total
    status = ws.run("status").stdout
    assert "Last pass:" in status
    assert "Next pass: none (the daemon stopped" in status
    print(f"notes after the interrupted first run: {first_run_notes} of {total}")


@pytest.mark.slow
def test_service_logs_for_journald_when_stderr_is_the_journal_stream(
    service: Service, tmp_path: Path
) -> None:
    """With JOURNAL_STREAM naming its stderr, `syncd run` writes `<N>message` lines, no timestamps."""
    _book(service.workspace, 1)
    stderr_path = tmp_path / "journal-stream"
    with stderr_path.open("w") as stderr:
        info = os.fstat(stderr.fileno())
        env = dict(service.workspace.full_env(), NOTIFY_SOCKET=service.notify.address)
        env["JOURNAL_STREAM"] = f"{info.st_dev}:{info.st_ino}"
        process = subprocess.Popen(service.workspace.command("run"), stderr=stderr, text=True, env=env)
        try:
            service.notify.wait_for(lambda m: "1 booking tracked" in m)
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=5) == 0
    lines = stderr_path.read_text().splitlines()
    assert lines
    assert all(re.match(r"<[0-7]>\S", line) for line in lines), lines
    assert any(line.startswith("<6>pass finished: 1 booking tracked") for line in lines), lines


def _as_another_user(command: list[str]) -> list[str] | None:
    """`command` run as user nobody (the test runs as root), or None when that is impossible."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    wrapped = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
    probe = subprocess.run(
        [*wrapped[: -len(command)], sys.executable, "-c", "import syncd"], capture_output=True
    )
    return wrapped if probe.returncode == 0 else None


@pytest.mark.slow
def test_a_state_dir_syncd_may_not_write_names_the_user_and_the_fix(tmp_path: Path) -> None:
    """The classic: `sudo syncd once` left root-owned state, the service's user cannot write it.
    One line naming the user and the folder, exit 2 (systemd does not restart in a loop)."""
    root = Path(tempfile.mkdtemp(prefix="syncd-state-"))
    try:
        root.chmod(0o755)
        ws = Workspace(root)
        ws.run("once")  # the state now belongs to whoever runs the tests
        command = ws.command("once")
        if os.geteuid() == 0:
            wrapped = _as_another_user(command)
            if wrapped is None:
                pytest.skip("cannot run syncd as user nobody here")
            command, user = wrapped, "nobody"
        else:
            (root / "state").chmod(0o500)
            user = pwd.getpwuid(os.geteuid()).pw_name
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=ws.full_env())
        assert result.returncode == 2, result.stderr
        [line] = result.stderr.splitlines()
        assert f"user {user}" in line and f"chown -R {user} {root / 'state'}" in line and "state_dir" in line
    finally:
        (root / "state").chmod(0o700)
        shutil.rmtree(root)
