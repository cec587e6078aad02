"""What every Google backend (Calendar, Docs, Gmail) shares when it talks to Google.

- turning whatever the client library raises into one syncd error with one line of text
  (`translated`, `http_error`);
- executing a request with the library's own retries (`execute`);
- one googleapiclient service per thread, built on first use from the stored token
  (`ThreadServices`, `lazy_factory`): httplib2 is not thread-safe, and loading the token at
  start-up would turn a network outage into a daemon that does not start.

Imported only by the Google backends, so it may import the Google libraries at the top.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.errors import Error as GoogleClientError
from googleapiclient.errors import HttpError

from syncd.errors import AuthError, BackendError, SyncdError
from syncd.google_auth import (
    DEFAULT_HTTP_TIMEOUT,
    REAUTH_HINT,
    auth_error_from_refresh,
    build_service,
    load_credentials,
    token_path,
)

if TYPE_CHECKING:
    from syncd.config import Settings

# googleapiclient retries 5xx, 429, 403 rate limits, timeouts and resets this many times with
# backoff `random() * 2**n` seconds (so at most about 30 s in all); the next pass does the rest.
NUM_RETRIES = 4

RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})
SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
NETWORK_ERRORS = (OSError, httplib2.HttpLib2Error, http.client.HTTPException, TransportError)

HttpErrorMapper = Callable[[HttpError, str], SyncdError]


def http_error(exc: HttpError, where: str) -> SyncdError:
    """The syncd error for an HTTP error answer (after the library's own retries).

    401 and missing scopes are `AuthError`; rate limits, 429 and 5xx are retryable; anything
    else (400, 403, 404...) is a permanent `BackendError`.
    """
    status = int(exc.status_code)
    reason, _ = error_reason(exc)
    text = error_text(exc, where)
    if status == 401:
        return AuthError(f"{text} (rejected even after refreshing the token); {REAUTH_HINT}")
    if status == 403 and reason in SCOPE_REASONS:
        return AuthError(f"{text}; the token lacks a permission, {REAUTH_HINT}")
    if status == 403 and reason in RATE_LIMIT_REASONS:
        return BackendError(f"{text}; rate limited, will retry")
    if status == 429 or status >= 500:
        return BackendError(f"{text}; will retry")
    return BackendError(text, retryable=False)


def error_text(exc: HttpError, where: str) -> str:
    """`WHERE: HTTP 404 notFound: File not found: x.`, on one line."""
    reason, message = error_reason(exc)
    text = f"{where}: HTTP {int(exc.status_code)} {reason}".rstrip()
    return text + (f": {message}" if message else "")


def error_reason(exc: HttpError) -> tuple[str, str]:
    """`error.errors[0].reason` and `error.message` from Google's error body, as one line each."""
    try:
        error = json.loads(exc.content).get("error", {})
        details = error.get("errors") or [{}]
        reason, message = str(details[0].get("reason", "")), str(error.get("message", ""))
    except (ValueError, AttributeError, TypeError, IndexError):
        reason, message = "", ""
    return reason, " ".join(message.split())[:300]


def describe(exc: BaseException) -> str:
    """`TypeName: message` on one line (just the type name when there is no message)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextmanager
def translated(where: str, map_http: HttpErrorMapper = http_error) -> Iterator[None]:
    """Turn whatever the client library raises inside the block into one syncd error whose
    message starts with `where`; syncd's own errors pass through unchanged."""
    try:
        yield
    except SyncdError:
        raise
    except HttpError as exc:
        raise map_http(exc, where) from None
    except RefreshError as exc:
        raise auth_error_from_refresh(exc) from None
    except NETWORK_ERRORS as exc:
        raise BackendError(f"{where}: network problem ({describe(exc)}); will retry") from None
    except (GoogleClientError, json.JSONDecodeError) as exc:
        raise BackendError(f"{where}: unexpected answer ({describe(exc)})") from None


def execute(request: Any, num_retries: int, sleep: Callable[[float], None] | None = None) -> Any:
    """`request.execute()` with the library's retries; `sleep` replaces its backoff sleep
    (tests pass a no-op)."""
    if sleep is not None:
        request._sleep = sleep  # the library's documented stub for its backoff sleep
    return request.execute(num_retries=num_retries)


class ThreadServices:
    """One service per thread from `factory` (httplib2 connections must not be shared)."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._local = threading.local()

    def get(self) -> Any:
        service = getattr(self._local, "service", None)
        if service is None:
            service = self._local.service = self._factory()
        return service

    def forget(self) -> None:
        """Drop this thread's service (after an auth failure): the next `get` builds a new one,
        so a token replaced meanwhile by `syncd auth google` is used without a restart."""
        self._local.service = None


def lazy_credentials(settings: Settings) -> Callable[[], Any]:
    """The stored credentials, loaded on the first call (once, for every thread), not when the
    daemon starts, and loaded again when the token file was replaced since (the coach ran
    `syncd auth google` after Google refused the old token: no restart needed)."""
    loaded: dict[str, Any] = {}  # "credentials", and the token file's "stamp" when they were read
    lock = threading.Lock()

    def credentials() -> Any:
        with lock:
            if "credentials" not in loaded or loaded["stamp"] != _file_stamp(token_path(settings)):
                loaded["credentials"] = load_credentials(settings)  # may refresh and save it
                loaded["stamp"] = _file_stamp(token_path(settings))
            return loaded["credentials"]

    return credentials


def lazy_factory(
    api: str,
    version: str,
    settings: Settings,
    *,
    timeout: float = DEFAULT_HTTP_TIMEOUT,
    credentials: Callable[[], Any] | None = None,
) -> Callable[[], Any]:
    """A service factory for `api`/`version` whose credentials are loaded on first use;
    backends using two APIs pass one `lazy_credentials` to both."""
    get_credentials = credentials or lazy_credentials(settings)

    def factory() -> Any:
        return build_service(api, version, settings, get_credentials(), timeout=timeout)

    return factory


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    """What changes when a file is replaced or rewritten; None when it does not exist."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size
