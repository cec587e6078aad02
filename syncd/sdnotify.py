"""The systemd notify protocol, without libsystemd: one datagram per message.

systemd passes `$NOTIFY_SOCKET` to `Type=notify` services: a filesystem path, or an abstract
socket name written with a leading `@`. A message is a few `KEY=value` lines (`READY=1`,
`STATUS=...`, `WATCHDOG=1`). Outside systemd the variable is unset and every call is a no-op,
so the daemon runs the same in a terminal. Notification is best effort: a socket error is
logged at debug level and never stops the daemon.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


def notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send `message` to systemd's notify socket. True if it was sent, False otherwise.

    Never raises: a daemon must not die because its supervisor is gone or unreachable.
    """
    address = socket_address((env if env is not None else os.environ).get("NOTIFY_SOCKET", ""))
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode("utf-8", "replace"), address)
    except OSError as exc:
        log.debug("cannot notify systemd at %r: %s", address, exc)
        return False
    return True


def socket_address(value: str) -> str | bytes | None:
    """The `sendto` address for a `$NOTIFY_SOCKET` value; None when unset or unsupported."""
    if value.startswith("@"):
        # Abstract namespace: the kernel name starts with a NUL byte instead of the '@'.
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    if value:
        # e.g. "vsock:..." (systemd 254+ inside VMs): not something a host service receives.
        log.debug("ignoring unsupported NOTIFY_SOCKET %r", value)
    return None


def watchdog_usec(env: Mapping[str, str] | None = None) -> int | None:
    """The watchdog timeout systemd expects pings within, in microseconds; None if disabled.

    `$WATCHDOG_PID`, when set, names the process the watchdog is meant for: a child that
    inherited the environment must not ping on its parent's behalf.
    """
    env = env if env is not None else os.environ
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec if usec > 0 else None


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings (half the timeout, as sd_watchdog_enabled advises)."""
    usec = watchdog_usec(env)
    return usec / 2_000_000 if usec is not None else None


def reloading_message() -> str:
    """`RELOADING=1` with the `MONOTONIC_USEC=` stamp that `Type=notify-reload` requires."""
    return f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"


def status_message(text: str) -> str:
    """A `STATUS=` line; newlines would start a new (bogus) assignment, so they are flattened."""
    return "STATUS=" + " ".join(text.split())


class Watchdog:
    """Pings the watchdog no more often than needed; every ping is a cheap no-op when disabled."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = env
        self.interval = watchdog_interval(env)
        self._last = float("-inf")

    def ping(self) -> None:
        """Send `WATCHDOG=1` if half the watchdog timeout has passed since the last ping."""
        if self.interval is None:
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            notify("WATCHDOG=1", self._env)
