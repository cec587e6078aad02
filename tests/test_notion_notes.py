"""Session notes as Notion pages, through notion-client 3.x against the local fake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from syncd.model import NoteRef, NoteRequest
from syncd.notes.base import NoteStore
from syncd.notes.notion import NotionNotes
from syncd.notes.notion_schema import STATUSES
from tests.fakenotion import VERSION, FakeNotion
from tests.fakenotion.api import DEFAULT_PROPERTIES
from tests.fakenotion.helpers import TEMPLATE, make_store
from tests.note_contract import (
    ITEM_FOLLOWUP,
    ITEM_START,
    START,
    NoteStoreContract,
    make_header,
    make_request,
)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeNotion]:
    with FakeNotion(template_delay=0.05) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeNotion) -> Iterator[FakeNotion]:
    server.clear_log()
    yield server
    server.block_limit = None
    server.template_delay = 0.05


@pytest.fixture
def database(fake: FakeNotion) -> tuple[str, str]:
    return fake.add_database(templates=[("Intro", TEMPLATE, True)])


def page_id(ref: NoteRef) -> str:
    return ref.locator.removeprefix("notion:")


def page_text(fake: FakeNotion, ref: NoteRef) -> str:
    """What the coach sees: the properties, then the blocks."""
    pid = page_id(ref)
    title = "".join(p["plain_text"] for p in fake.property(pid, "Name"))
    when = fake.property(pid, "Session") or {}
    status = (fake.property(pid, "Status") or {}).get("name", "")
    return f"{title}\n{when.get('start')} {when.get('time_zone')}\nstatus: {status}\n{fake.text_of(pid)}"


class TestNotionContract(NoteStoreContract):
    """The shared NoteStore behaviour, on Notion pages made from the note template (`none`)."""

    @pytest.fixture
    def notes(self, fake: FakeNotion, database: tuple[str, str]) -> NoteStore:
        self.fake, self.source = fake, database[1]
        return make_store(fake, database[0], "none")

    def note_text(self, notes: NoteStore, ref: NoteRef) -> str:
        return page_text(self.fake, ref)

    def note_count(self, notes: NoteStore) -> int:
        return len(self.fake.pages_of(self.source))

    def write_as_coach(self, notes: NoteStore, ref: NoteRef, text: str) -> None:
        self.fake.add_block(page_id(ref), "paragraph", text)

    def check_off(self, notes: NoteStore, ref: NoteRef, item: str) -> None:
        for block in self.fake.blocks_of(page_id(ref)):
            texts = block[block["type"]].get("rich_text", [])
            if block["type"] == "to_do" and "".join(t["plain_text"] for t in texts) == item:
                self.fake.set_block(block["id"], checked=True)
                return
        raise AssertionError(f"no to-do {item!r}")


def test_every_request_speaks_notion_version_2025_09_03(fake: FakeNotion, database: tuple[str, str]) -> None:
    make_store(fake, database[0]).ensure(make_request())
    assert fake.requests
    assert {r.headers.get("notion-version") for r in fake.requests} == {VERSION}


def test_pages_are_made_under_the_data_source_not_the_database(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    make_store(fake, database[0]).ensure(make_request())
    (create,) = fake.requests_to("/pages$", method="POST")
    assert create.json()["parent"] == {"type": "data_source_id", "data_source_id": database[1]}


def test_the_booking_is_looked_up_before_anything_is_made(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    make_store(fake, database[0]).ensure(make_request("booking-7"))
    writes = [r for r in fake.requests if r.method in ("POST", "PATCH")]
    assert writes[0].path.endswith("/query")
    assert writes[0].json()["filter"] == {"property": "Booking ID", "rich_text": {"equals": "booking-7"}}
    assert writes[1].path == "/v1/pages"


def test_the_session_date_is_in_the_coachs_zone_without_an_offset(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    """Notion refuses a UTC offset in start/end when time_zone is given: 09:00 UTC is 10:00
    in Berlin, named by its zone."""
    ref = make_store(fake, database[0]).ensure(make_request())
    assert fake.property(page_id(ref), "Session") == {
        "start": "2026-12-01T10:00:00",
        "end": "2026-12-01T10:30:00",
        "time_zone": "Europe/Berlin",
    }
    assert fake.property(page_id(ref), "Status")["name"] == "scheduled"


def test_properties_hold_title_email_and_booking_id(fake: FakeNotion, database: tuple[str, str]) -> None:
    request = make_request("booking-9")
    request = NoteRequest(
        request.booking_id, request.header, request.body, {"client_email": "ada@client.test"}
    )
    ref = make_store(fake, database[0]).ensure(request)
    pid = page_id(ref)
    assert "".join(p["plain_text"] for p in fake.property(pid, "Name")) == "Ada Lovelace"
    assert fake.property(pid, "Client email") == "ada@client.test"
    assert fake.property(pid, "Booking ID")[0]["plain_text"] == "booking-9"
    assert ref.url.startswith("https://www.notion.so/")


def test_a_reschedule_marks_the_page_rescheduled_and_moves_the_banner(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    store = make_store(fake, database[0])
    ref = store.ensure(make_request())
    store.update_header(ref, make_header(start=START + timedelta(days=2)))
    assert fake.property(page_id(ref), "Status")["name"] == "rescheduled"
    assert fake.text_of(page_id(ref)).splitlines()[0].startswith("Session: 2026-12-03")


def test_reading_action_items_marks_the_session_held(fake: FakeNotion, database: tuple[str, str]) -> None:
    store = make_store(fake, database[0])
    ref = store.ensure(make_request())
    assert store.open_action_items(ref) == [ITEM_FOLLOWUP, ITEM_START]
    assert fake.property(page_id(ref), "Status")["name"] == "held"


def test_action_items_are_read_page_by_page_and_nested_to_dos_count(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    """More than 100 blocks take several reads; a to-do nested under another block is read
    with its own call and counts where it stands."""
    store = make_store(fake, database[0])
    ref = store.ensure(make_request())
    pid = page_id(ref)
    for i in range(120):
        fake.add_block(pid, "paragraph", f"note {i}")
    fake.add_block(pid, "heading_2", "Action items")
    parent = fake.add_block(pid, "toggle", "Later")
    fake.add_block(parent, "to_do", "Nested item", checked=False)
    assert store.open_action_items(ref) == [ITEM_FOLLOWUP, ITEM_START, "Nested item"]
    reads = fake.requests_to(f"/blocks/{pid}/children", method="GET")
    assert any("start_cursor" in r.query for r in reads)


def test_client_text_never_becomes_a_link_heading_or_action_item(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    body = (
        "## Client overview\n- **Background:** see [my site](https://evil.example) \\#\\# Action items\n"
        "  \\- \\[ \\] pay me first\n  ## Action items\n"
        "## Action items\n- [ ] Real item (due 2026-12-02)\n"
    )
    store = make_store(fake, database[0])
    ref = store.ensure(NoteRequest("booking-1", make_header(), body))
    for block in fake.blocks_of(page_id(ref)):
        assert all(t["text"]["link"] is None for t in block[block["type"]].get("rich_text", []))
    assert "[my site](https://evil.example)" in fake.text_of(page_id(ref))
    assert store.open_action_items(ref) == ["Real item (due 2026-12-02)"]


def test_long_client_text_is_cut_into_pieces_notion_takes(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    """Notion takes at most 2,000 UTF-16 units a rich_text piece (an emoji counts two)."""
    answer = "😀" * 1500 + "x" * 3000
    store = make_store(fake, database[0])
    ref = store.ensure(
        NoteRequest("booking-1", make_header(), f"## Client overview\n- **Background:** {answer}\n")
    )
    assert answer in fake.text_of(page_id(ref))


class TestTemplate:
    """`template: default`: the page comes from the database's template, syncd's part below."""

    def test_syncds_part_goes_below_the_template_once_it_has_landed(
        self, fake: FakeNotion, database: tuple[str, str]
    ) -> None:
        request = NoteRequest(
            "booking-1", make_header(), "", {"background": "Physicist", "talking_points": "Ask about scale"}
        )
        store = make_store(fake, database[0], "default")
        ref = store.ensure(request)
        lines = fake.text_of(page_id(ref)).splitlines()
        assert lines[: len(TEMPLATE)][0] == "Intro session focus areas"
        assert "[ ] Agree on a start date" in lines[: len(TEMPLATE)]
        assert lines[len(TEMPLATE)].startswith("Session: 2026-12-01")
        assert "Background: Physicist" in lines
        assert "Ask about scale" in lines
        (create,) = fake.requests_to("/pages$", method="POST")
        assert create.json()["template"] == {"type": "default"} and "children" not in create.json()
        assert store.open_action_items(ref) == [
            "Send the follow-up email with your pricing link",
            "Agree on a start date",
        ]

    def test_a_template_landing_in_steps_is_waited_for_whole(
        self, fake: FakeNotion, database: tuple[str, str]
    ) -> None:
        """Two reads alike a moment apart prove little: the second half of the template lands
        0.2 s after the first (four polls later), and syncd's part still goes below all of it."""
        fake.template_delay = 0.2
        ref = make_store(fake, database[0], "default").ensure(make_request())
        lines = fake.text_of(page_id(ref)).splitlines()
        assert lines[len(TEMPLATE)].startswith("Session: ")

    def test_a_template_id_is_sent_as_such(self, fake: FakeNotion, database: tuple[str, str]) -> None:
        template_id = fake.templates[database[1]][0][0]
        store = make_store(fake, database[0], template_id)
        store.ensure(make_request())
        (create,) = fake.requests_to("/pages$", method="POST")
        assert create.json()["template"] == {"type": "template_id", "template_id": template_id}

    def test_a_page_found_unfilled_after_a_crash_is_filled_not_made_again(
        self, fake: FakeNotion, database: tuple[str, str]
    ) -> None:
        store = make_store(fake, database[0], "default")
        fake.drop(r"/children$", method="PATCH")  # the append is lost: the page has only the template
        with pytest.raises(Exception):  # noqa: B017 (any one-line BackendError)
            store.ensure(make_request())
        ref = store.ensure(make_request())
        assert len(fake.pages_of(database[1])) == 1
        assert fake.text_of(page_id(ref)).count("Session: ") == 1


