"""What the end-to-end tests share: a workspace on disk and the real `syncd` command.

Events are written as .ics files the way calendar apps write them. `Workspace.run` calls
`syncd.cli.main` in this process (the workspace's SYNCD_* environment applied for the call,
stdout and stderr captured), which gives the same result as `python -m syncd` without starting
an interpreter; `Workspace.start` and `Workspace.run_process` start a real process, for what
only a process has (signals, SIGKILL, notify sockets, `syncd run`, closed pipes).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import io
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

COACH = "ada@coach.example"
REPO = Path(__file__).resolve().parents[1]


def ics_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def ics_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def event_ics(
    uid: str,
    summary: str,
    start: datetime,
    minutes: int = 30,
    client: tuple[str, str] | None = ("Jane Client", "jane@client.example"),
    description: str = "",
    status: str = "CONFIRMED",
    extra: str = "",
) -> str:
    """A one-event VCALENDAR, CRLF line ends, as a calendar app would write it."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//syncd tests//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{ics_time(start)}",
        f"DTSTART:{ics_time(start)}",
        f"DTEND:{ics_time(start + timedelta(minutes=minutes))}",
        f"SUMMARY:{ics_text(summary)}",
        f"STATUS:{status}",
        f"ORGANIZER;CN=Ada Coach:mailto:{COACH}",
    ]
    if client:
        name = client[0].replace('"', "'")
        lines.append(f'ATTENDEE;CN="{name}";PARTSTAT=ACCEPTED:mailto:{client[1]}')
    if description:
        lines.append(f"DESCRIPTION:{ics_text(description)}")
    lines.extend(line for line in extra.splitlines() if line)
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


@dataclass
class Workspace:
    """A coach's folders and config in a temp dir, and ways to run syncd on them."""

    root: Path
    delay: str = "15m"
    lookback: str = "2d"
    max_lateness: str = "7d"
    poll_interval: str = "1s"
    extra_coach: str = ""
    state: str = ""  # a `state:` section in YAML flow style, e.g. '{url: "postgresql://..."}'
    env: dict[str, str] = field(default_factory=dict)
    notes_config: str = "{type: markdown, path: notes}"  # the coach's `notes:` value
    link_placement: str = ""  # the calendar's, when not the default

    def __post_init__(self) -> None:
        for sub in ("calendar", "notes", "Mail", "state"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.write_config()

    @property
    def config(self) -> Path:
        return self.root / "syncd.yaml"

    @property
    def calendar(self) -> Path:
        return self.root / "calendar"

    @property
    def collection(self) -> Path:
        return self.root / "notes" / "Intro Sessions"

    @property
    def drafts(self) -> Path:
        return self.root / "Mail" / "Drafts"

    def write_config(self) -> None:
        placement = f", link_placement: {self.link_placement}" if self.link_placement else ""
        self.config.write_text(
            f"""\
state_dir: state
{f"state: {self.state}" if self.state else ""}
poll_interval: {self.poll_interval}
lookback: {self.lookback}
max_lateness: {self.max_lateness}
coaches:
  - name: Ada Coach
    email: {COACH}
    timezone: Europe/Berlin
    pricing_url: https://ada.example/pricing
    specialties: [engineering leadership, career change]
    calendar: {{type: vdir, path: calendar{placement}}}
    notes: {self.notes_config}
    drafts: {{type: maildir, path: Mail/Drafts, delay: {self.delay}}}
    reminder: 5m
{self.extra_coach}""",
            encoding="utf-8",
        )

    def put(self, uid: str, summary: str, start: datetime, **kwargs: object) -> Path:
        path = self.calendar / f"{uid}.ics"
        path.write_bytes(event_ics(uid, summary, start, **kwargs).encode())  # type: ignore[arg-type]
        return path

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "syncd", "--config", str(self.config), *args]

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`syncd --config CONFIG ARGS` to completion, in this process (`syncd run`, which
        installs signal handlers and never returns by itself, in a real one).

        `timeout` applies to a real process only."""
        if subcommand(args) == "run":
            return self.run_process(*args, check=check, timeout=timeout)
        result = run_in_process(self.command(*args)[3:], self.env)
        if check and result.returncode != 0:
            raise AssertionError(f"syncd {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    def run_process(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """`python -m syncd ... ARGS` in a real process, for tests of what only a process has."""
        result = subprocess.run(
            self.command(*args), capture_output=True, text=True, timeout=timeout, env=self.full_env()
        )
        if check and result.returncode != 0:
            raise AssertionError(f"syncd {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    def start(self, *args: str, log: Path | None = None) -> subprocess.Popen[str]:
        """syncd in the background; its stderr into `log` (to watch it while it runs), else a pipe."""
        with contextlib.ExitStack() as stack:
            sink = stack.enter_context(log.open("w", encoding="utf-8")) if log else subprocess.PIPE
            return subprocess.Popen(
                self.command(*args), stdout=subprocess.PIPE, stderr=sink, text=True, env=self.full_env()
            )

    def full_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
        env.pop("NOTIFY_SOCKET", None)
        env.update(self.env)
        return env

    def notes(self) -> list[Path]:
        return sorted(self.collection.glob("*.md")) if self.collection.exists() else []

    def draft_files(self) -> list[Path]:
        return sorted(p for sub in ("cur", "new") for p in (self.drafts / sub).glob("*") if p.is_file())

    def drafts_parsed(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for p in self.draft_files()
        ]

    def event_text(self, uid: str) -> str:
        """The event file's text with folded lines joined again (RFC 5545 section 3.1)."""
        raw = (self.calendar / f"{uid}.ics").read_bytes().decode("utf-8")
        return raw.replace("\r\n ", "").replace("\r\n\t", "").replace("\r\n", "\n")


