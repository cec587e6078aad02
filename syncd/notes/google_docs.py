"""Session notes as Google Docs in a Drive folder (`notes: {type: google_docs}`).

The collection is a Drive folder named `folder`, found by its appProperties (`syncdFolder`,
a hash of the name: renaming or moving it in Drive does not lose it), created once and
remembered while the daemon runs. Each note is a Google Doc carrying `syncdBooking` (a hash of
the booking id) in its appProperties, looked up before anything is created, so a crash
between creating the Doc and recording it never leads to a second one. Its `webViewLink` is
the note's URL and its locator is `drive:FILE_ID`. The Doc is never shared: syncd makes no
permissions call, so only the coach can open it, even from a calendar attachment.

A note is made in one of two ways:
- without `template_doc`: an empty Doc is created in the folder (`files.create`, no media
  upload) and filled in one atomic `documents.batchUpdate` with the note rendered from the
  same Jinja template the markdown backend uses; Markdown headings become Docs headings,
  `- [ ]` items become `☐` lines, emphasis marks are dropped;
- with `template_doc`: that Doc is copied into the folder (`files.copy`) and its
  `{{client_name}}`-style placeholders (the keys of `syncd.rendering.note_fields`) replaced
  with `replaceAllText`; `{{action_items}}` becomes one `☐ item` line per item. syncd keeps
  the narrow `drive.file` permission, which reaches only Docs syncd created: make the template
  from a note syncd created (edit it into a template, put its id in the config). A template
  syncd cannot read is reported in one line and not retried.

The line syncd owns is the Doc's first `Session: <date> · <time, coach's zone> · status:
scheduled|cancelled` paragraph; reschedules and cancellations rewrite that line (replacing its
exact old text, so nothing the coach typed is touched, even if they type at the same moment)
and the Doc's name. Action items are the lines starting with `☐ ` (or `[ ] `, `- [ ] `) in
every section under an "Action items" heading, by the rule all backends share
(`syncd.notes.action_items`); a line the coach checked off (`☑`, `☒`, `[x]`, or deleted) no
longer counts. The Doc's content and the requests that write it are built in
`syncd.notes.docs_requests`, without I/O.

Requests per new note: 3 (look-up, create or copy, batchUpdate; copy mode reads the copy once
more, 4), plus the folder look-up (and its creation, the very first time) once per process.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from googleapiclient.errors import HttpError

from syncd.accounts import google_settings
from syncd.errors import BackendError, NoteMissing, Rejected, SyncdError
from syncd.google.auth import DEFAULT_HTTP_TIMEOUT
from syncd.google.transport import (
    NUM_RETRIES,
    RATE_LIMIT_REASONS,
    SCOPE_REASONS,
    HttpErrorMapper,
    ThreadServices,
    calling,
    error_reason,
    error_text,
    execute,
    http_error,
    lazy_factory,
)
from syncd.model import DRIVE_LOCATOR_PREFIX, GOOGLE_DOC_MIME, NoteHeader, NoteRef, NoteRequest
from syncd.notes.docs_requests import (
    Document,
    body_requests,
    document_from,
    header_line,
    header_requests,
    open_items,
    placeholder_requests,
)
from syncd.text import one_line

if TYPE_CHECKING:
    from syncd.config import CoachConfig, GoogleDocsNotesConfig, Settings

log = logging.getLogger(__name__)

FOLDER_MIME = "application/vnd.google-apps.folder"
PROP_FOLDER = "syncdFolder"
PROP_BOOKING = "syncdBooking"
FILE_FIELDS = "id,name,webViewLink,trashed"


class GoogleDocsNotes:
    """A NoteStore of Google Docs in one Drive folder; see the module docstring.

    `drive_factory` and `docs_factory` build googleapiclient services for Drive v3 and Docs v1
    (each called once per thread); `sleep` replaces the client library's backoff sleep (tests
    pass a no-op).
    """

    def __init__(
        self,
        drive_factory: Callable[[], Any],
        docs_factory: Callable[[], Any],
        folder: str = "Intro Sessions",
        template_doc: str | None = None,
        *,
        num_retries: int = NUM_RETRIES,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.folder = folder
        self.template_doc = template_doc
        self._drive = ThreadServices(drive_factory)
        self._docs = ThreadServices(docs_factory)
        self._num_retries = num_retries
        self._sleep = sleep
        self._folder_lock = threading.Lock()
        self._folder_id: str | None = None

    @property
    def label(self) -> str:
        return f"Google Docs notes ({one_line(self.folder, 80)})"

    # --- NoteStore -----------------------------------------------------------------------------

    def ensure(self, request: NoteRequest, reuse: NoteRef | None = None) -> NoteRef:
        """The note of `request.booking_id`: found by its appProperties, else adopted from
        `reuse`, else created; a note found half-made (a crash between creating and filling
        it) is filled now."""
        found = self._find(request.booking_id)
        if found is not None:
            self._complete(found["id"], request)
            return _ref(found)
        adopted = self._adopt(reuse, request) if reuse is not None and reuse.is_drive_file else None
        if adopted is not None:
            return adopted
        created = self._create(request)
        self._fill(created["id"], request, None if self.template_doc else Document("", ()))
        return _ref(created)

    def update_header(self, ref: NoteRef, header: NoteHeader) -> None:
        """Rewrite syncd's `Session: ...` line and the Doc's name; keep everything else."""
        file_id = _file_id(ref)
        document = self._read(file_id)
        requests = header_requests(document, header_line(header))
        if requests:
            self._batch_update(file_id, requests, "updating the session line")
        title = one_line(header.title)
        if document.title != title:
            self._call(
                "renaming the note", file_id, lambda d: d.files().update(fileId=file_id, body={"name": title})
            )

    def open_action_items(self, ref: NoteRef) -> list[str]:
        """The unchecked items of the Doc's Action items sections, without their box."""
        return open_items(self._read(_file_id(ref)).paragraphs)

    # --- finding -------------------------------------------------------------------------------

    def _find(self, booking_id: str) -> dict[str, Any] | None:
        query = f"{_has_property(PROP_BOOKING, _key(booking_id))} and trashed = false"
        files = self._list(query, "looking up the note")
        return files[0] if files else None

    def _folder(self) -> str:
        """The collection's folder id: remembered, else found, else created."""
        with self._folder_lock:
            if self._folder_id is None:
                self._folder_id = self._find_folder() or self._create_folder()
            return self._folder_id

    def _find_folder(self) -> str | None:
        query = (
            f"{_has_property(PROP_FOLDER, _key(self.folder))} and mimeType = '{FOLDER_MIME}'"
            " and trashed = false"
        )
        files = self._list(query, "looking up the folder")
        return str(files[0]["id"]) if files else None

    def _create_folder(self) -> str:
        body = {
            "name": self.folder,
            "mimeType": FOLDER_MIME,
            "appProperties": {PROP_FOLDER: _key(self.folder)},
        }
        created = self._call("creating the folder", "", lambda d: d.files().create(body=body, fields="id"))
        log.info("%s: created the Drive folder %s", self.label, created["id"])
        return str(created["id"])

    def _list(self, query: str, what: str) -> list[dict[str, Any]]:
        # The oldest match first: if two processes ever raced, both settle on the same file.
        def request(drive: Any) -> Any:
            fields = f"files({FILE_FIELDS})"
            return drive.files().list(
                q=query, spaces="drive", orderBy="createdTime", pageSize=10, fields=fields
            )

        return list(self._call(what, "", request).get("files") or [])

    # --- making notes --------------------------------------------------------------------------

    def _create(self, request: NoteRequest) -> dict[str, Any]:
        body = {
            "name": one_line(request.header.title),
            "parents": [self._folder()],
            "appProperties": {PROP_BOOKING: _key(request.booking_id)},
        }
        if not self.template_doc:
            body["mimeType"] = GOOGLE_DOC_MIME
            return self._call(
                "creating the note", "", lambda d: d.files().create(body=body, fields=FILE_FIELDS)
            )
        template = self.template_doc
        return self._call(
            "copying the template",
            "",
            lambda d: d.files().copy(fileId=template, body=body, fields=FILE_FIELDS),
            partial(template_error, template),
        )

    def _complete(self, file_id: str, request: NoteRequest) -> None:
        """Fill a note found by its booking if its creation was cut short before filling."""
        document = self._read(file_id)
        if self._needs_fill(document, request):
            log.info("%s: note %s was left unfilled; filling it now", self.label, file_id)
            self._fill(file_id, request, document)

    def _needs_fill(self, document: Document, request: NoteRequest) -> bool:
        if not self.template_doc:
            return document.empty
        text = document.text
        return document.header_line is None or any(f"{{{{{key}}}}}" in text for key in request.fields)

    def _fill(self, file_id: str, request: NoteRequest, document: Document | None) -> None:
        """Write the note's content into a new Doc in one atomic batchUpdate; `document` is the
        Doc as read (None: a fresh copy of the template, read here)."""
        line = header_line(request.header)
        if not self.template_doc:
            requests = body_requests(line, request.body)
        else:
            current = document if document is not None else self._read(file_id)
            requests = [*header_requests(current, line), *placeholder_requests(request.fields)]
        if requests:
            self._batch_update(file_id, requests, "filling the note")

    def _adopt(self, reuse: NoteRef, request: NoteRequest) -> NoteRef | None:
        """Take over the client's earlier note for this booking (its key first, so a crash
        right after leaves it findable); None when it is gone or in the trash."""
        file_id = _file_id(reuse)
        body = {"appProperties": {PROP_BOOKING: _key(request.booking_id)}}
        try:
            updated = self._call(
                "adopting the earlier note",
                file_id,
                lambda d: d.files().update(fileId=file_id, body=body, fields=FILE_FIELDS),
            )
        except BackendError as exc:
            if not exc.final:
                raise
            log.info("%s: the earlier note %s is not usable (%s); making a new one", self.label, file_id, exc)
            return None
        if updated.get("trashed"):
            return None
        self.update_header(_ref(updated), request.header)
        return _ref(updated)

    # --- requests ------------------------------------------------------------------------------

    def _read(self, file_id: str) -> Document:
        raw = self._call(
            "reading the note",
            file_id,
            lambda _: self._docs.get().documents().get(documentId=file_id),
            _missing_note_error,
        )
        return document_from(raw)

    def _batch_update(self, file_id: str, requests: list[dict[str, Any]], what: str) -> None:
        body = {"requests": requests}
        self._call(
            what, file_id, lambda _: self._docs.get().documents().batchUpdate(documentId=file_id, body=body)
        )

    def _call(
        self,
        what: str,
        file_id: str,
        build: Callable[[Any], Any],
        map_http: HttpErrorMapper = http_error,
    ) -> dict[str, Any]:
        """Build a request (given the Drive service) and execute it, errors made syncd's."""
        where = f"{self.label}, note {file_id}" if file_id else self.label
        with calling(f"{where}: {what}", self._drive, self._docs, map_http=map_http):
            return dict(execute(build(self._drive.get()), self._num_retries, self._sleep))