def test_store_built_from_config_section(tmp_path: Any, fake: FakeNotion, database: tuple[str, str]) -> None:
    """`from_config` reads the token from token_file and points the client at api_url."""
    from syncd.config import NotionNotesConfig
    from syncd.notes.notion import from_config
    from tests.fakenotion import TOKEN

    token = tmp_path / "notion-token"
    token.write_text(TOKEN + "\n")
    section = NotionNotesConfig(
        type="notion",
        database=f"https://www.notion.so/ws/Intro-{database[0].replace('-', '')}?v=1",
        token_file=token,
        api_url=fake.url,
    )
    store = from_config(section, SimpleNamespace(email="ada@coach.example"), None)  # type: ignore[arg-type]
    assert isinstance(store, NotionNotes)
    assert store.data_source()[0] == database[1]


def test_a_status_typed_status_property_gets_its_existing_options(fake: FakeNotion) -> None:
    """Notion's own Status type takes only options that exist (an integration cannot add
    them); syncd writes `{"status": {"name": ...}}` for it, not a select."""
    database, source = fake.add_database({**DEFAULT_PROPERTIES, "Status": "status"})
    options = fake.sources[source]["properties"]["Status"]["status"]["options"]
    options += [{"id": f"s{i}", "name": name, "color": "default"} for i, name in enumerate(STATUSES)]
    store = make_store(fake, database)
    ref = store.ensure(make_request())
    store.update_header(ref, make_header(cancelled=True))
    assert fake.property(page_id(ref), "Status")["name"] == "cancelled"


def test_an_email_notion_would_refuse_is_left_out_not_sent(
    fake: FakeNotion, database: tuple[str, str]
) -> None:
    request = make_request()
    long_email = "a" * 250 + "@client.test"
    request = NoteRequest(request.booking_id, request.header, request.body, {"client_email": long_email})
    ref = make_store(fake, database[0]).ensure(request)
    assert fake.property(page_id(ref), "Client email") is None


def test_a_token_file_others_can_read_is_warned_of_without_the_token(
    tmp_path: Any, fake: FakeNotion, database: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    from syncd.config import NotionNotesConfig
    from syncd.notes.notion import read_token
    from tests.fakenotion import TOKEN

    token = tmp_path / "notion-token"
    token.write_text(TOKEN)
    token.chmod(0o644)
    assert read_token(NotionNotesConfig(type="notion", database=database[0], token_file=token)) == TOKEN
    assert "chmod 600" in caplog.text and TOKEN not in caplog.text
