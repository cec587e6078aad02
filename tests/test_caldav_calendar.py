"""The CalDAV calendar source against a real Radicale server: the calendar contract, plus
what only CalDAV has (discovery, sync tokens and their loss, ETag races, scheduling agents,
HTTP failures as syncd's error types, passwords kept out of the YAML)."""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from syncd.calendars.caldav import CaldavCalendar, from_config, read_password
from syncd.calendars.caldav_http import DavClient, Response, redirected
from syncd.config import CaldavCalendarConfig, CoachConfig, Settings
from syncd.errors import (
    AuthError,
    ConfigError,
    EventGone,
    NotPermitted,
    PreconditionFailed,
    RateLimited,
    Rejected,
    Unavailable,
)
from syncd.linkblock import find_note_url
from tests.calendar_contract import (
    COACH_ALIAS,
    COACH_EMAIL,
    COACH_ZONE,
    INSTANCE,
    SINCE,
    CalendarContract,
    EventSpec,
    IcsStore,
    annotation,
    by_id,
)
from tests.radicale_server import dav, make_calendar, radicale
from tests.test_vdir import spec_ics


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with radicale(tmp_path_factory.mktemp("radicale")) as url:
        yield url


@pytest.fixture
def user() -> str:
    return f"coach-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def collection(server: str, user: str) -> str:
    return make_calendar(server, user, "coaching", "Coaching")


class CountingClient(DavClient):
    """A real client that also remembers each request's method (and can act before one)."""

    def __init__(self, username: str) -> None:
        super().__init__(username, "secret", attempts=1)
        self.methods: list[str] = []
        self.before_put: list[object] = []

    def request(
        self, method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None, **kw: object
    ) -> Response:  # type: ignore[override]
        self.methods.append(method)
        if method == "PUT" and self.before_put:
            action = self.before_put.pop(0)
            assert callable(action)
            action()
        return super().request(method, url, body, headers, **kw)  # type: ignore[arg-type]


def source(server: str, user: str, name: str = "", client: DavClient | None = None) -> CaldavCalendar:
    return CaldavCalendar(
        client or DavClient(user, "secret"),
        server,
        name=name,
        coach_addresses={COACH_EMAIL, COACH_ALIAS},
        coach_timezone=COACH_ZONE,
        link_placement="both",
        horizon=timedelta(days=400),
        clock=lambda: SINCE,
    )


class DavStore(IcsStore):
    """The coach's calendar app, writing to the same Radicale calendar directly."""

    def __init__(self, collection: str, user: str) -> None:
        self.collection, self.user = collection, user

    def url(self, event_id: str) -> str:
        match = INSTANCE.match(event_id)
        return f"{self.collection}{match.group('uid') if match else event_id}.ics"

    def put(self, ev: EventSpec) -> str:
        status, _, body = dav(
            "PUT", self.url(ev.uid), self.user, spec_ics(ev).encode(), {"Content-Type": "text/calendar"}
        )
        assert status in (201, 204), (status, body)
        return ev.uid

    def delete(self, event_id: str) -> None:
        assert dav("DELETE", self.url(event_id), self.user)[0] in (200, 204)

    def text(self, event_id: str) -> str:
        status, _, body = dav("GET", self.url(event_id), self.user)
        assert status == 200
        return body.decode()


class TestCaldavContract(CalendarContract):
    @pytest.fixture
    def calendar(self, server: str, user: str, collection: str) -> CaldavCalendar:
        return source(server, user)

    @pytest.fixture
    def store(self, collection: str, user: str) -> DavStore:
        return DavStore(collection, user)


@pytest.fixture
def store(collection: str, user: str) -> DavStore:
    return DavStore(collection, user)


# --- discovery --------------------------------------------------------------------------------


def test_discovery_finds_the_calendar_named_by_display_name(server: str, user: str, collection: str) -> None:
    other = make_calendar(server, user, "b-work", "Work")
    make_calendar(server, user, "a-tasks", "Tasks", component="VTODO")
    assert source(server, user, name="Work").calendar_url() == other
    assert source(server, user).calendar_url() == other  # the first calendar of events by href


def test_an_unknown_calendar_name_is_a_config_error_listing_the_calendars(
    server: str, user: str, collection: str
) -> None:
    with pytest.raises(ConfigError, match=r"'Private' not found.*'Coaching'"):
        source(server, user, name="Private").calendar_url()


# --- change detection -------------------------------------------------------------------------


