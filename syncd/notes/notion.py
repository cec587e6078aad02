"""Session notes as pages of a Notion database (`notes: {type: notion}`).

The database's first data source holds one page per booking (Notion-Version 2025-09-03: pages
are made under a data source, never the database). Its properties are checked once per
process (`syncd.notes.notion_schema`): a missing one is named with how to add it. Each page's
`Booking ID` is queried before anything is made, so a crash between making a page and
recording it finds that page next time instead of making a second one.

Content, by `template`:
- `default` or a template id: the page is made from that database template, which Notion
  applies in the background; syncd reads the page until the template's blocks have landed
  (two reads alike, at most `template_wait` seconds), then appends its own part below: the
  `Session: ...` callout, the client's overview (the booking's answers) and talking points;
- `none`: the page is made with the blocks of the note template the Markdown backend renders
  (`syncd.notes.notion_blocks`), the callout first, in the same request.

The callout is syncd's banner: reschedules and cancellations rewrite it and the title,
Session and Status properties (scheduled, rescheduled, cancelled, held once the follow-up is
drafted); nothing else on the page is touched. Open action items are the page's unchecked
to-dos under an "Action items" heading, read (paged, nested blocks too) by the rule all
backends share. Requests go through `NotionCaller`: one at a time per token, 429/529 waited
out, bounded retries, one-line errors.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncd.errors import AuthError, BackendError, NoteMissing, Rejected, SyncdError, Unavailable
from syncd.model import NoteHeader, NoteRef, NoteRequest
from syncd.notes import notion_blocks as blocks
from syncd.notes import notion_schema as schema
from syncd.notes.docs_requests import header_line
from syncd.notes.notion_transport import NotionCaller, client_options, token_lock
from syncd.text import one_line

if TYPE_CHECKING:
    from syncd.config import CoachConfig, NotionNotesConfig, Settings

log = logging.getLogger(__name__)

LOCATOR_PREFIX = "notion:"
TOKEN_ENV = "SYNCD_NOTION_TOKEN"  # noqa: S105 (a variable's name)
TEMPLATE_WAIT = 20.0  # seconds syncd waits for a database template to land
POLL = 0.5  # seconds between two reads of a page the template is landing on
SETTLE = 2.0  # seconds a template's blocks stay unchanged before syncd counts them landed
PAGE_SIZE = 100
MAX_DEPTH = 3  # levels of nested blocks read for action items
TIMEOUT = 30.0


class NotionNotes:
    """A NoteStore of pages in one Notion database; see the module docstring.

    `client` is a `notion_client.Client` (or anything with its endpoints); `caller` runs its
    requests; `sleep` and `clock` pace the wait for a template (tests pass their own).
    """

    def __init__(
        self,
        client: Any,
        caller: NotionCaller,
        database: str,
        template: str = "default",
        *,
        template_wait: float = TEMPLATE_WAIT,
        poll: float = POLL,
        settle: float = SETTLE,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.caller = caller
        self.database = database
        self.template = template
        self.template_wait = template_wait
        self.poll = poll
        self.settle = settle
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._source: tuple[str, schema.Schema] | None = None

    @property
    def label(self) -> str:
        return f"Notion notes (database {self.database})"

    # --- NoteStore -----------------------------------------------------------------------------

    def ensure(self, request: NoteRequest, reuse: NoteRef | None = None) -> NoteRef:
        """The page of `request.booking_id`: found by its Booking ID, else adopted from
        `reuse`, else made; a page found half-made (a crash before syncd's part) is filled."""
        source, found_schema = self.data_source()
        key = schema.booking_key(request.booking_id)
        found = self._find(source, key)
        if found is not None:
            self._complete(found, request)
            return _ref(found)
        if reuse is not None and reuse.locator.startswith(LOCATOR_PREFIX):
            adopted = self._adopt(reuse, key, request.header)
            if adopted is not None:
                return adopted
        page = self._create(source, found_schema, key, request)
        if self.template != "none":
            self._fill(page["id"], request, wait=True)
        return _ref(page)

    def update_header(self, ref: NoteRef, header: NoteHeader) -> None:
        """Set the title, Session and Status properties and the banner; keep the rest."""
        page_id = _page_id(ref)
        self._write_header(page_id, self._page(page_id), header)

    def _write_header(self, page_id: str, page: dict[str, Any], header: NoteHeader) -> None:
        """`update_header` on the page as read (`page`)."""
        _, found_schema = self.data_source()
        status = schema.next_status(header, page)
        wanted = schema.header_properties(found_schema, header, status)
        self._call(
            "updating the page's properties",
            lambda: self.client.pages.update(page_id, properties=wanted),
            page_id,
        )
        self._set_banner(page_id, header_line(header))

    def open_action_items(self, ref: NoteRef) -> list[str]:
        """The page's unchecked to-dos under "Action items" headings; the page is marked
        held (its follow-up is being drafted, so the session took place)."""
        page_id = _page_id(ref)
        page = self._page(page_id)
        items = blocks.open_items(self._all_blocks(page_id))
        if schema.status_of(page) in ("scheduled", "rescheduled"):
            self._mark_held(page_id)
        return items

    # --- the data source and its schema --------------------------------------------------------

    def data_source(self) -> tuple[str, schema.Schema]:
        """The database's data source id and schema: found and checked once per process."""
        with self._lock:
            if self._source is None:
                self._source = self._find_data_source()
            return self._source

    def add_missing_properties(self) -> list[str]:
        """Add the properties syncd needs and the data source lacks (`syncd notion setup`);
        the names added. A property of the wrong type is left for the coach to fix."""
        source_id, properties = self._source_properties()
        missing = schema.setup_properties(properties)
        if missing:
            self._call(
                "adding the properties syncd needs",
                lambda: self.client.data_sources.update(source_id, properties=missing),
                missing=self._no_database,
            )
        with self._lock:
            self._source = None
        return sorted(missing)

    def _find_data_source(self) -> tuple[str, schema.Schema]:
        source_id, properties = self._source_properties()
        found, problems = schema.check(properties)
        if found is None:
            raise Rejected(f"{self.label}: " + "; ".join(problems))
        return source_id, found

    def _source_properties(self) -> tuple[str, dict[str, Any]]:
        database = self._call(
            "reading the database",
            lambda: self.client.databases.retrieve(self.database),
            missing=self._no_database,
        )
        if schema.is_in_trash(database):  # may be restored: said once, tried every pass
            raise Unavailable(
                f"{self.label}: the database is archived (in Notion's trash): restore it in Notion"
            )
        sources = database.get("data_sources") or []
        if not sources:
            raise Rejected(f"{self.label}: the database has no data source syncd can use")
        source_id = str(sources[0]["id"])
        source = self._call(
            "reading the database's properties",
            lambda: self.client.data_sources.retrieve(source_id),
            missing=self._no_database,
        )
        return source_id, dict(source.get("properties") or {})

    def _no_database(self, text: str) -> BackendError:
        # Sharing it (again) is a permission given back: said once, tried every pass.
        return Unavailable(
            f"{self.label}: not found: share the database with the integration (••• → Connections) "
            "and check its id"
        )

    # --- finding and making pages --------------------------------------------------------------

    def _find(self, source: str, key: str) -> dict[str, Any] | None:
        answer = self._call(
            "looking up the booking's page",
            lambda: self.client.data_sources.query(
                source,
                filter=schema.booking_filter(key),
                sorts=[{"timestamp": "created_time", "direction": "ascending"}],
                page_size=10,
            ),
        )
        pages = [p for p in answer.get("results") or [] if not schema.is_in_trash(p)]
        return pages[0] if pages else None

    def _create(self, source: str, found: schema.Schema, key: str, request: NoteRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "parent": {"type": "data_source_id", "data_source_id": source},
            "properties": schema.new_page_properties(
                found, request.header, key, request.fields.get("client_email", "")
            ),
        }
        rest: list[list[blocks.Block]] = []
        if self.template == "none":
            first, *rest = blocks.batches(self._own_blocks(request))
            body["children"] = first
        elif self.template == "default":
            body["template"] = {"type": "default"}
        else:
            body["template"] = {"type": "template_id", "template_id": self.template}
        # Not repeated on a lost answer: the page may exist; the next pass finds it by its key.
        what = {"none": "making the page", "default": "making the page from the database's default template"}
        page: dict[str, Any] = self._call(
            what.get(self.template, "making the page from its template"),
            lambda: self.client.pages.create(**body),
            repeatable=False,
        )
        log.debug("%s: made page %s for booking %s", self.label, page.get("id"), one_line(key, 80))
        for batch in rest:
            self._append(page["id"], batch)
        return page

    def _own_blocks(self, request: NoteRequest) -> list[blocks.Block]:
        banner = blocks.banner_block(header_line(request.header))
        if self.template == "none":
            return [banner, *blocks.markdown_blocks(request.body)]
        return [banner, *blocks.overview_blocks(request.fields)]

    def _complete(self, page: dict[str, Any], request: NoteRequest) -> None:
        """Fill a page found by its key whose filling was cut short (no banner yet); the
        template is waited for only while the page is young enough for it to be landing."""
        page_id = str(page["id"])
        top = list(self._children(page_id))
        if any(blocks.is_banner(b) for b in top):
            return
        log.info("%s: page %s was left unfilled; filling it now", self.label, page_id)
        self._fill(page_id, request, wait=self.template != "none" and _age(page) < self.template_wait)

    def _fill(self, page_id: str, request: NoteRequest, *, wait: bool) -> None:
        """Append syncd's blocks to the page; with `wait`, once its template's have landed."""
        if wait:
            self._wait_for_template(page_id)
        for batch in blocks.batches(self._own_blocks(request)):
            self._append(page_id, batch)

    def _wait_for_template(self, page_id: str) -> None:
        """Read the page until the template's blocks have landed: some blocks, unchanged for
        `settle` seconds (Notion may land a template in steps, so two quick reads alike prove
        little); at most `template_wait` seconds."""
        deadline = self._clock() + self.template_wait
        before: list[str] = []
        since = self._clock()
        while True:
            now = [str(b.get("id")) for b in self._children(page_id, limit=PAGE_SIZE)]
            if now != before:
                before, since = now, self._clock()
            elif now and self._clock() - since >= self.settle:
                return
            if self._clock() >= deadline:
                log.warning(
                    "%s: page %s: the database template had not landed after %.0f s; syncd's part goes in now",
                    self.label,
                    page_id,
                    self.template_wait,
                )
                return
            self._sleep(self.poll)

    def _adopt(self, reuse: NoteRef, key: str, header: NoteHeader) -> NoteRef | None:
        """Take over the client's earlier page for this booking (its key first, so a crash
        right after leaves it findable); None when it is gone or in the trash."""
        page_id = _page_id(reuse)
        try:
            page = self._page(page_id)
            self._call(
                "adopting the earlier page",
                lambda: self.client.pages.update(
                    page_id, properties={schema.BOOKING: {"rich_text": blocks.rich_text(key)}}
                ),
                page_id,
            )
        except NoteMissing as exc:
            log.info("%s: the earlier page is not usable (%s); making a new one", self.label, exc)
            return None
        # The Booking ID just written changes nothing next_status reads: the page as read serves.
        self._write_header(page_id, page, header)
        return _ref(page)

    # --- reading and writing blocks ------------------------------------------------------------

    def _page(self, page_id: str) -> dict[str, Any]:
        page: dict[str, Any] = self._call(
            "reading the page", lambda: self.client.pages.retrieve(page_id), page_id
        )
        if schema.is_in_trash(page):
            raise NoteMissing(f"{self.label}: page {page_id} is in Notion's trash")
        return page

    def _children(self, block_id: str, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """The direct children of a page or block, page by page (at most `limit`)."""
        cursor: str | None = None
        seen = 0
        while True:
            params: dict[str, Any] = {"page_size": PAGE_SIZE}
            if cursor:
                params["start_cursor"] = cursor
            answer = self._call(
                "reading the page's content",
                lambda params=params: self.client.blocks.children.list(block_id, **params),  # type: ignore[misc]
                block_id,
            )
            for item in answer.get("results") or []:
                yield item
                seen += 1
            cursor = answer.get("next_cursor")
            if not answer.get("has_more") or not cursor or (limit is not None and seen >= limit):
                return

    def _all_blocks(self, block_id: str, depth: int = 0) -> Iterator[dict[str, Any]]:
        """Every block of the page in reading order, nested ones after their parent."""
        for item in self._children(block_id):
            yield item
            if item.get("has_children") and depth < MAX_DEPTH and item.get("type") != "child_page":
                yield from self._all_blocks(str(item["id"]), depth + 1)

    def _append(self, page_id: str, batch: list[blocks.Block]) -> None:
        if batch:
            self._call(
                "writing the note",
                lambda: self.client.blocks.children.append(page_id, children=batch),
                page_id,
                repeatable=False,
            )

    def _set_banner(self, page_id: str, line: str) -> None:
        banner = next((b for b in self._children(page_id) if blocks.is_banner(b)), None)
        if banner is None:
            log.debug("%s: page %s has no Session line (removed by the coach); left so", self.label, page_id)
            return
        if blocks.block_text(banner) == line:
            return
        kind = str(banner["type"])
        self._call(
            "updating the Session line",
            lambda: self.client.blocks.update(
                str(banner["id"]), **{kind: {"rich_text": blocks.rich_text(line)}}
            ),
            page_id,
        )

    def _mark_held(self, page_id: str) -> None:
        _, found = self.data_source()
        value = {schema.STATUS: {found.status_type: {"name": "held"}}}
        try:
            self._call(
                "marking the session held",
                lambda: self.client.pages.update(page_id, properties=value),
                page_id,
            )
        except Unavailable as exc:  # cosmetic: the follow-up must not wait for it
            log.warning("%s: %s", self.label, exc)

    def _call(
        self,
        what: str,
        request: Callable[[], Any],
        page_id: str = "",
        *,
        repeatable: bool = True,
        missing: Callable[[str], BackendError] | None = None,
    ) -> Any:
        where = f"{self.label}, page {page_id}" if page_id else self.label
        gone = missing or (lambda text: NoteMissing(f"{text} (the page no longer exists or is not shared)"))
        return self.caller.call(f"{where}: {what}", request, repeatable=repeatable, missing=gone)


# --- configuration ----------------------------------------------------------------------------


def read_token(section: NotionNotesConfig) -> str:
    """The integration token: `token_file`, else $SYNCD_NOTION_TOKEN. Raises AuthError."""
    if section.token_file is not None:
        try:
            token = section.token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise AuthError(
                f"notes.token_file {section.token_file}: cannot read it ({exc.__class__.__name__})"
            ) from None
        if not token:
            raise AuthError(
                f"notes.token_file {section.token_file} is empty: put the integration token in it"
            )
        _warn_if_shared(section.token_file)
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise AuthError(f"Notion notes need an integration token: set notes.token_file or {TOKEN_ENV}")
    return token


def _warn_if_shared(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning(
            "notes.token_file %s is readable by other users (mode %04o): run `chmod 600 %s`", path, mode, path
        )


def from_config(
    section: NotionNotesConfig,
    coach: CoachConfig,
    settings: Settings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    template_wait: float = TEMPLATE_WAIT,
) -> NotionNotes:
    """The store a coach's `notes: {type: notion}` section describes."""
    from notion_client import Client  # imported only when a coach keeps notes in Notion

    token = read_token(section)
    client = Client(**client_options(token, section.api_url, TIMEOUT))
    caller = NotionCaller(token_lock(token), sleep=sleep)
    log.debug("Notion notes in database %s for coach %s", section.database, coach.email)
    return NotionNotes(
        client, caller, section.database, section.template, template_wait=template_wait, sleep=sleep
    )


def check_database(section: NotionNotesConfig, coach: CoachConfig, settings: Settings) -> str:
    """`check-config`'s word on a Notion section: "" when the database is reachable and has
    every property syncd needs, else the one-line problem."""
    try:
        from_config(section, coach, settings).data_source()
    except SyncdError as exc:
        return str(exc)
    return ""


def setup_database(section: NotionNotesConfig, coach: CoachConfig, settings: Settings) -> str:
    """`syncd notion setup` for one coach: add the missing properties; what was done, one line."""
    added = from_config(section, coach, settings).add_missing_properties()
    if not added:
        return "every property syncd needs is there"
    return "added the properties " + ", ".join(added)


def _age(page: dict[str, Any]) -> float:
    """Seconds since the page was made (its `created_time`); 0 when it does not say."""
    try:
        made = datetime.fromisoformat(str(page.get("created_time")).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (datetime.now(UTC) - made).total_seconds() if made.tzinfo else 0.0


def _ref(page: dict[str, Any]) -> NoteRef:
    page_id = str(page["id"])
    url = str(page.get("url") or f"https://www.notion.so/{page_id.replace('-', '')}")
    return NoteRef(locator=LOCATOR_PREFIX + page_id, url=url)


def _page_id(ref: NoteRef) -> str:
    if not ref.locator.startswith(LOCATOR_PREFIX):
        raise Rejected(f"notes: {ref.locator!r} is not a Notion page")
    return ref.locator.removeprefix(LOCATOR_PREFIX)
