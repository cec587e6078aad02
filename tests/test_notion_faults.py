"""Notion in trouble: rate limits, overload, 5xx, slow and dropped answers, a revoked token,
an archived or unshared database, the workspace block limit, a database without syncd's
properties. Each ends in a bounded wait or one line of syncd's error types; no page twice."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from syncd.errors import AuthError, NoteMissing, RateLimited, Rejected, Unavailable
from syncd.notes.notion_schema import BOOKING, EMAIL, SESSION, STATUS
from tests.fakenotion import TOKEN, FakeNotion
from tests.fakenotion.helpers import TEMPLATE, make_store
from tests.note_contract import make_header, make_request

PAGES = r"^/v1/pages$"
QUERY = r"/query$"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeNotion]:
    with FakeNotion(template_delay=0.05) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeNotion) -> Iterator[FakeNotion]:
    server.clear_log()
    server.most_in_flight = 0
    yield server
    server.block_limit = None
    server.tokens = {TOKEN}
    server.clear_faults()


@pytest.fixture
def database(fake: FakeNotion) -> tuple[str, str]:
    return fake.add_database(templates=[("Intro", TEMPLATE, True)])


class Waits(list[float]):
    """The waits syncd asked for, instead of sleeping them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_429_retry_after_is_waited_out_as_notion_asks(fake: FakeNotion, database: tuple[str, str]) -> None:
    waits = Waits()
    fake.fail(QUERY, 429, retry_after=2, times=2)
    make_store(fake, database[0], sleep=waits).ensure(make_request())
    assert waits == [2.0, 2.0]
    assert len(fake.pages_of(database[1])) == 1


