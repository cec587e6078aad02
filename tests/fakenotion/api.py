"""The Notion API the fake serves: databases with data sources, pages, blocks, templates.

    with FakeNotion() as fake:
        database, source = fake.add_database(templates=[("Intro", TEMPLATE_BLOCKS, True)])
        ...  # Client(auth=TOKEN, base_url=fake.url)
        fake.pages_of(source); fake.blocks_of(page_id); fake.fail("/pages$", 529, retry_after=1)

A page made from a template comes back empty; the template's blocks land `template_delay`
seconds later, in two steps (half, then the rest), as Notion applies templates in the
background. `block_limit` caps the workspace's blocks (a template job over it fails quietly;
an append over it is refused). `shared=False` on a database hides it (object_not_found), as
a database not shared with the integration is.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from . import shapes
from .server import HttpCore, NotionError, Request, invalid

DEFAULT_PROPERTIES = {
    "Name": "title",
    "Session": "date",
    "Status": "select",
    "Client email": "email",
    "Booking ID": "rich_text",
}
BLOCK_LIMIT_MESSAGE = "This workspace has reached its block limit. Upgrade your plan to add more content."


def new_id() -> str:
    return str(uuid.uuid4())


class FakeNotion(HttpCore):
    """A local Notion with one integration token (`server.TOKEN`)."""

    def __init__(self, *, template_delay: float = 0.15) -> None:
        super().__init__()
        self.template_delay = template_delay
        self.block_limit: int | None = None
        self.query_hits = 0  # filtered queries that found a page (a key looked up after a crash)
        self.databases: dict[str, dict[str, Any]] = {}
        self.sources: dict[str, dict[str, Any]] = {}
        self.pages: dict[str, dict[str, Any]] = {}
        self.blocks: dict[str, dict[str, Any]] = {}
        self.children: dict[str, list[str]] = {}
        self.templates: dict[str, list[tuple[str, str, bool, list[dict[str, Any]]]]] = {}
        self._clock = itertools.count(1)
        self._timers: list[threading.Timer] = []
        for method, path, handler in (
            ("GET", r"/databases/(?P<id>[^/]+)", self._get_database),
            ("GET", r"/data_sources/(?P<id>[^/]+)", self._get_source),
            ("PATCH", r"/data_sources/(?P<id>[^/]+)", self._patch_source),
            ("POST", r"/data_sources/(?P<id>[^/]+)/query", self._query),
            ("GET", r"/data_sources/(?P<id>[^/]+)/templates", self._list_templates),
            ("POST", r"/pages", self._create_page),
            ("GET", r"/pages/(?P<id>[^/]+)", self._get_page),
            ("PATCH", r"/pages/(?P<id>[^/]+)", self._patch_page),
            ("GET", r"/blocks/(?P<id>[^/]+)/children", self._list_children),
            ("PATCH", r"/blocks/(?P<id>[^/]+)/children", self._append),
            ("PATCH", r"/blocks/(?P<id>[^/]+)", self._patch_block),
        ):
            self.route(method, path, handler)

    def __enter__(self) -> FakeNotion:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for timer in self._timers:
            timer.cancel()
        self.stop()

    # --- seeding and reading back --------------------------------------------------------------

    def add_database(
        self,
        properties: dict[str, str] | None = None,
        *,
        templates: list[tuple[str, list[dict[str, Any]], bool]] = (),  # type: ignore[assignment]
        title: str = "Intro Sessions",
    ) -> tuple[str, str]:
        """A database with one data source of `properties` (name -> type) and `templates`
        (name, blocks to create, is_default); (database id, data source id)."""
        database, source = new_id(), new_id()
        schema = {}
        for i, (name, kind) in enumerate((properties or DEFAULT_PROPERTIES).items()):
            schema[name] = _property_schema(f"p{i}", name, kind)
        with self.lock:
            self.databases[database] = {
                "title": title,
                "sources": [source],
                "in_trash": False,
                "shared": True,
            }
            self.sources[source] = {"database": database, "properties": schema}
            self.templates[source] = [
                (new_id(), name, default, list(blocks)) for name, blocks, default in templates
            ]
        return database, source

    def pages_of(self, source: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                self._page_json(p) for p in self.pages.values() if p["source"] == source and not p["in_trash"]
            ]

    def blocks_of(self, parent: str) -> list[dict[str, Any]]:
        with self.lock:
            return [self._block_json(self.blocks[b]) for b in self.children.get(parent, [])]

    def text_of(self, page_id: str) -> str:
        """The page's blocks as lines: `[ ]`/`[x]` for to-dos, the text of the others."""
        lines = []
        for item in self.blocks_of(page_id):
            text = "".join(p["plain_text"] for p in item[item["type"]].get("rich_text", []))
            if item["type"] == "to_do":
                text = ("[x] " if item["to_do"]["checked"] else "[ ] ") + text
            lines.append(text)
        return "\n".join(lines)

    def property(self, page_id: str, name: str) -> Any:
        with self.lock:
            prop = self.pages[page_id]["properties"][name]
        return prop[prop["type"]]

    def add_block(self, parent: str, kind: str, text: str, *, after: str | None = None, **extra: Any) -> str:
        """A block the coach adds to `parent` (a page or a block): at its end, or right
        after the block `after`."""
        content = {"rich_text": shapes.rich_text([{"text": {"content": text}}], "seed"), **extra}
        with self.lock:
            block_id = self._store_block(parent, kind, content)
            if after is not None:
                siblings = self.children[parent]
                siblings.remove(block_id)
                siblings.insert(siblings.index(after) + 1, block_id)
            return block_id

    def find_block(self, parent: str, text: str) -> str:
        """The id of `parent`'s first block whose text starts with `text`."""
        for item in self.blocks_of(parent):
            if "".join(p["plain_text"] for p in item[item["type"]].get("rich_text", [])).startswith(text):
                return str(item["id"])
        raise KeyError(text)

    def set_block(self, block_id: str, **content: Any) -> None:
        """Change a block's content (e.g. `checked=True`), as the coach would."""
        with self.lock:
            self.blocks[block_id]["content"].update(content)

    def trash_page(self, page_id: str) -> None:
        with self.lock:
            self.pages[page_id]["in_trash"] = True

    # --- databases and data sources ------------------------------------------------------------

    def _database(self, database_id: str) -> dict[str, Any]:
        database = self.databases.get(database_id)
        if database is None or not database["shared"]:
            raise NotionError(
                404,
                "object_not_found",
                f"Could not find database with ID: {database_id}. Make sure the relevant pages and databases are shared with your integration.",
            )
        return database

    def _source(self, source_id: str) -> dict[str, Any]:
        source = self.sources.get(source_id)
        if source is None or not self.databases[source["database"]]["shared"]:
            raise NotionError(404, "object_not_found", f"Could not find data source with ID: {source_id}.")
        return source

    def _get_database(self, request: Request) -> dict[str, Any]:
        database_id = request.params["id"]
        database = self._database(database_id)
        return {
            "object": "database",
            "id": database_id,
            "title": shapes.rich_text([{"text": {"content": database["title"]}}], "title"),
            "data_sources": [{"id": s, "name": database["title"]} for s in database["sources"]],
            "in_trash": database["in_trash"],
            "is_locked": False,
        }

    def _get_source(self, request: Request) -> dict[str, Any]:
        source = self._source(request.params["id"])
        return {
            "object": "data_source",
            "id": request.params["id"],
            "properties": source["properties"],
            "parent": {"type": "database_id", "database_id": source["database"]},
            "in_trash": self.databases[source["database"]]["in_trash"],
        }

    def _patch_source(self, request: Request) -> dict[str, Any]:
        source = self._source(request.params["id"])
        body = request.json()
        for name, spec in (body.get("properties") or {}).items():
            kind = next(iter(spec)) if isinstance(spec, dict) and spec else None
            if kind not in ("date", "select", "email", "rich_text", "title"):
                raise invalid(
                    f"body failed validation: body.properties.{name} has no property type the fake takes."
                )
            prop = _property_schema(f"p{len(source['properties'])}", name, kind)
            prop[kind] = dict(spec[kind])
            source["properties"][name] = prop
        return self._get_source(request)

    def _list_templates(self, request: Request) -> dict[str, Any]:
        self._source(request.params["id"])
        listed = [
            {"id": t, "name": n, "is_default": d} for t, n, d, _ in self.templates[request.params["id"]]
        ]
        return {"object": "list", "templates": listed, "has_more": False, "next_cursor": None}

    def _query(self, request: Request) -> dict[str, Any]:
        source_id = request.params["id"]
        source = self._source(source_id)
        if self.databases[source["database"]]["in_trash"]:
            raise invalid("Can't query a data source whose database is archived. Restore it first.")
        body = request.json()
        unknown = set(body) - {"filter", "sorts", "page_size", "start_cursor"}
        if unknown:
            raise invalid(f"body failed validation: body.{sorted(unknown)[0]} should be not present.")
        pages = [p for p in self.pages.values() if p["source"] == source_id and not p["in_trash"]]
        if "filter" in body:
            name, op, operand = shapes.text_filter(body["filter"], source["properties"])
            pages = [p for p in pages if _matches(p["properties"].get(name), op, operand)]
            self.query_hits += bool(pages)
        pages.sort(key=lambda p: p["created"])
        return _paged([self._page_json(p) for p in pages], body.get("page_size"), body.get("start_cursor"))

    # --- pages ---------------------------------------------------------------------------------

    def _create_page(self, request: Request) -> dict[str, Any]:
        body = request.json()
        source_id = self._parent_source(body.get("parent"))
        source = self.sources[source_id]
        if self.databases[source["database"]]["in_trash"]:
            raise invalid("Can't edit block that is archived. You must unarchive the block before editing.")
        if "template" in body and "children" in body:
            raise invalid("body failed validation: template cannot be used together with children.")
        template = self._template_blocks(source_id, body.get("template"))
        children = shapes.blocks(body["children"], "body.children") if "children" in body else []
        self._check_limit(len(children))
        page_id = new_id()
        page = {
            "id": page_id,
            "source": source_id,
            "created": next(self._clock),
            "created_time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "in_trash": False,
            "properties": self._properties(source, body.get("properties") or {}, {}),
        }
        title = _title_prop(source)
        if title not in page["properties"]:
            page["properties"][title] = {
                "id": source["properties"][title]["id"],
                "type": "title",
                "title": [],
            }
        self.pages[page_id] = page
        self.children[page_id] = []
        for kind, content in children:
            self._store_block(page_id, kind, content)
        if template:
            self._apply_later(page_id, template)
        return self._page_json(page)

    def _parent_source(self, parent: Any) -> str:
        if not isinstance(parent, dict):
            raise invalid("body failed validation: body.parent should be defined.")
        if "data_source_id" in parent:
            self._source(parent["data_source_id"])
            return str(parent["data_source_id"])
        if "database_id" in parent:
            database = self._database(parent["database_id"])
            if len(database["sources"]) != 1:
                raise invalid("Databases with multiple data sources are not supported in this API version.")
            return str(database["sources"][0])
        raise invalid("body failed validation: body.parent.data_source_id should be defined.")

    def _template_blocks(self, source_id: str, template: Any) -> list[tuple[str, dict[str, Any]]]:
        if template is None or template == {"type": "none"}:
            return []
        templates = self.templates[source_id]
        if template == {"type": "default"}:
            found = next((t for t in templates if t[2]), None)
            if found is None:
                raise invalid("This data source has no default template.")
        elif (
            isinstance(template, dict)
            and template.get("type") == "template_id"
            and set(template) == {"type", "template_id"}
        ):
            found = next((t for t in templates if t[0] == template["template_id"]), None)
            if found is None:
                raise NotionError(
                    404, "object_not_found", f"Could not find template with ID: {template['template_id']}."
                )
        else:
            raise invalid(
                f"body failed validation: body.template should be none, default or template_id, not {template}."
            )
        return shapes.blocks(found[3], "template")

    def _apply_later(self, page_id: str, template: list[tuple[str, dict[str, Any]]]) -> None:
        half = max(1, len(template) // 2)

        def land(part: list[tuple[str, dict[str, Any]]]) -> None:
            with self.lock:
                if self.block_limit is not None and self._count() + len(part) > self.block_limit:
                    return  # the template job fails after pages.create returned: nothing lands
                for kind, content in part:
                    self._store_block(page_id, kind, dict(content))

        for delay, part in (
            (self.template_delay, template[:half]),
            (self.template_delay * 2, template[half:]),
        ):
            timer = threading.Timer(delay, land, (part,))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()

    def _get_page(self, request: Request) -> dict[str, Any]:
        return self._page_json(self._page(request.params["id"]))

    def _patch_page(self, request: Request) -> dict[str, Any]:
        page = self._page(request.params["id"])
        body = request.json()
        unknown = set(body) - {"properties", "in_trash", "archived", "icon"}
        if unknown:
            raise invalid(f"body failed validation: body.{sorted(unknown)[0]} should be not present.")
        if page["in_trash"] and body.get("in_trash") is not False:
            raise invalid("Can't edit block that is archived. You must unarchive the block before editing.")
        source = self.sources[page["source"]]
        page["properties"] = self._properties(source, body.get("properties") or {}, page["properties"])
        if "in_trash" in body:
            page["in_trash"] = bool(body["in_trash"])
        return self._page_json(page)

    def _page(self, page_id: str) -> dict[str, Any]:
        page = self.pages.get(page_id)
        if page is None:
            raise NotionError(404, "object_not_found", f"Could not find page with ID: {page_id}.")
        return page

    def _properties(
        self, source: dict[str, Any], values: dict[str, Any], current: dict[str, Any]
    ) -> dict[str, Any]:
        out = dict(current)
        for name, value in values.items():
            schema = source["properties"].get(name)
            if schema is None:
                raise invalid(f"{name} is not a property that exists.")
            out[name] = shapes.property_value(name, schema, value)
        return out

    def _page_json(self, page: dict[str, Any]) -> dict[str, Any]:
        source = self.sources[page["source"]]
        return {
            "object": "page",
            "id": page["id"],
            "created_time": page["created_time"],
            "in_trash": page["in_trash"],
            "archived": page["in_trash"],
            "url": f"https://www.notion.so/Intro-{page['id'].replace('-', '')}",
            "parent": {
                "type": "data_source_id",
                "data_source_id": page["source"],
                "database_id": source["database"],
            },
            "properties": page["properties"],
        }

    # --- blocks --------------------------------------------------------------------------------

    def _list_children(self, request: Request) -> dict[str, Any]:
        parent = request.params["id"]
        if parent not in self.children:
            raise NotionError(404, "object_not_found", f"Could not find block with ID: {parent}.")
        if parent in self.pages and self.pages[parent]["in_trash"]:
            raise NotionError(404, "object_not_found", f"Could not find block with ID: {parent}.")
        size = request.arg("page_size")
        items = [self._block_json(self.blocks[b]) for b in self.children[parent]]
        return _paged(items, int(size) if size else None, request.arg("start_cursor"))

    def _append(self, request: Request) -> dict[str, Any]:
        parent = request.params["id"]
        if parent not in self.children:
            raise NotionError(404, "object_not_found", f"Could not find block with ID: {parent}.")
        if parent in self.pages and self.pages[parent]["in_trash"]:
            raise invalid("Can't edit block that is archived. You must unarchive the block before editing.")
        body = request.json()
        unknown = set(body) - {"children", "after"}
        if unknown:
            raise invalid(f"body failed validation: body.{sorted(unknown)[0]} should be not present.")
        made = shapes.blocks(body.get("children"), "body.children")
        self._check_limit(len(made))
        ids = [self._store_block(parent, kind, content) for kind, content in made]
        return {
            "object": "list",
            "results": [self._block_json(self.blocks[b]) for b in ids],
            "has_more": False,
            "next_cursor": None,
        }

    def _patch_block(self, request: Request) -> dict[str, Any]:
        stored = self.blocks.get(request.params["id"])
        if stored is None:
            raise NotionError(
                404, "object_not_found", f"Could not find block with ID: {request.params['id']}."
            )
        body = request.json()
        kind = stored["type"]
        if set(body) != {kind}:
            raise invalid(f"body failed validation: the block is a {kind}; body should hold only `{kind}`.")
        _, content = shapes.block({kind: body[kind]}, "body")
        stored["content"].update(content)
        return self._block_json(stored)

    def _store_block(self, parent: str, kind: str, content: dict[str, Any]) -> str:
        block_id = new_id()
        self.blocks[block_id] = {"id": block_id, "type": kind, "content": content, "parent": parent}
        self.children.setdefault(parent, []).append(block_id)
        self.children[block_id] = []
        return block_id

    def _block_json(self, stored: dict[str, Any]) -> dict[str, Any]:
        return {
            "object": "block",
            "id": stored["id"],
            "type": stored["type"],
            "has_children": bool(self.children.get(stored["id"])),
            "in_trash": False,
            stored["type"]: stored["content"],
        }

    def _count(self) -> int:
        return len(self.blocks)

    def _check_limit(self, adding: int) -> None:
        if self.block_limit is not None and self._count() + adding > self.block_limit:
            raise invalid(BLOCK_LIMIT_MESSAGE)


def _property_schema(prop_id: str, name: str, kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"options": []} if kind in ("select", "status") else {}
    return {"id": prop_id, "name": name, "type": kind, kind: spec}


def _title_prop(source: dict[str, Any]) -> str:
    return next(n for n, p in source["properties"].items() if p["type"] == "title")


def _matches(prop: dict[str, Any] | None, op: str, operand: str) -> bool:
    if prop is None:
        return False
    text = "".join(p["plain_text"] for p in prop.get(prop["type"]) or [])
    return text == operand if op == "equals" else operand in text


def _paged(items: list[dict[str, Any]], size: Any, cursor: Any) -> dict[str, Any]:
    if size is not None and (not isinstance(size, int) or not 1 <= size <= 100):
        raise invalid("body failed validation: page_size should be between 1 and 100.")
    size = size or 100
    start = int(cursor) if cursor else 0
    page = items[start : start + size]
    more = start + size < len(items)
    return {
        "object": "list",
        "results": page,
        "has_more": more,
        "next_cursor": str(start + size) if more else None,
        "type": "page_or_data_source" if page and page[0]["object"] == "page" else "block",
    }
