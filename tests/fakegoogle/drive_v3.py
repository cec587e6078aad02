"""A fake of Drive API v3 files: create, copy, get, update, list (with `q`), no media.

What it holds to, from GOOGLE.md and Drive's reference: a file answers with `kind, id, name,
mimeType` unless `fields` asks for more (so a client that forgets `fields=webViewLink` gets no
link, as with Google); `q` understands `appProperties has { key='k' and value='v' }` (both key
and value), `trashed = false`, `'ID' in parents`, `mimeType = '...'` and `name = '...'`, joined
by `and`, and refuses anything else with 400; an appProperties key and value take at most 124
bytes together; a file has at most one parent. Under the `drive.file` scope the app sees only
the files it created or was handed: files seeded with `app_created=False` answer 404 (to get,
copy, update) and never show up in a list. Google Docs' content lives in `docs_v1`, which this
module tells about every new or copied document.

Not modelled: media uploads, permissions (routed, answering 501: syncd must never call them),
shared drives, revisions.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .server import ApiError, FakeRequest, FakeResponse

if TYPE_CHECKING:
    from .server import FakeGoogle

FOLDER_MIME = "application/vnd.google-apps.folder"
DOC_MIME = "application/vnd.google-apps.document"
DEFAULT_FILE_FIELDS = ("kind", "id", "name", "mimeType")
MAX_PROPERTY_BYTES = 124
_EPOCH = datetime(2030, 1, 1, tzinfo=UTC)

_STR = r"'((?:[^'\\]|\\.)*)'"
_CLAUSES: list[tuple[str, re.Pattern[str]]] = [
    (
        "app",
        re.compile(
            r"appProperties\s+has\s*\{\s*key\s*=\s*" + _STR + r"\s+and\s+value\s*=\s*" + _STR + r"\s*\}"
        ),
    ),
    ("trashed", re.compile(r"trashed\s*=\s*(true|false)")),
    ("parent", re.compile(_STR + r"\s+in\s+parents")),
    ("field", re.compile(r"(mimeType|name)\s*(=|!=)\s*" + _STR)),
]
_AND = re.compile(r"\s+and\s+")

Predicate = Callable[[dict[str, Any]], bool]


class FakeDrive:
    """Files in one user's Drive, served as Drive API v3; the test-side API seeds and inspects.

    `on_new_document(new_id, source_id)` is called for every Google Doc created (source None)
    or copied.
    """

    def __init__(self, fake: FakeGoogle) -> None:
        self._fake = fake
        self._ids = itertools.count(1)
        self.files: dict[str, dict[str, Any]] = {}
        self.hidden: set[str] = set()  # files the app did not create: invisible under drive.file
        self.on_new_document: Callable[[str, str | None], None] | None = None
        fake.register_api(
            "drive",
            "v3",
            {
                "drive.files.create": self._create,
                "drive.files.copy": self._copy,
                "drive.files.get": self._get,
                "drive.files.update": self._update,
                "drive.files.list": self._list,
            },
        )

    # --- test-side API -----------------------------------------------------------------------

    def put_file(
        self,
        name: str,
        mime_type: str = DOC_MIME,
        *,
        parents: list[str] | None = None,
        app_properties: dict[str, str] | None = None,
        app_created: bool = True,
    ) -> str:
        """Add a file as another app or the user would (`app_created=False`: syncd cannot see it)."""
        with self._fake.lock:
            body: dict[str, Any] = {"name": name, "mimeType": mime_type, "parents": parents or []}
            if app_properties:
                body["appProperties"] = app_properties
            file = self._new_file(body)
            if not app_created:
                self.hidden.add(file["id"])
            self._announce(file, None)
            return str(file["id"])

    def file(self, file_id: str) -> dict[str, Any]:
        """A copy of the stored file resource (every field)."""
        with self._fake.lock:
            return copy.deepcopy(self.files[file_id])

    def in_folder(self, folder_id: str, mime_type: str = DOC_MIME) -> list[dict[str, Any]]:
        """The files of `mime_type` whose parent is `folder_id`, trashed ones left out."""
        with self._fake.lock:
            return [
                copy.deepcopy(f)
                for f in self.files.values()
                if folder_id in f["parents"] and f["mimeType"] == mime_type and not f["trashed"]
            ]

    def of_type(self, mime_type: str) -> list[dict[str, Any]]:
        with self._fake.lock:
            return [copy.deepcopy(f) for f in self.files.values() if f["mimeType"] == mime_type]

    def trash(self, file_id: str) -> None:
        with self._fake.lock:
            self.files[file_id]["trashed"] = True

    # --- handlers ----------------------------------------------------------------------------

    def _create(self, request: FakeRequest) -> FakeResponse:
        file = self._new_file(_body(request))
        self._announce(file, None)
        return FakeResponse(200, _project(file, request.arg("fields")))

    def _copy(self, request: FakeRequest) -> FakeResponse:
        source = self._visible(request.params["fileId"])
        if source["mimeType"] == FOLDER_MIME:
            raise ApiError(403, "This file cannot be copied by the user.", "cannotCopyFile")
        body = _body(request)
        merged_props = {**source.get("appProperties", {}), **body.get("appProperties", {})}
        fields = {
            "name": f"Copy of {source['name']}",
            "mimeType": source["mimeType"],
            "parents": source["parents"],
            **body,
            "appProperties": merged_props,
        }
        file = self._new_file(fields)
        self._announce(file, source["id"])
        return FakeResponse(200, _project(file, request.arg("fields")))

    def _get(self, request: FakeRequest) -> FakeResponse:
        file = self._visible(request.params["fileId"])
        return FakeResponse(200, _project(file, request.arg("fields")))

    def _update(self, request: FakeRequest) -> FakeResponse:
        file = self._visible(request.params["fileId"])
        body = _body(request)
        updated = copy.deepcopy(file)
        for key in ("name", "description", "trashed"):
            if key in body:
                updated[key] = body[key]
        for key, value in (body.get("appProperties") or {}).items():
            if value is None:
                updated["appProperties"].pop(key, None)
            else:
                updated["appProperties"][key] = value
        _check_properties(updated["appProperties"])
        removed = set(filter(None, (request.arg("removeParents") or "").split(",")))
        added = [p for p in (request.arg("addParents") or "").split(",") if p]
        updated["parents"] = [p for p in updated["parents"] if p not in removed] + added
        self._check_parents(updated["parents"])
        updated["modifiedTime"] = self._timestamp()
        self.files[file["id"]] = updated
        return FakeResponse(200, _project(updated, request.arg("fields")))

    def _list(self, request: FakeRequest) -> FakeResponse:
        matches = parse_query(request.arg("q") or "")
        found = [f for f in self.files.values() if f["id"] not in self.hidden and all(m(f) for m in matches)]
        found = _ordered(found, request.arg("orderBy") or "")
        start = int(request.arg("pageToken") or 0)
        size = int(request.arg("pageSize") or 100)
        page = found[start : start + size]
        body: dict[str, Any] = {"kind": "drive#fileList", "incompleteSearch": False, "files": page}
        if start + size < len(found):
            body["nextPageToken"] = str(start + size)
        return FakeResponse(200, _project_list(body, request.arg("fields")))

    # --- storage -----------------------------------------------------------------------------

    def _new_file(self, body: dict[str, Any]) -> dict[str, Any]:
        file_id = f"1fake{next(self._ids):06d}AbCdEfGhIjKlMnOpQrStUv"
        mime = str(body.get("mimeType") or "application/octet-stream")
        parents = list(body.get("parents") or [])
        self._check_parents(parents)
        properties = dict(body.get("appProperties") or {})
        _check_properties(properties)
        now = self._timestamp()
        file = {
            **{k: copy.deepcopy(v) for k, v in body.items() if k not in ("id", "kind")},
            "kind": "drive#file",
            "id": file_id,
            "name": str(body.get("name") or "Untitled"),
            "mimeType": mime,
            "parents": parents,
            "appProperties": properties,
            "trashed": bool(body.get("trashed", False)),
            "createdTime": now,
            "modifiedTime": now,
            "webViewLink": _web_view_link(file_id, mime),
        }
        self.files[file_id] = file
        return file

    def _announce(self, file: dict[str, Any], source: str | None) -> None:
        if file["mimeType"] == DOC_MIME and self.on_new_document is not None:
            self.on_new_document(file["id"], source)

    def _visible(self, file_id: str) -> dict[str, Any]:
        file = self.files.get(file_id)
        if file is None or file_id in self.hidden:
            raise ApiError(404, f"File not found: {file_id}.", "notFound")
        return file

    def visible_document(self, file_id: str) -> dict[str, Any]:
        """The Doc `file_id` if the app may see it (for docs_v1); 404 otherwise."""
        file = self.files.get(file_id)
        if file is None or file_id in self.hidden or file["mimeType"] != DOC_MIME:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        return file

    def _check_parents(self, parents: list[str]) -> None:
        if len(parents) > 1:
            raise ApiError(403, "Increasing the number of parents is not allowed.", "cannotAddParent")
        for parent in parents:
            if self._visible(parent)["mimeType"] != FOLDER_MIME:
                raise ApiError(400, "The specified parent is not a folder.", "invalidParent")

    def _timestamp(self) -> str:
        # Strictly increasing, so orderBy=createdTime is deterministic in tests.
        moment = _EPOCH + timedelta(milliseconds=next(self._ids))
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --- queries ----------------------------------------------------------------------------------


def parse_query(q: str) -> list[Predicate]:
    """The predicates of a Drive `q` (the subset described in the module docstring); 400 else."""
    predicates: list[Predicate] = []
    rest = q.strip()
    while rest:
        predicate, rest = _clause(rest)
        predicates.append(predicate)
        if rest:
            joiner = _AND.match(rest)
            if joiner is None:
                raise ApiError(400, f"Invalid Value: {q!r}", "invalid")
            rest = rest[joiner.end() :]
    return predicates


def _clause(text: str) -> tuple[Predicate, str]:
    for kind, pattern in _CLAUSES:
        match = pattern.match(text)
        if match:
            return _predicate(kind, [_unquote(g) for g in match.groups()]), text[match.end() :]
    raise ApiError(400, f"Invalid Value: cannot parse {text[:60]!r}", "invalid")


def _predicate(kind: str, args: list[str]) -> Predicate:
    if kind == "app":
        key, value = args
        return lambda f: f["appProperties"].get(key) == value
    if kind == "trashed":
        wanted = args[0] == "true"
        return lambda f: bool(f["trashed"]) == wanted
    if kind == "parent":
        return lambda f: args[0] in f["parents"]
    name, operator, value = args
    if operator == "=":
        return lambda f: f.get(name) == value
    return lambda f: f.get(name) != value


def _unquote(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _ordered(files: list[dict[str, Any]], order_by: str) -> list[dict[str, Any]]:
    result = list(files)
    for part in reversed([p.strip() for p in order_by.split(",") if p.strip()]):
        key, _, direction = part.partition(" ")
        if key not in ("createdTime", "modifiedTime", "name"):
            raise ApiError(400, f"Invalid Value: orderBy {order_by!r}", "invalid")
        result.sort(key=lambda f: str(f.get(key, "")), reverse=direction == "desc")
    return result


# --- shapes -----------------------------------------------------------------------------------


def _body(request: FakeRequest) -> dict[str, Any]:
    body = request.json()
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid JSON payload received.", "parseError")
    return body


def _check_properties(properties: dict[str, Any]) -> None:
    for key, value in properties.items():
        if len(f"{key}{value}".encode()) > MAX_PROPERTY_BYTES:
            raise ApiError(
                400,
                f"The property '{key}' exceeds the maximum size of {MAX_PROPERTY_BYTES} bytes.",
                "invalidProperty",
            )


def _web_view_link(file_id: str, mime_type: str) -> str:
    if mime_type == DOC_MIME:
        return f"https://docs.google.com/document/d/{file_id}/edit?usp=drivesdk"
    if mime_type == FOLDER_MIME:
        return f"https://drive.google.com/drive/folders/{file_id}"
    return f"https://drive.google.com/file/d/{file_id}/view?usp=drivesdk"


def parse_fields(fields: str) -> dict[str, tuple[str, ...] | None]:
    """`files(id,name),nextPageToken` → {"files": ("id", "name"), "nextPageToken": None}."""
    parsed: dict[str, tuple[str, ...] | None] = {}
    for match in re.finditer(r"([\w*]+)(?:\(([^)]*)\))?", fields):
        inner = match.group(2)
        parsed[match.group(1)] = tuple(s.strip() for s in inner.split(",")) if inner is not None else None
    return parsed


def _pick(resource: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    if "*" in names:
        return copy.deepcopy(resource)
    return {k: copy.deepcopy(resource[k]) for k in names if k in resource}


def _project(file: dict[str, Any], fields: str | None) -> dict[str, Any]:
    """A file as Drive answers it: the default fields, or those `fields` asks for."""
    names = tuple(parse_fields(fields)) if fields else DEFAULT_FILE_FIELDS
    return _pick(file, names)


def _project_list(body: dict[str, Any], fields: str | None) -> dict[str, Any]:
    wanted = parse_fields(fields) if fields else {"kind": None, "incompleteSearch": None, "files": None}
    out: dict[str, Any] = {}
    for name, inner in wanted.items():
        if name == "files":
            out["files"] = [_pick(f, inner or DEFAULT_FILE_FIELDS) for f in body["files"]]
        elif name in body:
            out[name] = body[name]
    if "nextPageToken" in body and not fields:
        out["nextPageToken"] = body["nextPageToken"]
    return out
