"""What every Google backend (Calendar, Docs, Gmail) shares when it talks to Google.

- turning whatever the client library raises into one syncd error with one line of text
  (`translated`, `http_error`);
- executing a request with the library's own retries (`execute`), then saving the token
  when the transport refreshed it meanwhile, so the next process need not refresh again;
- one googleapiclient service per thread, built on first use from the stored token
  (`ThreadServices`, `lazy_factory`, `LazyCredentials`, one per token file for all the
  backends: `shared_credentials`), and shared per thread by every backend of every coach
  on the same API and token (a service and its collections hold about 1 MiB: 500 coaches
  each with their own held 400 MiB): httplib2 is not thread-safe, and
  loading the token at start-up would turn a network outage into a daemon that does not start;
  after an auth failure `calling` drops them, so a token replaced meanwhile is used.

Imported only by the Google backends, so it may import the Google libraries at the top.
"""

from __future__ import annotations

import contextvars
import http.client
import json
import logging
import re
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.discovery import Resource
from googleapiclient.errors import Error as GoogleClientError
from googleapiclient.errors import HttpError

from syncd import telemetry
from syncd.errors import AuthError, BackendError, NotPermitted, RateLimited, Rejected, SyncdError, Unavailable
from syncd.files import FileStamp, file_stamp
from syncd.google.auth import (
    DEFAULT_HTTP_TIMEOUT,
    REAUTH_HINT,
    auth_error_from_refresh,
    build_service,
    load_credentials,
    save_credentials,
    token_path,
)

if TYPE_CHECKING:
    from syncd.config import Settings

log = logging.getLogger(__name__)

# googleapiclient retries 5xx, 429, 403 rate limits, timeouts and resets this many times with
# backoff `random() * 2**n` seconds (so at most about 30 s in all); the next pass does the rest.
NUM_RETRIES = 4

RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})
SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
# The API is not enabled in the Cloud project of the OAuth client (a set-up step was missed).
NOT_ENABLED_REASONS = frozenset({"accessNotConfigured", "SERVICE_DISABLED"})
# Problems of the account or project that the operator fixes: not an event's fault.
SETUP_REASONS = SCOPE_REASONS | NOT_ENABLED_REASONS
NETWORK_ERRORS = (OSError, httplib2.HttpLib2Error, http.client.HTTPException, TransportError)

HttpErrorMapper = Callable[[HttpError, str], SyncdError]


# Which `LazyCredentials` loaded each credentials object, so `execute` can save a refresh.
_STORES: weakref.WeakKeyDictionary[Any, LazyCredentials] = weakref.WeakKeyDictionary()
# One `LazyCredentials` per token file (resolved path) for every backend of every coach, so a
# refresh saved by one of them is not taken by the others for a file the coach replaced.
_BY_TOKEN: dict[Path, LazyCredentials] = {}
_BY_TOKEN_LOCK = threading.Lock()


def http_error(exc: HttpError, where: str) -> SyncdError:
    """The syncd error for an HTTP error answer (after the library's own retries).

    401, missing scopes and an API not enabled in the Cloud project are `AuthError` (the
    operator must act; the next pass tries again); rate limits and 429 are `RateLimited`, 5xx
    `Unavailable`; another 403 is `NotPermitted`, anything else (400, 404...) `Rejected`.
    """
    status = int(exc.status_code)
    reason, message = error_reason(exc)
    text = error_text(exc, where)
    if status == 401:
        return AuthError(f"{text} (rejected even after refreshing the token); {REAUTH_HINT}")
    if status == 403 and reason in SCOPE_REASONS:
        return AuthError(f"{text}; the token lacks a permission, {REAUTH_HINT}")
    if status == 403 and reason in NOT_ENABLED_REASONS:
        return AuthError(f"{where}: {api_not_enabled(message)}")
    if status == 403 and reason in RATE_LIMIT_REASONS:
        return RateLimited(f"{text}; rate limited, will retry")
    if status == 429:
        return RateLimited(f"{text}; will retry")
    if status >= 500:
        return Unavailable(f"{text}; will retry")
    if status == 403:
        return NotPermitted(text)
    return Rejected(text)


