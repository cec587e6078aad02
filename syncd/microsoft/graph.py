"""A small Microsoft Graph client over `requests`: bearer tokens, bounded retries, syncd errors.

- 429 and 503 (and 502/504) are retried after `Retry-After` seconds when Graph says, with
  exponential backoff when it does not, at most `retries` times; a wait longer than
  `MAX_WAIT` is not slept through: the pass gets `RateLimited` and the next pass tries again.
- A network failure or timeout is retried the same way, then `Unavailable`.
- 401 gets one new access token (msal refreshes it) and one more try, then `AuthError`.
- At most `MAX_IN_FLIGHT` requests are in flight per mailbox (Graph's own limit is four
  concurrent requests per app and mailbox): every client of one token cache shares one gate.
- Statuses the caller names in `expect` (404, 410, 412...) come back as answers; any other
  failure is raised as the syncd error for it, with one line naming `where`.

Imported only by the Outlook backends.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from syncd.errors import AuthError, NotPermitted, RateLimited, Rejected, SyncdError, Unavailable
from syncd.microsoft.auth import REAUTH_HINT, TokenSource, token_cache_path
from syncd.text import one_line

if TYPE_CHECKING:
    from syncd.config import Settings

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 4
RETRIES = 4
MAX_WAIT = 60.0  # the longest Retry-After slept through within a pass
TIMEOUT = 30.0
_RETRIED = frozenset({429, 502, 503, 504})

TokenGetter = Callable[[bool], str]

_GATES: dict[Path, threading.BoundedSemaphore] = {}
# Per mailbox, its HTTP sessions, one per thread: shared by every Graph client of the mailbox
# (each coach's calendar and drafts), as a pool's threads would otherwise keep one per client.
_SESSIONS: dict[Path, threading.local] = {}
_TOKENS: dict[Path, TokenSource] = {}
_SHARED_LOCK = threading.Lock()


@dataclass(frozen=True)
class Answer:
    """A Graph answer: status, JSON body ({} when none) and headers."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str]


class Graph:
    """Requests to one Graph root (`https://graph.microsoft.com/v1.0`) for one signed-in mailbox."""

    def __init__(
        self,
        root: str,
        tokens: TokenGetter,
        *,
        gate: threading.BoundedSemaphore | None = None,
        sessions: threading.local | None = None,
        retries: int = RETRIES,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = TIMEOUT,
    ) -> None:
        self.root = root.rstrip("/")
        self._tokens = tokens
        self._gate = gate or threading.BoundedSemaphore(MAX_IN_FLIGHT)
        self._retries = retries
        self._sleep = sleep
        self._timeout = timeout
        self._local = sessions if sessions is not None else threading.local()

    def url(self, path: str) -> str:
        """`path` under the root; a full URL (a nextLink, a deltaLink) as it is."""
        return path if path.startswith(("https://", "http://")) else self.root + path

    def call(
        self,
        method: str,
        path: str,
        where: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        expect: Collection[int] = (),
    ) -> Answer:
        """Send one request (retried as the module says); raise the syncd error for a failure
        whose status is not in `expect`."""
        refreshed = False
        for attempt in range(self._retries + 1):
            try:
                response = self._send(method, path, params, body, data, headers, force_token=refreshed)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt == self._retries:
                    raise Unavailable(
                        f"{where}: network problem ({type(exc).__name__}); will retry"
                    ) from None
                self._sleep(_backoff(attempt))
                continue
            status = response.status_code
            if status == 401 and not refreshed:
                refreshed = True
                continue
            if status in _RETRIED and attempt < self._retries:
                wait = _retry_after(response.headers) or _backoff(attempt)
                if wait <= MAX_WAIT:
                    log.debug("%s: HTTP %d, trying again in %.1fs", where, status, wait)
                    self._sleep(wait)
                    continue
            answer = Answer(status, _json(response), response.headers)
            if status < 400 or status in expect:
                return answer
            raise error_for(answer, where)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Any,
        data: bytes | None,
        headers: Mapping[str, str] | None,
        *,
        force_token: bool,
    ) -> requests.Response:
        sent = {"Authorization": f"Bearer {self._tokens(force_token)}", **(headers or {})}
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
            data = json.dumps(body).encode("utf-8")
        with self._gate:
            return self._session().request(
                method, self.url(path), params=params, data=data, headers=sent, timeout=self._timeout
            )

    def _session(self) -> requests.Session:
        # One session (connection pool) per thread: requests does not promise more.
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session


def error_for(answer: Answer, where: str) -> SyncdError:
    """The syncd error for a Graph failure answer (callers map 404/412... themselves first)."""
    text = f"{where}: {describe(answer)}"
    if answer.status == 401:
        return AuthError(f"{text} (refused even with a new access token); {REAUTH_HINT}")
    if answer.status == 429:
        return RateLimited(f"{text}; will retry", _retry_after(answer.headers))
    if answer.status >= 500:
        return Unavailable(f"{text}; will retry")
    if answer.status == 403:
        return NotPermitted(text)
    return Rejected(text)


def describe(answer: Answer) -> str:
    """`HTTP 404 ErrorItemNotFound: The specified object was not found in the store.`"""
    found = answer.body.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    code, message = str(error.get("code") or ""), one_line(str(error.get("message") or ""), 200)
    return f"HTTP {answer.status} {code}".rstrip() + (f": {message}" if message else "")


def _json(response: requests.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        return max(0.0, float(headers.get("Retry-After") or ""))
    except ValueError:
        return None


def _backoff(attempt: int) -> float:
    return float(min(MAX_WAIT, 2**attempt + random.random()))


def mailbox(settings: Settings) -> tuple[TokenSource, threading.BoundedSemaphore]:
    """The token source and request gate of the signed-in mailbox, one per token cache file
    for every Outlook backend of every coach (a new configuration gets a new token source)."""
    key = _mailbox_key(settings)
    with _SHARED_LOCK:
        tokens = _TOKENS.get(key)
        if tokens is None or tokens.settings is not settings:
            tokens = _TOKENS[key] = TokenSource(settings)
        gate = _GATES.setdefault(key, threading.BoundedSemaphore(MAX_IN_FLIGHT))
        return tokens, gate


def graph_for(settings: Settings, **options: Any) -> Graph:
    """A Graph client for the configured mailbox (its shared token source, gate and sessions)."""
    tokens, gate = mailbox(settings)
    with _SHARED_LOCK:
        sessions = _SESSIONS.setdefault(_mailbox_key(settings), threading.local())
    return Graph(settings.microsoft.graph_endpoint, tokens, gate=gate, sessions=sessions, **options)


def _mailbox_key(settings: Settings) -> Path:
    return token_cache_path(settings).resolve()
