"""A fake of Docs API v1: documents.get and documents.batchUpdate over plain-text documents.

A document is its body text (paragraphs, each ending in a newline; the last newline can never
be deleted) plus each paragraph's named style (NORMAL_TEXT, HEADING_1...). Indices are those
of the real API: UTF-16 code units, the body starting at 1 after a section break; an index
inside a surrogate pair, out of range, or a range ending past the last newline gets 400.

batchUpdate supports insertText, deleteContentRange, replaceAllText and updateParagraphStyle;
it is atomic (one bad request applies nothing) and honours `writeControl.requiredRevisionId`.
The document's title is its Drive file's name: Drive (drive_v3) owns the files, this module
their content, and only Docs the app may see are served.

Not modelled: text styles, lists, tables, tabs, suggestions, documents.create.
"""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .server import ApiError, FakeRequest, FakeResponse

if TYPE_CHECKING:
    from .drive_v3 import FakeDrive
    from .server import FakeGoogle

NAMED_STYLES = {"NORMAL_TEXT", "TITLE", "SUBTITLE", *(f"HEADING_{n}" for n in range(1, 7))}


@dataclass
class _Doc:
    text: str = "\n"
    styles: list[str] = field(default_factory=lambda: ["NORMAL_TEXT"])
    revision: int = 1

    def offset(self, index: int, *, end: bool = False) -> int:
        """The Python offset of UTF-16 body index `index`; 400 when it is not a valid position."""
        position = 1
        for offset, char in enumerate(self.text):
            if position == index:
                return offset
            position += 2 if ord(char) > 0xFFFF else 1
            if position > index:
                raise ApiError(400, f"Invalid index {index}: inside a surrogate pair.", "badRequest")
        if end and position == index:
            return len(self.text)
        raise ApiError(400, f"Index {index} must be less than the end index of the body.", "badRequest")

    def insert(self, offset: int, text: str) -> None:
        if not text:
            raise ApiError(400, "Invalid requests[0].insertText: text must not be empty.", "badRequest")
        if offset >= len(self.text):
            raise ApiError(400, "The insertion index must be inside the bounds of a paragraph.", "badRequest")
        paragraph = self.text[:offset].count("\n")
        added = text.count("\n")
        self.styles[paragraph:paragraph] = [self.styles[paragraph]] * added
        self.text = self.text[:offset] + text + self.text[offset:]

    def delete(self, start: int, end: int) -> None:
        if not 0 <= start < end or end > len(self.text) - 1:
            raise ApiError(400, "Invalid deletion range: cannot delete the last newline.", "badRequest")
        paragraph = self.text[:start].count("\n")
        removed = self.text[start:end].count("\n")
        # A paragraph's style sits on its newline: the merged paragraph keeps the last one's.
        del self.styles[paragraph : paragraph + removed]
        self.text = self.text[:start] + self.text[end:]

    def replace_all(self, find: str, replacement: str, match_case: bool) -> int:
        if not find:
            raise ApiError(400, "Invalid replaceAllText: containsText.text must not be empty.", "badRequest")
        flags = 0 if match_case else re.IGNORECASE
        spans = [m.span() for m in re.finditer(re.escape(find), self.text, flags)]
        for start, end in reversed(spans):
            self.delete(start, end)
            if replacement:
                self.insert(start, replacement)
        return len(spans)

    def set_style(self, start: int, end: int, style: str) -> None:
        first = self.text[:start].count("\n")
        last = self.text[: max(start, end - 1)].count("\n")
        for paragraph in range(first, last + 1):
            self.styles[paragraph] = style

    def paragraphs(self) -> list[str]:
        return self.text[:-1].split("\n")


