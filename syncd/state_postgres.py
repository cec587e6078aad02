"""The state in a PostgreSQL database, shared by several `syncd run` replicas.

Same records as the SQLite store (`syncd.state`), same row codec (`syncd.state_rows`): the
intent recorded before each side effect is in the shared database, so a replica killed in the
middle of one is finished by whichever replica takes its coaches next, without doing it twice.
The replicas split the coaches through leases (`claim`); the schema is versioned and each
migration is run once, by whichever replica gets the advisory lock first.

Imported only when `state: {url: postgresql://...}` is configured (psycopg is not needed
otherwise). The password is never in a message: `where` is the URL without it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from syncd.config import StateConfig
from syncd.errors import ConfigError, StateCorrupt, StateUnwritable
from syncd.health import META_KEY
from syncd.lifecycle import Booking
from syncd.model import Followup, Phase
from syncd.state_pg_schema import TABLES, migrate
from syncd.state_rows import BadRow, RowReads, bad_row, to_row, utc_text
from syncd.text import one_line

log = logging.getLogger("syncd")

_COLUMNS = (
    'id, coach, event_id, phase, client, client_email, start, "end", fingerprint, followup, '
    "followup_due, note_locator, note_url, header, annotated, draft_id, reason, effect, updated"
)
_NAMES = [name.strip() for name in _COLUMNS.split(",")]
_SAVE = (
    f"INSERT INTO bookings ({_COLUMNS}) VALUES ({', '.join('%s' for _ in _NAMES)})"
    " ON CONFLICT (id) DO UPDATE SET " + ", ".join(f"{name} = EXCLUDED.{name}" for name in _NAMES[1:])
)
# Every read selects row_id first, as the SQLite store its rowid: the codec names rows by it.
_SELECT = f"SELECT row_id, {_COLUMNS} FROM bookings"

# The meta keys of the replicas' health records (`syncd.health.meta_key`): `health:REPLICA`.
_HEALTH_PREFIX = f"{META_KEY}:"  # health.meta_key's form for a replica

Row = tuple[Any, ...]


class PostgresStore(RowReads):
    """Bookings, sync cursors, daemon facts and the replicas' leases in one PostgreSQL database.

    Threads share one connection under a lock (each call is one short statement or
    transaction, a few milliseconds against the backends' network requests, and one
    connection per replica keeps the server's connection count at the number of replicas).
    A connection that broke is opened again on the next call."""

    def __init__(self, config: StateConfig, *, scratch: bool = False) -> None:
        self._config = config
        self._scratch = scratch
        self._lock = threading.RLock()
        password_file = config.password_file
        self._password = _read_password(password_file) if password_file is not None else None
        self._conn = self._connect()
        try:
            migrate(self._conn, self.where)
            if scratch:
                self._copy_to_temporary_tables()
            with self._conn.transaction():
                self._conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('created', %s) ON CONFLICT DO NOTHING",
                    (utc_text(datetime.now(UTC)),),
                )
        except BaseException as exc:
            self._conn.close()
            problem = f"{self.where}: cannot open the state database: {self._problem(exc)}"
            if isinstance(exc, psycopg.OperationalError):  # the connection went: may pass
                raise StateUnwritable(problem) from None
            if isinstance(exc, psycopg.Error):  # e.g. no right to create the tables
                raise ConfigError(problem) from None
            raise

    @property
    def where(self) -> str:
        """The database as a message names it: its URL without the password."""
        return self._config.shown

    @classmethod
    def open(cls, config: StateConfig, *, scratch: bool = False) -> PostgresStore:
        """The store on `config`'s database (its schema brought up to date); with `scratch`,
        a copy private to this connection that nothing outside sees (for a dry run, `status`).
        Raises ConfigError naming the database (without its password) when it refuses syncd
        (a wrong password, no such database) and StateUnwritable when it cannot be reached
        (down, starting): a service manager starts syncd again later."""
        return cls(config, scratch=scratch)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- the connection -----------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Row]:
        extra: dict[str, Any] = {} if self._password is None else {"password": self._password}
        try:
            return psycopg.connect(
                self._config.url, autocommit=True, connect_timeout=10, application_name="syncd", **extra
            )
        except psycopg.Error as exc:
            problem = f"{self.where}: cannot connect to the state database: {self._problem(exc)}"
            if _refused(str(exc)):  # the operator must act: not worth a restart loop
                raise ConfigError(problem) from None
            raise StateUnwritable(problem) from None  # may pass by itself: started again later

    def _db(self) -> psycopg.Connection[Row]:
        if self._conn.closed or self._conn.broken:
            if self._scratch:  # its copy went with the connection
                raise StateUnwritable(f"{self.where}: lost the connection to the state database")
            try:
                self._conn = self._connect()
            except ConfigError as exc:  # refused now: this pass stops all the same
                raise StateUnwritable(str(exc)) from None
        return self._conn

    def _problem(self, exc: BaseException) -> str:
        """psycopg's message on one line, any password in it blanked out."""
        text = str(exc).replace(self._config.url, self.where)
        for secret in (self._password, urlsplit(self._config.url).password):
            if secret:
                text = text.replace(secret, "***")
        return one_line(text, 300)

    def _rows(self, query: str, args: Iterable[object] = ()) -> list[Row]:
        with self._lock:
            try:
                return self._db().execute(query, tuple(args)).fetchall()
            except psycopg.OperationalError as exc:
                raise StateUnwritable(f"{self.where}: cannot read the state: {self._problem(exc)}") from None

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Row]]:
        """A write transaction; a database that cannot be reached or written is
        `StateUnwritable` (one line, the next pass retries); a value PostgreSQL will not
        store (a NUL character in a text) is `StateCorrupt`, for that one booking."""
        with self._lock:
            try:
                conn = self._db()
                with conn.transaction():
                    yield conn
            except psycopg.OperationalError as exc:
                raise StateUnwritable(f"{self.where}: cannot write the state: {self._problem(exc)}") from None
            except psycopg.DataError as exc:
                raise StateCorrupt(f"{self.where}: cannot store this record: {self._problem(exc)}") from None

    def _copy_to_temporary_tables(self) -> None:
        # Temporary tables come first in the search path: every later statement of this
        # connection reads and writes them instead, and they vanish with it.
        with self._conn.transaction():
            (schema,) = self._conn.execute("SELECT current_schema()").fetchone() or ("public",)
            for table in TABLES:
                name, real = sql.Identifier(table), sql.Identifier(str(schema), table)
                self._conn.execute(
                    sql.SQL("CREATE TEMPORARY TABLE {} (LIKE {} INCLUDING ALL)").format(name, real)
                )
                self._conn.execute(sql.SQL("INSERT INTO pg_temp.{} SELECT * FROM {}").format(name, real))
            self._conn.execute(
                "SELECT setval(pg_get_serial_sequence('pg_temp.bookings', 'row_id'),"
                " (SELECT coalesce(max(row_id), 0) + 1 FROM bookings))"
            )

    # --- meta ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM meta WHERE key = %s", (key,))
        return str(rows[0][0]) if rows else None

    def put_meta(self, key: str, value: str) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s)"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (key, value),
            )

    # --- cursors ------------------------------------------------------------------------------

    def cursor(self, coach: str) -> str | None:
        rows = self._rows("SELECT cursor FROM cursors WHERE coach = %s", (coach,))
        return str(rows[0][0]) if rows else None

    def set_cursor(self, coach: str, cursor: str | None) -> None:
        with self._transaction() as conn:
            if cursor is None:
                conn.execute("DELETE FROM cursors WHERE coach = %s", (coach,))
            else:
                conn.execute(
                    "INSERT INTO cursors (coach, cursor) VALUES (%s, %s)"
                    " ON CONFLICT (coach) DO UPDATE SET cursor = EXCLUDED.cursor",
                    (coach, cursor),
                )

    # --- bookings -----------------------------------------------------------------------------

    def save(self, booking: Booking, now: datetime) -> None:
        """Insert or replace `booking`, committed before returning; an unreadable row of the
        same id is moved to the quarantine table first, not overwritten."""
        with self._transaction() as conn:
            found = conn.execute(f"{_SELECT} WHERE id = %s FOR UPDATE", (booking.id,)).fetchone()
            bad = None if found is None else bad_row(found)
            if bad is not None:
                self._quarantine(conn, bad, now)
            conn.execute(_SAVE, to_row(booking, now))

    def get(self, booking_id: str) -> Booking | None:
        return self._first(self._rows(f"{_SELECT} WHERE id = %s", (booking_id,)))

    def by_event(self, coach: str, event_id: str) -> Booking | None:
        """The booking of `coach` that follows event `event_id` (see the SQLite store)."""
        rows = self._rows(
            f"{_SELECT} WHERE coach = %s AND event_id = %s ORDER BY updated DESC", (coach, event_id)
        )
        return self._first(rows)

    def bookings(self, coach: str | None = None) -> list[Booking]:
        """All bookings (of one coach), earliest session first."""
        if coach:
            return self._readable(self._rows(f"{_SELECT} WHERE coach = %s ORDER BY start", (coach,)))
        return self._readable(self._rows(f"{_SELECT} ORDER BY start"))

    def bookings_to_check(self, coach: str, since: datetime) -> list[Booking]:
        """The bookings of `coach` whose session ends after `since`, whose record changed after
        it, or that are on and still have no note; earliest session first."""
        rows = self._rows(
            f'{_SELECT} WHERE coach = %s AND ("end" >= %s OR updated >= %s'
            " OR (note_locator IS NULL AND phase != %s)) ORDER BY start",
            (coach, utc_text(since), utc_text(since), Phase.CANCELLED.value),
        )
        return self._readable(rows)

    def due_followups(self, coach: str, now: datetime) -> list[Booking]:
        """Active bookings of `coach` whose follow-up is pending and due by `now`."""
        rows = self._rows(
            f"{_SELECT} WHERE coach = %s AND followup = %s AND followup_due <= %s"
            " AND phase != %s ORDER BY followup_due",
            (coach, Followup.PENDING.value, utc_text(now), Phase.CANCELLED.value),
        )
        return self._readable(rows)

    def pending_followups(self) -> list[tuple[str, str, datetime]]:
        """(coach, client name, due) of every follow-up still to be drafted, for the coaches
        set by `only_coaches` (all when none was set)."""
        rows = self._rows(
            f"{_SELECT} WHERE followup = %s AND phase != %s", (Followup.PENDING.value, Phase.CANCELLED.value)
        )
        return [
            (b.coach, b.client.name, b.followup_due) for b in self._readable(rows) if self._shown(b.coach)
        ]

    def rebook_candidate(self, coach: str, client_email: str, since: datetime) -> Booking | None:
        """The client's most recent cancelled booking with a note, cancelled after `since`."""
        if not client_email:
            return None
        rows = self._rows(
            f"{_SELECT} WHERE coach = %s AND client_email = %s AND phase = %s"
            " AND note_locator IS NOT NULL AND updated >= %s ORDER BY updated DESC",
            (coach, client_email.lower(), Phase.CANCELLED.value, utc_text(since)),
        )
        return self._first(rows)

    def bad_rows(self) -> list[BadRow]:
        """Every bookings row that cannot be read, in row order (a full scan: for tooling)."""
        return [bad for bad in map(bad_row, self._rows(f"{_SELECT} ORDER BY row_id")) if bad is not None]

    def quarantine(self, now: datetime) -> list[BadRow]:
        """Move every row that cannot be read to the quarantine table; returns what was moved."""
        with self._transaction() as conn:
            rows = conn.execute(f"{_SELECT} ORDER BY row_id FOR UPDATE").fetchall()
            moved = [bad for bad in map(bad_row, rows) if bad is not None]
            for bad in moved:
                self._quarantine(conn, bad, now)
        return moved

    def _quarantine(self, conn: psycopg.Connection[Row], bad: BadRow, now: datetime) -> None:
        conn.execute(
            f"INSERT INTO quarantine (row_id, {_COLUMNS}, problem, quarantined)"
            f" SELECT row_id, {_COLUMNS}, %s, %s FROM bookings WHERE row_id = %s",
            (bad.problem, utc_text(now), bad.rowid),
        )
        conn.execute("DELETE FROM bookings WHERE row_id = %s", (bad.rowid,))
        log.warning("%s: %s: moved to the quarantine table", self.where, bad.describe())

    def quarantined(self) -> int:
        """How many rows the quarantine table holds."""
        return int(self._rows("SELECT COUNT(*) FROM quarantine")[0][0])

    # --- leases -------------------------------------------------------------------------------

    def claim(self, coaches: Iterable[str], replica: str, ttl: timedelta, now: datetime) -> frozenset[str]:
        """The coaches `replica` may run now (see `syncd.state.Store.claim`).

        Each replica takes at most its share (the coaches over the live replicas, rounded up),
        its own first: a replica that joins gets the coaches the others stop renewing, so the
        coaches spread over the replicas within one lease period. Rows another replica is
        claiming at this moment are skipped (`SKIP LOCKED`), never waited for."""
        wanted = sorted(set(coaches))
        if not wanted:
            return frozenset()
        until = now + ttl
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO replicas (replica, seen_until) VALUES (%s, %s)"
                " ON CONFLICT (replica) DO UPDATE SET seen_until = EXCLUDED.seen_until",
                (replica, until),
            )
            # Replicas gone without a clean stop (killed, or restarted under a new process id);
            # rows a claim in progress holds are left for later, or two claims would deadlock.
            conn.execute(
                "DELETE FROM replicas WHERE replica IN (SELECT replica FROM replicas"
                " WHERE seen_until <= %s FOR UPDATE SKIP LOCKED)",
                (now,),
            )
            # Their health records go with them (a name is host:pid: one per process ever run).
            conn.execute(
                "DELETE FROM meta WHERE key LIKE %s AND substr(key, %s) NOT IN (SELECT replica FROM replicas)",
                (_HEALTH_PREFIX + "%", len(_HEALTH_PREFIX) + 1),
            )
            live = conn.execute("SELECT count(*) FROM replicas").fetchone()
            share = -(-len(wanted) // max(1, int(live[0]) if live else 1))
            # A coach never seen gets a free row, so one locking read below covers every coach.
            conn.execute(
                "INSERT INTO leases (coach, replica, expires)"
                " SELECT unnest(%s::text[]), '', '-infinity' ON CONFLICT DO NOTHING",
                (wanted,),
            )
            rows = conn.execute(
                "SELECT coach FROM leases WHERE coach = ANY(%(wanted)s)"
                " AND (replica = %(me)s OR expires <= %(now)s)"
                " ORDER BY replica = %(me)s DESC, coach LIMIT %(share)s FOR UPDATE SKIP LOCKED",
                {"wanted": wanted, "me": replica, "now": now, "share": share},
            ).fetchall()
            taken = [str(coach) for (coach,) in rows]
            conn.execute(
                "UPDATE leases SET replica = %s, expires = %s WHERE coach = ANY(%s)", (replica, until, taken)
            )
        return frozenset(taken)

    def release(self, replica: str) -> None:
        """Give up every lease of `replica`, so the others take its coaches at once."""
        with self._transaction() as conn:
            conn.execute(
                "UPDATE leases SET replica = '', expires = '-infinity' WHERE replica = %s", (replica,)
            )
            conn.execute("DELETE FROM replicas WHERE replica = %s", (replica,))

    def replica_health(self, now: datetime) -> dict[str, str | None]:
        """replica -> its health record (`syncd.health`, JSON; None before its first pass) for
        every replica live at `now`; when none is, the records the last ones left (a replica
        that stopped says so in its record; one that was killed, by a pass long overdue)."""
        live = self._rows("SELECT replica FROM replicas WHERE seen_until > %s", (now,))
        rows = self._rows(
            "SELECT substr(key, %s), value FROM meta WHERE key LIKE %s",
            (len(_HEALTH_PREFIX) + 1, _HEALTH_PREFIX + "%"),
        )
        records = {str(name): str(value) for name, value in rows}
        if not live:
            return dict(records)
        return {str(name): records.get(str(name)) for (name,) in live}

    def leases(self) -> Mapping[str, tuple[str, datetime]]:
        """coach -> (replica, expiry, UTC) of every coach a replica holds or held."""
        rows = self._rows("SELECT coach, replica, expires FROM leases WHERE replica != '' ORDER BY coach")
        return {str(coach): (str(replica), expires.astimezone(UTC)) for coach, replica, expires in rows}


# What a server that answered says when it will not let syncd in until someone acts (a wrong
# password, a missing role or database, pg_hba), as opposed to one that is not there (yet), is
# starting or is full. libpq gives no SQLSTATE for a failed connection, only its text.
_PASSING = ("starting up", "shutting down", "in recovery", "too many", "remaining connection slots")


def _refused(message: str) -> bool:
    return "FATAL:" in message and not any(words in message for words in _PASSING)


def _read_password(path: Path) -> str:
    """The password in `path` (its first line). Raises ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the state database's password: {exc}") from None
    return text.splitlines()[0] if text.strip() else ""
