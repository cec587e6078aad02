"""A local fake of Google's APIs over real HTTP, for tests that drive the real client library.

    from tests.fakegoogle import FakeGoogle

    with FakeGoogle() as fake:            # 127.0.0.1, random port
        fake.calendar.put_event({...})   # seed (fake.calendar: calendar_v3.FakeCalendar)
        fake.fail("/events$", 503, times=2)   # fault injection (also slow(), drop())
        ...  # build the client with api_endpoint=fake.api_endpoint, token_uri=fake.token_uri
        fake.requests_to("/events", method="GET")   # the request log

Pytest fixtures are in `tests.fakegoogle.fixtures`. Each service lives in its own module and
registers its handlers by discovery method id (`calendar_v3`, `oauth`; Drive, Docs and Gmail
go in `drive_v3`, `docs_v1`, `gmail_v1` the same way).
"""

from .oauth import CLIENT_ID, CLIENT_SECRET, FakeOAuth
from .server import ApiError, FakeGoogle, FakeRequest, FakeResponse, LoggedRequest, error_body

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "ApiError",
    "FakeGoogle",
    "FakeOAuth",
    "FakeRequest",
    "FakeResponse",
    "LoggedRequest",
    "error_body",
]
