"""An Outlook / Microsoft 365 calendar through Microsoft Graph: calendarView delta, per-user
annotations, companion events.

Reads: `calendarView/delta` over `[since, now + horizon)`. Graph freezes that window into the
delta token, so the cursor keeps the window's end; once `now + horizon` has moved more than
`WINDOW_SLACK` past it the cursor is expired and a full round reads the new window (the engine
takes events it knows idempotently). Every page is read before the deltaLink is kept; a 410
(`SyncStateNotFound`, a stale nextLink) is `CursorExpired`. `@removed` entries are cancelled
stubs; occurrences of a series come one by one with their own ids (at most `SERIES_INSTANCES`
per series and read), a plain occurrence without its fields (Graph sends only its id, series
and times) filled in from the series master, read once per series; syncd's companion events
are left out. An idle pass is one request.

Writes: the shared `body` of a meeting is never patched by the default placements (a PATCH of
an organiser's meeting may mail every attendee; Graph has no `sendUpdates=none`). `annotate`
writes per-user fields only, extended properties and the reminder, with `If-Match` on the
event's etag; a 412 re-reads and applies once more. `link_placement: description` also writes
the body, as the README warns. Delta leaves the extended properties out: an event annotated
straight from a delta item gets all of syncd's properties in its patch (no read first); one
re-read (`get`) is read with `$expand`, and what syncd wrote is remembered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from syncd.accounts import microsoft_settings, reauth_command
from syncd.calendars.limits import HORIZON, SERIES_INSTANCES
from syncd.calendars.outlook_items import (
    EXPAND,
    annotation_patch,
    cap_series,
    companion_filter,
    companion_item,
    companion_patch,
    event_from_item,
    is_companion,
    is_partial,
    iso,
    occurrence_from_master,
    pick_calendar,
    read_window_cursor,
    read_with_props,
    remembered,
    stale,
    window_cursor,
)
from syncd.calendars.raw_items import SHARED as SHARED_RAW
from syncd.calendars.window import WINDOW_SLACK
from syncd.errors import (
    AuthError,
    BackendError,
    CursorExpired,
    EventGone,
    NotPermitted,
    PreconditionFailed,
    ReadOnlyEvent,
    Rejected,
)
from syncd.microsoft.auth import REAUTH_HINT
from syncd.microsoft.graph import Answer, Graph, describe, graph_for, mailbox
from syncd.model import Annotation, CalendarEvent, ChangeSet, Companion
from syncd.text import one_line

if TYPE_CHECKING:
    from syncd.config import CoachConfig, OutlookCalendarConfig, Settings

log = logging.getLogger(__name__)

PAGE_SIZE = 200  # Prefer: odata.maxpagesize; Graph may send fewer
MAX_PAGES = 10_000


class OutlookCalendar:
    """One Outlook calendar of the signed-in mailbox; `calendar` is a name or id, "" the
    primary one. `owner` holds the coach's addresses (Graph marks no attendee as "self")."""

    annotates_cancelled = False  # a cancelled meeting is the organiser's to remove, not ours to mark
    reauth_hint = REAUTH_HINT  # from_config names `--coach` for a coach's own account

    def __init__(
        self,
        graph: Graph,
        calendar: str = "",
        link_placement: str = "companion",
        *,
        owner: frozenset[str] = frozenset(),
        horizon: timedelta = HORIZON,
        clock: Callable[[], int] = time.time_ns,
        page_size: int = PAGE_SIZE,
        signed_in: Callable[[], str] = lambda: "",
    ) -> None:
        self.graph = graph
        self.calendar = calendar
        self.link_placement = link_placement
        self.horizon = horizon
        self.page_size = page_size
        self._owner = frozenset(a.lower() for a in owner)
        self._clock = clock
        self._lock = threading.Lock()
        self._base: str | None = None if calendar else "/me"
        # The items last read or written, shared by every calendar and bounded (see RawItems).
        self._raw = SHARED_RAW
        self._companions: dict[str, dict[str, Any]] = {}  # booking id -> its companion event
        self._told_capped: set[str] = set()
        self._signed_in = signed_in
        self._told_account = False

    @property
    def label(self) -> str:
        return f"Outlook calendar {self.calendar or 'primary'}"

    # --- CalendarSource ----------------------------------------------------------------------

    def changes(self, cursor: str | None, since: datetime) -> ChangeSet:
        """Events changed since `cursor` (all in `[since, now + horizon)` when None), as the
        module doc says. Raises `CursorExpired` on 410, for a cursor it cannot read, and when
        the window has moved on."""
        now = max(since, datetime.fromtimestamp(self._clock() // 10**9, UTC))
        wanted = (now + self.horizon).replace(microsecond=0)
        if cursor:
            link, until = self._read_cursor(cursor, wanted)
            params: dict[str, str] | None = None
        else:
            link, until = self._events_base() + "/calendarView/delta", wanted
            params = {"startDateTime": iso(since), "endDateTime": iso(until)}
        items, delta_link = self._read_round(link, params)
        self._check_account()
        if cursor is None:
            self._raw.forget(self)
        kept = [item for item in self._bounded(items) if item.get("id") and not is_companion(item)]
        events = [self._remember(item) for item in self._completed(kept)]
        return ChangeSet(events, window_cursor(delta_link, until))

    def _check_account(self) -> None:
        """Warn once when the signed-in mailbox is not one of the coach's addresses: Graph marks
        no attendee as "self", so syncd knows the coach by address only, and the coach's own
        address would otherwise look like a client's."""
        account = self._signed_in()
        if self._told_account or not account or not self._owner or account in self._owner:
            return
        self._told_account = True
        log.warning(
            "%s belongs to %s, not to the coach's address: if that is the coach's, add it to "
            "aliases; else %s signed in as %s",
            self.label,
            one_line(account, 100),
            self.reauth_hint,
            min(self._owner),
        )

    def _read_cursor(self, cursor: str, wanted: datetime) -> tuple[str, datetime]:
        try:
            link, until = read_window_cursor(cursor)
        except ValueError as exc:
            raise CursorExpired(f"{self.label}: the sync cursor cannot be used ({exc})") from None
        if wanted - until > WINDOW_SLACK:
            raise CursorExpired(
                f"{self.label}: events were read up to {iso(until)}, the horizon now reaches "
                f"{iso(wanted)}: a full sync is needed"
            )
        return link, until

    def _read_round(self, link: str, params: dict[str, str] | None) -> tuple[list[dict[str, Any]], str]:
        """Every page of one delta round, and its deltaLink (only once the last page is read)."""
        items: list[dict[str, Any]] = []
        headers = {"Prefer": f"odata.maxpagesize={self.page_size}"}
        for _ in range(MAX_PAGES):
            try:
                answer = self.graph.call(
                    "GET",
                    link,
                    f"{self.label}: reading changes",
                    params=params,
                    headers=headers,
                    expect=(410,),
                )
            except NotPermitted as exc:
                # The coach's own calendar: a refusal is a missing permission, not an event's.
                raise AuthError(
                    f"{exc}; the Microsoft sign-in lacks Calendars.ReadWrite: {REAUTH_HINT}"
                ) from None
            if answer.status == 410:
                raise CursorExpired(f"{self.label}: {describe(answer)}; a full sync is needed")
            items.extend(v for v in answer.body.get("value") or [] if isinstance(v, dict))
            following = answer.body.get("@odata.nextLink")
            if following:
                link, params = str(following), None
                continue
            delta = answer.body.get("@odata.deltaLink")
            if not delta:
                raise BackendError(f"{self.label}: the last page of changes had no deltaLink")
            return items, str(delta)
        raise BackendError(f"{self.label}: more than {MAX_PAGES} pages of changes")

    def _bounded(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept, capped = cap_series(items, SERIES_INSTANCES)
        for series, count in capped.items():
            if series not in self._told_capped:
                self._told_capped.add(series)
                log.warning(
                    "%s: recurring event %s has %d occurrences in the window syncd reads; only the "
                    "first %d are taken",
                    self.label,
                    one_line(series, 80),
                    count,
                    SERIES_INSTANCES,
                )
        return kept

    def _completed(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`items` with each partial occurrence (delta sends a plain occurrence of a series
        without subject, body or attendees) filled in from its series master, read once per
        series; occurrences of a master that is gone are left out (their removal comes)."""
        masters: dict[str, dict[str, Any] | None] = {}
        done = []
        for item in items:
            if is_partial(item):
                master_id = str(item["seriesMasterId"])
                if master_id not in masters:
                    masters[master_id] = self._fetch(master_id)
                master = masters[master_id]
                if master is None:
                    continue
                item = occurrence_from_master(master, item)
            done.append(item)
        return done

    def get(self, event_id: str) -> CalendarEvent | None:
        """Re-read one event (with syncd's properties); None when Graph no longer has it."""
        item = self._fetch(event_id)
        return None if item is None else self._remember(item)

    def annotate(self, event: CalendarEvent, annotation: Annotation) -> None:
        """Write syncd's properties and reminder (and with `description` placement the block
        in the body) into the event; nothing when already there. 412 re-reads and applies
        once more, then `PreconditionFailed`; a refused write is `ReadOnlyEvent`."""
        raw = self._current(event)
        for attempt in range(2):
            if raw.get("isCancelled"):
                raise EventGone(f"{self.label}, event {event.id}: cancelled, not annotated")
            patch = annotation_patch(raw, annotation, self.link_placement)
            if not patch:
                return
            answer = self._patch(event.id, patch, str(raw.get("@odata.etag") or ""))
            if answer.status == 412:
                if attempt:
                    raise PreconditionFailed(
                        f"{self.label}, event {event.id}: changed twice while annotating it"
                    )
                log.info("%s: event %s changed while annotating it; re-reading", self.label, event.id)
                raw = self._require(event.id)
                continue
            self._remember(remembered(raw, patch, answer.body))
            return

    # --- CompanionCalendar -------------------------------------------------------------------

    def put_companion(self, companion: Companion) -> None:
        """Create the booking's companion event, or bring the one found (remembered, else by
        its extended property) up to `companion`: never two for one booking."""
        for attempt in range(2):
            existing = self._find_companion(companion.booking_id)
            if existing is None:
                where = (
                    f"{self.label}: creating the companion of booking {one_line(companion.booking_id, 80)}"
                )
                answer = self._write(
                    "POST", self._events_base() + "/events", where, companion_item(companion)
                )
                self._keep_companion(companion.booking_id, answer.body)
                return
            patch = companion_patch(existing, companion)
            if not patch:
                return
            try:
                answer = self._patch(str(existing["id"]), patch, str(existing.get("@odata.etag") or ""))
            except EventGone:  # the coach deleted it: made again below
                answer = Answer(404, {}, {})
            if answer.status in (404, 412):
                with self._lock:
                    self._companions.pop(companion.booking_id, None)
                if attempt and answer.status == 412:
                    raise PreconditionFailed(
                        f"{self.label}: the companion of a booking changed while updating it"
                    )
                continue
            self._keep_companion(companion.booking_id, remembered(existing, patch, answer.body))
            return

    def drop_companion(self, booking_id: str) -> None:
        """Delete the booking's companion event; nothing when there is none."""
        existing = self._find_companion(booking_id)
        if existing is None:
            return
        where = f"{self.label}: deleting the companion of booking {one_line(booking_id, 80)}"
        self.graph.call("DELETE", f"/me/events/{quote(str(existing['id']), safe='')}", where, expect=(404,))
        with self._lock:
            self._companions.pop(booking_id, None)

    def _find_companion(self, booking_id: str) -> dict[str, Any] | None:
        with self._lock:
            known = self._companions.get(booking_id)
        if known is not None:
            return known
        where = f"{self.label}: looking up the companion of booking {one_line(booking_id, 80)}"
        params = {"$filter": companion_filter(booking_id), "$expand": EXPAND}
        found = (
            self.graph.call("GET", self._events_base() + "/events", where, params=params).body.get("value")
            or []
        )
        if len(found) > 1:
            log.warning(
                "%s: booking %s has %d companion events; keeping the first",
                self.label,
                one_line(booking_id, 80),
                len(found),
            )
        if not found:
            return None
        companion = read_with_props(found[0])
        self._keep_companion(booking_id, companion)
        return companion

    def _keep_companion(self, booking_id: str, item: dict[str, Any]) -> None:
        with self._lock:
            self._companions[booking_id] = dict(item)

    # --- requests ----------------------------------------------------------------------------

    def _events_base(self) -> str:
        """`/me` for the primary calendar, else `/me/calendars/{id}` (the name looked up once)."""
        if self._base is None:
            listing = self.graph.call("GET", "/me/calendars", f"{self.label}: listing calendars").body
            found = pick_calendar(list(listing.get("value") or []), self.calendar)
            if found is None:
                names = ", ".join(repr(str(c.get("name"))) for c in listing.get("value") or [])
                raise Rejected(
                    f"{self.label}: no such calendar in the signed-in mailbox (it has {names}); check calendar.calendar"
                )
            self._base = f"/me/calendars/{quote(found, safe='')}"
        return self._base

    def _fetch(self, event_id: str) -> dict[str, Any] | None:
        where = f"{self.label}, event {one_line(event_id, 80)}: reading it"
        answer = self.graph.call(
            "GET", self._event_path(event_id), where, params={"$expand": EXPAND}, expect=(404, 410)
        )
        if answer.status in (404, 410):
            self._raw.drop(self, event_id)
            return None
        return read_with_props(answer.body)

    def _patch(self, event_id: str, patch: dict[str, Any], etag: str) -> Answer:
        where = f"{self.label}, event {one_line(event_id, 80)}: writing"
        headers = {"If-Match": etag} if etag else {}
        answer = self._write("PATCH", self._event_path(event_id), where, patch, headers, expect=(404, 412))
        if answer.status == 404:
            raise EventGone(f"{where}: the event no longer exists")
        return answer

    def _write(
        self,
        method: str,
        path: str,
        where: str,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        expect: tuple[int, ...] = (),
    ) -> Answer:
        try:
            return self.graph.call(method, path, where, body=body, headers=headers, expect=expect)
        except NotPermitted as exc:
            raise ReadOnlyEvent(f"{exc} (the coach may not edit this event)") from None

    @staticmethod
    def _event_path(event_id: str) -> str:
        return f"/me/events/{quote(event_id, safe='')}"

    # --- the raw-event cache -------------------------------------------------------------------

    def _current(self, event: CalendarEvent) -> dict[str, Any]:
        raw = self._raw.get(self, event.id)
        if raw is not None and not stale(raw, event):
            return raw
        return self._require(event.id)

    def _require(self, event_id: str) -> dict[str, Any]:
        raw = self._fetch(event_id)
        if raw is None:
            raise EventGone(f"{self.label}, event {event_id}: no longer exists")
        return raw

    def _remember(self, item: dict[str, Any]) -> CalendarEvent:
        event = event_from_item(item, self._owner)
        known = self._raw.get(self, event.id)
        if event.cancelled:
            self._raw.drop(self, event.id)
        elif (
            "singleValueExtendedProperties" in item
            or known is None
            or known.get("@odata.etag") != item.get("@odata.etag")
        ):
            self._raw.put(self, event.id, item)
        return event


def from_config(section: OutlookCalendarConfig, coach: CoachConfig, settings: Settings) -> OutlookCalendar:
    """The coach's Outlook calendar; signing in happens on the first request, not here."""
    account = microsoft_settings(settings, coach)  # the coach's own Microsoft account, if any
    tokens, _ = mailbox(account)
    calendar = OutlookCalendar(
        graph_for(account),
        section.calendar,
        section.link_placement,
        owner=coach.addresses,
        horizon=section.horizon or settings.horizon,
        signed_in=lambda: tokens.username,
    )
    calendar.reauth_hint = f"run `{reauth_command(coach, 'microsoft')}` again"
    return calendar
