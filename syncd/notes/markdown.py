"""Session notes as Markdown files in a folder (an Obsidian vault works as is).

One file per booking, `ROOT/COLLECTION/YYYY-MM-DD Client Name.md`, whose YAML front matter
syncd owns (`title`, `client`, `session_start`, `session_end`, `status`, `syncd_booking`, and
`original_start`/`original_end` once the session has moved); the body below it is the coach's
once written, except for one banner line syncd keeps right after the front matter while the
session is cancelled or no longer at the time the body was written for. The `syncd_booking` key
makes a note findable after a crash, and marks the files syncd may touch: a file without it is
never overwritten.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import yaml

from syncd.config import CoachConfig, MarkdownNotesConfig, Settings
from syncd.errors import BackendError, NoteMissing, Rejected
from syncd.files import atomic_write, remove_stale_temp_files
from syncd.model import NoteHeader, NoteRef, NoteRequest
from syncd.notes.action_items import open_items_in_text
from syncd.rendering import their_span
from syncd.text import one_line
from syncd.timefmt import format_date, format_span
from syncd.zones import zone_or_utc

BANNER = "> **Cancelled** — this session was cancelled."
RESCHEDULED = "> **Rescheduled** — the session is now "  # + its new time, e.g. "Fri 27 Nov 2026, ..."
ORIGINAL_KEYS = ("original_start", "original_end")  # the time the body was written for
MAX_NAME = 80  # characters of the client's name kept in a file name
MAX_NAME_BYTES = 180  # and bytes (file systems count bytes, usually 255 at most)
MAX_SAME_NAME = 1000  # notes of one name and date before giving up

_ILLEGAL = re.compile(r'[/\\:*?"<>|#^\[\]]')
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_BOOKING_LINE = re.compile(r"^syncd_booking:[ \t]*(.*?)[ \t]*$", re.MULTILINE)


def safe_file_name(name: str) -> str:
    """`name` fit for a file name on any system and in an Obsidian link: no path separators,
    control or reserved characters, no leading dots, single spaces, at most MAX_NAME
    characters; "Client" if nothing is left."""
    text = unicodedata.normalize("NFC", name)
    text = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)
    text = " ".join(_ILLEGAL.sub(" ", text).split()).lstrip(". ")
    text = text[:MAX_NAME]
    while len(text.encode("utf-8")) > MAX_NAME_BYTES:
        text = text[:-1]
    return text.rstrip(". ") or "Client"


def _yaml_text(value: str) -> str:
    # A JSON string is a YAML double-quoted scalar: no value can break out of its line.
    return json.dumps(value, ensure_ascii=False)


def _local(moment: datetime, zone_name: str) -> datetime:
    return moment.astimezone(zone_or_utc(zone_name))


def front_matter_values(booking_id: str, header: NoteHeader) -> dict[str, str]:
    """The front matter lines syncd owns, as `key -> YAML value`."""
    return {
        "title": _yaml_text(one_line(header.title)),
        "client": _yaml_text(one_line(header.client_name)),
        "session_start": _local(header.start, header.timezone).isoformat(),
        "session_end": _local(header.end, header.timezone).isoformat(),
        "status": "cancelled" if header.cancelled else "scheduled",
        "syncd_booking": _yaml_text(booking_id),
    }


def split_front_matter(text: str) -> tuple[str, str]:
    """(front matter lines without the `---` fences, body); ("", text) when there is none."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return "", text
    return match.group(1) or "", text[match.end() :]


def booking_of(text: str) -> str | None:
    """The `syncd_booking` of a note's text, or None for a file syncd did not create."""
    front, _ = split_front_matter(text)
    match = _BOOKING_LINE.search(front)
    if not match:
        return None
    try:
        value = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return None
    return None if value is None else str(value)


def merge_front_matter(front: str, values: Mapping[str, str | None]) -> str:
    """`front` with the owned keys set to `values` (removed where the value is None); the
    coach's keys and lines kept in place."""
    out: list[str] = []
    done: set[str] = set()
    skipping = False
    for line in front.splitlines():
        key = line.split(":", 1)[0] if re.match(r"^[A-Za-z_][\w-]*:", line) else None
        if skipping and key is None and (line[:1].isspace() or line.startswith("-")):
            continue  # the rest of an owned key's old (multi-line) value
        skipping = key in values
        if key is not None and key in values:
            value = values[key]
            if key not in done and value is not None:
                out.append(f"{key}: {value}")
            done.add(key)
            continue
        out.append(line)
    out.extend(f"{key}: {value}" for key, value in values.items() if key not in done and value is not None)
    return "\n".join(out) + "\n"


