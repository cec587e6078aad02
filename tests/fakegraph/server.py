"""FakeGraph: the shared HTTP core (`tests.fakehttp`) over TLS, with Graph's routes and errors.

msal accepts only an `https://` authority, so the fake speaks TLS with a throw-away
certificate made once per process (`tls.py`); clients trust it through `REQUESTS_CA_BUNDLE` (the
`ca_env` context manager). Sign-in and Graph are served by the same server, so one
certificate does for both.

Order of processing for each request: log it, apply a queued fault (status, slow, drop), then
route: Graph routes check the bearer token (401) and its scopes (403) before their handler.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from tests.fakehttp import FakeResponse, FakeServer, HttpError, LoggedRequest, Request

from .tls import shared_certificate

if TYPE_CHECKING:
    from .calendar import FakeOutlookCalendar
    from .login import FakeLogin
    from .mail import FakeMail

__all__ = ["GRAPH_PREFIX", "FakeGraph", "FakeRequest", "FakeResponse", "GraphError", "LoggedRequest"]

GRAPH_PREFIX = "/v1.0"


class FakeRequest(Request):
    """One request as a Graph or sign-in handler sees it; `match` is its route's match."""

    def unreadable(self) -> HttpError:
        return GraphError(400, "BadRequest", "Unable to read JSON request payload.")


class GraphError(HttpError):
    """Raised by handlers; answered with Graph's error shape."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def response(self) -> FakeResponse:
        body = {"error": {"code": self.code, "message": self.message}}
        return FakeResponse(self.status, body, self.headers)


Handler = Callable[[FakeRequest], FakeResponse]


class FakeGraph(FakeServer):
    """Microsoft's sign-in service and Graph on https://127.0.0.1:PORT, in one threaded server.

    `login` (FakeLogin), `outlook` (FakeOutlookCalendar) and `mail` (FakeMail) hold the state;
    point syncd's `microsoft.authority` at `authority` and `microsoft.graph_endpoint` at
    `graph_endpoint`, and make clients trust `ca_file` (`with fake.ca_env(): ...`).
    """

    request_type = FakeRequest

    login: FakeLogin
    outlook: FakeOutlookCalendar
    mail: FakeMail

    def __init__(self) -> None:
        super().__init__()
        self.certificate = shared_certificate()
        self.ca_file = self.certificate[0]
        from .calendar import FakeOutlookCalendar
        from .login import FakeLogin
        from .mail import FakeMail

        self.login = FakeLogin(self)
        self.outlook = FakeOutlookCalendar(self)
        self.mail = FakeMail(self)
        # Other accounts' calendars and mail, by address: `/me` is the token's account.
        self.mailboxes: dict[str, tuple[FakeOutlookCalendar, FakeMail]] = {}

    @property
    def max_in_flight(self) -> int:
        """The most Graph requests handled at once."""
        return self.most_in_flight

    @max_in_flight.setter
    def max_in_flight(self, value: int) -> None:
        self.most_in_flight = value

    @property
    def authority(self) -> str:
        """The value for `microsoft.authority` (the tenant is appended by syncd)."""
        return self.url

    @property
    def graph_endpoint(self) -> str:
        return self.url + GRAPH_PREFIX

    @contextlib.contextmanager
    def ca_env(self) -> Iterator[None]:
        """`REQUESTS_CA_BUNDLE` set to the fake's certificate inside the block."""
        saved = os.environ.get("REQUESTS_CA_BUNDLE")
        os.environ["REQUESTS_CA_BUNDLE"] = str(self.ca_file)
        try:
            yield
        finally:
            if saved is None:
                os.environ.pop("REQUESTS_CA_BUNDLE", None)
            else:
                os.environ["REQUESTS_CA_BUNDLE"] = saved

    def reset(self) -> None:
        """Forget events, messages, faults and the log (a module-wide fake between tests);
        signed-in tokens stay valid."""
        with self.lock:
            self.outlook.reset()
            self.mail.reset()
            self.mailboxes.clear()
            self._faults.clear()
            self.requests.clear()
            self.most_in_flight = 0

    def add_mailbox(self, user: str) -> tuple[FakeOutlookCalendar, FakeMail]:
        """A second (third...) account: its calendar and mail, which Graph's `/me` routes
        serve to tokens issued to `user` (sign in with `login.next_user = user`). Tokens of
        any other account keep `outlook` and `mail`."""
        from .calendar import FakeOutlookCalendar
        from .mail import FakeMail

        with self.lock:
            calendar, mail = FakeOutlookCalendar(self, routes=False), FakeMail(self, routes=False)
            calendar.owner = user
            self.mailboxes[user] = (calendar, mail)
            return calendar, mail

    def _for_account(self, handler: Handler, authorization: str | None) -> Handler:
        """`handler` bound to the calendar or mail of the token's account."""
        box = self.mailboxes.get(self.login.user_of(authorization))
        owner = getattr(handler, "__self__", None)
        if box is None or owner not in (self.outlook, self.mail):
            return handler
        twin = box[0] if owner is self.outlook else box[1]
        found: Handler = getattr(twin, handler.__name__)
        return found

    # --- routing ----------------------------------------------------------------------------

    def route(self, method: str, regex: str, handler: Handler, scope: str | None = None) -> None:
        """Serve `method` on paths matching `regex`; with `scope`, a Graph route under /v1.0."""
        prefix = GRAPH_PREFIX if scope else ""
        if scope is None:
            self.add(method, f"^{prefix}{regex}$", handler)
            return
        guard = functools.partial(self._check_token, scope)
        self.add(method, f"^{prefix}{regex}$", functools.partial(self._as_account, handler), guard=guard)

    def _as_account(self, handler: Handler, request: Request) -> FakeResponse:
        """`handler` on the calendar or mail of the account the request's token is for."""
        return self._for_account(handler, request.headers.get("Authorization"))(request)

    def _check_token(self, scope: str, request: Request) -> None:
        self.login.check(request.headers.get("Authorization"), scope)

    # --- faults -----------------------------------------------------------------------------

    def fail(
        self,
        path: str,
        status: int,
        *,
        code: str = "",
        retry_after: str | None = None,
        times: int = 1,
        method: str | None = None,
    ) -> None:
        """Answer the next `times` requests whose path matches regex `path` with `status`
        (and a `Retry-After` header, if given)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        error = GraphError(status, code or f"Injected{status}", "Injected failure.", headers)
        self.fail_with(path, error.response(), times=times, method=method)

    # --- log --------------------------------------------------------------------------------

    def graph_requests(self, method: str | None = None) -> list[LoggedRequest]:
        """The requests to Graph (not to the sign-in service)."""
        return self.requests_to("^" + GRAPH_PREFIX + "/", method)

    # --- dispatch ---------------------------------------------------------------------------

    def no_route(self, request: Request) -> HttpError:
        return GraphError(400, "BadRequest", f"Resource not found for the segment in {request.path}.")

    def counts(self, request: Request) -> bool:
        return request.path.startswith(GRAPH_PREFIX + "/")