def test_529_overload_on_create_is_waited_out_by_syncd_and_makes_one_page(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    """notion-client reports a 529 as an unknown response and does not retry it: syncd does,
    as its Retry-After says (Notion did not act on the request)."""
    waits = Waits()
    fake.fail(PAGES, 529, retry_after=3, method="POST")
    make_store(fake, database[0], sleep=waits).ensure(make_request())
    assert waits == [3.0]
    assert len(fake.requests_to(PAGES, method="POST")) == 2
    assert len(fake.pages_of(database[1])) == 1


def test_rate_limits_are_bounded_then_one_rate_limited_line(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    waits = Waits()
    fake.fail(QUERY, 429, retry_after=1, times=10)
    with pytest.raises(RateLimited) as caught:
        make_store(fake, database[0], sleep=waits).ensure(make_request())
    assert len(waits) == 3  # four tries in all
    assert caught.value.retry_after == 1.0
    assert "\n" not in str(caught.value) and "429" in str(caught.value)


def test_a_retry_after_longer_than_syncd_waits_ends_the_call_for_the_next_pass(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    waits = Waits()
    fake.fail(QUERY, 429, retry_after=600)
    with pytest.raises(RateLimited):
        make_store(fake, database[0], sleep=waits).ensure(make_request())
    assert waits == []


def test_a_500_on_a_read_is_retried(fake: FakeNotion, database: tuple[str, str]) -> None:
    waits = Waits()
    fake.fail(QUERY, 500)
    make_store(fake, database[0], sleep=waits).ensure(make_request())
    assert len(waits) == 1 and len(fake.pages_of(database[1])) == 1


def test_a_500_on_create_is_not_repeated_and_the_next_try_makes_one_page(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    store = make_store(fake, database[0])
    fake.fail(PAGES, 500, method="POST")
    with pytest.raises(Unavailable):
        store.ensure(make_request())
    store.ensure(make_request())
    assert len(fake.requests_to(PAGES, method="POST")) == 2
    assert len(fake.pages_of(database[1])) == 1


def test_a_create_whose_answer_is_lost_is_found_next_time_not_made_again(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    store = make_store(fake, database[0])
    fake.drop(PAGES, method="POST", after=True)
    with pytest.raises(Unavailable) as caught:
        store.ensure(make_request())
    assert "did not answer" in str(caught.value)
    first = store.ensure(make_request())
    assert len(fake.pages_of(database[1])) == 1
    assert store.ensure(make_request()) == first


def test_a_slow_notion_times_out_into_one_unavailable_line(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    store = make_store(fake, database[0], timeout=0.3, attempts=2)
    fake.slow(QUERY, 1.0, times=2)
    with pytest.raises(Unavailable):
        store.ensure(make_request())


def test_a_revoked_token_is_one_auth_line_without_the_token(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    fake.tokens = set()
    with pytest.raises(AuthError) as caught:
        make_store(fake, database[0]).ensure(make_request())
    message = str(caught.value)
    assert "revoked" in message and "token_file" in message
    assert TOKEN not in message and "\n" not in message


def test_an_archived_database_is_one_clear_line_retried_each_pass(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    fake.databases[database[0]]["in_trash"] = True
    with pytest.raises(Unavailable) as caught:
        make_store(fake, database[0]).ensure(make_request())
    assert "archived" in str(caught.value) and "restore it" in str(caught.value)
    assert not fake.requests_to(PAGES, method="POST")


def test_a_database_not_shared_with_the_integration_says_how_to_share_it(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    fake.databases[database[0]]["shared"] = False
    with pytest.raises(Unavailable) as caught:
        make_store(fake, database[0]).ensure(make_request())
    assert "Connections" in str(caught.value)


def test_the_block_limit_is_one_line_telling_the_coach_what_to_do(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    """The template job fails quietly after pages.create returned; syncd's own blocks are then
    refused: one line, not a hang and not a traceback."""
    fake.block_limit = len(fake.blocks)
    store = make_store(fake, database[0], "default", template_wait=0.5)
    with pytest.raises(Rejected) as caught:
        store.ensure(make_request())
    assert "block limit" in str(caught.value) and "upgrade" in str(caught.value)


def test_a_missing_property_is_named_with_how_to_add_it(fake: FakeNotion) -> None:
    database, _ = fake.add_database({"Name": "title", SESSION: "date", STATUS: "select", EMAIL: "email"})
    with pytest.raises(Rejected) as caught:
        make_store(fake, database).ensure(make_request())
    assert f"{BOOKING!r} is missing: add a Text property named {BOOKING}" in str(caught.value)
    assert "syncd notion setup" in str(caught.value)


def test_a_mistyped_property_and_missing_status_options_are_named(fake: FakeNotion) -> None:
    database, _ = fake.add_database(
        {"Name": "title", SESSION: "rich_text", STATUS: "status", EMAIL: "email", BOOKING: "rich_text"}
    )
    with pytest.raises(Rejected) as caught:
        make_store(fake, database).ensure(make_request())
    assert "'Session' is of type rich_text; syncd needs a Date property" in str(caught.value)
    assert "lacks the options scheduled, rescheduled, cancelled, held" in str(caught.value)


def test_setup_adds_the_missing_properties_and_then_notes_work(fake: FakeNotion) -> None:
    database, source = fake.add_database({"Name": "title"})
    store = make_store(fake, database)
    assert store.add_missing_properties() == sorted([SESSION, STATUS, EMAIL, BOOKING])
    store.ensure(make_request())
    assert len(fake.pages_of(source)) == 1
    assert store.add_missing_properties() == []


def test_a_page_in_the_trash_is_note_missing(fake: FakeNotion, database: tuple[str, str]) -> None:
    store = make_store(fake, database[0])
    ref = store.ensure(make_request())
    fake.trash_page(ref.locator.removeprefix("notion:"))
    with pytest.raises(NoteMissing):
        store.update_header(ref, make_header(cancelled=True))
    assert store.ensure(make_request()) != ref  # made again: the trashed one is not found


def test_one_request_at_a_time_per_token_across_stores_and_threads(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    """Two coaches on one integration token, each in its own thread: Notion never sees two
    of their requests at once (its rate limit counts per integration)."""
    fake.slow(QUERY, 0.1, times=4)
    stores = [make_store(fake, database[0]) for _ in range(2)]
    threads = [
        threading.Thread(target=store.ensure, args=(make_request(f"booking-{i}"),))
        for i, store in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert fake.most_in_flight == 1
    assert len(fake.pages_of(database[1])) == 2
