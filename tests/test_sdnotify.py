"""The notify protocol against real AF_UNIX datagram sockets, abstract and on the filesystem."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd import sdnotify


def _receive(sock: socket.socket) -> str:
    sock.settimeout(2)
    return sock.recv(4096).decode()


@pytest.fixture
def path_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound to a file, and the NOTIFY_SOCKET value naming it."""
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        yield sock, address


@pytest.fixture
def abstract_socket() -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket in the abstract namespace, and its `@name` NOTIFY_SOCKET value."""
    name = f"syncd-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        yield sock, "@" + name


def test_notify_sends_to_a_path_socket(path_socket: tuple[socket.socket, str]) -> None:
    """A filesystem NOTIFY_SOCKET receives the message as one datagram, unchanged."""
    sock, address = path_socket
    assert sdnotify.notify("READY=1\nSTATUS=hello", {"NOTIFY_SOCKET": address})
    assert _receive(sock) == "READY=1\nSTATUS=hello"


def test_notify_sends_to_an_abstract_socket(abstract_socket: tuple[socket.socket, str]) -> None:
    """`@name` means the abstract socket `\\0name`, as systemd passes it."""
    sock, address = abstract_socket
    assert sdnotify.notify("WATCHDOG=1", {"NOTIFY_SOCKET": address})
    assert _receive(sock) == "WATCHDOG=1"


def test_notify_reads_the_process_environment(
    abstract_socket: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an explicit mapping, $NOTIFY_SOCKET from the environment is used."""
    sock, address = abstract_socket
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    assert sdnotify.notify("STOPPING=1")
    assert _receive(sock) == "STOPPING=1"


def test_notify_is_a_no_op_without_systemd() -> None:
    """Outside systemd (no NOTIFY_SOCKET) nothing is sent and nothing fails."""
    assert sdnotify.notify("READY=1", {}) is False


@pytest.mark.parametrize("value", ["/nonexistent/notify.sock", "@syncd-nobody-listens-here", "vsock:2:9"])
def test_notify_never_raises_on_an_unreachable_socket(value: str) -> None:
    """A missing or unsupported socket is reported as False (and a debug line), never raised."""
    assert sdnotify.notify("READY=1", {"NOTIFY_SOCKET": value}) is False


def test_watchdog_interval_is_half_the_timeout() -> None:
    """WATCHDOG_USEC=4s means a ping every 2s, as sd_watchdog_enabled advises."""
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "4000000"}) == 2.0


@pytest.mark.parametrize("env", [{}, {"WATCHDOG_USEC": "0"}, {"WATCHDOG_USEC": "soon"}])
def test_watchdog_disabled_without_a_valid_timeout(env: dict[str, str]) -> None:
    """No (or a nonsensical) WATCHDOG_USEC disables the watchdog."""
    assert sdnotify.watchdog_interval(env) is None


def test_watchdog_ignored_when_meant_for_another_process() -> None:
    """WATCHDOG_PID naming another process means the watchdog is not ours to ping."""
    other = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    mine = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    assert sdnotify.watchdog_interval(other) is None
    assert sdnotify.watchdog_interval(mine) == 2.0


def test_watchdog_pings_at_most_once_per_interval(abstract_socket: tuple[socket.socket, str]) -> None:
    """Pinging in a tight loop sends one WATCHDOG=1, not one per call."""
    sock, address = abstract_socket
    watchdog = sdnotify.Watchdog({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "60000000"})
    for _ in range(5):
        watchdog.ping()
    assert _receive(sock) == "WATCHDOG=1"
    sock.settimeout(0.1)
    with pytest.raises(TimeoutError):
        sock.recv(4096)


def test_reloading_message_carries_the_monotonic_time() -> None:
    """RELOADING=1 comes with MONOTONIC_USEC=, which Type=notify-reload requires."""
    first, second = sdnotify.reloading_message().split("\n")
    assert first == "RELOADING=1"
    assert second.startswith("MONOTONIC_USEC=")
    assert int(second.partition("=")[2]) > 0


def test_status_message_stays_one_assignment() -> None:
    """A multi-line status is flattened: a newline would start a new KEY=value assignment."""
    assert sdnotify.status_message("2 errors:\nREADY=1") == "STATUS=2 errors: READY=1"
