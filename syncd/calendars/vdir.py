"""A calendar source over a vdir: a folder of `.ics` files, one event (UID) per file.

This is the layout khal and vdirsyncer keep a calendar in. Changes are found by `stat`: the
cursor remembers each file's `(mtime_ns, size, inode)` and the event ids it held, so a pass
reads only new and changed files, and a vanished file yields a cancelled stub for every id it
held. The inode catches a file replaced by rename (as vdirsyncer, khal and syncd write) whose
mtime and size came out the same.

A stat alone cannot see a same-size rewrite made in the same timestamp tick as the scan (1-2 s
on SMB, FAT and some FUSE file systems). As git does for "racily clean" index entries, a file
whose mtime is less than `SETTLE` before the scan started is remembered as unsettled, with a
hash of its content: the next pass reads it again and reports it only when the content
differs. Once settled, an unchanged file is not read at all.

The cursor is JSON (opaque to callers): `{"v": 2, "dir": "<folder>", "files": {"<name>.ics":
[mtime_ns, size, inode, ["<id>", ...], broken, digest]}}` where `broken` is 1 for a file that
could not be read at that stat (already logged once) and `digest` is the content hash of an
unsettled file ("" once settled).

Annotations are written into the raw text of the event's file (see `ics_annotate`): lines
syncd does not own stay byte for byte as they were, and the file is replaced atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from syncd.calendars.ics_annotate import Placement, annotate_block, mark_carrier, override_block
from syncd.calendars.ics_events import (
    Occurrence,
    find_occurrence,
    instance_start,
    load_calendar,
    occurrences,
    recurrence_id,
    stamp,
    to_event,
    vevents,
)
from syncd.calendars.ics_text import component_spans, line_ending, split_lines
from syncd.config import CoachConfig, Settings, VdirCalendarConfig
from syncd.errors import (
    BackendError,
    BadEvent,
    CursorExpired,
    EventGone,
    PreconditionFailed,
    ReadOnlyEvent,
    Rejected,
)
from syncd.files import atomic_write, remove_stale_temp_files
from syncd.model import Annotation, CalendarEvent, ChangeSet
from syncd.text import error_line

log = logging.getLogger(__name__)

HORIZON = timedelta(days=60)  # the config's `horizon` default
CURSOR_VERSION = 2
# How far a file's mtime may lag the moment it was written (FAT keeps 2 s): a file written less
# than this before a scan may be rewritten after it without its stat changing.
SETTLE = timedelta(seconds=2)
# A single event file this big is not something a calendar client wrote; do not load it.
MAX_FILE_BYTES = 10 * 1024 * 1024
# What a broken file's contents may raise from icalendar or dateutil, beyond BadEvent.
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError)
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Seen:
    """What the cursor remembers of one file."""

    mtime_ns: int
    size: int
    inode: int
    ids: tuple[str, ...] = ()
    broken: bool = False
    digest: str = ""  # the content's hash while the file is unsettled (see the module doc)

    def same_stat(self, other: _Seen) -> bool:
        return (self.mtime_ns, self.size, self.inode) == (other.mtime_ns, other.size, other.inode)

    def as_read(self, ids: tuple[str, ...], *, broken: bool = False, digest: str = "") -> _Seen:
        """This stat with what reading the file found."""
        return replace(self, ids=ids, broken=broken, digest=digest)


@dataclass(frozen=True)
class _Found:
    """An event located in its file, with what is needed to edit that file."""

    name: str
    text: str
    stat: os.stat_result
    calendar: Calendar
    occurrence: Occurrence


class VdirCalendar:
    """A `CalendarSource` over a folder of `.ics` files.

    `coach_addresses` mark attendees as `is_self`; floating times and all-day dates are taken
    in `coach_timezone`; `link_placement` says where `annotate` writes the note link.
    Recurring series are expanded over `[since, now + horizon]`. `clock` gives the wall
    time in nanoseconds: now, and against it a file's mtime says whether it has settled.
    """

    # Calendar apps keep a cancelled meeting's file and show it struck through.
    annotates_cancelled = True

    def __init__(
        self,
        path: Path | str,
        *,
        coach_addresses: Iterable[str] = frozenset(),
        coach_timezone: str = "UTC",
        link_placement: Placement = "description",
        horizon: timedelta = HORIZON,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.path = Path(path)
        self.coach_addresses = frozenset(address.lower() for address in coach_addresses)
        self.zone = ZoneInfo(coach_timezone)
        self.link_placement: Placement = link_placement
        self.horizon = horizon
        self._clock = clock
        self._index: dict[str, str] = {}  # event id -> file name, as of the last changes()
        self._swept = False  # temp files a killed syncd left here are removed on the first pass

    # --- reading ------------------------------------------------------------------------------

    def changes(self, cursor: str | None, since: datetime) -> ChangeSet:
        """Events in files changed since `cursor` (all events ending after `since` when None).

        An incremental pass reports every event of a new or changed file, cancelled ones and
        ones already over included (as Google's sync tokens do), plus a cancelled stub for each
        id a file no longer holds or that vanished with its file. Series are expanded over
        `[since, now + horizon]`. Raises `CursorExpired` for a cursor this folder cannot use,
        `BackendError` when the folder cannot be listed. A file that cannot be read is logged
        once (per stat) and skipped.
        """
        previous = None if cursor is None else self._decode_cursor(cursor)
        window = (since, max(since, _from_nanoseconds(self._clock())) + self.horizon)
        if not self._swept:
            remove_stale_temp_files(self.path)
            self._swept = True
        # Taken before listing: a file written after this may share the mtime the listing saw.
        unsettled_from = self._clock() - _nanoseconds(SETTLE)
        files: dict[str, _Seen] = {}
        events: list[CalendarEvent] = []
        for name, now in self._stat_files().items():
            old = previous.get(name) if previous is not None else None
            if old is not None and old.same_stat(now) and not old.digest:
                files[name] = old  # unchanged and settled: not read again
                continue
            read = self._read_changed(name, now, old, window, unsettled_from)
            if read is None:
                continue
            files[name], found = read
            if found is not None:
                events += self._reportable(found, old, files[name], since, full=previous is None)
        for name, old in (previous or {}).items():
            if name not in files:
                events += [CalendarEvent(id=event_id, status="cancelled") for event_id in old.ids]
        self._index = {event_id: name for name, seen in files.items() for event_id in seen.ids}
        return ChangeSet(events, self._encode_cursor(files))

    def get(self, event_id: str) -> CalendarEvent | None:
        """The event called `event_id` as its file says now; None when it no longer exists."""
        found = self._find(event_id)
        if found is None:
            return None
        return to_event(
            found.occurrence,
            etag=_etag(found.stat.st_mtime_ns, found.stat.st_size),
            coach_addresses=self.coach_addresses,
        )

    def _reportable(
        self, found: list[CalendarEvent], old: _Seen | None, seen: _Seen, since: datetime, *, full: bool
    ) -> list[CalendarEvent]:
        if full:  # a first sync needs only what is still ahead, and nothing cancelled
            return [e for e in found if not e.cancelled and e.end is not None and e.end > since]
        moved = {e.moved_from for e in found}  # the instances of a moved series live on elsewhere
        gone = [
            i for i in (old.ids if old and not seen.broken else ()) if i not in seen.ids and i not in moved
        ]
        # An instance that merely slid out of the window behind `since` was not cancelled.
        gone = [i for i in gone if not _started_before(i, since, self.zone)]
        return found + [CalendarEvent(id=event_id, status="cancelled") for event_id in gone]

    def _read_changed(
        self, name: str, now: _Seen, old: _Seen | None, window: tuple[datetime, datetime], unsettled_from: int
    ) -> tuple[_Seen, list[CalendarEvent] | None] | None:
        """Read a new, changed or unsettled file: what to remember of it and its events (None
        for an unsettled file whose content is as remembered). None when it vanished since the
        folder was listed."""
        ids = old.ids if old else ()  # kept for a broken file: if it is deleted, they are still cancelled
        try:
            data = self._load_bytes(name)
        except BadEvent as exc:
            return self._skipped(name, exc, now.as_read(ids, broken=True))
        if data is None:
            return None
        content = _digest(data[0])  # cheap next to parsing the file, which mostly follows
        digest = content if now.mtime_ns >= unsettled_from else ""
        if old is not None and old.digest and old.same_stat(now) and old.digest == content:
            return old.as_read(old.ids, broken=old.broken, digest=digest), None
        try:
            text = _decoded(data[0])
            found = _guarded(lambda: occurrences(load_calendar(text), window, self.zone))
        except BadEvent as exc:
            return self._skipped(name, exc, now.as_read(ids, broken=True, digest=digest))
        etag = _etag(now.mtime_ns, now.size)
        events = [to_event(o, etag=etag, coach_addresses=self.coach_addresses) for o in found]
        return now.as_read(tuple(e.id for e in events), digest=digest), events

    def _skipped(self, name: str, problem: BadEvent, seen: _Seen) -> tuple[_Seen, list[CalendarEvent]]:
        log.warning("%s", error_line(f"skipping calendar file {self.path / name}: {problem}"))
        return seen, []

    def _load(self, name: str) -> tuple[str, os.stat_result] | None:
        """A file's text and stat; None when it is gone. Raises `BadEvent` when unreadable."""
        data = self._load_bytes(name)
        return None if data is None else (_decoded(data[0]), data[1])

    def _load_bytes(self, name: str) -> tuple[bytes, os.stat_result] | None:
        """A file's bytes and stat; None when it is gone. Raises `BadEvent` when unreadable."""
        try:
            with (self.path / name).open("rb") as handle:
                info = os.fstat(handle.fileno())
                if info.st_size > MAX_FILE_BYTES:
                    raise BadEvent(f"file is {info.st_size} bytes, more than an event file can be")
                return handle.read(), info
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BadEvent(f"cannot read: {exc.strerror or exc}") from None

    def _stat_files(self) -> dict[str, _Seen]:
        """`(mtime_ns, size, inode)` of every event file in the folder (dotfiles and temp files skipped)."""
        try:
            with os.scandir(self.path) as entries:
                seen = {entry.name: _stat_entry(entry) for entry in entries if _is_event_file(entry.name)}
        except OSError as exc:
            raise BackendError(f"cannot list calendar folder {self.path}: {exc.strerror or exc}") from None
        return {name: info for name, info in seen.items() if info is not None}

    # --- finding one event --------------------------------------------------------------------

    def _find(self, event_id: str) -> _Found | None:
        """The event `event_id`: in the file the index names, else wherever a scan finds it."""
        indexed = self._index.get(event_id)
        if indexed is not None:
            found = self._find_in(indexed, event_id, quiet=False)
            if found is not None:
                return found
        for name in self._candidates(event_id):
            if name != indexed:
                found = self._find_in(name, event_id, quiet=True)
                if found is not None:
                    self._index[event_id] = name
                    return found
        return None

    def _candidates(self, event_id: str) -> Iterator[str]:
        # vdirsyncer and khal name a file after its UID, so try that one first.
        uid = _uid_of(event_id)
        names = sorted(self._stat_files())
        guess = f"{uid}.ics"
        yield from ([guess] if guess in names else [])
        yield from (name for name in names if name != guess)

    def _find_in(self, name: str, event_id: str, *, quiet: bool) -> _Found | None:
        """`event_id` in file `name`. A broken file is skipped when `quiet`, else an error."""
        try:
            loaded = self._load(name)
            if loaded is None or _uid_of(event_id) not in _unfolded(loaded[0]):
                return None
            calendar = _guarded(lambda: load_calendar(loaded[0]))
            occurrence = _guarded(lambda: find_occurrence(calendar, event_id, self.zone))
        except BadEvent as exc:
            if quiet:
                return None
            raise BackendError(f"calendar file {self.path / name}: {exc}") from None
        if occurrence is None:
            return None
        return _Found(name, loaded[0], loaded[1], calendar, occurrence)

    # --- writing ------------------------------------------------------------------------------

    def annotate(self, event: CalendarEvent, annotation: Annotation) -> None:
        """Write `annotation` into the event's file, changing no line syncd does not own.

        A recurring instance gets (or reuses) its own RECURRENCE-ID override. Nothing is
        written when the file already says it all. Raises `EventGone` when the
        event's file is gone, `ReadOnlyEvent` when it may not be written, `PreconditionFailed`
        when another program changed it while syncd was writing.
        """
        found = self._find(event.id)
        if found is None:
            raise EventGone(f"event {event.id} not found in calendar folder {self.path}")
        text = self._annotated_text(found, annotation)
        if text != found.text:
            _atomic_write(self.path / found.name, text.encode("utf-8"), found.stat)

    def _annotated_text(self, found: _Found, annotation: Annotation) -> str:
        lines = split_lines(found.text)
        eol = line_ending(found.text)
        spans = component_spans(lines, "VEVENT", 1)
        components = vevents(found.calendar)
        if len(spans) != len(components):
            raise Rejected(f"calendar file {self.path / found.name}: cannot match its VEVENTs")
        occurrence = found.occurrence
        begin, end = spans[_position(components, occurrence.component)]
        block = lines[begin : end + 1]
        if occurrence.recurrence is None or recurrence_id(occurrence.component) is not None:
            block = annotate_block(block, annotation, self.link_placement, eol)
            return "".join([*lines[:begin], *block, *lines[end + 1 :]])
        # An instance still described by its series gets an override of its own, after it; the
        # one syncd wrote where the instance was before its series moved goes in the same write.
        block = override_block(block, occurrence.recurrence, _instance_end(occurrence), eol)
        block = annotate_block(block, annotation, self.link_placement, eol)
        block = mark_carrier(block, lines, spans, stamp(occurrence.component.start, self.zone), eol)
        after = end + 1
        if occurrence.replaces is None:
            return "".join([*lines[:after], *block, *lines[after:]])
        first, last = spans[_position(components, occurrence.replaces)]
        if first > end:
            return "".join([*lines[:after], *block, *lines[after:first], *lines[last + 1 :]])
        return "".join([*lines[:first], *lines[last + 1 : after], *block, *lines[after:]])

    # --- cursor -------------------------------------------------------------------------------

    def _encode_cursor(self, files: dict[str, _Seen]) -> str:
        entries = {
            n: [s.mtime_ns, s.size, s.inode, list(s.ids), int(s.broken), s.digest]
            for n, s in sorted(files.items())
        }
        return json.dumps(
            {"v": CURSOR_VERSION, "dir": str(self.path), "files": entries}, separators=(",", ":")
        )

    def _decode_cursor(self, cursor: str) -> dict[str, _Seen]:
        """The files a cursor remembers. Raises `CursorExpired` for anything else."""
        try:
            data: Any = json.loads(cursor)
            if data["v"] != CURSOR_VERSION or data["dir"] != str(self.path):
                raise ValueError("made by another version or for another folder")
            return {str(name): _seen_from_json(entry) for name, entry in data["files"].items()}
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise CursorExpired(f"vdir cursor for {self.path} cannot be used ({exc})") from None


def from_config(section: VdirCalendarConfig, coach: CoachConfig, settings: Settings) -> VdirCalendar:
    """The vdir calendar a coach's config section describes (the registry's factory)."""
    return VdirCalendar(
        section.path,
        coach_addresses=coach.addresses,
        coach_timezone=coach.timezone,
        link_placement=section.link_placement,
        horizon=settings.horizon,
    )


# --- helpers ----------------------------------------------------------------------------------


def _guarded(step: Callable[[], _T]) -> _T:
    """Run a parsing step; what a broken file makes icalendar or dateutil raise is `BadEvent`."""
    try:
        return step()
    except _PARSE_ERRORS as exc:
        raise BadEvent(error_line(exc)) from None


def _seen_from_json(entry: Any) -> _Seen:
    mtime_ns, size, inode, ids, broken, digest = entry
    if not isinstance(ids, list) or not isinstance(digest, str):
        raise TypeError("file entry without a list of ids or a digest")
    return _Seen(int(mtime_ns), int(size), int(inode), tuple(str(i) for i in ids), bool(broken), digest)


def _stat_entry(entry: os.DirEntry[str]) -> _Seen | None:
    """A folder entry's stat; None for a sub-folder or a file deleted while listing."""
    try:
        info = entry.stat()
    except FileNotFoundError:
        return None
    return _Seen(info.st_mtime_ns, info.st_size, info.st_ino) if stat.S_ISREG(info.st_mode) else None


def _is_event_file(name: str) -> bool:
    # Dotfiles are editors' and vdirsyncer's temp files (and ours); `~`/`#` are backups.
    return name.lower().endswith(".ics") and not name.startswith((".", "~", "#"))


def _decoded(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadEvent("not UTF-8 text") from None


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _nanoseconds(span: timedelta) -> int:
    return round(span.total_seconds() * 1e9)


def _from_nanoseconds(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp / 1e9, UTC)


def _etag(mtime_ns: int, size: int) -> str:
    return f"{mtime_ns}-{size}"


def _uid_of(event_id: str) -> str:
    start = instance_start(event_id, ZoneInfo("UTC"))
    return event_id.rsplit("/", 1)[0] if start is not None else event_id


def _unfolded(text: str) -> str:
    # A long UID may be folded across lines; a cheap substring test must see it whole.
    return text.replace("\r\n ", "").replace("\r\n\t", "").replace("\n ", "").replace("\n\t", "")


def _started_before(event_id: str, since: datetime, zone: ZoneInfo) -> bool:
    start = instance_start(event_id, zone)
    return start is not None and start < since


def _position(components: list[Event], component: Event) -> int:
    # By identity: two VEVENTs of a file may be equal, and only the one found is to be edited.
    return next(number for number, candidate in enumerate(components) if candidate is component)


def _instance_end(occurrence: Occurrence) -> date | datetime:
    """An instance's end in the type and zone of its series' DTEND, for a new override."""
    original = occurrence.recurrence
    assert original is not None  # only instances of a series get here
    series_end = occurrence.component.end
    end = original + occurrence.component.duration
    if isinstance(end, datetime) and end.tzinfo and isinstance(series_end, datetime) and series_end.tzinfo:
        return end.astimezone(series_end.tzinfo)
    return end


def _atomic_write(path: Path, data: bytes, before: os.stat_result) -> None:
    """Replace `path` by `data` atomically, keeping its mode (see `syncd.files.atomic_write`).

    Raises `ReadOnlyEvent` when the file or its folder may not be written and
    `PreconditionFailed` when the file changed since `before` was taken.
    """
    if not before.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise ReadOnlyEvent(f"calendar file {path} is read-only")
    try:
        atomic_write(
            path, data, stat.S_IMODE(before.st_mode), before_replace=lambda: _check_unchanged(path, before)
        )
    except PermissionError as exc:
        raise ReadOnlyEvent(f"calendar file {path} may not be replaced: {exc.strerror}") from None
    except OSError as exc:
        raise BackendError(f"cannot write {path}: {exc.strerror or exc}") from None


def _check_unchanged(path: Path, before: os.stat_result) -> None:
    try:
        now = path.stat()
    except FileNotFoundError:
        raise BackendError(f"calendar file {path} vanished while syncd was writing it") from None
    if (now.st_mtime_ns, now.st_size, now.st_ino) != (before.st_mtime_ns, before.st_size, before.st_ino):
        raise PreconditionFailed(f"calendar file {path} changed while syncd was writing it")
