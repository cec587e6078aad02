"""Google Calendar (API v3) as a calendar source: incremental sync tokens, annotations by patch.

Reads use `events.list` with `singleEvents` (one entry per instance of a series) and
`showDeleted` (deletions come back as cancelled stubs); the cursor is the sync token of the
last page with the end of the window read. Writes are `events.patch` guarded by `If-Match`,
with `sendUpdates=none` so the client is never mailed about syncd's edits, and skipped entirely
when the event already carries the annotation, so syncd's own write does not come back as work
to do. What an item means and what a patch holds is decided, without I/O, in
`syncd.calendars.google_items`.

The window: a full sync reads `[since, now + horizon)` (Google filters by `timeMin`/`timeMax`),
so an open daily series gives the instances of two months, not of every year to come. A sync
token then reports changes anywhere in time and Google refuses a window next to it, so
instances starting after the recorded end are dropped here (the next window reads them), and
once `now + horizon` has moved more than `WINDOW_SLACK` past that end, the cursor is expired
for a full sync of the new window (the engine takes events it already knows idempotently). Of
each series at most `SERIES_INSTANCES` instances are taken per read, with one warning. Single
events are never dropped from incremental results (a booking moved past the window must still
be heard of); a single event that was already further ahead than the window at the full sync is
read when the window reaches it.

Companion events (`link_placement: companion`) are inserted with `sendUpdates=none` and no
attendees, found again by a `privateExtendedProperty` query on the booking id (see
`google_companion`), and left out of what `changes` reports: syncd's own prep event, titled
"Prep: intro with ...", is never a booking.

Failures leave this module only as syncd errors with one line naming the calendar and event.
This module is imported only when a Google calendar is configured (the registry imports it
lazily), so it may import the Google libraries at the top.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from googleapiclient.errors import HttpError

from syncd.accounts import google_settings, reauth_command
from syncd.calendars.google_companion import (
    companion_item,
    companion_patch,
    companion_query,
    is_companion_item,
)
from syncd.calendars.google_items import (
    annotation_patch,
    event_from_item,
    in_window,
    read_window_cursor,
    rfc3339,
    self_addresses,
    window_cursor,
)
from syncd.calendars.limits import HORIZON, SERIES_INSTANCES
from syncd.calendars.raw_items import SHARED as SHARED_RAW
from syncd.calendars.raw_items import RawItems
from syncd.calendars.window import WINDOW_SLACK
from syncd.errors import (
    BackendError,
    CursorExpired,
    EventGone,
    PreconditionFailed,
    ReadOnlyEvent,
    Rejected,
    SyncdError,
)
from syncd.google.auth import DEFAULT_HTTP_TIMEOUT, REAUTH_HINT
from syncd.google.transport import (
    NUM_RETRIES,
    RATE_LIMIT_REASONS,
    SETUP_REASONS,
    ThreadServices,
    calling,
    error_reason,
    error_text,
    execute,
    lazy_factory,
)
from syncd.google.transport import http_error as generic_http_error
from syncd.model import Annotation, CalendarEvent, ChangeSet, Companion
from syncd.text import one_line

if TYPE_CHECKING:
    from syncd.config import CoachConfig, GoogleCalendarConfig, Settings

log = logging.getLogger(__name__)

PAGE_SIZE = 2500  # the most Google allows: fewest round trips
MAX_PAGES = 10_000  # a guard against a server that never stops paging


class GoogleCalendar:
    """One Google calendar of one coach.

    `service_factory` builds a googleapiclient `calendar` v3 service; it is called once per
    thread, because httplib2 is not thread-safe. `sleep` replaces the client library's backoff
    sleep (tests pass a no-op). Events are read up to `horizon` ahead of now, which `clock`
    gives (nanoseconds, as `time.time_ns`), but never before the `since` of a read.
    """

    # Google hides a cancelled event from the coach and refuses to patch it.
    annotates_cancelled = False
    reauth_hint = REAUTH_HINT  # from_config names `--coach` for a coach's own account

    def __init__(
        self,
        service_factory: Callable[[], Any],
        calendar_id: str = "primary",
        link_placement: str = "both",
        *,
        num_retries: int = NUM_RETRIES,
        sleep: Callable[[float], None] | None = None,
        owner: frozenset[str] = frozenset(),
        horizon: timedelta = HORIZON,
        clock: Callable[[], int] = time.time_ns,
        raw_items: RawItems | None = None,
    ) -> None:
        self.calendar_id = calendar_id
        self.horizon = horizon
        self._clock = clock
        self._told_capped: set[str] = set()  # series already reported as cut to the cap
        self.link_placement = link_placement
        self._owner = frozenset(address.lower() for address in owner)
        self._warned: set[str] = set()  # `self` addresses already reported as not the coach's
        self._services = ThreadServices(service_factory)
        self._num_retries = num_retries
        self._sleep = sleep
        self._lock = threading.Lock()  # for _companion_ids: the calendar serves pool threads
        # Shared by every calendar of the process, and bounded (see `RawItems`).
        self._raw = raw_items if raw_items is not None else SHARED_RAW
        self._zone = ""
        self._default_reminders: list[dict[str, Any]] = []
        # Ids of companion events seen or written: a deleted one comes back as a stub with no
        # more than its id, which must not reach the engine as an event either.
        self._companion_ids: set[str] = set()

    @property
    def label(self) -> str:
        return f"Google calendar {self.calendar_id}"

    # --- CalendarSource ----------------------------------------------------------------------

    def changes(self, cursor: str | None, since: datetime) -> ChangeSet:
        """Events changed since `cursor` (all events ending after `since` and starting before
        now + horizon when None); series instances bounded as the module doc says.

        Reads every page before returning, so the cursor holds the last page's sync token.
        Raises `CursorExpired` on 410, for a cursor it cannot read, and when the window has
        moved on (the caller drops the cursor and calls again).
        """
        now = max(since, datetime.fromtimestamp(self._clock() // 10**9, UTC))
        # Whole seconds, as Google is sent and the cursor keeps it: both ends agree.
        wanted = (now + self.horizon).replace(microsecond=0)
        token, until = self._read_cursor(cursor, wanted) if cursor else (None, wanted)
        items: list[dict[str, Any]] = []
        page_token: str | None = None
        for _ in range(MAX_PAGES):
            response = self._list_page(token, (since, until), page_token)
            items.extend(response.get("items") or [])
            page_token = response.get("nextPageToken")
            if not page_token:
                break
        sync_token = response.get("nextSyncToken")
        if not sync_token:
            raise BackendError(f"{self.label}: the last page of events had no sync token")
        self._check_owner(items)
        self._remember_calendar(response)
        if cursor is None:
            self._raw.forget(self)  # a full read: forget events that are gone
        kept = self._bounded(self._without_companions(items), since, until)
        events = [self._remember(item) for item in kept if item.get("id")]
        return ChangeSet(events, window_cursor(sync_token, until))

    def _without_companions(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self._lock:
            self._companion_ids.update(str(item.get("id")) for item in items if is_companion_item(item))
            return [item for item in items if str(item.get("id")) not in self._companion_ids]

    def _read_cursor(self, cursor: str, wanted: datetime) -> tuple[str, datetime]:
        """(sync token, window end) to read on from; a plain token (a cursor from before
        windows) reads on up to `wanted`."""
        try:
            token, until = read_window_cursor(cursor)
        except ValueError as exc:
            raise CursorExpired(f"{self.label}: the sync cursor cannot be used ({exc})") from None
        if until is None:
            return token, wanted
        if wanted - until > WINDOW_SLACK:
            raise CursorExpired(
                f"{self.label}: events were read up to {rfc3339(until)}, the horizon now "
                f"reaches {rfc3339(wanted)}: a full sync is needed"
            )
        return token, until

    def _bounded(self, items: list[dict[str, Any]], since: datetime, until: datetime) -> list[dict[str, Any]]:
        """`items` without series instances outside the window or past the cap, with one
        warning per series cut to the cap (once while this calendar is in use)."""
        kept, capped = in_window(items, since, until, SERIES_INSTANCES, self._zone)
        for series, count in capped.items():
            if series in self._told_capped:
                continue
            self._told_capped.add(series)
            summary = next(
                (str(i.get("summary") or "") for i in items if i.get("recurringEventId") == series), ""
            )
            log.warning(
                "%s: recurring event %s (%s) has %d instances in the window syncd reads (up to %s); "
                "only the first %d are taken",
                self.label,
                one_line(series),
                one_line(summary),
                count,
                rfc3339(until),
                SERIES_INSTANCES,
            )
        return kept

    def _check_owner(self, items: list[dict[str, Any]]) -> None:
        """Warn, once per address, when the person Google marks `self` on the events of a
        `primary` calendar is not the coach: either the token was made signed in as another
        Google account (syncd would take that person's bookings for the coach's), or the
        coach's own address is missing from `aliases`. A calendar named by its id is one the
        operator chose (shared with the daemon's account, a group calendar): not checked."""
        if not self._owner or self.calendar_id != "primary":
            return
        for stranger in sorted(self_addresses(items) - self._owner - self._warned):
            self._warned.add(stranger)
            log.warning(
                "%s belongs to %s, not to the coach's address: if the Google token was made signed "
                "in as another account, %s signed in as %s; if %s is the coach's, add it to aliases",
                self.label,
                stranger,
                self.reauth_hint,
                min(self._owner),
                stranger,
            )

    def get(self, event_id: str) -> CalendarEvent | None:
        """Re-read one event; None when Google no longer has it (404/410)."""
        item = self._fetch(event_id)
        return None if item is None else self._remember(item)

    def annotate(self, event: CalendarEvent, annotation: Annotation) -> None:
        """Write the link block, private properties and popup reminder into the event.

        Does nothing when they are already there. On 412 (the event changed since it was
        read) re-reads it and applies once more; a second 412 raises `PreconditionFailed`.
        Raises `ReadOnlyEvent` when Google refuses the edit as forbidden.
        """
        try:
            self._annotate(event, annotation, self.link_placement)
        except ReadOnlyEvent:
            if self.link_placement == "private":
                raise
            # A guest may not edit the shared description, but the private properties and the
            # reminders of the coach's own copy are theirs: keep the link there.
            self._annotate(event, annotation, "private")
            log.info(
                "%s: event %s: the coach is a guest here; the note link is kept on the coach's "
                "private copy only",
                self.label,
                event.id,
            )

    def _annotate(self, event: CalendarEvent, annotation: Annotation, placement: str) -> None:
        raw = self._current(event)
        for attempt in range(2):
            if raw.get("status") == "cancelled":
                raise EventGone(f"{self.label}, event {event.id}: cancelled, not annotated")
            body = annotation_patch(raw, annotation, placement, self._default_reminders)
            if not body:
                return
            try:
                updated = self._patch(event.id, body, str(raw.get("etag", "")))
            except PreconditionFailed:
                if attempt:
                    raise
                log.info("%s: event %s changed while annotating it; re-reading", self.label, event.id)
                raw = self._require(event.id)
                continue
            self._remember(updated)
            return

    # --- CompanionCalendar --------------------------------------------------------------------

    def put_companion(self, companion: Companion) -> None:
        """Insert the booking's prep event, or patch the one found by its booking id when it
        differs (`CompanionCalendar`). Neither mails anyone (`sendUpdates=none`, no attendees).
        A 412 (the coach edited it meanwhile) is met by finding it again, once."""
        for attempt in range(2):
            found = self._find_companions(companion.booking_id)
            if not found:
                created = self._write_companion(
                    "creating the prep event", companion.booking_id, body=companion_item(companion)
                )
                self._note_companion(created)
                return
            self._drop_items(found[1:])  # two after some race: one is kept
            patch = companion_patch(found[0], companion)
            if not patch:
                return
            try:
                self._write_companion(
                    "updating the prep event",
                    companion.booking_id,
                    event_id=str(found[0]["id"]),
                    body=patch,
                    etag=str(found[0].get("etag") or ""),
                )
                return
            except PreconditionFailed:
                if attempt:
                    raise

    def drop_companion(self, booking_id: str) -> None:
        """Delete the booking's prep event (every one found); nothing when there is none."""
        self._drop_items(self._find_companions(booking_id))

    def _find_companions(self, booking_id: str) -> list[dict[str, Any]]:
        params = {
            "calendarId": self.calendar_id,
            "privateExtendedProperty": companion_query(booking_id),
            "showDeleted": False,
            "maxResults": 10,
        }
        with self._errors(f"looking for the prep event of booking {one_line(booking_id, 80)}") as service:
            items = [dict(i) for i in self._execute(service.events().list(**params)).get("items") or []]
        for item in items:
            self._note_companion(item)
        return [item for item in items if item.get("status") != "cancelled"]

    def _drop_items(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            event_id = str(item["id"])
            with self._errors("deleting the prep event", event_id, writing=True) as service:
                try:
                    self._execute(
                        service.events().delete(
                            calendarId=self.calendar_id, eventId=event_id, sendUpdates="none"
                        )
                    )
                except HttpError as exc:
                    if exc.status_code not in (404, 410):  # gone already: as wanted
                        raise

    def _write_companion(
        self, what: str, booking_id: str, *, body: dict[str, Any], event_id: str = "", etag: str = ""
    ) -> dict[str, Any]:
        where = event_id or f"for booking {one_line(booking_id, 80)}"
        with self._errors(what, where, writing=True) as service:
            if not event_id:
                request = service.events().insert(calendarId=self.calendar_id, body=body, sendUpdates="none")
            else:
                request = service.events().patch(
                    calendarId=self.calendar_id, eventId=event_id, body=body, sendUpdates="none"
                )
                if etag:
                    request.headers["If-Match"] = etag
            return dict(self._execute(request))

    def _note_companion(self, item: Mapping[str, Any]) -> None:
        with self._lock:
            self._companion_ids.add(str(item.get("id")))

    # --- requests ----------------------------------------------------------------------------

    def _list_page(
        self, cursor: str | None, window: tuple[datetime, datetime], page_token: str | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "calendarId": self.calendar_id,
            "singleEvents": True,
            "showDeleted": True,
            "maxResults": PAGE_SIZE,
        }
        if cursor:
            # Google refuses timeMin (and other filters) next to a sync token.
            params["syncToken"] = cursor
        else:
            params["timeMin"], params["timeMax"] = rfc3339(window[0]), rfc3339(window[1])
        if page_token:
            params["pageToken"] = page_token
        what = "incremental sync" if cursor else "reading events"
        with self._errors(what) as service:
            try:
                return dict(self._execute(service.events().list(**params)))
            except HttpError as exc:
                if exc.status_code == 410 and cursor:
                    raise CursorExpired(f"{self.label}: sync token expired, a full sync is needed") from None
                if exc.status_code == 404:
                    raise Rejected(
                        f"{error_text(exc, f'{self.label}: {what}')}: check the coach's "
                        "calendar.calendar_id ('primary', or the Calendar ID under the calendar's "
                        "Settings > Integrate calendar) and that the calendar is shared with the "
                        "Google account syncd is authorised as ('Make changes to events')"
                    ) from None
                raise

    def _fetch(self, event_id: str) -> dict[str, Any] | None:
        with self._errors("reading the event", event_id) as service:
            try:
                return dict(
                    self._execute(service.events().get(calendarId=self.calendar_id, eventId=event_id))
                )
            except HttpError as exc:
                if exc.status_code in (404, 410):
                    self._raw.drop(self, event_id)
                    return None
                raise

    def _patch(self, event_id: str, body: dict[str, Any], etag: str) -> dict[str, Any]:
        with self._errors("annotating the event", event_id, writing=True) as service:
            # Without supportsAttachments Google ignores the attachments of a patch.
            extra = {"supportsAttachments": True} if "attachments" in body else {}
            request = service.events().patch(
                calendarId=self.calendar_id, eventId=event_id, body=body, sendUpdates="none", **extra
            )
            if etag:
                request.headers["If-Match"] = etag
            return dict(self._execute(request))

    def _execute(self, request: Any) -> Any:
        return execute(request, self._num_retries, self._sleep)

    def _service(self) -> Any:
        return self._services.get()

    @contextmanager
    def _errors(self, what: str, event_id: str = "", *, writing: bool = False) -> Iterator[Any]:
        """Yield the service; turn whatever the client library raises into one syncd error."""
        where = f"{self.label}, event {event_id}" if event_id else self.label
        with calling(f"{where}: {what}", self._services, map_http=partial(http_error, writing=writing)):
            yield self._service()

    # --- the raw-event cache -------------------------------------------------------------------

    def _current(self, event: CalendarEvent) -> dict[str, Any]:
        raw = self._raw.get(self, event.id)
        if raw is not None and event.etag and raw.get("etag") == event.etag:
            return raw
        return self._require(event.id)

    def _require(self, event_id: str) -> dict[str, Any]:
        raw = self._fetch(event_id)
        if raw is None:
            raise EventGone(f"{self.label}, event {event_id}: no longer exists")
        return raw

    def _remember(self, item: dict[str, Any]) -> CalendarEvent:
        event = event_from_item(item, self._zone)
        if event.cancelled:
            self._raw.drop(self, event.id)
        else:
            self._raw.put(self, event.id, item)
        return event

    def _remember_calendar(self, response: Mapping[str, Any]) -> None:
        # Events that use the calendar's default reminders need them when syncd adds its own.
        self._zone = str(response.get("timeZone") or self._zone)
        defaults = response.get("defaultReminders")
        if isinstance(defaults, list):
            self._default_reminders = [dict(d) for d in defaults if isinstance(d, dict)]


def from_config(
    section: GoogleCalendarConfig,
    coach: CoachConfig,
    settings: Settings,
    *,
    timeout: float = DEFAULT_HTTP_TIMEOUT,
    num_retries: int = NUM_RETRIES,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], int] = time.time_ns,
) -> GoogleCalendar:
    """The coach's Google calendar. Credentials are loaded on first use, not here, so a network
    outage at start-up fails a pass (retried) rather than the daemon."""
    log.debug("Google calendar %s for coach %s", section.calendar_id, coach.email)
    calendar = GoogleCalendar(
        lazy_factory("calendar", "v3", google_settings(settings, coach), timeout=timeout),
        section.calendar_id,
        section.link_placement,
        num_retries=num_retries,
        sleep=sleep,
        owner=coach.addresses,
        horizon=settings.horizon,
        clock=clock,
    )
    calendar.reauth_hint = f"run `{reauth_command(coach, 'google')}` again"
    return calendar


# --- errors -----------------------------------------------------------------------------------


def http_error(exc: HttpError, where: str, *, writing: bool = False) -> SyncdError:
    """The syncd error for an HTTP error answer; on top of the errors every Google API has,
    a forbidden write is a `ReadOnlyEvent` and 412 a `PreconditionFailed`."""
    status = int(exc.status_code)
    reason, _ = error_reason(exc)
    generic = reason in RATE_LIMIT_REASONS or reason in SETUP_REASONS
    if (status == 403 and writing and not generic) or reason == "forbiddenForNonOrganizer":
        return ReadOnlyEvent(f"{error_text(exc, where)} (the coach may not edit this event)")
    if status == 412:
        return PreconditionFailed(f"{error_text(exc, where)}; the event changed meanwhile")
    return generic_http_error(exc, where)
