"""A small WebDAV client for the CalDAV source: one request at a time over `http.client`,
redirects followed, failures turned into syncd's error types, multistatus bodies parsed.

A status says what happened, so the caller decides by exception type (see `syncd.errors`):
401 is `AuthError`, 403 `NotPermitted`, 404/410 `EventGone`, 412 `PreconditionFailed`, 429
`RateLimited`, 5xx and network trouble `Unavailable` (tried `attempts` times, with backoff,
before giving up), any other failure `Rejected`. The password goes only into the
Authorization header: no message, log line or exception carries it.
"""

from __future__ import annotations

import base64
import http.client
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urljoin, urlsplit

from syncd import telemetry
from syncd.errors import (
    AuthError,
    EventGone,
    NotPermitted,
    PreconditionFailed,
    RateLimited,
    Rejected,
    Unavailable,
)
from syncd.text import one_line

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
_REDIRECTS = 5
_RETRY_AFTER_CAP = 60.0


@dataclass(frozen=True)
class Response:
    """A response the caller expected (its status was in `expect`)."""

    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    url: str  # after redirects


@dataclass(frozen=True)
class Entry:
    """One `<response>` of a multistatus: the href (a normalised path), its status when the
    response gives one for the whole href (a deleted member: 404), and the properties found."""

    href: str
    status: int | None
    props: dict[str, ET.Element] = field(default_factory=dict)


class DavClient:
    """Requests to one CalDAV account; see the module doc for what each failure raises."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        timeout: float = 30.0,
        attempts: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.username = username
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._authorization = f"Basic {token}"
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self._sleep = sleep

    def request(
        self,
        method: str,
        url: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        expect: Iterable[int] = (200, 201, 204, 207),
    ) -> Response:
        """Send the request (again on a 5xx, 429 or network failure, up to `attempts` times);
        the response when its status is in `expect`, else the error it means."""
        expected = frozenset(expect)
        for attempt in range(1, self.attempts + 1):
            try:
                response = self._follow(method, url, body, headers or {})
            except Unavailable as exc:
                if attempt == self.attempts:
                    raise
                self._sleep(_delay(exc, self.backoff, attempt))
                continue
            if response.status in expected:
                return response
            error = _error(method, response, self.username)
            if not isinstance(error, Unavailable) or attempt == self.attempts:
                raise error
            self._sleep(_delay(error, self.backoff, attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _follow(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> Response:
        for _ in range(_REDIRECTS):
            response = self._once(method, url, body, headers)
            location = response.headers.get("location")
            if response.status not in (301, 302, 303, 307, 308) or not location:
                return response
            url = redirected(url, location)
        raise Rejected(f"CalDAV {method} {_shown(url)}: too many redirects")

    def _once(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> Response:
        parts = urlsplit(url)
        if parts.scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.netloc, timeout=self.timeout
            )
        elif parts.scheme == "http":
            connection = http.client.HTTPConnection(parts.netloc, timeout=self.timeout)
        else:
            raise Rejected(f"CalDAV URL {_shown(url)} is not http(s)")
        path = parts.path or "/"
        if parts.query:
            path += f"?{parts.query}"
        sent = {"Authorization": self._authorization, "User-Agent": "syncd", **headers}
        if body:
            sent.setdefault("Content-Type", "application/xml; charset=utf-8")
        try:
            connection.request(method, path, body=body or None, headers=sent)
            raw = connection.getresponse()
            data = raw.read()
            telemetry.request_done("caldav", raw.status)
            return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, data, url)
        except (OSError, http.client.HTTPException) as exc:
            telemetry.request_done("caldav", "network")
            raise Unavailable(
                f"CalDAV server {parts.netloc} cannot be reached: {one_line(str(exc), 160)}"
            ) from None
        finally:
            connection.close()


def _error(method: str, response: Response, username: str) -> Exception:
    """The syncd error a failed response means."""
    status, where = response.status, f"CalDAV {method} {_shown(response.url)}"
    if status == 401:
        host = urlsplit(response.url).netloc
        hint = (
            " (iCloud needs an app-specific password: appleid.apple.com, Sign-In and Security)"
            if "icloud.com" in host
            else " (check username and password; providers with 2FA want an app password)"
        )
        return AuthError(f"CalDAV server {host} refused user {username!r} (401){hint}")
    if status == 403:
        return NotPermitted(f"{where}: not permitted (403)")
    if status in (404, 410):
        return EventGone(f"{where}: not found ({status})")
    if status == 412:
        return PreconditionFailed(f"{where}: changed on the server since it was read (412)")
    if status == 429:
        return RateLimited(f"{where}: rate limited (429)", _retry_after(response.headers.get("retry-after")))
    if status >= 500:
        return Unavailable(f"{where}: server error ({status}); tried again next pass")
    return Rejected(f"{where}: refused ({status})")


def _retry_after(value: str | None) -> float | None:
    try:
        return min(float(value), _RETRY_AFTER_CAP) if value else None
    except ValueError:
        return None  # an HTTP date: the backoff will do


def _delay(error: Unavailable, backoff: float, attempt: int) -> float:
    if isinstance(error, RateLimited) and error.retry_after is not None:
        return error.retry_after
    return float(backoff * 2 ** (attempt - 1))


def redirected(url: str, location: str) -> str:
    """Where a redirect from `url` to `location` leads (iCloud sends discovery on to its pXX
    host). Raises `Rejected` for one from https to http: every request carries the password."""
    target = urljoin(url, location)
    if urlsplit(url).scheme == "https" and urlsplit(target).scheme != "https":
        raise Rejected(
            f"CalDAV server {_shown(url)} redirects to {_shown(target)}, which is not https: "
            "not followed, the password would go unencrypted"
        )
    return target


def _shown(url: str) -> str:
    """A URL fit for a log line: no user info, one line, bounded."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is no number: the host alone
        port = ""
    return one_line(f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}", 200)


def normal_href(base: str, href: str) -> str:
    """`href` (relative or absolute, percent-encoded or not) as one canonical path."""
    return quote(unquote(urlsplit(urljoin(base, href.strip())).path), safe="/@:+!$&'()*,;=~-._")


def multistatus(body: bytes, base: str) -> list[Entry]:
    """The responses of a 207 body, each href normalised against `base` (see `normal_href`).
    Only properties reported with a 2xx propstat are kept. Raises `Rejected` for a body that
    is not XML."""
    try:
        # The server is the coach's own account; expat refuses external entities and
        # entity expansion bombs, so the standard parser is safe here.
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError as exc:
        raise Rejected(f"CalDAV server answered with a body that is not XML ({exc})") from None
    entries: list[Entry] = []
    for response in root.iter(f"{DAV}response"):
        href = response.findtext(f"{DAV}href")
        if href is None:
            continue
        status = _status(response.findtext(f"{DAV}status"))
        props: dict[str, ET.Element] = {}
        for propstat in response.findall(f"{DAV}propstat"):
            if (_status(propstat.findtext(f"{DAV}status")) or 200) // 100 != 2:
                continue
            for prop in propstat.findall(f"{DAV}prop"):
                for child in prop:
                    props[child.tag] = child
        entries.append(Entry(normal_href(base, href), status, props))
    return entries


def _status(line: str | None) -> int | None:
    """The code of an `HTTP/1.1 404 Not Found` status line."""
    if not line:
        return None
    fields = line.split()
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None


def href_in(element: ET.Element | None) -> str | None:
    """The text of the first `<href>` inside a property, if any."""
    if element is None:
        return None
    found = element.find(f"{DAV}href")
    return found.text.strip() if found is not None and found.text else None
