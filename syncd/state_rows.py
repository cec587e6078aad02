"""Bookings as table rows and back: the one codec every state store shares.

Times are stored as fixed-width UTC text (so SQL compares them as the instants they name) and
the client as JSON; a row that cannot be read raises `StateCorrupt` naming its column, so the
store can skip and report that one row and go on with the others.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from syncd.errors import StateCorrupt
from syncd.lifecycle import Booking, Effect
from syncd.model import Client, Followup, NoteRef, Phase
from syncd.text import one_line

log = logging.getLogger("syncd")


@dataclasses.dataclass(frozen=True)
class BadRow:
    """A bookings row that cannot be read: its rowid, its id (escaped) and what is wrong."""

    rowid: int
    booking: str
    problem: str

    def describe(self) -> str:
        """One line naming the row, e.g. `booking 'ada/e1' (row 7): unknown phase 'lost'`."""
        return f"booking {self.booking!r} (row {self.rowid}): {self.problem}"


def utc_text(moment: datetime) -> str:
    # Fixed-width UTC strings sort like the instants they name, so SQL can compare them.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    # fromisoformat reads `_utc`'s strings (the Z too) 40 times faster than strptime, which
    # was most of what reading a few thousand bookings cost.
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("no time zone")
    return moment.astimezone(UTC)


def escaped(value: object, limit: int = 120) -> str:
    """A stored value fit for one log line: bytes that are not UTF-8 as `\\xNN`."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", "backslashreplace")
    else:
        text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return one_line(text, limit)


def _text(column: str, value: object) -> str:
    if not isinstance(value, str):
        raise StateCorrupt(f"{column} is not text: {escaped(value)!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise StateCorrupt(f"{column} is not valid UTF-8: {escaped(value)!r}") from None
    return value


T = TypeVar("T")


def _field(column: str, value: object, convert: Callable[[str], T]) -> T:
    text = _text(column, value)
    try:
        return convert(text)
    except (ValueError, TypeError, KeyError) as exc:
        raise StateCorrupt(f"bad {column} {escaped(text)!r} ({escaped(exc, 80)})") from None


def bad_row(row: tuple[object, ...]) -> BadRow | None:
    """What is wrong with `row` (a `_SELECT` row), or None if it reads."""
    try:
        _booking(row[1:])
    except StateCorrupt as exc:
        return BadRow(int(str(row[0])), escaped(row[1]), str(exc))
    return None


def to_row(b: Booking, now: datetime) -> tuple[object, ...]:
    client = json.dumps(dataclasses.asdict(b.client), ensure_ascii=False)
    return (
        b.id,
        b.coach,
        b.event_id,
        b.phase.value,
        client,
        b.client.email.lower(),
        utc_text(b.start),
        utc_text(b.end),
        b.fingerprint,
        b.followup.value,
        utc_text(b.followup_due),
        b.note.locator if b.note else None,
        b.note.url if b.note else None,
        b.header,
        b.annotated,
        b.draft_id,
        b.reason,
        b.effect.value,
        utc_text(now),
    )


def from_row(row: tuple[object, ...]) -> Booking:
    """The booking in a `_SELECT` row. Raises StateCorrupt naming the row (its booking id,
    escaped, and rowid) when a column cannot be read: bad UTF-8, an unknown phase or
    follow-up state, a bad timestamp or client record."""
    try:
        return _booking(row[1:])
    except StateCorrupt as exc:
        raise StateCorrupt(f"booking {escaped(row[1])!r} (row {row[0]}): {exc}") from None


def _booking(row: tuple[object, ...]) -> Booking:
    (bid, coach, event_id, phase, client, _email, start, end, fp, followup, due, locator, url) = row[:13]
    header, annotated, draft_id, reason, effect, _updated = row[13:]
    note = NoteRef(_text("note_locator", locator), _text("note_url", url)) if locator is not None else None
    return Booking(
        id=_text("id", bid),
        coach=_text("coach", coach),
        event_id=_text("event_id", event_id),
        phase=_field("phase", phase, Phase),
        client=_field("client", client, _client),
        start=_field("start", start, parse_utc),
        end=_field("end", end, parse_utc),
        fingerprint=_text("fingerprint", fp),
        followup=_field("followup", followup, Followup),
        followup_due=_field("followup_due", due, parse_utc),
        note=note,
        header=_text("header", header),
        annotated=_text("annotated", annotated),
        draft_id=_text("draft_id", draft_id),
        reason=_text("reason", reason),
        effect=_field("effect", effect, Effect),
    )


def _client(text: str) -> Client:
    fields = json.loads(text)
    if not isinstance(fields, dict):
        raise ValueError("not a JSON object")
    return Client(**fields)


# Bad rows already logged by this process (database, row id): one line each, not every pass.
_REPORTED: set[tuple[str, int]] = set()


class RowReads:
    """What every store does with the rows it read: bookings out of them (a bad row named once
    in the log and left out), the coaches shown, the counts. A store gives `where`, `_rows`
    (a query's rows, fetched) and `get_meta`; both dialects read the queries here alike."""

    _coaches: frozenset[str] | None = None

    @property
    def where(self) -> str:
        raise NotImplementedError

    def _rows(self, query: str, args: Iterable[object] = ()) -> Sequence[tuple[Any, ...]]:
        raise NotImplementedError

    def get_meta(self, key: str) -> str | None:
        raise NotImplementedError

    def created(self) -> datetime:
        """When this state was begun (or first opened by a syncd that records it). Whatever is
        older may have been done by an install whose state was lost: look before creating it."""
        try:
            return parse_utc(self.get_meta("created") or "")
        except ValueError:
            return datetime.now(UTC)

    def only_coaches(self, coaches: frozenset[str]) -> None:
        """Report on these coaches only: a coach removed from the config keeps its records
        (it may come back) but no longer counts as tracked or pending."""
        self._coaches = coaches

    def _shown(self, coach: str) -> bool:
        return self._coaches is None or coach in self._coaches

    def count(self) -> int:
        """How many bookings are tracked (for the coaches set by `only_coaches`)."""
        rows = self._rows("SELECT coach, COUNT(*) FROM bookings GROUP BY coach")
        return sum(int(n) for coach, n in rows if self._shown(str(coach)))

    def phase_counts(self) -> dict[str, int]:
        """How many bookings are in each phase (for the coaches set by `only_coaches`): the
        operator's gauge, one GROUP BY instead of reading every booking."""
        counts: dict[str, int] = {}
        for coach, phase, n in self._rows(
            "SELECT coach, phase, COUNT(*) FROM bookings GROUP BY coach, phase"
        ):
            if self._shown(str(coach)):
                counts[str(phase)] = counts.get(str(phase), 0) + int(n)
        return counts

    def _readable(self, rows: Iterable[tuple[Any, ...]]) -> list[Booking]:
        """The bookings of `rows`; a row that cannot be read is logged (once) and left out."""
        out = []
        for row in rows:
            try:
                out.append(from_row(row))
            except StateCorrupt as exc:
                seen = (self.where, int(str(row[0])))
                if seen not in _REPORTED:
                    _REPORTED.add(seen)
                    log.error("%s: %s; skipped (`syncd doctor` lists such rows)", self.where, exc)
        return out

    def _first(self, rows: Iterable[tuple[Any, ...]]) -> Booking | None:
        """The first booking of `rows` that can be read (a bad row does not hide the next)."""
        for row in rows:
            found = self._readable([row])
            if found:
                return found[0]
        return None