def api_not_enabled(message: str) -> str:
    """What to do about Google's "X API has not been used in project N before or it is
    disabled. Enable it by visiting URL then retry. ...": which API, and the page to enable it."""
    api = re.match(r"(.+?) has not been used in project", message)
    url = re.search(r"https://\S+", message)
    return (
        f"the {api[1] if api else 'API'} is not enabled in the Google Cloud project of syncd's OAuth "
        f"client: enable it at {url[0] if url else 'APIs & Services > Library'}, wait a few "
        "minutes; the next pass tries again"
    )


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
        raise Unavailable(f"{where}: network problem ({describe(exc)}); will retry") from None
    except (GoogleClientError, json.JSONDecodeError) as exc:
        raise BackendError(f"{where}: unexpected answer ({describe(exc)})") from None


@contextmanager
def calling(where: str, *services: ThreadServices, map_http: HttpErrorMapper = http_error) -> Iterator[None]:
    """`translated`, and after an `AuthError` each of `services` forgets this thread's
    service, so the next pass builds it again from the token file (which the coach may have
    replaced by then with `syncd auth google`)."""
    try:
        with translated(where, map_http):
            yield
    except AuthError:
        for service in services:
            service.forget()
        raise


def execute(request: Any, num_retries: int, sleep: Callable[[float], None] | None = None) -> Any:
    """`request.execute()` with the library's retries; `sleep` replaces its backoff sleep
    (tests pass a no-op). A token the transport refreshed meanwhile is saved afterwards."""
    if sleep is not None:
        request._sleep = sleep  # the library's documented stub for its backoff sleep
    backend = "google_" + str(getattr(request, "methodId", None) or "api").split(".")[0]
    try:
        result = request.execute(num_retries=num_retries)
    except HttpError as exc:
        telemetry.request_done(backend, int(exc.status_code))
        raise
    except Exception:
        telemetry.request_done(backend, "network")
        raise
    finally:
        _save_if_refreshed(request)
    telemetry.request_done(backend, "2xx")
    return result


def _save_if_refreshed(request: Any) -> None:
    """Save the credentials of `request` when the transport refreshed them meanwhile (only
    credentials from `shared_credentials` are known here: others have no token file)."""
    credentials = getattr(getattr(request, "http", None), "credentials", None)
    store = _STORES.get(credentials) if credentials is not None else None
    if store is not None:
        store.save_if_refreshed()


class ThreadServices:
    """A service from `factory` for whoever calls `get`, used by one thread at a time
    (httplib2 connections must not be shared).

    Where it is kept decides how many a process builds (each holds about 1 MiB). The engine
    runs each coach in a `contextvars` context of its own, on whichever pool thread is free:
    - factories from `lazy_factory` with the same `share_key` (API, timeout, account) make
      interchangeable services. A key asked for from more than one context (coaches sharing
      one account) keeps one service per thread: at most one per pool thread and account;
    - a key only one context asks for (a coach with an account of its own), or a factory
      without a key, keeps its service in that context: one per coach, not one per coach and
      pool thread. Python never runs one context in two threads at once.
    """

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._key: object = getattr(factory, "share_key", None) or self

    def get(self) -> Any:
        kept = _kept_for(self._key)
        service = kept.get(self._key)
        if service is None:
            service = kept[self._key] = KeptResources(self._factory())
        return service

    def forget(self) -> None:
        """Drop the service this caller would get (after an auth failure): the next `get`
        builds a new one, so a token replaced meanwhile by `syncd auth google` is used without
        a restart."""
        _kept_for(self._key).pop(self._key, None)


# The services of each context and of each thread, by key (see ThreadServices).
_CONTEXT_SERVICES: contextvars.ContextVar[dict[object, KeptResources]] = contextvars.ContextVar(
    "_CONTEXT_SERVICES"
)
_THREAD_SERVICES = threading.local()
# Per share key, the context store that first asked for it; a key asked for from another
# context too is in _SHARED_KEYS. Keys hold the credentials store, one per account and config.
_FIRST_ASKED: dict[object, int] = {}
_SHARED_KEYS: set[object] = set()
_KEYS_LOCK = threading.Lock()


def _kept_for(key: object) -> dict[object, KeptResources]:
    """The store `key`'s service is kept in for this caller: its context's or its thread's."""
    context = _CONTEXT_SERVICES.get(None)
    if context is None:
        context = {}
        _CONTEXT_SERVICES.set(context)
    if not isinstance(key, tuple):
        return context
    with _KEYS_LOCK:
        if key not in _SHARED_KEYS:
            first = _FIRST_ASKED.setdefault(key, id(context))
            if first == id(context):
                return context
            _SHARED_KEYS.add(key)
    threads: dict[object, KeptResources] | None = getattr(_THREAD_SERVICES, "kept", None)
    if threads is None:
        threads = _THREAD_SERVICES.kept = {}
    return threads