def _missing_note_error(exc: HttpError, where: str) -> SyncdError:
    """A note Doc deleted for good (404) is `NoteMissing`: the engine looks for it again."""
    if int(exc.status_code) == 404:
        return NoteMissing(f"{error_text(exc, where)} (the Doc no longer exists)")
    return http_error(exc, where)


def from_config(
    section: GoogleDocsNotesConfig,
    coach: CoachConfig,
    settings: Settings,
    *,
    timeout: float = DEFAULT_HTTP_TIMEOUT,
    num_retries: int = NUM_RETRIES,
    sleep: Callable[[float], None] | None = None,
) -> GoogleDocsNotes:
    """The store a coach's `notes: {type: google_docs}` section describes. Credentials are
    loaded on first use, so a network outage at start-up fails a pass, not the daemon."""

    account = google_settings(settings, coach)  # the coach's own Google account, if it has one
    drive = lazy_factory("drive", "v3", account, timeout=timeout)
    docs = lazy_factory("docs", "v1", account, timeout=timeout)
    log.debug("Google Docs notes in %r for coach %s", section.folder, coach.email)
    return GoogleDocsNotes(
        drive, docs, section.folder, section.template_doc, num_retries=num_retries, sleep=sleep
    )


# --- errors -----------------------------------------------------------------------------------


