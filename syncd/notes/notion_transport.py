"""Calling Notion: one request at a time per token, bounded retries, syncd's error types.

notion-client's own retries are turned off: it waits out a 429 but not a 529
(`service_overload`, which it reports as an unknown response), and it would sleep where tests
cannot see. Here both are waited out as Notion's `Retry-After` says, up to `attempts` tries
and `max_wait` seconds a wait; a 5xx, a timeout or a dropped connection is tried again only
for a request that is safe to repeat (a read, or a write that sets a value). What is left
becomes one line of the `syncd.errors` hierarchy; the token never appears in it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from notion_client.errors import HTTPResponseError, RequestTimeoutError

from syncd.errors import AuthError, BackendError, NotPermitted, RateLimited, Rejected, Unavailable
from syncd.text import error_line

T = TypeVar("T")
log = logging.getLogger(__name__)

ATTEMPTS = 4
MAX_WAIT = 30.0  # seconds: a longer Retry-After ends the call; the next pass tries again
BACKOFF = 0.5  # seconds before the second try of a failed safe request, doubled each time
SLOW_DOWN = {429, 529}
RETRYABLE = {409, 500, 502, 503, 504}

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()

Missing = Callable[[str], BackendError]


def token_lock(token: str) -> threading.Lock:
    """The lock every request with `token` holds: Notion counts its rate limit per
    integration, and one request at a time keeps syncd well within it."""
    key = hashlib.sha256(token.encode("utf-8")).hexdigest()
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


class NotionCaller:
    """Runs calls on a notion-client `Client` for one token; see the module docstring."""

    def __init__(
        self,
        lock: threading.Lock,
        *,
        attempts: int = ATTEMPTS,
        max_wait: float = MAX_WAIT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._lock = lock
        self._attempts = attempts
        self._max_wait = max_wait
        self._sleep = sleep

    def call(
        self,
        where: str,
        request: Callable[[], T],
        *,
        repeatable: bool = True,
        missing: Missing | None = None,
    ) -> T:
        """`request()` under the token's lock, retried as the module docstring says.
        `where` names the call in errors; `missing` makes the error for a 404."""
        delay = BACKOFF
        for attempt in range(1, self._attempts + 1):
            try:
                with self._lock:
                    return request()
            except HTTPResponseError as exc:
                wait = self._wait_for(exc, attempt, repeatable, delay)
                if wait is None:
                    raise mapped(exc, where, missing) from None
            except (httpx.TransportError, RequestTimeoutError) as exc:
                if not repeatable or attempt == self._attempts:
                    raise Unavailable(f"{where}: Notion did not answer ({error_line(exc, 120)})") from None
                wait = delay
            log.debug("%s: trying again in %.1f s (attempt %d)", where, wait, attempt)
            self._sleep(wait)
            delay *= 2
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _wait_for(self, exc: HTTPResponseError, attempt: int, repeatable: bool, delay: float) -> float | None:
        """How long to wait before trying `exc`'s request again; None: do not."""
        if attempt == self._attempts:
            return None
        if exc.status in SLOW_DOWN:
            wait = retry_after(exc)
            return (
                None if wait is not None and wait > self._max_wait else (wait if wait is not None else delay)
            )
        if exc.status in RETRYABLE and repeatable:
            return delay
        return None


def retry_after(exc: HTTPResponseError) -> float | None:
    """The `Retry-After` seconds of an answer, None when it gives none."""
    value = exc.headers.get("retry-after") if exc.headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def mapped(exc: HTTPResponseError, where: str, missing: Missing | None = None) -> BackendError | AuthError:
    """Notion's answer as syncd's error, one line naming `where`."""
    code = str(getattr(exc.code, "value", exc.code))
    text = f"{where}: HTTP {exc.status} {code}: {error_line(str(exc), 200)}"
    message = str(exc).lower()
    if exc.status == 401:
        return AuthError(
            f"{where}: Notion refused the integration token (revoked, or not an internal integration "
            "token): make a new one at notion.so/profile/integrations and put it in token_file or "
            "SYNCD_NOTION_TOKEN"
        )
    if exc.status in SLOW_DOWN:
        return RateLimited(f"{text} (Notion asked syncd to slow down)", retry_after(exc))
    if "block limit" in message:
        return Rejected(
            f"{where}: the Notion workspace has reached its block limit; upgrade its plan or free blocks, "
            "then syncd fills the note next pass"
        )
    if "archived" in message or "in trash" in message or "trashed" in message:
        return Unavailable(f"{where}: it is archived (in Notion's trash): restore it in Notion")
    if exc.status == 404 and missing is not None:
        return missing(text)
    if exc.status == 403:
        return NotPermitted(f"{text} (give the integration read, insert and update content capabilities)")
    if exc.status in RETRYABLE or exc.status >= 500:
        return Unavailable(text)
    return Rejected(text)


def client_options(token: str, base_url: str | None, timeout: float) -> dict[str, Any]:
    """The `notion_client.Client` options: syncd's retries instead of the client's, its
    logging quiet (syncd says what failed, once), the API version syncd is written for."""
    quiet = logging.getLogger("syncd.notion_client")
    options: dict[str, Any] = {
        "auth": token,
        "timeout_ms": int(timeout * 1000),
        "retry": False,
        "logger": quiet,
        "log_level": logging.CRITICAL,
        "notion_version": "2025-09-03",
    }
    if base_url:
        options["base_url"] = base_url.rstrip("/")
    return options
