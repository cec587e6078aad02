"""A local fake of Microsoft's sign-in service and Microsoft Graph over real HTTPS.

    from tests.fakegraph import FakeGraph

    with FakeGraph() as fake, fake.ca_env():   # https://127.0.0.1:PORT, a throw-away cert
        fake.outlook.put({...})                 # seed an event (Graph's shape)
        fake.fail("/calendarView/delta", 429, retry_after="1")   # also slow(), drop()
        ...  # syncd with microsoft.authority=fake.authority, graph_endpoint=fake.graph_endpoint
        fake.graph_requests()                   # the request log

Sign-in lives in `login`, events in `calendar`, drafts in `mail`; `server` is Graph's layer on
the shared HTTP core (`tests/fakehttp.py`).
"""

from .login import CLIENT_ID, USER, FakeLogin
from .server import FakeGraph, GraphError, LoggedRequest

__all__ = ["CLIENT_ID", "USER", "FakeGraph", "FakeLogin", "GraphError", "LoggedRequest"]
