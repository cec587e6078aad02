"""The state store: every booking and every side effect done, and which replica runs which coach.

The engine records an intent before a side effect and the result after it, each in its own
committed transaction, so after a crash the records say exactly what to look for and redo.

`Store` is what the engine, the command line, `status` and `doctor` use of it. `StateStore`
here keeps it in one SQLite file in the state folder (the embedded default, one machine);
`syncd.state_postgres.PostgresStore` keeps it in a PostgreSQL database shared by several
replicas (`state: {url: postgresql://...}`), imported only when configured. `open_state`
picks one from the settings.
"""

from __future__ import annotations

import logging
import os
import pwd
import socket
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from syncd.errors import ConfigError, StateUnwritable
from syncd.lifecycle import Booking
from syncd.model import Followup, Phase
from syncd.state_rows import BadRow, RowReads, bad_row, to_row, utc_text

if TYPE_CHECKING:
    from syncd.config import Settings

log = logging.getLogger("syncd")

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (coach TEXT PRIMARY KEY, cursor TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bookings (
    id TEXT PRIMARY KEY,
    coach TEXT NOT NULL,
    event_id TEXT NOT NULL,
    phase TEXT NOT NULL,
    client TEXT NOT NULL,
    client_email TEXT NOT NULL,
    start TEXT NOT NULL,
    end TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    followup TEXT NOT NULL,
    followup_due TEXT NOT NULL,
    note_locator TEXT,
    note_url TEXT,
    header TEXT NOT NULL DEFAULT '',
    annotated TEXT NOT NULL DEFAULT '',
    draft_id TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    effect TEXT NOT NULL DEFAULT '',
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bookings_due ON bookings (followup, followup_due);
CREATE INDEX IF NOT EXISTS bookings_client ON bookings (coach, client_email);
CREATE INDEX IF NOT EXISTS bookings_event ON bookings (coach, event_id);
CREATE TABLE IF NOT EXISTS quarantine (
    id, coach, event_id, phase, client, client_email, start, end, fingerprint, followup,
    followup_due, note_locator, note_url, header, annotated, draft_id, reason, effect, updated,
    problem TEXT NOT NULL,
    quarantined TEXT NOT NULL
);
"""

_COLUMNS = (
    "id, coach, event_id, phase, client, client_email, start, end, fingerprint, followup, "
    "followup_due, note_locator, note_url, header, annotated, draft_id, reason, effect, updated"
)
_PLACEHOLDERS = ", ".join("?" for _ in _COLUMNS.split(","))
# Every read selects the rowid too: a row whose id is not valid UTF-8 can only be named by it.
_SELECT = f"SELECT rowid, {_COLUMNS} FROM bookings"

# How long a replica holds the coaches it claimed unless it renews them (`state.lease`).
DEFAULT_LEASE = timedelta(minutes=5)


class Store(Protocol):
    """What syncd uses of its state, whichever database holds it.

    Reads return what was committed; each write is committed before it returns. A write that
    cannot be made (disk full, database unreachable) raises `StateUnwritable`: nothing more can
    be recorded, so the pass stops. A booking record that cannot be read is left out of what a
    read returns, named once in the log (`bad_rows` lists them). Safe to call from several
    threads at once.
    """

    @property
    def where(self) -> str:
        """Where the state lives, for messages: a path, or a URL without its password."""

    def close(self) -> None: ...

    def get_meta(self, key: str) -> str | None: ...

    def put_meta(self, key: str, value: str) -> None: ...

    def created(self) -> datetime:
        """When this state was begun: whatever is older may have been done by an install whose
        state was lost, so look before creating it."""

    def cursor(self, coach: str) -> str | None:
        """The coach's calendar sync cursor, None before the first full read."""

    def set_cursor(self, coach: str, cursor: str | None) -> None: ...

    def save(self, booking: Booking, now: datetime) -> None:
        """Insert or replace `booking` (an unreadable row of its id is quarantined first)."""

    def get(self, booking_id: str) -> Booking | None: ...

    def by_event(self, coach: str, event_id: str) -> Booking | None: ...

    def bookings(self, coach: str | None = None) -> list[Booking]: ...

    def bookings_to_check(self, coach: str, since: datetime) -> list[Booking]: ...

    def due_followups(self, coach: str, now: datetime) -> list[Booking]: ...

    def pending_followups(self) -> list[tuple[str, str, datetime]]: ...

    def only_coaches(self, coaches: frozenset[str]) -> None: ...

    def rebook_candidate(self, coach: str, client_email: str, since: datetime) -> Booking | None: ...

    def bad_rows(self) -> list[BadRow]: ...

    def quarantine(self, now: datetime) -> list[BadRow]: ...

    def quarantined(self) -> int: ...

    def count(self) -> int: ...

    def phase_counts(self) -> dict[str, int]: ...

    def claim(self, coaches: Iterable[str], replica: str, ttl: timedelta, now: datetime) -> frozenset[str]:
        """The coaches of `coaches` that `replica` may run now, held until `now + ttl`.

        Its own leases are renewed, free and expired ones taken; a coach whose lease another
        live replica holds is never returned. Call it at the start of each pass and again
        between coaches well within `ttl`: a coach not returned by the last call must not be
        started. `now` is aware (the wall clock: the replicas' clocks must agree to well
        within `ttl`). Raises StateUnwritable when the leases cannot be recorded."""

    def release(self, replica: str) -> None:
        """Give up every lease of `replica` (on a clean stop), so others take them at once."""

    def leases(self) -> Mapping[str, tuple[str, datetime]]:
        """coach -> (replica, lease expiry) for every lease recorded, for `syncd status`; empty
        for a store that serves one machine."""

    def replica_health(self, now: datetime) -> dict[str, str | None] | None:
        """replica -> its health record (JSON) for each live replica, for `syncd status`; None
        for a store that serves one process (its one record is `health`)."""


def open_state(settings: Settings, *, scratch: bool = False) -> Store:
    """The state store the settings name: PostgreSQL when `state.url` is set, else the SQLite
    file in `state_dir`. With `scratch`, a throw-away copy: a dry run or `status` writes
    nothing the daemon would see. Raises ConfigError when it cannot be opened, or
    StateUnwritable when a database server cannot be reached."""
    if settings.state is None:
        return StateStore.in_dir(settings.state_dir, scratch=scratch)
    from syncd.state_postgres import PostgresStore  # psycopg only when PostgreSQL is configured

    return PostgresStore.open(settings.state, scratch=scratch)


def lease_ttl(settings: Settings) -> timedelta:
    """How long a claim holds a coach: `state.lease`, or the default when SQLite is used."""
    return settings.state.lease if settings.state is not None else DEFAULT_LEASE


def replica_name() -> str:
    """This process's name in the leases: host and process id, so two replicas on one host
    differ, and a replica restarted after a crash does not run on the dead one's leases."""
    return f"{socket.gethostname()}:{os.getpid()}"


class _Rows(list[Any]):
    """A statement's rows, fetched while the connection's lock was held."""

    def fetchone(self) -> Any:
        return self[0] if self else None

    def fetchall(self) -> list[Any]:
        return self


class _Serialized:
    """One sqlite3 connection shared by the engine's threads: each statement runs under one
    re-entrant lock and its rows are fetched before the lock is let go, and a transaction
    holds the lock from BEGIN to COMMIT, so no thread's statement lands in another's
    transaction. One connection is enough: SQLite lets only one writer in at a time anyway."""

    def __init__(self, db: sqlite3.Connection) -> None:
        db.text_factory = _decode_text
        self.db = db
        self.lock = threading.RLock()

    def execute(self, sql: str, args: Iterable[object] = ()) -> _Rows:
        with self.lock:
            return _Rows(self.db.execute(sql, tuple(args)).fetchall())

    @property
    def in_transaction(self) -> bool:
        return self.db.in_transaction

    def close(self) -> None:
        with self.lock:
            self.db.close()


class StateStore(RowReads):
    """Bookings, sync cursors and a few facts about the daemon, in `state_dir/syncd.sqlite3`."""

    def __init__(self, path: Path, *, scratch: bool = False) -> None:
        self.path = path
        if scratch:
            self._db = _Serialized(_scratch_copy(path))
            self._migrate()
            return
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _create_private(path)
            self._db = _Serialized(
                sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except (OSError, sqlite3.Error, StateUnwritable) as exc:
            raise ConfigError(f"{path}: cannot open the state database: {_open_problem(path, exc)}") from None

    @classmethod
    def in_dir(cls, state_dir: Path, *, scratch: bool = False) -> StateStore:
        """The state in `state_dir`; with `scratch`, an in-memory copy of it (for a dry run:
        the pass runs through every step and nothing reaches the disk)."""
        return cls(state_dir / "syncd.sqlite3", scratch=scratch)

    @property
    def where(self) -> str:
        return str(self.path)

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        with self._transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            version = self.get_meta("schema_version")
            if version is None:
                self._put_meta("schema_version", str(SCHEMA_VERSION))
            elif int(version) > SCHEMA_VERSION:
                raise ConfigError(
                    f"{self.path}: state was written by a newer syncd (schema {version}); upgrade syncd"
                )
            if self.get_meta("created") is None:
                self._put_meta("created", utc_text(datetime.now(UTC)))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """A write transaction; a database that cannot be written (disk full, I/O error, locked
        by another program for 30 s) is `StateUnwritable`: one line, the next pass retries."""
        with self._db.lock:  # the whole transaction: see _Serialized
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    self._rollback()
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._rollback()  # a failed COMMIT may leave the transaction open
                raise StateUnwritable(f"{self.path}: cannot write the state: {exc}") from None

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    # --- meta -----------------------------------------------------------------------------

    def _rows(self, query: str, args: Iterable[object] = ()) -> list[Any]:
        return self._db.execute(query, tuple(args))

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put_meta(self, key: str, value: str) -> None:
        """Record a fact about the daemon (its health after each pass), committed without a
        disk flush: a power cut may lose the last one, never a booking's record, and an idle
        pass then costs no flush at all."""
        with self._unflushed(), self._transaction():
            self._put_meta(key, value)

    def _put_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # --- cursors --------------------------------------------------------------------------

    def cursor(self, coach: str) -> str | None:
        row = self._db.execute("SELECT cursor FROM cursors WHERE coach = ?", (coach,)).fetchone()
        return None if row is None else str(row[0])

    def set_cursor(self, coach: str, cursor: str | None) -> None:
        """Record `coach`'s sync cursor (None: forget it). The one already stored is not
        written again, and a new one is committed without a disk flush: a cursor lost to a
        power cut only makes the next pass read again what it had read, which is idempotent
        (and the next flushed commit, a booking's, makes it durable too, the WAL being in
        order). An idle pass of 500 coaches would otherwise flush the disk 500 times."""
        if cursor == self.cursor(coach):
            return
        with self._unflushed(), self._transaction():
            if cursor is None:
                self._db.execute("DELETE FROM cursors WHERE coach = ?", (coach,))
            else:
                self._db.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?)", (coach, cursor))

    @contextmanager
    def _unflushed(self) -> Iterator[None]:
        """Commits in the block are not flushed to disk (WAL: they become durable with the
        next flushed commit, in order); for records whose loss only repeats work. The whole
        block holds the connection: another pool thread's booking saved meanwhile would
        otherwise be committed unflushed too."""
        with self._db.lock:
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                yield
            finally:
                self._db.execute("PRAGMA synchronous=FULL")

    # --- bookings -------------------------------------------------------------------------

    def save(self, booking: Booking, now: datetime) -> None:
        """Insert or replace `booking`, committed before returning. A row of the same id that
        cannot be read is moved to the quarantine table first, not overwritten."""
        with self._transaction():
            row = self._db.execute(f"{_SELECT} WHERE id = ?", (booking.id,)).fetchone()
            bad = None if row is None else bad_row(row)
            if bad is not None:
                self._quarantine(bad, now)
            self._db.execute(
                f"INSERT OR REPLACE INTO bookings ({_COLUMNS}) VALUES ({_PLACEHOLDERS})",
                to_row(booking, now),
            )

    def get(self, booking_id: str) -> Booking | None:
        return self._first(self._db.execute(f"{_SELECT} WHERE id = ?", (booking_id,)))

    def by_event(self, coach: str, event_id: str) -> Booking | None:
        """The booking of `coach` that follows event `event_id` (its id names the event it was
        found as: after its series moved, a booking follows another event)."""
        rows = self._db.execute(
            f"{_SELECT} WHERE coach = ? AND event_id = ? ORDER BY updated DESC", (coach, event_id)
        )
        return self._first(rows)

    def bookings(self, coach: str | None = None) -> list[Booking]:
        """All bookings (of one coach), earliest session first."""
        where, args = ("WHERE coach = ?", (coach,)) if coach else ("", ())
        return self._readable(self._db.execute(f"{_SELECT} {where} ORDER BY start", args))

    def bookings_to_check(self, coach: str, since: datetime) -> list[Booking]:
        """The bookings of `coach` whose session ends after `since`, whose record changed after
        it, or that are on and still have no note; earliest session first."""
        rows = self._db.execute(
            f"{_SELECT} WHERE coach = ? AND (end >= ? OR updated >= ?"
            " OR (note_locator IS NULL AND phase != ?)) ORDER BY start",
            (coach, utc_text(since), utc_text(since), Phase.CANCELLED.value),
        )
        return self._readable(rows)

    def due_followups(self, coach: str, now: datetime) -> list[Booking]:
        """Active bookings of `coach` whose follow-up is pending and due by `now`."""
        rows = self._db.execute(
            f"{_SELECT} WHERE coach = ? AND followup = ? AND followup_due <= ?"
            " AND phase != ? ORDER BY followup_due",
            (coach, Followup.PENDING.value, utc_text(now), Phase.CANCELLED.value),
        )
        return self._readable(rows)

    def pending_followups(self) -> list[tuple[str, str, datetime]]:
        """(coach, client name, due) of every follow-up still to be drafted, for the coaches
        set by `only_coaches` (all when none was set)."""
        rows = self._db.execute(
            f"{_SELECT} WHERE followup = ? AND phase != ?", (Followup.PENDING.value, Phase.CANCELLED.value)
        )
        return [
            (b.coach, b.client.name, b.followup_due) for b in self._readable(rows) if self._shown(b.coach)
        ]

    def rebook_candidate(self, coach: str, client_email: str, since: datetime) -> Booking | None:
        """The client's most recent cancelled booking with a note, cancelled after `since`."""
        if not client_email:
            return None
        rows = self._db.execute(
            f"{_SELECT} WHERE coach = ? AND client_email = ? AND phase = ?"
            " AND note_locator IS NOT NULL AND updated >= ? ORDER BY updated DESC",
            (coach, client_email.lower(), Phase.CANCELLED.value, utc_text(since)),
        )
        return self._first(rows)

    # --- rows that cannot be read ----------------------------------------------------------

    def bad_rows(self) -> list[BadRow]:
        """Every bookings row that cannot be read, in row order (a full scan: for tooling)."""
        rows = self._db.execute(f"{_SELECT} ORDER BY rowid")
        return [bad for bad in map(bad_row, rows) if bad is not None]

    def quarantine(self, now: datetime) -> list[BadRow]:
        """Move every row that cannot be read to the quarantine table (kept as it was, with
        the problem and the time); returns what was moved."""
        with self._transaction():
            moved = self.bad_rows()
            for bad in moved:
                self._quarantine(bad, now)
        return moved

    def _quarantine(self, bad: BadRow, now: datetime) -> None:
        # Copied by SQL, not through Python: the bytes that could not be read are kept as they are.
        self._db.execute(
            f"INSERT INTO quarantine ({_COLUMNS}, problem, quarantined)"
            f" SELECT {_COLUMNS}, ?, ? FROM bookings WHERE rowid = ?",
            (bad.problem, utc_text(now), bad.rowid),
        )
        self._db.execute("DELETE FROM bookings WHERE rowid = ?", (bad.rowid,))
        log.warning("%s: %s: moved to the quarantine table", self.path, bad.describe())

    def quarantined(self) -> int:
        """How many rows the quarantine table holds."""
        return int(self._db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0])

    # --- leases: one machine runs every coach ----------------------------------------------

    def claim(self, coaches: Iterable[str], replica: str, ttl: timedelta, now: datetime) -> frozenset[str]:
        """Every coach: the SQLite file serves one machine, whose daemon runs them all."""
        return frozenset(coaches)

    def release(self, replica: str) -> None:
        """Nothing to give up: SQLite records no leases."""

    def leases(self) -> Mapping[str, tuple[str, datetime]]:
        return {}

    def replica_health(self, now: datetime) -> dict[str, str | None] | None:
        return None


def _open_problem(path: Path, exc: Exception) -> str:
    """Why the database did not open; for a folder or file of another user (state left behind
    by `sudo syncd ...`, a service user that changed), whose it must be."""
    folder = path.parent
    writable = os.access(folder, os.W_OK | os.X_OK)
    if writable and (not path.exists() or os.access(path, os.R_OK | os.W_OK)):
        return str(exc)
    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a systemd dynamic user may have no passwd entry visible here
        user = str(os.geteuid())
    return (
        f"permission denied for user {user}, who runs syncd: give it the state folder "
        f"(`chown -R {user} {folder}`) or set state_dir to a folder of its own"
    )


def _create_private(path: Path) -> None:
    """Create the database file with mode 0600 if it is not there yet.

    An existing file is never opened outside SQLite: closing any descriptor of it drops this
    process's POSIX locks on it, so after a reload (two connections in one process) another
    process's `syncd status` would believe it was the last user and delete the live WAL.
    """
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _scratch_copy(path: Path) -> sqlite3.Connection:
    memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    if path.is_file():
        try:
            # Read-write, though nothing is written: the last connection to close then removes
            # the -wal and -shm files it needed, where a read-only one would leave them behind.
            source = sqlite3.connect(path, timeout=30)
            try:
                source.backup(memory)
            finally:
                source.close()
        except sqlite3.Error as exc:
            raise ConfigError(f"{path}: cannot read the state database: {exc}") from None
    return memory


def _decode_text(raw: bytes) -> str:
    """SQLite text as str. Bytes that are not UTF-8 are kept as surrogates instead of failing
    the whole query (sqlite3's default), so the one row holding them can be named and skipped."""
    return raw.decode("utf-8", "surrogateescape")