class KeptResources:
    """A googleapiclient service (or resource) whose collections, `service.events()`,
    `users().drafts()`..., are made once and kept.

    The library makes a collection anew on every such call, building each of its methods with
    a docstring printed from the whole API schema: several times the CPU of the request itself.
    A collection holds nothing of a request, so one per service is the same thing, cheaper.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._kept: dict[str, KeptResources] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if args or kwargs:
                return attr(*args, **kwargs)
            kept = self._kept.get(name)
            if kept is None:
                made = attr()
                if not isinstance(made, Resource):
                    return made
                kept = self._kept[name] = KeptResources(made)
            return kept

        return call


class LazyCredentials:
    """The stored credentials, loaded on the first call (once, for every thread), not when the
    daemon starts, and loaded again when the token file was replaced since (the coach ran
    `syncd auth google` after Google refused the old token: no restart needed).

    The transport refreshes the access token by itself (on a 401, or when it expired in a
    daemon running for hours); `save_if_refreshed` then writes it back to the token file, so
    the next process starts with it instead of refreshing again.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._credentials: Any = None
        self._stamp: FileStamp | None = None  # the token file's, when loaded or last saved
        self._token: str | None = None  # the access token, when loaded or last saved

    def __call__(self) -> Any:
        path = token_path(self.settings)
        with self._lock:
            if self._credentials is None or self._stamp != file_stamp(path):
                credentials = load_credentials(self.settings)  # may refresh and save it
                self._credentials, self._stamp = credentials, file_stamp(path)
                self._token = credentials.token
                _STORES[credentials] = self
            return self._credentials

    def save_if_refreshed(self) -> None:
        """Write the credentials to the token file (atomically, 0600) when their access token
        changed since they were loaded or last saved; never over a file the coach replaced."""
        with self._lock:
            credentials = self._credentials
            if credentials is None or not credentials.token or credentials.token == self._token:
                return
            self._token = credentials.token  # saved or not, not tried again on every request
            path = token_path(self.settings)
            if file_stamp(path) != self._stamp:
                log.info("the Google token file %s was replaced; not saving over it", path)
                return
            try:
                save_credentials(credentials, path)
            except OSError as exc:
                log.warning("cannot save the refreshed Google token to %s: %s", path, exc.strerror)
                return
            self._stamp = file_stamp(path)  # syncd's own write: not a replaced file
        log.debug("saved the refreshed Google token to %s", path)


def shared_credentials(settings: Settings) -> LazyCredentials:
    """The one `LazyCredentials` of the token file `settings` names, for all its backends.

    A new configuration (SIGHUP) gets a new one, loaded afresh on first use: it may name
    other scopes or another token endpoint, which loading checks.
    """
    path = token_path(settings).resolve()
    with _BY_TOKEN_LOCK:
        store = _BY_TOKEN.get(path)
        if store is None or store.settings is not settings:
            store = _BY_TOKEN[path] = LazyCredentials(settings)
        return store


class _LazyFactory:
    """Builds a service for `api`/`version` with the `shared_credentials` of `settings`;
    `share_key` tells `ThreadServices` which factories' services are interchangeable."""

    def __init__(self, api: str, version: str, settings: Settings, timeout: float) -> None:
        self._api, self._version, self._settings, self._timeout = api, version, settings, timeout
        self._credentials = shared_credentials(settings)
        # The credentials store stands for the configuration (a reload makes a new one).
        self.share_key = (api, version, timeout, self._credentials)

    def __call__(self) -> Any:
        return build_service(
            self._api, self._version, self._settings, self._credentials(), timeout=self._timeout
        )


def lazy_factory(
    api: str, version: str, settings: Settings, *, timeout: float = DEFAULT_HTTP_TIMEOUT
) -> Callable[[], Any]:
    """A service factory for `api`/`version` whose credentials are loaded on first use (the
    `shared_credentials` of `settings`); the `ThreadServices` of every such factory for the
    same API, timeout and configuration share one service per thread."""
    return _LazyFactory(api, version, settings, timeout)
