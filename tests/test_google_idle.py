"""What many Google coaches cost a process: one service per thread for all of them, and a
bounded cache of raw events instead of every event ever read."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from syncd.calendars.google import GoogleCalendar, RawItems
from syncd.google.transport import ThreadServices, lazy_factory
from syncd.linkblock import find_note_url
from syncd.model import Annotation
from tests.fakegoogle import FakeGoogle
from tests.fakegoogle.helpers import SINCE, booking, make_settings, write_token

START = SINCE + timedelta(days=30)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle() as server:
        yield server


def test_every_backend_on_one_api_and_token_shares_one_service_per_thread(
    tmp_path: Path, fake: FakeGoogle
) -> None:
    """Two coaches' calendars get the same service (about 1 MiB each otherwise); another
    thread gets its own (httplib2 is not thread-safe), and so does a reloaded configuration."""
    settings = make_settings(tmp_path, fake)
    write_token(settings, fake)
    first = ThreadServices(lazy_factory("calendar", "v3", settings))
    second = ThreadServices(lazy_factory("calendar", "v3", settings))
    assert first.get() is second.get()
    elsewhere: list[Any] = []
    thread = threading.Thread(target=lambda: elsewhere.append(second.get()))
    thread.start()
    thread.join()
    assert elsewhere[0] is not first.get()
    reloaded = ThreadServices(lazy_factory("calendar", "v3", settings.model_copy()))
    assert reloaded.get() is not first.get()
    gmail = ThreadServices(lazy_factory("gmail", "v1", settings))
    assert gmail.get() is not first.get()


def in_thread(context: contextvars.Context, services: ThreadServices) -> Any:
    """`services.get()` run in `context` on a new thread, as the engine's pool runs a coach."""
    got: list[Any] = []
    thread = threading.Thread(target=lambda: got.append(context.run(services.get)))
    thread.start()
    thread.join()
    return got[0]


def test_a_coach_with_an_account_of_its_own_keeps_one_service_whichever_thread_runs_it(
    tmp_path: Path, fake: FakeGoogle
) -> None:
    """An account only one coach (one context) uses: its service is kept in the coach's
    context, so the pool's threads do not each build one for it."""
    settings = make_settings(tmp_path, fake)
    write_token(settings, fake)
    services = ThreadServices(lazy_factory("calendar", "v3", settings))
    coach = contextvars.Context()  # as the engine makes one per coach
    assert in_thread(coach, services) is in_thread(coach, services)


def test_coaches_sharing_one_account_share_one_service_per_thread(tmp_path: Path, fake: FakeGoogle) -> None:
    """An account several coaches (contexts) use: one service per thread for all of them, not
    one per coach; each thread its own (httplib2 is not thread-safe)."""
    settings = make_settings(tmp_path, fake)
    write_token(settings, fake)
    ada = ThreadServices(lazy_factory("calendar", "v3", settings))
    bea = ThreadServices(lazy_factory("calendar", "v3", settings))
    first, second = contextvars.Context(), contextvars.Context()  # two coaches, as the engine runs them
    first.run(ada.get)
    second.run(bea.get)  # a second coach asks: the account is shared from now on
    assert first.run(ada.get) is second.run(bea.get)
    assert in_thread(first, ada) is not first.run(ada.get)


def test_the_raw_event_cache_is_bounded_and_an_evicted_event_is_read_again(
    tmp_path: Path, fake: FakeGoogle
) -> None:
    """A full read keeps only the most recent items; annotating an event whose item was
    dropped reads it once more (a GET) and writes the same patch as with it kept."""
    settings = make_settings(tmp_path, fake)
    write_token(settings, fake)
    fake.calendar.add_calendar("bounded")
    for n in range(5):
        fake.calendar.put_event(booking(f"bounded{n}", START + timedelta(days=n)), "bounded")
    raw = RawItems(limit=3)
    calendar = GoogleCalendar(
        lazy_factory("calendar", "v3", settings, timeout=2),
        "bounded",
        raw_items=raw,
        horizon=timedelta(days=400),
        sleep=lambda seconds: None,
    )
    events = {e.id: e for e in calendar.changes(None, SINCE).events}
    assert len(events) == 5 and len(raw) == 3
    url = "https://notes.example/ada"
    wanted = Annotation(booking_id="b-1", note_url=url, client_name="Ada Lovelace", reminder=None)
    fake.clear_log()
    calendar.annotate(events["bounded4"], wanted)  # still kept: patched straight away
    assert [r.method for r in fake.requests if "/events/" in r.path] == ["PATCH"]
    fake.clear_log()
    calendar.annotate(events["bounded0"], wanted)  # dropped: read again, then patched
    assert [r.method for r in fake.requests if "/events/" in r.path] == ["GET", "PATCH"]
    assert len(raw) == 3
    for event_id in ("bounded0", "bounded4"):
        assert find_note_url(fake.calendar.event(event_id, "bounded")["description"]) == url