def original_values(front: str, header: NoteHeader) -> dict[str, str | None]:
    """The `original_start`/`original_end` keys for a note whose session is now at `header`'s
    time: the time the body was written for (kept once recorded, else the front matter's
    previous `session_start`/`session_end`) while the session is elsewhere; None (no keys)
    while it is at that time, or when the front matter does not say."""
    original = _front_times(front, ORIGINAL_KEYS, header.timezone) or _front_times(
        front, ("session_start", "session_end"), header.timezone
    )
    if original is None or original == (header.start, header.end):
        return dict.fromkeys(ORIGINAL_KEYS)
    start, end = (_local(moment, header.timezone).isoformat() for moment in original)
    return {"original_start": start, "original_end": end}


def banner_for(header: NoteHeader, moved: bool) -> str | None:
    """The banner line the note should show: cancelled first, else rescheduled when the
    session has `moved` from the time the body was written for, else none."""
    if header.cancelled:
        return BANNER
    if not moved:
        return None
    # The body's "Their time" line was written for the old time: give the client's new one here.
    zone = zone_or_utc(header.timezone)
    theirs = their_span(header.start, header.end, header.client_timezone, zone)
    new_time = format_span(header.start, header.end, zone)
    return f"{RESCHEDULED}{new_time}" + (f"; their time: {theirs}." if theirs else ".")


def with_banner(body: str, banner: str | None) -> str:
    """`body` with `banner` as its first line (and a blank line after it) in place of any
    banner syncd put there before, or with none; the rest untouched."""
    first, _, rest = body.partition("\n")
    if first == BANNER or first.startswith(RESCHEDULED):
        body = rest[1:] if rest.startswith("\n") else rest
    return f"{banner}\n\n{body}" if banner else body


def _front_times(front: str, keys: tuple[str, str], zone_name: str) -> tuple[datetime, datetime] | None:
    """The two times the front matter gives under `keys` (aware), or None if it does not."""
    times = []
    for key in keys:
        match = re.search(rf"^{key}:[ \t]*[\"']?(.*?)[\"']?[ \t]*$", front, re.MULTILINE)
        try:
            moment = datetime.fromisoformat(match.group(1)) if match else None
        except ValueError:
            moment = None
        if moment is None:
            return None
        times.append(moment if moment.tzinfo else moment.replace(tzinfo=zone_or_utc(zone_name)))
    return times[0], times[1]


def open_items(text: str) -> list[str]:
    """The open action items of a note's text, its front matter left out (the rule is
    `syncd.notes.action_items`: every "Action items" section counts, in order)."""
    _, body = split_front_matter(text)
    return open_items_in_text(body)