def test_an_idle_pass_costs_one_report(server: str, user: str, store: DavStore) -> None:
    store.put(EventSpec("one"))
    client = CountingClient(user)
    calendar = source(server, user, client=client)
    cursor = calendar.changes(None, SINCE).cursor
    client.methods.clear()
    assert calendar.changes(cursor, SINCE).events == []
    assert client.methods == ["REPORT"]


def _with_token(cursor: str, token: str) -> str:
    data = json.loads(cursor)
    data["token"] = token
    return json.dumps(data)


def test_a_refused_sync_token_falls_back_to_a_listing_that_fetches_only_changed_events(
    server: str, user: str, store: DavStore
) -> None:
    store.put(EventSpec("stays"))
    edited = store.put(EventSpec("edited"))
    gone = store.put(EventSpec("gone"))
    calendar = source(server, user)
    cursor = _with_token(calendar.changes(None, SINCE).cursor, "http://radicale.org/ns/sync/unknown")
    store.put(EventSpec("edited", summary="Intro: Ada L."))
    store.delete(gone)
    changed = calendar.changes(cursor, SINCE)
    assert sorted((e.id, e.cancelled) for e in changed.events) == [(edited, False), (gone, True)]
    assert calendar.changes(changed.cursor, SINCE).events == []  # a fresh token again


def test_a_server_that_answers_a_token_with_everything_duplicates_nothing(
    server: str, user: str, store: DavStore
) -> None:
    store.put(EventSpec("one"))
    store.put(EventSpec("two"))
    calendar = source(server, user)
    cursor = _with_token(calendar.changes(None, SINCE).cursor, "")  # token lost: full listing
    assert calendar.changes(cursor, SINCE).events == []


def test_a_cursor_for_another_calendar_is_expired(server: str, user: str, collection: str) -> None:
    from syncd.errors import CursorExpired

    cursor = source(server, user).changes(None, SINCE).cursor
    data = json.loads(cursor)
    data["cal"] = "http://elsewhere.example/cal/"
    with pytest.raises(CursorExpired):
        source(server, user).changes(json.dumps(data), SINCE)


# --- writing ----------------------------------------------------------------------------------


def test_annotate_marks_attendees_schedule_agent_client(server: str, user: str, store: DavStore) -> None:
    """So the server sends the client no invitation or update mail for syncd's write."""
    event_id = store.put(
        EventSpec("people", attendees=(("ada@client.example", "Ada"),), organizer=COACH_EMAIL)
    )
    calendar = source(server, user)
    calendar.changes(None, SINCE)
    event = calendar.get(event_id)
    assert event is not None
    calendar.annotate(event, annotation())
    attendee = next(line for line in store.text(event_id).splitlines() if line.startswith("ATTENDEE"))
    assert "SCHEDULE-AGENT=CLIENT" in attendee


def test_an_edit_between_read_and_write_is_read_again_and_kept(
    server: str, user: str, store: DavStore
) -> None:
    """The PUT carries If-Match: the server answers 412, syncd re-reads and re-applies."""
    event_id = store.put(EventSpec("raced", description="Challenge: hiring"))
    client = CountingClient(user)
    calendar = source(server, user, client=client)
    calendar.changes(None, SINCE)
    event = calendar.get(event_id)
    assert event is not None
    client.before_put.append(
        lambda: store.put(EventSpec("raced", summary="Intro: moved", description="Challenge: hiring"))
    )
    calendar.annotate(event, annotation())
    assert client.methods.count("PUT") == 2
    assert str(store.component(event_id)["SUMMARY"]) == "Intro: moved"
    assert find_note_url(store.read_description(event_id)) == "https://notes.example/ada"


def test_annotating_an_event_already_annotated_writes_nothing(
    server: str, user: str, store: DavStore
) -> None:
    event_id = store.put(EventSpec("twice"))
    client = CountingClient(user)
    calendar = source(server, user, client=client)
    calendar.changes(None, SINCE)
    for _ in range(2):
        event = calendar.get(event_id)
        assert event is not None
        calendar.annotate(event, annotation())
    assert client.methods.count("PUT") == 1


# --- failures ---------------------------------------------------------------------------------