class FakeDocs:
    """Document content for the Docs that `drive` holds, served as Docs API v1."""

    def __init__(self, fake: FakeGoogle, drive: FakeDrive) -> None:
        self._fake = fake
        self._drive = drive
        self._revisions = itertools.count(2)
        self.documents: dict[str, _Doc] = {}
        drive.on_new_document = self._new_document
        fake.register_api(
            "docs",
            "v1",
            {"docs.documents.get": self._get, "docs.documents.batchUpdate": self._batch_update},
        )

    # --- test-side API -----------------------------------------------------------------------

    def text(self, document_id: str) -> str:
        """The document's body as plain text, paragraphs separated by newlines."""
        with self._fake.lock:
            return self.documents[document_id].text

    def set_text(self, document_id: str, text: str, styles: dict[str, str] | None = None) -> None:
        """Replace the body (a seeded template); `styles` maps paragraph texts to named styles."""
        with self._fake.lock:
            doc = self.documents[document_id]
            doc.text = text if text.endswith("\n") else text + "\n"
            doc.styles = [(styles or {}).get(p, "NORMAL_TEXT") for p in doc.paragraphs()]
            doc.revision = next(self._revisions)

    def edit(self, document_id: str, old: str, new: str) -> None:
        """Replace the first `old` with `new`, as the coach typing in the document would."""
        with self._fake.lock:
            doc = self.documents[document_id]
            start = doc.text.index(old)
            doc.delete(start, start + len(old))
            if new:
                doc.insert(start, new)
            doc.revision = next(self._revisions)

    def style_of(self, document_id: str, paragraph: str) -> str:
        """The named style of the first paragraph whose text is `paragraph`."""
        with self._fake.lock:
            doc = self.documents[document_id]
            return doc.styles[doc.paragraphs().index(paragraph)]

    # --- handlers ----------------------------------------------------------------------------

    def _new_document(self, document_id: str, source: str | None) -> None:
        original = self.documents.get(source) if source else None
        self.documents[document_id] = copy.deepcopy(original) if original else _Doc()

    def _document(self, request: FakeRequest) -> tuple[str, _Doc]:
        document_id = request.params["documentId"]
        self._drive.visible_document(document_id)
        return document_id, self.documents[document_id]

    def _get(self, request: FakeRequest) -> FakeResponse:
        document_id, doc = self._document(request)
        title = self._drive.files[document_id]["name"]
        return FakeResponse(200, _resource(document_id, title, doc))

    def _batch_update(self, request: FakeRequest) -> FakeResponse:
        document_id, doc = self._document(request)
        body = request.json() or {}
        required = (body.get("writeControl") or {}).get("requiredRevisionId")
        if required is not None and required != str(doc.revision):
            raise ApiError(400, "The required revision ID does not match the latest revision.", "badRequest")
        work = copy.deepcopy(doc)
        replies = [_apply(work, item) for item in body.get("requests") or []]
        work.revision = next(self._revisions)
        self.documents[document_id] = work  # only now: a failed request above changed nothing
        reply: dict[str, Any] = {"documentId": document_id, "replies": replies}
        reply["writeControl"] = {"requiredRevisionId": str(work.revision)}
        return FakeResponse(200, reply)


def _apply(doc: _Doc, item: dict[str, Any]) -> dict[str, Any]:
    """Carry out one request of a batch on `doc`; its reply."""
    if not isinstance(item, dict) or len(item) != 1:
        raise ApiError(400, "Each request must set exactly one kind of request.", "badRequest")
    kind, spec = next(iter(item.items()))
    if kind == "insertText":
        location = spec.get("location")
        if location is not None:
            offset = doc.offset(int(location.get("index", 0)))
        elif "endOfSegmentLocation" in spec:
            offset = len(doc.text) - 1
        else:
            raise ApiError(400, "insertText needs a location.", "badRequest")
        doc.insert(offset, str(spec.get("text", "")))
        return {}
    if kind == "deleteContentRange":
        start, end = _range(doc, spec.get("range") or {})
        doc.delete(start, end)
        return {}
    if kind == "replaceAllText":
        contains = spec.get("containsText") or {}
        count = doc.replace_all(
            str(contains.get("text", "")), str(spec.get("replaceText", "")), bool(contains.get("matchCase"))
        )
        return {"replaceAllText": {"occurrencesChanged": count} if count else {}}
    if kind == "updateParagraphStyle":
        style = (spec.get("paragraphStyle") or {}).get("namedStyleType")
        if "namedStyleType" not in str(spec.get("fields", "")) or style not in NAMED_STYLES:
            raise ApiError(400, "updateParagraphStyle needs fields and a known namedStyleType.", "badRequest")
        start, end = _range(doc, spec.get("range") or {})
        doc.set_style(start, end, style)
        return {}
    raise ApiError(501, f"The fake does not implement {kind}.", "notImplemented")


def _range(doc: _Doc, spec: dict[str, Any]) -> tuple[int, int]:
    start, end = int(spec.get("startIndex", 0)), int(spec.get("endIndex", 0))
    if start >= end:
        raise ApiError(400, "The range must not be empty.", "badRequest")
    return doc.offset(start), doc.offset(end, end=True)


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _resource(document_id: str, title: str, doc: _Doc) -> dict[str, Any]:
    """The document as `documents.get` answers it (the parts syncd reads)."""
    content: list[dict[str, Any]] = [{"endIndex": 1, "sectionBreak": {"sectionStyle": {}}}]
    index = 1
    for text, style in zip(doc.paragraphs(), doc.styles, strict=True):
        run = text + "\n"
        end = index + _utf16(run)
        element = {"startIndex": index, "endIndex": end, "textRun": {"content": run, "textStyle": {}}}
        paragraph = {"elements": [element], "paragraphStyle": {"namedStyleType": style}}
        content.append({"startIndex": index, "endIndex": end, "paragraph": paragraph})
        index = end
    return {
        "documentId": document_id,
        "title": title,
        "revisionId": str(doc.revision),
        "body": {"content": content},
    }
