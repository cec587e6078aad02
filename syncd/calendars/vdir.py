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

A series is expanded only over `[since, now + horizon]`, and at most 50 instances of it (see
`ics_events`), so an unchanged file holding one has instances the last read did not reach.
Such a file is read again once `now + horizon` has moved more than `REREAD_AFTER` past the end
it was expanded to (an idle folder's series files are read about once a day, not every pass;
one whose series all ended is not), or once `since` has passed the end of the earliest
instance a cap let in (the cap then takes a later one). Read again unchanged, it reports only the instances it had not reported, and no
cancelled stub: an instance missing now merely slid out of the window.

The cursor is JSON (opaque to callers): `{"v": 3, "dir": "<folder>", "files": {"<name>.ics":
[mtime_ns, size, inode, ["<id>", ...], broken, digest, reach, frees_at]}}` where `broken` is 1
for a file that could not be read at that stat (already logged once), `digest` is the content
hash of an unsettled file ("" once settled), `reach` the end of the window (Unix seconds) its
series were expanded to (null when it holds none that goes on after it; 0 when not known: a version 2 cursor, whose
entries lack the last two, and whose series files are read again once) and `frees_at` when a
cap let the next instance in (Unix seconds; 0 when no cap cut a series short).

Annotations are written into the raw text of the event's file (see `ics_annotate`): lines
syncd does not own stay byte for byte as they were, and the file is replaced atomically.

With `link_placement: companion`, a booking's prep event is a file of its own, named after
its UID (see `ics_companion`), written whole; a file holding a companion UID is never read as
events, so syncd's own prep event is never taken for a booking.

Which entries of the folder are read and written at all (links, fifos, loops) is the business
of `vdir_folder`.

An event is its file and its UID together. Its id is the UID (`UID/<start>` for an instance of
a series), unless another file of the folder holds that id too (a copy, a sync conflict, a
hostile file): then the file that held it first keeps it and the others' events are
`<id> (in <file name>)`. An id, once given, sticks to its file while the file holds the event,
so a copy appearing later never takes a booking's id; `get` and `annotate` look for a
qualified id in its own file only, and write nothing else.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import math
import os
import re
import stat
import time
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from icalendar import Calendar

from syncd.calendars.ics_annotate import Placement
from syncd.calendars.ics_companion import companion_text, companion_uid, is_companion, shows
from syncd.calendars.ics_events import (
    PARSE_ERRORS,
    Occurrence,
    cancelled_stub,
    expand,
    find_occurrence,
    load_calendar,
    started_before,
    to_event,
    uid_of,
    without_controls,
)
from syncd.calendars.ics_text import unescape_text
from syncd.calendars.ics_write import annotated_text
from syncd.calendars.limits import HORIZON, REREAD_AFTER
from syncd.calendars.vdir_folder import list_event_files, read_event_file
from syncd.config import CoachConfig, Settings, VdirCalendarConfig
from syncd.errors import (
    BackendError,
    BadEvent,
    CursorExpired,
    EventGone,
    FolderReadOnly,
    PreconditionFailed,
    Unavailable,
)
from syncd.files import atomic_write, remove_stale_temp_files
from syncd.model import Annotation, CalendarEvent, ChangeSet, Companion
from syncd.text import error_line, one_line

log = logging.getLogger(__name__)

