"""A fake of Calendar API v3 events: list (sync tokens, paging), get, insert, update, patch, delete.

What it holds to, from GOOGLE.md: `nextSyncToken` only on the last page; a sync token returns
every change since it was issued, deletions as cancelled stubs carrying little more than an
`id`; parameters that Google refuses next to `syncToken` get a 400; an expired token gets 410
with Google's body; `If-Match` with a stale etag gets 412; every write changes the etag;
arrays in a patch replace; private extended properties drop keys over 44 characters and
truncate values over 1024; at most 5 reminder overrides; attachments only with
`supportsAttachments=true` (otherwise ignored), at most 25, each with a `fileUrl`.

A full listing honours `timeMin` (bounds the end, exclusive) and `timeMax` (bounds the start,
exclusive), and `privateExtendedProperty=name=value` (repeatable: every one must match; a value
without `=` gets 400); a sync token then reports every change wherever it lies in time, as
Google does.

Recurring events (an RRULE in `recurrence`) are expanded into instances when `singleEvents`
is true; writing to an instance stores it as an exception of its series. A deleted event
answers `get` with 410 (set `deleted_events_readable` to get it back with status cancelled
instead: which of the two Google does is unconfirmed, and syncd must cope with both).

Not modelled: EXDATE/RDATE, attendees' copies on other calendars, notifications.
"""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from .recurrence import instances, is_series
from .server import ApiError, FakeRequest, FakeResponse

if TYPE_CHECKING:
    from .server import FakeGoogle

REFUSED_WITH_SYNC_TOKEN = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
# What an attendee (not the organizer) may still change on their copy of an event.
GUEST_EDITABLE = {"reminders", "extendedProperties", "colorId", "transparency"}
MAX_ATTACHMENTS = 25
SERVER_FIELDS = {"kind", "etag", "htmlLink", "created", "updated", "iCalUID", "creator"}
_EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")


@dataclass
class _Calendar:
    id: str
    time_zone: str
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # tombstones included
    seq: dict[str, int] = field(default_factory=dict)  # event id -> change number of last write
    read_only: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)


@dataclass
class _Listing:
    """A list call being paged: what is left to hand out, and the token that ends it."""

    calendar_id: str
    signature: dict[str, list[str]]
    remaining: list[dict[str, Any]]
    sync_seq: int
    single_events: bool
    page: int = 0


