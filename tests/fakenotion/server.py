"""Notion's layer over the shared HTTP core (`tests.fakehttp`): headers, token, error shape.

Every request is logged, then a queued fault applies (a status with Retry-After, slow,
dropped), then the Notion-Version header (exactly 2025-09-03) and the bearer token are
checked, then the handler runs under the workspace lock. Errors have Notion's shape:
`{"object": "error", "status": 400, "code": "validation_error", "message": "..."}`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests import fakehttp
from tests.fakehttp import FakeResponse, FakeServer, HttpError

VERSION = "2025-09-03"
TOKEN = "ntn_fake_integration_token_0001"


class NotionError(HttpError):
    """Raised by handlers; answered in Notion's error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> FakeResponse:
        return FakeResponse(self.status, error_body(self.status, self.code, self.message))


def invalid(message: str) -> NotionError:
    """A 400 validation_error, as Notion answers a body that fails its checks."""
    return NotionError(400, "validation_error", message)


class Request(fakehttp.Request):
    """One request as a handler sees it; `params` are the path's decoded groups."""

    def json(self) -> Any:
        """The body parsed as JSON ({} when empty: Notion reads no body as no fields)."""
        return super().json() if self.body else {}

    def unreadable(self) -> HttpError:
        return NotionError(400, "invalid_json", "Error parsing JSON body.")


Handler = Callable[[Request], Any]


class HttpCore(FakeServer):
    """Notion's checks and error shape on the shared core; `FakeNotion` adds the API on top.

    `most_in_flight` is the most requests served at once: 1 when syncd serialises.
    """

    request_type = Request
    keep_blank_values = False

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = {TOKEN}

    def route(self, method: str, path: str, handler: Handler) -> None:
        """Serve `method` on `path`, a regex with named groups, under /v1; `handler` answers
        the body of a 200."""

        def answer(request: Request) -> FakeResponse:
            return FakeResponse(200, handler(request))

        self.add(method, f"^/v1{path}$", answer)

    def fail(
        self,
        path: str,
        status: int,
        code: str = "",
        *,
        retry_after: float | None = None,
        times: int = 1,
        method: str | None = None,
    ) -> None:
        """Answer the next `times` requests whose path matches regex `path` with `status`."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        body = error_body(status, code or _CODES.get(status, ""), f"Injected {status}")
        self.fail_with(path, FakeResponse(status, body, headers), times=times, method=method)

    def admit(self, request: fakehttp.Request) -> None:
        version = request.headers.get("notion-version")
        if version is None:
            raise NotionError(400, "missing_version", "Notion-Version header failed validation.")
        if version != VERSION:
            raise invalid(f"The fake speaks Notion-Version {VERSION}, not {version}.")
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.tokens:
            raise NotionError(401, "unauthorized", "API token is invalid.")

    def no_route(self, request: fakehttp.Request) -> HttpError:
        return NotionError(400, "invalid_request_url", "Invalid request URL.")


_CODES = {
    400: "validation_error",
    401: "unauthorized",
    404: "object_not_found",
    409: "conflict_error",
    429: "rate_limited",
    500: "internal_server_error",
    503: "service_unavailable",
    529: "service_overload",
}


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    return {"object": "error", "status": status, "code": code, "message": message}