CURSOR_VERSION = 3
_OLD_CURSOR_VERSION = (
    2  # How far a file's mtime may lag the moment it was written (FAT keeps 2 s): a file written less
)
# than this before a scan may be rewritten after it without its stat changing.
SETTLE = timedelta(seconds=2)
_T = TypeVar("_T")
# How the id of an event whose UID another file holds too names its file (see the module doc).
_QUALIFIED = re.compile(r"^(?P<id>.+) \(in (?P<name>[^/]+)\)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Seen:
    """What the cursor remembers of one file."""

    mtime_ns: int
    size: int
    inode: int
    ids: tuple[str, ...] = ()
    broken: bool = False
    digest: str = ""  # the content's hash while the file is unsettled (see the module doc)
    reach: int | None = None  # how far its series were expanded (see the module doc)
    frees_at: int = 0  # when a cap lets a later instance in; 0 when no cap cut a series short

    def due(self, window: tuple[datetime, datetime]) -> bool:
        """Whether a file unchanged since it was read must be read again for its series."""
        if 0 < self.frees_at <= _seconds(window[0]):
            return True
        if self.reach is None:
            return False
        return not self.reach or _seconds(window[1]) - self.reach > REREAD_AFTER.total_seconds()

    def same_stat(self, other: _Seen) -> bool:
        return (self.mtime_ns, self.size, self.inode) == (other.mtime_ns, other.size, other.inode)

    def as_read(
        self,
        ids: tuple[str, ...],
        *,
        broken: bool = False,
        digest: str = "",
        reach: int | None = None,
        frees_at: int = 0,
    ) -> _Seen:
        """This stat with what reading the file found."""
        return replace(self, ids=ids, broken=broken, digest=digest, reach=reach, frees_at=frees_at)


@dataclass(frozen=True)
class _Quiet:
    """A cursor in brief: enough to tell that a folder is still exactly as it says, so that
    an idle pass reports nothing and hands back the same cursor without decoding it."""

    cursor: str  # the cursor's digest
    stats: bytes  # the digest of every file's name and stat (`_stat_digest`)
    watched: tuple[_Seen, ...]  # files read again as the window moves (series, caps)
    unsettled: bool  # some file must be read again to check its content

    @classmethod
    def of(cls, cursor: str, files: dict[str, _Seen]) -> _Quiet:
        stats = {name: (seen.mtime_ns, seen.size, seen.inode) for name, seen in files.items()}
        watched = tuple(seen for seen in files.values() if seen.reach is not None or seen.frees_at)
        unsettled = any(seen.digest for seen in files.values())
        return cls(_digest(cursor.encode()), _stat_digest(stats), watched, unsettled)

    def holds(
        self, cursor: str, listing: dict[str, os.stat_result], window: tuple[datetime, datetime]
    ) -> bool:
        """Whether `cursor` is this one and the folder, as `listing` found it, is still as it
        says, with no file due to be read again at `window`."""
        if self.unsettled or any(seen.due(window) for seen in self.watched):
            return False
        stats = {name: (i.st_mtime_ns, i.st_size, i.st_ino) for name, i in listing.items()}
        return _stat_digest(stats) == self.stats and _digest(cursor.encode()) == self.cursor


@dataclass(frozen=True)
class _Found:
    """An event located in its file, with what is needed to edit that file."""

    name: str
    text: str
    stat: os.stat_result
    real: Path  # the file written: where the entry `name` leads when it is a link
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
        self._told_skipped: dict[str, str] = {}  # entry -> why it was skipped, as last logged
        self._told_duplicates: set[tuple[str, frozenset[str]]] = set()  # (UID, files) logged
        self._read_only = False  # a write found the folder's mount read-only in this pass
        self._companion_files: dict[str, str] = {}  # companion UID -> file name, as last read
        # What the cursor the last `changes` returned says, in brief: the daemon hands it back
        # next pass, and decoding and re-encoding it cost more than the stat scan of an idle
        # folder (and keeping it decoded, 70 KiB a coach).
        self._quiet: _Quiet | None = None

    # --- reading ------------------------------------------------------------------------------

    def changes(self, cursor: str | None, since: datetime) -> ChangeSet:
        """Events in files changed since `cursor` (all events ending after `since` when None).

        An incremental pass reports every event of a new or changed file, cancelled ones and
        ones already over included (as Google's sync tokens do), plus a cancelled stub for each
        id a file no longer holds or that vanished with its file. Series are expanded over
        `[since, now + horizon]`; an unchanged file holding one is read again as the window
        moves on, and then reports only the instances it had not reported (see the module doc).
        Raises `CursorExpired` for a cursor this folder cannot use,
        `BackendError` when the folder cannot be listed. A file that cannot be read is logged
        once (per stat) and skipped; so is an entry that is no event file (a link out of the
        folder, a loop, a fifo), and a UID several files hold (once per set of files).
        """
        window = (since, max(since, _from_nanoseconds(self._clock())) + self.horizon)
        self._read_only = False  # a new pass tries the folder again
        # Taken before listing: a file written after this may share the mtime the listing saw.
        unsettled_from = self._clock() - _nanoseconds(SETTLE)
        listing = self._listing(tell=True)
        if cursor is not None and self._quiet is not None and self._quiet.holds(cursor, listing, window):
            # Nothing changed since this process made the cursor: the same one (so the state
            # writes nothing), nothing decoded or re-encoded, the index as it was.
            return ChangeSet([], cursor)
        previous = None if cursor is None else self._decode_cursor(cursor)
        files: dict[str, _Seen] = {}
        read: dict[str, list[CalendarEvent]] = {}
        extended: set[str] = set()  # unchanged files read again for their series' later instances
        for name, info in listing.items():
            now = _Seen(info.st_mtime_ns, info.st_size, info.st_ino)
            old = previous.get(name) if previous is not None else None
            if old is not None and old.same_stat(now) and not old.digest:
                if not old.due(window):
                    files[name] = old  # unchanged and settled: not read again
                    continue
                extended.add(name)
            result = self._read_changed(name, now, old, window, unsettled_from)
            if result is None:
                continue
            files[name], found = result
            if found is not None and not files[name].broken:  # a broken file keeps the ids it had
                read[name] = found
        read = _identified(read, files, previous or {})
        held = {event_id for seen in files.values() for event_id in seen.ids}
        events: list[CalendarEvent] = []
        for name, found in read.items():
            old = previous.get(name) if previous is not None else None
            if name in extended and old is not None:  # only what it had not reported
                events += [event for event in found if event.id not in old.ids]
                continue
            events += self._reportable(name, found, old, files[name], held, since, full=previous is None)
        for name, old in (previous or {}).items():
            if name not in files:  # its events are gone, unless another file holds them now
                events += [cancelled_stub(event_id) for event_id in old.ids if event_id not in held]
        self._tell_duplicates(files)
        self._index = {event_id: name for name, seen in files.items() for event_id in seen.ids}
        encoded = self._encode_cursor(files)
        self._quiet = _Quiet.of(encoded, files)
        return ChangeSet(events, encoded)

    def get(self, event_id: str) -> CalendarEvent | None:
        """The event called `event_id` as its file says now; None when it no longer exists."""
        found = self._find(event_id)
        if found is None:
            return None
        event = to_event(
            found.occurrence,
            etag=_etag(found.stat.st_mtime_ns, found.stat.st_size),
            coach_addresses=self.coach_addresses,
        )
        # Under the id asked for: the file's own id may be another file's event (see the module doc).
        moved_from = _held_id(event.moved_from, found.name, self._index)
        own = _ics_id(event_id, found.name)
        return replace(event, id=event_id, moved_from=moved_from, copy_of=own if own != event_id else "")

    def _reportable(
        self,
        name: str,
        found: list[CalendarEvent],
        old: _Seen | None,
        seen: _Seen,
        held: set[str],
        since: datetime,
        *,
        full: bool,
    ) -> list[CalendarEvent]:
        if full:  # a first sync needs only what is still ahead, and nothing cancelled
            return [e for e in found if not e.cancelled and e.end is not None and e.end > since]
        moved = {e.moved_from for e in found}  # the instances of a moved series live on elsewhere
        gone = [i for i in (old.ids if old and not seen.broken else ()) if i not in held and i not in moved]
        # An instance that merely slid out of the window behind `since` was not cancelled.
        gone = [i for i in gone if not started_before(_ics_id(i, name), since, self.zone)]
        return found + [cancelled_stub(event_id) for event_id in gone]

    def _read_changed(
        self, name: str, now: _Seen, old: _Seen | None, window: tuple[datetime, datetime], unsettled_from: int
    ) -> tuple[_Seen, list[CalendarEvent] | None] | None:
        """Read a new, changed or unsettled file: what to remember of it and its events (None
        for an unsettled file whose content is as remembered). None when it vanished since the
        folder was listed."""
        ids = old.ids if old else ()  # kept for a broken file: if it is deleted, they are still cancelled
        # An unchanged series file that fails now (its expansion timed out) is tried again when
        # the horizon has moved on; a new or changed one that fails waits until it changes.
        retried = old is not None and old.same_stat(now) and (old.reach is not None or old.frees_at > 0)
        reach = _seconds(window[1]) if retried else None
        try:
            data = self._load_bytes(name)
        except BadEvent as exc:
            return self._skipped(name, exc, now.as_read(ids, broken=True, reach=reach))
        if data is None:
            return None
        content = _digest(data[0])  # cheap next to parsing the file, which mostly follows
        digest = content if now.mtime_ns >= unsettled_from else ""
        if old is not None and old.digest and old.same_stat(now) and old.digest == content:
            return replace(old, digest=digest), None
        try:
            text = _decoded(data[0])
            found = _guarded(lambda: expand(load_calendar(text), window, self.zone))
        except BadEvent as exc:
            return self._skipped(name, exc, now.as_read(ids, broken=True, digest=digest, reach=reach))
        etag = _etag(now.mtime_ns, now.size)
        events = [to_event(o, etag=etag, coach_addresses=self.coach_addresses) for o in found.occurrences]
        companions = [e.id for e in events if is_companion(e.id)]  # syncd's own: never a booking
        if companions and len(companions) == len(events):  # a file put_companion may replace whole
            self._companion_files.update(dict.fromkeys(companions, name))
        events = [e for e in events if not is_companion(e.id)]
        frees_at = _seconds(found.cap_frees_at) if found.cap_frees_at is not None else 0
        reached = _seconds(window[1]) if found.continues else None
        return now.as_read(
            tuple(e.id for e in events), digest=digest, reach=reached, frees_at=frees_at
        ), events

    def _skipped(self, name: str, problem: BadEvent, seen: _Seen) -> tuple[_Seen, list[CalendarEvent]]:
        log.warning("%s", error_line(f"skipping calendar file {self.path / name}: {problem}"))
        return seen, []

    def _load(self, name: str) -> tuple[str, os.stat_result, Path] | None:
        """A file's text, stat and real path; None when it is gone. Raises `BadEvent` when unreadable."""
        data = self._load_bytes(name)
        return None if data is None else (_decoded(data[0]), data[1], data[2])

    def _load_bytes(self, name: str) -> tuple[bytes, os.stat_result, Path] | None:
        """A file's bytes, stat and real path; None when it is gone. Raises `BadEvent` when
        unreadable or not an event file (see `vdir_folder`)."""
        return read_event_file(self.path, name)

    def _listing(self, *, tell: bool = False) -> dict[str, os.stat_result]:
        """The stat of every event file in the folder (see `vdir_folder`). With `tell` (once a
        pass), each entry skipped is logged once (again when the reason changes) and syncd's
        temp files left by a killed process are removed: every pass, not only the first, as a
        write interrupted an hour ago is as stale."""
        try:
            listing = list_event_files(self.path)
        except OSError as exc:
            raise BackendError(f"cannot list calendar folder {self.path}: {exc.strerror or exc}") from None
        if tell:
            for name, why in sorted(listing.skipped.items()):
                if self._told_skipped.get(name) != why:
                    log.warning("%s", error_line(f"skipping calendar entry {self.path / name}: {why}"))
            self._told_skipped = dict(listing.skipped)
            if listing.temp_files:
                remove_stale_temp_files(self.path, names=listing.temp_files)
        return listing.files

    def _tell_duplicates(self, files: dict[str, _Seen]) -> None:
        """Log each UID several files hold, once per set of files."""
        holders: dict[str, set[str]] = {}
        for name, seen in files.items():
            for event_id in seen.ids:
                holders.setdefault(uid_of(_ics_id(event_id, name)), set()).add(name)
        for uid, names in sorted(holders.items()):
            key = (uid, frozenset(names))
            if len(names) > 1 and key not in self._told_duplicates:
                self._told_duplicates.add(key)
                listed = ", ".join(repr(one_line(name, 80)) for name in sorted(names))
                log.warning(
                    "%s",
                    error_line(
                        f"calendar folder {self.path}: UID {one_line(uid, 80)!r} is in several files "
                        f"({listed}); each is a separate event, written only in its own file"
                    ),
                )

    # --- finding one event --------------------------------------------------------------------

    def _find(self, event_id: str) -> _Found | None:
        """The event `event_id`: in the file the index names, else wherever a scan finds it.

        An id qualified by its file (see the module doc) is looked for in that file only; a
        plain one is never looked for in a file known to hold its UID for another event.
        """
        indexed = self._index.get(event_id)
        qualified = _QUALIFIED.match(event_id)
        if indexed is None and qualified is not None and qualified["name"] in self._listing():
            indexed = qualified["name"]
        if indexed is not None:
            ics_id = _ics_id(event_id, indexed)
            found = self._find_in(indexed, ics_id, quiet=False)
            if found is not None or ics_id != event_id:
                return found
        for name in self._candidates(event_id):
            if name != indexed and _qualify(event_id, name) not in self._index:
                found = self._find_in(name, event_id, quiet=True)
                if found is not None:
                    self._index[event_id] = name
                    return found
        return None

    def _candidates(self, event_id: str) -> Iterator[str]:
        # vdirsyncer and khal name a file after its UID, so try that one first.
        uid = uid_of(event_id)
        names = sorted(self._listing())
        guess = f"{uid}.ics"
        yield from ([guess] if guess in names else [])
        yield from (name for name in names if name != guess)

    def _find_in(self, name: str, event_id: str, *, quiet: bool) -> _Found | None:
        """`event_id` (as the file writes it, unqualified) in file `name`. A broken file is
        skipped when `quiet`, else an error."""
        try:
            loaded = self._load(name)
            if loaded is None or not _may_hold(loaded[0], uid_of(event_id)):
                return None
            calendar = _guarded(lambda: load_calendar(loaded[0]))
            occurrence = _guarded(lambda: find_occurrence(calendar, event_id, self.zone))
        except BadEvent as exc:
            if quiet:
                return None
            raise BackendError(f"calendar file {self.path / name}: {exc}") from None
        if occurrence is None:
            return None
        return _Found(name, loaded[0], loaded[1], loaded[2], calendar, occurrence)

    # --- writing ------------------------------------------------------------------------------

    def annotate(self, event: CalendarEvent, annotation: Annotation) -> None:
        """Write `annotation` into the event's file, changing no line syncd does not own.

        A recurring instance gets (or reuses) its own RECURRENCE-ID override. Nothing is
        written when the file already says it all; a file that is a link is written where it
        leads, the link kept. Raises `EventGone` when the event's file is gone, `Unavailable`
        when it may not be written now (permissions; they may be given back),
        `FolderReadOnly` when the folder's file system is mounted read-only (then without
        trying again until the next `changes`), `PreconditionFailed` when another program
        changed it while syncd was writing.
        """
        if self._read_only:
            raise FolderReadOnly(f"calendar folder {self.path} is on a read-only file system")
        found = self._find(event.id)
        if found is None:
            raise EventGone(f"event {one_line(event.id, 120)} not found in calendar folder {self.path}")
        text = self._annotated_text(found, annotation)
        if text != found.text:
            try:
                _atomic_write(found.real, text.encode("utf-8"), found.stat)
            except FolderReadOnly:
                self._read_only = True
                raise

    def _annotated_text(self, found: _Found, annotation: Annotation) -> str:
        return annotated_text(
            found.text,
            found.calendar,
            found.occurrence,
            annotation,
            placement=self.link_placement,
            zone=self.zone,
            where=f"calendar file {self.path / found.name}",
        )

    # --- companion events ---------------------------------------------------------------------

    def put_companion(self, companion: Companion) -> None:
        """Write the booking's prep event file (`CompanionCalendar`): created, or rewritten
        when it differs; the file found by its UID, so a retry never makes a second one."""
        if self._read_only:
            raise FolderReadOnly(f"calendar folder {self.path} is on a read-only file system")
        uid = companion_uid(companion.booking_id)
        name = self._companion_files.get(uid, f"{uid}.ics")
        try:  # as any event file is read: a link out of the folder is not followed
            current = read_event_file(self.path, name)
        except BadEvent:
            current = None  # not a file syncd may read: replaced by its own
        if current is not None and shows(current[0].decode("utf-8", errors="replace"), companion):
            return
        # Where a link inside the folder leads, as annotate writes; else the entry itself.
        path = current[2] if current is not None else self.path / name
        data = companion_text(companion, _from_nanoseconds(self._clock())).encode("utf-8")
        try:
            atomic_write(path, data, 0o600)  # private, like the notes it links to
        except OSError as exc:
            error = _write_error(path, exc)
            self._read_only = isinstance(error, FolderReadOnly)
            raise error from None

    def drop_companion(self, booking_id: str) -> None:
        """Delete the booking's prep event file; nothing when there is none."""
        uid = companion_uid(booking_id)
        path = self.path / self._companion_files.pop(uid, f"{uid}.ics")
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _write_error(path, exc) from None

    # --- cursor -------------------------------------------------------------------------------

    def _encode_cursor(self, files: dict[str, _Seen]) -> str:
        entries = {
            n: [s.mtime_ns, s.size, s.inode, list(s.ids), int(s.broken), s.digest, s.reach, s.frees_at]
            for n, s in sorted(files.items())
        }
        return json.dumps(
            {"v": CURSOR_VERSION, "dir": str(self.path), "files": entries}, separators=(",", ":")
        )

    def _decode_cursor(self, cursor: str) -> dict[str, _Seen]:
        """The files a cursor remembers. Raises `CursorExpired` for anything else."""
        try:
            data: Any = json.loads(cursor)
            version = data["v"]
            if version not in (CURSOR_VERSION, _OLD_CURSOR_VERSION) or data["dir"] != str(self.path):
                raise ValueError("made by another version or for another folder")
            old = version == _OLD_CURSOR_VERSION
            return {str(name): _seen_from_json(entry, old=old) for name, entry in data["files"].items()}
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
    except PARSE_ERRORS as exc:
        raise BadEvent(error_line(exc)) from None


def _seen_from_json(entry: Any, *, old: bool) -> _Seen:
    """A cursor's file entry; of an `old` (version 2) cursor's, the file's series (if any) are
    taken as expanded to an unknown end (read again once), unless it could not be read."""
    if old:
        mtime_ns, size, inode, ids, broken, digest = entry
        reach, frees_at = (None if broken else 0), 0
    else:
        mtime_ns, size, inode, ids, broken, digest, reach, frees_at = entry
    if not isinstance(ids, list) or not isinstance(digest, str):
        raise TypeError("file entry without a list of ids or a digest")
    return _Seen(
        int(mtime_ns),
        int(size),
        int(inode),
        tuple(str(i) for i in ids),
        bool(broken),
        digest,
        None if reach is None else int(reach),
        int(frees_at),
    )


def _identified(
    read: dict[str, list[CalendarEvent]], files: dict[str, _Seen], previous: dict[str, _Seen]
) -> dict[str, list[CalendarEvent]]:
    """The events `read` from changed files, each under an id no other file of the folder
    holds (see the module doc); `files` is updated to remember those ids.

    Ids held by files not read again stay theirs; then each file read keeps the ids it held
    before; then new ids go to the files in the order they were written, the oldest first, so
    the original of a copy made since keeps the plain id.
    """
    claimed = {event_id: name for name, seen in files.items() if name not in read for event_id in seen.ids}
    order = sorted(read, key=lambda name: (files[name].mtime_ns, name))
    chosen: dict[str, dict[str, str]] = {name: {} for name in order}
    for name in order:
        before = set(previous[name].ids) if name in previous else set()
        for event in read[name]:
            for candidate in (event.id, _qualify(event.id, name)):
                if candidate in before and candidate not in claimed:
                    claimed[candidate], chosen[name][event.id] = name, candidate
                    break
    for name in order:
        for event in read[name]:
            if event.id not in chosen[name]:
                candidate = event.id
                while candidate in claimed:
                    candidate = _qualify(candidate, name)
                claimed[candidate] = name
                chosen[name][event.id] = candidate
    result: dict[str, list[CalendarEvent]] = {}
    for name in order:
        ids = chosen[name]
        before = set(previous[name].ids) if name in previous else set()
        result[name] = [
            replace(
                event,
                id=ids[event.id],
                moved_from=_held_id(event.moved_from, name, before),
                copy_of=event.id if ids[event.id] != event.id else "",
            )
            for event in read[name]
        ]
        files[name] = replace(files[name], ids=tuple(dict.fromkeys(ids[event.id] for event in read[name])))
    return result


def _held_id(event_id: str, name: str, before: Container[str]) -> str:
    """The id under which file `name` held `event_id` before (its qualified one, if so)."""
    qualified = _qualify(event_id, name)
    return qualified if event_id and qualified in before else event_id


def _qualify(event_id: str, name: str) -> str:
    return f"{event_id} (in {name})"


def _ics_id(event_id: str, name: str) -> str:
    """The id as file `name` writes it: `event_id` without the qualifier naming that file."""
    suffix = f" (in {name})"
    return event_id[: -len(suffix)] if event_id.endswith(suffix) else event_id


def _may_hold(text: str, uid: str) -> bool:
    """A cheap test before parsing: False when `text` surely holds no event with UID `uid`."""
    unfolded = without_controls(_unfolded(text))
    # A UID with `,` `;` `\` or a newline is written escaped.
    return uid in unfolded or uid in unescape_text(unfolded)


def _decoded(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadEvent("not UTF-8 text") from None


def _stat_digest(stats: dict[str, tuple[int, int, int]]) -> bytes:
    """One digest of every file's name and `(mtime_ns, size, inode)`, in name order."""
    text = "\n".join(f"{name}\0{m}\0{s}\0{i}" for name, (m, s, i) in sorted(stats.items()))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _nanoseconds(span: timedelta) -> int:
    return round(span.total_seconds() * 1e9)


def _from_nanoseconds(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp / 1e9, UTC)


def _seconds(moment: datetime) -> int:
    """`moment` as whole Unix seconds, rounded up (a cursor keeps no more)."""
    return math.ceil(moment.timestamp())


def _etag(mtime_ns: int, size: int) -> str:
    return f"{mtime_ns}-{size}"


def _unfolded(text: str) -> str:
    # A long UID may be folded across lines; a cheap substring test must see it whole.
    return text.replace("\r\n ", "").replace("\r\n\t", "").replace("\n ", "").replace("\n\t", "")


def _atomic_write(path: Path, data: bytes, before: os.stat_result) -> None:
    """Replace `path` by `data` atomically, keeping its mode (see `syncd.files.atomic_write`).

    Raises `Unavailable` when the file or its folder may not be written (see `_write_error`)
    and `PreconditionFailed` when the file changed since `before` was taken.
    """
    # Checked by hand because root may write anything: a file the coach made read-only is
    # left alone whoever runs syncd. Permissions may be given back, so this is not final.
    if not before.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise Unavailable(f"calendar file {path} is read-only (its permissions); tried again next pass")
    try:
        atomic_write(
            path, data, stat.S_IMODE(before.st_mode), before_replace=lambda: _check_unchanged(path, before)
        )
    except OSError as exc:
        raise _write_error(path, exc) from None


def _write_error(path: Path, exc: OSError) -> Unavailable:
    """What a failed write of calendar file `path` means: every cause may pass (a remount,
    permissions given back, space freed), so each is `Unavailable`; a read-only mount is
    `FolderReadOnly`, since then no other write into the folder can succeed either."""
    if exc.errno == errno.EROFS:
        return FolderReadOnly(
            f"calendar folder {path.parent} is on a read-only file system; {path.name} not written"
        )
    if isinstance(exc, PermissionError):
        return Unavailable(f"calendar file {path} may not be written: {exc.strerror}; tried again next pass")
    return Unavailable(f"cannot write {path}: {exc.strerror or exc}")


def _check_unchanged(path: Path, before: os.stat_result) -> None:
    try:
        now = path.stat()
    except FileNotFoundError:
        raise BackendError(f"calendar file {path} vanished while syncd was writing it") from None
    if (now.st_mtime_ns, now.st_size, now.st_ino) != (before.st_mtime_ns, before.st_size, before.st_ino):
        raise PreconditionFailed(f"calendar file {path} changed while syncd was writing it")