class FakeCalendar:
    """Calendars with events, served as Calendar API v3; the test-side API seeds and inspects.

    `page_size` caps every page (besides `maxResults`); `page_plan` gives explicit sizes of
    successive pages (0 = an empty page that still has a `nextPageToken`).
    """

    def __init__(self, fake: FakeGoogle, owner: str = "coach@example.com") -> None:
        self._fake = fake
        self._changes = itertools.count(1)
        self._tokens = itertools.count(1)
        self.primary = owner
        self.default_reminders: list[dict[str, Any]] = [{"method": "popup", "minutes": 10}]
        self.page_size: int | None = None
        self.page_plan: list[int] | None = None
        self.deleted_events_readable = False
        self._calendars: dict[str, _Calendar] = {}
        self._sync_tokens: dict[str, tuple[str, int, bool]] = {}
        self._listings: dict[str, _Listing] = {}
        self.add_calendar(owner)
        fake.register_api(
            "calendar",
            "v3",
            {
                "calendar.events.list": self._list,
                "calendar.events.get": self._get,
                "calendar.events.insert": self._insert,
                "calendar.events.update": self._update,
                "calendar.events.patch": self._patch,
                "calendar.events.delete": self._delete,
            },
        )

    # --- test-side API -----------------------------------------------------------------------

    def add_calendar(self, calendar_id: str, time_zone: str = "Europe/Berlin") -> None:
        with self._fake.lock:
            self._calendars[calendar_id] = _Calendar(calendar_id, time_zone)

    def put_event(self, event: dict[str, Any], calendar_id: str | None = None) -> dict[str, Any]:
        """Create or replace an event directly (as another client would); returns the stored copy."""
        with self._fake.lock:
            cal = self._calendar(calendar_id or self.primary)
            event = copy.deepcopy(event)
            event.setdefault("id", f"fake{next(self._tokens):08d}")
            created = cal.events.get(event["id"], {}).get("created")
            cal.deleted.discard(event["id"])
            self._store(cal, self._with_defaults(cal, event, created))
            return copy.deepcopy(cal.events[event["id"]])

    def modify(self, event_id: str, calendar_id: str | None = None, **fields: Any) -> dict[str, Any]:
        """Change fields of a stored event (a concurrent edit by the coach): new etag, new change."""
        with self._fake.lock:
            cal = self._calendar(calendar_id or self.primary)
            event = self._materialized(cal, event_id)
            event.update(copy.deepcopy(fields))
            self._store(cal, event)
            return copy.deepcopy(event)

    def delete_event(self, event_id: str, calendar_id: str | None = None) -> None:
        """Delete an event (a whole series for a recurring one): sync tokens report the deletion."""
        with self._fake.lock:
            cal = self._calendar(calendar_id or self.primary)
            self._remove(cal, self._materialized(cal, event_id))

    def purge(self, event_id: str, calendar_id: str | None = None) -> None:
        """Forget an event entirely: get answers 404."""
        with self._fake.lock:
            cal = self._calendar(calendar_id or self.primary)
            cal.events.pop(event_id, None)
            cal.seq.pop(event_id, None)
            cal.deleted.discard(event_id)

    def event(self, event_id: str, calendar_id: str | None = None) -> dict[str, Any]:
        """A copy of the stored event (tombstones included)."""
        with self._fake.lock:
            return copy.deepcopy(self._existing(self._calendar(calendar_id or self.primary), event_id))

    def live_events(self, calendar_id: str | None = None) -> list[dict[str, Any]]:
        """Copies of the stored events that are not deleted (series as their masters)."""
        with self._fake.lock:
            cal = self._calendar(calendar_id or self.primary)
            return [copy.deepcopy(e) for e in cal.events.values() if not self._is_deleted(cal, e)]

    def set_read_only(self, event_id: str, calendar_id: str | None = None) -> None:
        """Make the coach a guest of the event: only reminders and private properties may change."""
        with self._fake.lock:
            self._calendar(calendar_id or self.primary).read_only.add(event_id)

    def expire_sync_tokens(self) -> None:
        """Invalidate every sync token (Google does so now and then): the next use gets 410."""
        with self._fake.lock:
            self._sync_tokens.clear()
            self._listings.clear()

    # --- handlers ----------------------------------------------------------------------------

    def _list(self, request: FakeRequest) -> FakeResponse:
        cal = self._requested(request)
        page_token = request.arg("pageToken")
        if page_token:
            listing = self._continue_listing(page_token, request)
        else:
            listing = self._start_listing(cal, request)
        return FakeResponse(200, self._next_page(cal, listing, request))

    def _get(self, request: FakeRequest) -> FakeResponse:
        cal = self._requested(request)
        event = self._existing(cal, request.params["eventId"])
        if self._is_deleted(cal, event) and not self.deleted_events_readable:
            raise ApiError(410, "Resource has been deleted", "deleted")
        return FakeResponse(200, copy.deepcopy(event))

    def _insert(self, request: FakeRequest) -> FakeResponse:
        cal = self._requested(request)
        body = _strip_server_fields(request.json())
        event_id = body.setdefault("id", f"fake{next(self._tokens):08d}")
        if not _EVENT_ID.match(event_id):
            raise ApiError(400, "Invalid resource id value.", "invalid")
        if event_id in cal.events:
            raise ApiError(409, "The requested identifier already exists.", "duplicate")
        _check_event(body)
        self._store(cal, self._with_defaults(cal, body, None))
        return FakeResponse(200, copy.deepcopy(cal.events[event_id]))

    def _update(self, request: FakeRequest) -> FakeResponse:
        cal, event = self._writable(request)
        body = _strip_server_fields(request.json())
        body["id"] = event["id"]
        self._check_guest_change(cal, event, body, whole=True)
        _check_event(body)
        self._store(cal, self._with_defaults(cal, body, event.get("created")))
        return FakeResponse(200, copy.deepcopy(cal.events[event["id"]]))

    def _patch(self, request: FakeRequest) -> FakeResponse:
        cal, event = self._writable(request)
        body = _strip_server_fields(request.json())
        _take_attachments(body, request.arg("supportsAttachments") == "true")
        self._check_guest_change(cal, event, body, whole=False)
        merged = copy.deepcopy(event)
        _merge(merged, body)
        _check_event(merged)
        self._store(cal, merged)
        return FakeResponse(200, copy.deepcopy(merged))

    def _delete(self, request: FakeRequest) -> FakeResponse:
        cal, event = self._writable(request)
        self._remove(cal, event)
        return FakeResponse(204)

    # --- listing -----------------------------------------------------------------------------

    def _start_listing(self, cal: _Calendar, request: FakeRequest) -> _Listing:
        sync_token = request.arg("syncToken")
        single = request.arg("singleEvents") == "true"
        if sync_token:
            items = self._changed_since(cal, sync_token, request, single)
        else:
            items = self._matching(cal, request)
        signature = {k: v for k, v in request.query.items() if k != "pageToken"}
        return _Listing(cal.id, signature, items, max(cal.seq.values(), default=0), single)

    def _continue_listing(self, page_token: str, request: FakeRequest) -> _Listing:
        listing = self._listings.pop(page_token, None)
        if listing is None:
            raise ApiError(400, "Invalid page token value.", "invalid")
        signature = {k: v for k, v in request.query.items() if k != "pageToken"}
        if signature != listing.signature:
            raise ApiError(400, "Page token used with different request parameters.", "invalid")
        return listing

    def _changed_since(
        self, cal: _Calendar, token: str, request: FakeRequest, single: bool
    ) -> list[dict[str, Any]]:
        for name in REFUSED_WITH_SYNC_TOKEN:
            if name in request.query:
                raise ApiError(400, f"Parameter {name} cannot be used with syncToken.", "invalid")
        if request.arg("showDeleted") == "false":
            raise ApiError(400, "showDeleted=false cannot be used with syncToken.", "invalid")
        state = self._sync_tokens.get(token)
        if state is None or state[0] != cal.id:
            raise ApiError(410, "Sync token is no longer valid, a full sync is required.", "fullSyncRequired")
        if state[2] != single:
            raise ApiError(400, "singleEvents must equal the initial full sync's.", "invalid")
        return [self._listed(e) for seq, e in self._units(cal, single) if seq > state[1]]

    def _matching(self, cal: _Calendar, request: FakeRequest) -> list[dict[str, Any]]:
        show_deleted = request.arg("showDeleted") == "true"
        low = _query_time(request.arg("timeMin"), "timeMin")
        high = _query_time(request.arg("timeMax"), "timeMax")
        private = _property_filters(request.query.get("privateExtendedProperty", []))
        found = []
        for _, event in self._units(cal, request.arg("singleEvents") == "true"):
            if event.get("status") == "cancelled" and not show_deleted:
                continue
            props = (event.get("extendedProperties") or {}).get("private") or {}
            if any(props.get(name) != value for name, value in private):
                continue
            start, end = _event_time(event.get("start")), _event_time(event.get("end"))
            if low and end and end <= low:  # timeMin bounds the end, exclusive
                continue
            if high and start and start >= high:
                continue
            found.append(self._listed(event))
        return found

    def _next_page(self, cal: _Calendar, listing: _Listing, request: FakeRequest) -> dict[str, Any]:
        size = self._page_length(listing.page, int(request.arg("maxResults") or 250))
        items, listing.remaining = listing.remaining[:size], listing.remaining[size:]
        listing.page += 1
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"{listing.sync_seq}"',
            "summary": cal.id,
            "timeZone": cal.time_zone,
            "accessRole": "owner",
            "defaultReminders": copy.deepcopy(self.default_reminders),
            "items": items,
        }
        if listing.remaining or self._plan_pending(listing.page):
            token = f"page-{next(self._tokens)}"
            self._listings[token] = listing
            body["nextPageToken"] = token
        else:
            token = f"sync-{next(self._tokens)}"
            self._sync_tokens[token] = (listing.calendar_id, listing.sync_seq, listing.single_events)
            body["nextSyncToken"] = token
        return body

    def _page_length(self, page: int, max_results: int) -> int:
        if self.page_plan is not None and page < len(self.page_plan):
            return min(self.page_plan[page], max_results)
        return min(self.page_size or max_results, max_results)

    def _plan_pending(self, page: int) -> bool:
        # An empty page planned next still gets its nextPageToken, as Google may do.
        return self.page_plan is not None and page < len(self.page_plan) and self.page_plan[page] == 0

    # --- storage -----------------------------------------------------------------------------

    def _requested(self, request: FakeRequest) -> _Calendar:
        """The calendar a request names. With a token issued to a user (`oauth.token_info(...,
        user=)`), `primary` is that user's calendar (the user's address is its id) and another
        user's is not found, as Google answers for a calendar not shared with the caller."""
        calendar_id = request.params["calendarId"]
        user = self._fake.oauth.user_of(request.headers.get("Authorization"))
        if user is None:
            return self._calendar(calendar_id)
        if calendar_id not in ("primary", user):
            raise ApiError(404, "Not Found", "notFound")
        return self._calendar(user)

    def _calendar(self, calendar_id: str) -> _Calendar:
        cal = self._calendars.get(self.primary if calendar_id == "primary" else calendar_id)
        if cal is None:
            raise ApiError(404, "Not Found", "notFound")
        return cal

    def _existing(self, cal: _Calendar, event_id: str) -> dict[str, Any]:
        """The stored event, or the generated instance of a series; 404 when there is none."""
        event = cal.events.get(event_id)
        if event is None:
            event = self._generated_instance(cal, event_id)
        if event is None:
            raise ApiError(404, "Not Found", "notFound")
        return event

    def _generated_instance(self, cal: _Calendar, event_id: str) -> dict[str, Any] | None:
        master = cal.events.get(event_id.rpartition("_")[0])
        if master is None or not is_series(master):
            return None
        return next((i for i in instances(master) if i["id"] == event_id), None)

    def _materialized(self, cal: _Calendar, event_id: str) -> dict[str, Any]:
        """The stored event; an instance written to becomes a stored exception of its series."""
        event = self._existing(cal, event_id)
        if event_id not in cal.events:
            cal.events[event_id] = event
            cal.seq[event_id] = cal.seq[event["recurringEventId"]]
        return event

    def _is_deleted(self, cal: _Calendar, event: dict[str, Any]) -> bool:
        return bool({event["id"], event.get("recurringEventId")} & cal.deleted)

    def _remove(self, cal: _Calendar, event: dict[str, Any]) -> None:
        if self._is_deleted(cal, event):
            raise ApiError(410, "Resource has been deleted", "deleted")
        exceptions = [e for e in cal.events.values() if e.get("recurringEventId") == event["id"]]
        for gone in [event, *exceptions]:
            gone["status"] = "cancelled"
            cal.deleted.add(gone["id"])
            self._store(cal, gone)

    def _writable(self, request: FakeRequest) -> tuple[_Calendar, dict[str, Any]]:
        cal = self._requested(request)
        event = self._existing(cal, request.params["eventId"])
        if self._is_deleted(cal, event):
            raise ApiError(410, "Resource has been deleted", "deleted")
        expected = request.headers.get("If-Match")
        if expected is not None and expected != event["etag"]:
            raise ApiError(412, "Precondition Failed", "conditionNotMet")
        return cal, self._materialized(cal, event["id"])

    def _check_guest_change(
        self, cal: _Calendar, event: dict[str, Any], body: dict[str, Any], whole: bool
    ) -> None:
        if not {event["id"], event.get("recurringEventId")} & cal.read_only:
            return
        changed = {k for k in set(body) | (set(event) if whole else set()) if body.get(k) != event.get(k)}
        if changed - GUEST_EDITABLE - SERVER_FIELDS - {"id", "sequence"}:
            raise ApiError(
                403,
                "Shared properties can only be changed by the organizer of the event.",
                "forbiddenForNonOrganizer",
            )

    def _with_defaults(self, cal: _Calendar, event: dict[str, Any], created: str | None) -> dict[str, Any]:
        now = _now()
        event.setdefault("status", "confirmed")
        event.setdefault("kind", "calendar#event")
        event["created"] = created or now
        event.setdefault("iCalUID", f"{event['id']}@google.com")
        event.setdefault("htmlLink", f"https://www.google.com/calendar/event?eid={event['id']}")
        event.setdefault("sequence", 0)
        event.setdefault("creator", {"email": cal.id, "self": True})
        event.setdefault("organizer", {"email": cal.id, "self": True})
        event.setdefault("reminders", {"useDefault": True})
        for person in [event["organizer"], *event.get("attendees", [])]:
            if person.get("email") == cal.id:
                person["self"] = True
        return event

    def _store(self, cal: _Calendar, event: dict[str, Any]) -> None:
        change = next(self._changes)
        event["etag"] = f'"{3181161784712000 + change}"'
        event["updated"] = _now()
        _limit_private_properties(event)
        cal.events[event["id"]] = event
        cal.seq[event["id"]] = change

    def _units(self, cal: _Calendar, single: bool) -> list[tuple[int, dict[str, Any]]]:
        """(change number, event) for what a list shows, oldest change first.

        With `single`, a series shows as its instances (exceptions in place of generated ones),
        each carrying the series' change number unless it was changed on its own.
        """
        units: list[tuple[int, dict[str, Any]]] = []
        for event in cal.events.values():
            if single and is_series(event):
                for instance in instances(event):
                    stored = cal.events.get(instance["id"])
                    seq = cal.seq[instance["id"] if stored else event["id"]]
                    units.append((seq, stored or instance))
            elif not (single and event.get("recurringEventId") in cal.events):
                units.append((cal.seq[event["id"]], event))
        return sorted(units, key=lambda unit: unit[0])

    def _listed(self, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("status") != "cancelled":
            return copy.deepcopy(event)
        # The least Google guarantees for a cancelled event.
        keep = ("kind", "etag", "id", "status", "recurringEventId", "originalStartTime")
        return {k: copy.deepcopy(event[k]) for k in keep if k in event}


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """Patch semantics: objects merge key by key, arrays and scalars replace, null removes."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _check_event(event: dict[str, Any]) -> None:
    reminders = event.get("reminders") or {}
    overrides = reminders.get("overrides") or []
    if reminders.get("useDefault") and overrides:
        raise ApiError(
            400,
            "Cannot specify both default reminders and overrides at the same time.",
            "cannotUseDefaultRemindersAndSpecifyOverride",
        )
    if len(overrides) > 5:
        raise ApiError(400, "Cannot specify more than 5 override reminders.", "tooManyReminders")
    for override in overrides:
        if override.get("method") not in ("popup", "email"):
            raise ApiError(400, f"Invalid reminder method {override.get('method')!r}.", "invalid")
        if not 0 <= int(override.get("minutes", -1)) <= 40320:
            raise ApiError(400, "Reminder minutes must be between 0 and 40320.", "invalid")
    for side in ("start", "end"):
        if event.get("status") != "cancelled" and not (event.get(side) or {}).keys() & {"date", "dateTime"}:
            raise ApiError(400, f"Missing {side} time.", "required")


def _take_attachments(body: dict[str, Any], supported: bool) -> None:
    """Check a write's attachments: a client without supportsAttachments has them ignored;
    at most 25, each a Drive file by `fileUrl` (Google then fills in `fileId`)."""
    if "attachments" not in body:
        return
    if not supported:
        del body["attachments"]
        return
    attachments = body["attachments"] or []
    if len(attachments) > MAX_ATTACHMENTS:
        raise ApiError(400, f"Cannot specify more than {MAX_ATTACHMENTS} attachments.", "tooManyAttachments")
    for attachment in attachments:
        url = str(attachment.get("fileUrl") or "")
        if not url:
            raise ApiError(400, "Attachment fileUrl is required.", "required")
        match = re.search(r"/d/([\w-]+)", url)
        attachment.setdefault("fileId", match.group(1) if match else "")


def _limit_private_properties(event: dict[str, Any]) -> None:
    # Google drops keys over 44 characters and truncates values over 1024, silently.
    for scope in ("private", "shared"):
        props = (event.get("extendedProperties") or {}).get(scope)
        if isinstance(props, dict):
            event["extendedProperties"][scope] = {k: str(v)[:1024] for k, v in props.items() if len(k) <= 44}


def _strip_server_fields(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "Missing request body.", "required")
    return {k: v for k, v in body.items() if k not in SERVER_FIELDS}


def _property_filters(values: list[str]) -> list[tuple[str, str]]:
    filters = []
    for value in values:
        name, equals, wanted = value.partition("=")
        if not equals or not name:
            raise ApiError(400, "Invalid extended property constraint (use propertyName=value).", "invalid")
        filters.append((name, wanted))
    return filters


def _query_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ApiError(400, f"Bad Request: {name} must be an RFC3339 timestamp with offset.", "badRequest")
    return parsed


def _event_time(value: dict[str, Any] | None) -> datetime | None:
    if not value:
        return None
    if "dateTime" in value:
        parsed = datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    day = date.fromisoformat(value["date"])
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