def subcommand(args: Sequence[str]) -> str | None:
    """The COMMAND of `syncd [--config FILE] [-v] COMMAND ...`, None when there is none."""
    after_config = False
    for arg in args:
        if after_config:
            after_config = False
        elif arg == "--config":
            after_config = True
        elif not arg.startswith("-"):
            return arg
    return None


@contextlib.contextmanager
def syncd_environment(env: Mapping[str, str]) -> Iterator[None]:
    """os.environ as a syncd process started by `Workspace.full_env` would see it: no SYNCD_*
    or NOTIFY_SOCKET from the test run, then `env`; restored as it was afterwards."""
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith("SYNCD_") or n == "NOTIFY_SOCKET"]:
        del os.environ[name]
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def logging_restored() -> Iterator[None]:
    """Whatever `syncd.logs.setup_logging` changes (the root handler and the levels it sets)
    put back afterwards, so pytest's own log capture keeps working after an in-process run."""
    names = ["", "googleapiclient", "google_auth_httplib2", "google_auth_oauthlib"]
    loggers = [logging.getLogger(name or None) for name in names]
    saved = [(logger, logger.handlers[:], logger.level) for logger in loggers]
    try:
        yield
    finally:
        for logger, handlers, level in saved:
            logger.handlers[:] = handlers
            logger.setLevel(level)


def run_in_process(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`syncd.cli.main(argv)` with `env` applied and its stdout and stderr captured, as the
    result `subprocess.run` gives for `python -m syncd ARGV` (a bug's traceback goes to stderr
    and exits 1, as the interpreter does)."""
    from syncd.cli import main

    out, err = io.StringIO(), io.StringIO()
    with (
        syncd_environment(env),
        logging_restored(),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse: --help, --version, a usage error
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            code = 1
    return subprocess.CompletedProcess(["syncd", *argv], code, out.getvalue(), err.getvalue())


def kill(process: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    process.send_signal(sig)
    process.wait(timeout=10)


def wait_for(predicate: object, timeout: float = 20.0, interval: float = 0.05) -> bool:
    """True as soon as `predicate()` is, checked every `interval` seconds; False after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(interval)
    return False


class NotifySocket:
    """An abstract AF_UNIX datagram socket collecting what the daemon sends."""

    def __init__(self) -> None:
        self.address = f"@syncd-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(b"\0" + self.address[1:].encode())
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def drain(self) -> list[str]:
        """Read everything that arrived so far."""
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 20.0, after: int = 0) -> str:
        """The first message (from index `after`) matching `predicate`; fails after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.drain()[after:]:
                if predicate(message):
                    return message
            time.sleep(0.02)
        raise AssertionError(f"no matching notify message within {timeout}s; got {self.messages}")

    def index(self, predicate: Callable[[str], bool]) -> int:
        return next(i for i, m in enumerate(self.drain()) if predicate(m))


def has(line: str) -> Callable[[str], bool]:
    """Predicate: the message contains the assignment `line` (e.g. READY=1)."""
    return lambda message: line in message.split("\n")


def starts(prefix: str) -> Callable[[str], bool]:
    return lambda message: any(part.startswith(prefix) for part in message.split("\n"))