class _Refusing(http.server.BaseHTTPRequestHandler):
    status = 401

    def _answer(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PROPFIND = do_REPORT = do_GET = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def refusing_server() -> Iterator[tuple[str, type[_Refusing]]]:
    handler = type("Handler", (_Refusing,), {})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", handler
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def refusing(refusing_server: tuple[str, type[_Refusing]]) -> tuple[str, type[_Refusing]]:
    """A server answering every request with `handler.status` (401 until a test sets it)."""
    refusing_server[1].status = 401
    return refusing_server


def test_a_401_is_one_auth_error_line_without_the_password(refusing: tuple[str, type[_Refusing]]) -> None:
    url, _ = refusing
    calendar = CaldavCalendar(DavClient("ann", "hunter2-secret"), url)
    with pytest.raises(AuthError) as caught:
        calendar.changes(None, SINCE)
    message = str(caught.value)
    assert "401" in message and "'ann'" in message and "\n" not in message
    assert "hunter2" not in message


def test_a_5xx_is_unavailable_after_bounded_retries(refusing: tuple[str, type[_Refusing]]) -> None:
    url, handler = refusing
    handler.status = 503
    slept: list[float] = []
    calendar = CaldavCalendar(DavClient("ann", "pw", attempts=3, backoff=0.5, sleep=slept.append), url)
    with pytest.raises(Unavailable, match="503"):
        calendar.changes(None, SINCE)
    assert slept == [0.5, 1.0]


def test_a_network_failure_is_unavailable() -> None:
    calendar = CaldavCalendar(DavClient("ann", "pw", attempts=1), "http://127.0.0.1:9/")
    with pytest.raises(Unavailable, match="cannot be reached"):
        calendar.changes(None, SINCE)


# --- config and passwords ---------------------------------------------------------------------


def _section(**values: object) -> CaldavCalendarConfig:
    return CaldavCalendarConfig.model_validate(
        {"type": "caldav", "url": "https://caldav.example/", "username": "ann", **values}
    )


def test_the_password_comes_from_a_file_or_a_command_never_the_yaml(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    assert read_password(_section(password_file=str(secret))) == "s3cret"
    assert read_password(_section(password_command="echo from-command")) == "from-command"
    with pytest.raises(ValueError, match="exactly one of password_file or password_command"):
        _section()
    with pytest.raises(ValueError, match="password"):
        _section(password="inline")  # unknown key: the password is never in the YAML


def test_a_failing_password_command_is_an_auth_error_naming_the_key() -> None:
    with pytest.raises(AuthError, match=r"password_command exited with status 1"):
        read_password(_section(password_command="false"))


def test_from_config_discovers_the_named_calendar(
    server: str, user: str, collection: str, tmp_path: Path
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("anything\n")
    section = CaldavCalendarConfig.model_validate(
        {
            "type": "caldav",
            "url": server,
            "username": user,
            "password_file": str(secret),
            "calendar": "Coaching",
        }
    )
    coach = CoachConfig.model_validate(
        {
            "name": "Sam",
            "email": COACH_EMAIL,
            "timezone": COACH_ZONE,
            "pricing_url": "https://sam.example/pricing",
            "calendar": section.model_dump(),
            "notes": {"type": "markdown", "path": str(tmp_path)},
            "drafts": {"type": "maildir", "path": str(tmp_path)},
        }
    )
    calendar = from_config(section, coach, Settings.model_construct(horizon=timedelta(days=60)))
    assert calendar.calendar_url() == collection
    assert by_id(calendar.changes(None, SINCE)) == {}


@pytest.mark.parametrize(
    ("status", "error"),
    [(403, NotPermitted), (404, EventGone), (410, EventGone), (412, PreconditionFailed), (400, Rejected)],
)
def test_each_failed_status_is_its_syncd_error(
    refusing: tuple[str, type[_Refusing]], status: int, error: type[Exception]
) -> None:
    url, handler = refusing
    handler.status = status
    with pytest.raises(error) as caught:
        DavClient("ann", "pw").request("PUT", f"{url}cal/event.ics", b"x")
    assert str(status) in str(caught.value) and "\n" not in str(caught.value)


def test_a_429_waits_as_long_as_the_server_says(refusing: tuple[str, type[_Refusing]]) -> None:
    url, handler = refusing
    handler.status = 429
    slept: list[float] = []
    with pytest.raises(RateLimited) as caught:
        DavClient("ann", "pw", attempts=2, sleep=slept.append).request("GET", url)
    assert slept == [0.5]  # no Retry-After header: the backoff
    assert caught.value.retry_after is None


def test_get_on_a_fresh_source_finds_the_event_by_uid(server: str, user: str, store: DavStore) -> None:
    """A new process has no index yet: the event is found by a calendar-query on its UID."""
    event_id = store.put(EventSpec("fresh", summary="Intro: fresh"))
    event = source(server, user).get(event_id)
    assert event is not None and event.summary == "Intro: fresh"
    assert source(server, user).get("no-such-uid") is None


def test_a_series_reaches_new_instances_as_the_window_moves_without_repeating_old_ones(
    server: str, user: str, store: DavStore
) -> None:
    store.put(EventSpec("daily", summary="Intro series", rrule="FREQ=DAILY;COUNT=30"))
    now = [SINCE]
    calendar = CaldavCalendar(
        DavClient(user, "secret"), server, horizon=timedelta(days=5), clock=lambda: now[0]
    )
    first = calendar.changes(None, SINCE)
    seen = {event.id for event in first.events}
    assert 0 < len(seen) < 30
    now[0] = SINCE + timedelta(days=3)
    later = calendar.changes(first.cursor, SINCE)
    new = {event.id for event in later.events}
    assert new and not new & seen
    assert not any(event.cancelled for event in later.events)


def test_a_series_reaches_new_instances_as_the_window_moves_on_a_server_without_tokens(
    server: str, user: str, store: DavStore
) -> None:
    """The listing that stands in for a refused or lost token names every href: an unchanged
    series file is read again as the window moves, as on the sync path."""
    store.put(EventSpec("daily", summary="Intro series", rrule="FREQ=DAILY;COUNT=30"))
    now = [SINCE]
    calendar = CaldavCalendar(
        DavClient(user, "secret"), server, horizon=timedelta(days=5), clock=lambda: now[0]
    )
    first = calendar.changes(None, SINCE)
    seen = {event.id for event in first.events}
    now[0] = SINCE + timedelta(days=3)
    later = calendar.changes(_with_token(first.cursor, ""), SINCE)
    new = {event.id for event in later.events}
    assert new and not new & seen
    assert not any(event.cancelled for event in later.events)


def test_an_event_moved_to_another_href_is_not_reported_cancelled(
    server: str, user: str, store: DavStore, collection: str
) -> None:
    """Keyed on href: a client that deletes `a.ics` and writes the same UID as `b.ics` moved
    the event; it is reported once, alive, never as a cancelled stub."""
    event_id = store.put(EventSpec("moving"))
    calendar = source(server, user)
    cursor = calendar.changes(None, SINCE).cursor
    body = spec_ics(EventSpec("moving", summary="Intro: moved")).encode()
    store.delete(event_id)
    assert dav("PUT", f"{collection}elsewhere.ics", user, body, {"Content-Type": "text/calendar"})[0] == 201
    changed = calendar.changes(cursor, SINCE).events
    assert [(e.id, e.cancelled, e.summary) for e in changed] == [(event_id, False, "Intro: moved")]
    event = calendar.get(event_id)
    assert event is not None and event.summary == "Intro: moved"


class WeakEtagClient(DavClient):
    """A real client seeing the server's ETags as weak ones (`W/"..."`), as some servers send."""

    def __init__(self, username: str) -> None:
        super().__init__(username, "secret", attempts=1)
        self.put_headers: list[dict[str, str]] = []

    def request(
        self, method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None, **kw: object
    ) -> Response:  # type: ignore[override]
        if method == "PUT":
            self.put_headers.append(dict(headers or {}))
        response = super().request(method, url, body, headers, **kw)  # type: ignore[arg-type]
        etag = response.headers.get("etag")
        if etag:
            response = Response(
                response.status, {**response.headers, "etag": f"W/{etag}"}, response.body, response.url
            )
        return response


def test_a_weak_etag_is_never_sent_as_if_match(server: str, user: str, store: DavStore) -> None:
    """Servers answer 412 forever to a weak If-Match: syncd reads again and writes without it."""
    event_id = store.put(EventSpec("weak"))
    client = WeakEtagClient(user)
    calendar = source(server, user, client=client)
    calendar.changes(None, SINCE)
    event = calendar.get(event_id)
    assert event is not None
    calendar.annotate(event, annotation())
    assert [("If-Match" in headers) for headers in client.put_headers] == [False]
    assert find_note_url(store.read_description(event_id)) == "https://notes.example/ada"


def test_a_redirect_from_https_to_http_is_refused_as_it_would_send_the_password_unencrypted() -> None:
    assert redirected("https://caldav.icloud.com/", "https://p42-caldav.icloud.com/x/") == (
        "https://p42-caldav.icloud.com/x/"
    )
    assert redirected("http://127.0.0.1:5232/a/", "/b/") == "http://127.0.0.1:5232/b/"
    with pytest.raises(Rejected, match="not https"):
        redirected("https://caldav.example/", "http://caldav.example/dav/")
