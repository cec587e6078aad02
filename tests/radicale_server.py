"""A real Radicale CalDAV server for the tests, on a free port of 127.0.0.1, plus the few raw
requests a coach's other tools make (create a calendar, put, delete, read an event)."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.sax.saxutils import escape


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def radicale(folder: Path) -> Iterator[str]:
    """Run Radicale (any login accepted, no auth delay) storing in `folder`; yield its URL."""
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "radicale", "--config", "",
            "--server-hosts", f"127.0.0.1:{port}",
            "--storage-filesystem-folder", str(folder),
            "--auth-type", "none", "--auth-delay", "0", "--logging-level", "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("Radicale did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(10)


def dav(
    method: str, url: str, user: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One raw request as `user` (any password): status, headers (lower-case), body."""
    token = base64.b64encode(f"{user}:secret".encode()).decode()
    request = urllib.request.Request(url, data=body or None, method=method)
    request.add_header("Authorization", f"Basic {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def make_calendar(server: str, user: str, slug: str, name: str, component: str = "VEVENT") -> str:
    """Create calendar `slug` (display name `name`) in `user`'s home; return its URL."""
    url = f"{server}{user}/{slug}/"
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop>'
        f"<d:displayname>{escape(name)}</d:displayname>"
        f'<c:supported-calendar-component-set><c:comp name="{component}"/></c:supported-calendar-component-set>'
        "</d:prop></d:set></c:mkcalendar>"
    ).encode()
    dav("PROPFIND", f"{server}{user}/", user, headers={"Depth": "0"})  # makes the principal
    status, _, answer = dav("MKCALENDAR", url, user, body)
    assert status == 201, (status, answer)
    return url