class MarkdownNotes:
    """A NoteStore of Markdown files under `root/collection`; see the module docstring.

    `url_template` turns a note into the link put in the event, with `{path}`, `{relpath}`,
    `{name}` and `{uri}` filled (URL-quoted); without it the link is the file:// URI.
    """

    def __init__(self, root: Path, collection: str, url_template: str | None = None) -> None:
        self.root = Path(root)
        self.folder = self.root / safe_file_name(collection)
        self.url_template = url_template
        remove_stale_temp_files(self.folder)
        # booking id -> note file, so a new booking does not read every note to look for itself.
        self._index: dict[str, Path] | None = None

    def ensure(self, request: NoteRequest, reuse: NoteRef | None = None) -> NoteRef:
        """The note of `request.booking_id`, created (or adopted from `reuse`) if there is none."""
        try:
            existing = self._find(request.booking_id, request.header)
            if existing is not None:
                return self._ref(existing)
            adopted = self._adopt(reuse, request) if reuse is not None else None
            return self._ref(self._remember(request.booking_id, adopted or self._create(request)))
        except OSError as exc:
            raise BackendError(f"notes: {self.folder}: {exc.strerror or exc}") from exc

    def update_header(self, ref: NoteRef, header: NoteHeader) -> None:
        """Rewrite the owned front matter keys and the cancelled banner; keep everything else."""
        path = self._path(ref)
        text = self._read_owned(path)
        booking = booking_of(text) or ""
        try:
            self._rewrite(path, text, booking, header)
        except OSError as exc:
            raise BackendError(f"notes: {path}: {exc.strerror or exc}") from exc

    def open_action_items(self, ref: NoteRef) -> list[str]:
        """The note's open action items (every `## Action items` section), without the box."""
        return open_items(self._read_owned(self._path(ref)))

    # --- finding -------------------------------------------------------------------------------

    def _candidates(self, header: NoteHeader) -> list[Path]:
        """The deterministic names a note of this client and date may have, the free one last."""
        day = format_date(header.start, zone_or_utc(header.timezone))
        stem = f"{day} {safe_file_name(header.client_name)}"
        paths = []
        for number in range(1, MAX_SAME_NAME + 1):
            path = self.folder / (f"{stem}.md" if number == 1 else f"{stem} ({number}).md")
            paths.append(path)
            if not path.exists():
                return paths
        raise Rejected(f"notes: {self.folder}: too many notes named {stem!r}")

    def _find(self, booking_id: str, header: NoteHeader) -> Path | None:
        """The note of `booking_id`: first among the names it would have, then (the session may
        have moved to another day, or the coach renamed the file) through an index of the
        collection, read once per process and again only when an indexed file has moved."""
        if not self.folder.is_dir():
            return None
        for path in self._candidates(header):
            if _holds(path, booking_id):
                return self._remember(booking_id, path)
        indexed = self._indexed(rescan=False).get(booking_id)
        if indexed is not None and not _holds(indexed, booking_id):
            indexed = self._indexed(rescan=True).get(booking_id)
        return indexed

    def _indexed(self, *, rescan: bool) -> dict[str, Path]:
        """booking id -> note, by the `syncd_booking` front matter of every note in the
        collection, whatever its name, and in its subfolders (a coach who files notes away
        by month or client); hidden folders (an app's trash) are not looked in."""
        if self._index is None or rescan:
            self._index = {}
            for path in sorted(self.folder.rglob("*.md")):
                if any(part.startswith(".") for part in path.relative_to(self.folder).parts[:-1]):
                    continue
                found = booking_of(_head(path)) if path.is_file() else None
                if found is not None:
                    self._index.setdefault(found, path)
        return self._index

    def _remember(self, booking_id: str, path: Path) -> Path:
        if self._index is not None:
            self._index[booking_id] = path
        return path

    # --- writing -------------------------------------------------------------------------------

    def _create(self, request: NoteRequest) -> Path:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        values = front_matter_values(request.booking_id, request.header)
        text = f"---\n{merge_front_matter('', values)}---\n" + with_banner(
            request.body, banner_for(request.header, moved=False)
        )
        while True:
            path = self._candidates(request.header)[-1]
            if atomic_write(path, text.encode("utf-8"), exclusive=True):
                return path

    def _adopt(self, reuse: NoteRef, request: NoteRequest) -> Path | None:
        """Take over the client's earlier note for this booking; None if it is gone or not ours."""
        path = self._path(reuse)
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            return None
        if booking_of(text) is None:
            return None
        self._rewrite(path, text, request.booking_id, request.header)
        return path

    def _rewrite(self, path: Path, text: str, booking_id: str, header: NoteHeader) -> None:
        front, body = split_front_matter(text)
        original = original_values(front, header)
        values: dict[str, str | None] = {**front_matter_values(booking_id, header), **original}
        merged = merge_front_matter(front, values)
        moved = original["original_start"] is not None
        new_text = f"---\n{merged}---\n" + with_banner(body, banner_for(header, moved))
        if new_text != text:
            atomic_write(path, new_text.encode("utf-8"), mode=path.stat().st_mode & 0o777)

    # --- refs ----------------------------------------------------------------------------------

    def _ref(self, path: Path) -> NoteRef:
        return NoteRef(locator=path.relative_to(self.root).as_posix(), url=self.url_for(path))

    def _path(self, ref: NoteRef) -> Path:
        relative = Path(ref.locator)
        if relative.is_absolute() or ".." in relative.parts or relative.suffix != ".md":
            raise Rejected(f"notes: {ref.locator!r} is not a note of {self.root}")
        return self.root / relative

    def _read_owned(self, path: Path) -> str:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NoteMissing(f"notes: {path} is gone (moved or deleted)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise BackendError(f"notes: {path}: cannot read: {exc}") from exc
        if booking_of(text) is None:
            raise Rejected(f"notes: {path} has no syncd_booking key; not touching it")
        return text

    def url_for(self, path: Path) -> str:
        """The link to `path`: the url_template filled in, or the file:// URI."""
        absolute = path.resolve()
        if self.url_template is None:
            return absolute.as_uri()
        values = {
            "{path}": quote(str(absolute), safe="/"),
            "{relpath}": quote(path.relative_to(self.root).as_posix(), safe="/"),
            "{name}": quote(path.stem, safe=""),
            "{uri}": quote(absolute.as_uri(), safe=""),
        }
        url = self.url_template
        for placeholder, value in values.items():
            url = url.replace(placeholder, value)
        return url


def _holds(path: Path, booking_id: str) -> bool:
    return path.is_file() and booking_of(_head(path)) == booking_id


def _head(path: Path, size: int = 65536) -> str:
    """The start of a file, enough for its front matter; "" if it cannot be read."""
    try:
        with path.open("rb") as handle:
            return handle.read(size).decode("utf-8", errors="replace").replace("\r\n", "\n")
    except OSError:
        return ""


def from_config(section: MarkdownNotesConfig, coach: CoachConfig, settings: Settings) -> MarkdownNotes:
    """The store a coach's `notes: {type: markdown}` section describes."""
    return MarkdownNotes(section.path, section.collection, section.url_template)