def template_error(template_id: str, exc: HttpError, where: str) -> SyncdError:
    """A template Doc syncd cannot read (404, 403) is a configuration problem: one line, not
    retried. Rate limits and the like are mapped as usual."""
    status = int(exc.status_code)
    reason, _ = error_reason(exc)
    if status == 404 or (status == 403 and reason not in RATE_LIMIT_REASONS | SCOPE_REASONS):
        return Rejected(
            f"{where}: template_doc {one_line(template_id, 80)} cannot be read (HTTP {status}): "
            "syncd's drive.file permission reaches only Docs syncd created, so make the template "
            "from a note syncd created, or remove template_doc"
        )
    return http_error(exc, where)


# --- refs and keys ----------------------------------------------------------------------------


def _key(value: str) -> str:
    # appProperties keys and values share 124 bytes; booking ids and folder names may be longer.
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:40]


def _has_property(key: str, value: str) -> str:
    return f"appProperties has {{ key='{key}' and value='{value}' }}"


def _ref(file: dict[str, Any]) -> NoteRef:
    file_id = str(file["id"])
    url = str(file.get("webViewLink") or f"https://docs.google.com/document/d/{file_id}/edit")
    return NoteRef(locator=DRIVE_LOCATOR_PREFIX + file_id, url=url)


def _file_id(ref: NoteRef) -> str:
    if not ref.drive_file_id:
        raise Rejected(f"notes: {ref.locator!r} is not a Google Doc")
    return ref.drive_file_id
