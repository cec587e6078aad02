"""A calendar source on a CalDAV server (iCloud, Fastmail, Nextcloud, Radicale, any RFC 4791
server), spoken to directly over HTTP (`caldav_http`): no CalDAV library is needed.

Discovery: the configured URL is either the calendar itself or the server; from the server,
the principal (`current-user-principal`, else `/.well-known/caldav`) leads to the calendar
home, and there to the calendar whose display name is configured, else the first calendar of
events (sorted by href, so always the same one).

Changes: a sync-collection REPORT (RFC 6578) with the token of the last pass, so an idle pass
costs one REPORT. A server that refuses or drops the token (or never had one) is read by a
PROPFIND listing instead; either way each href's ETag is compared with the one remembered, and
only hrefs whose ETag changed are fetched (one calendar-multiget), so a server that answers a
token with everything duplicates nothing. Series are expanded over `[since, now + horizon]`
as in the vdir source; a series item is fetched again once the window has moved more than
`REREAD_AFTER` past where it was expanded to, and then reports only instances it had not.

The cursor is JSON, opaque to callers, keyed on href and ETag, not UID:
`{"v": 1, "cal": "<calendar URL>", "token": "<sync token or ''>", "items": {"<href>": [etag,
[ids], reach]}}` (`reach`: the window end in Unix seconds the item's series were expanded to,
null when none goes on after it).

Writes: the annotation goes into the resource's raw text through `ics_write` (as for the vdir
source), attendees get `SCHEDULE-AGENT=CLIENT` so the server mails nobody, and the PUT carries
`If-Match` with the ETag read. A 412 means someone changed the event in between: it is read
and annotated again once, then `PreconditionFailed`. A weak or missing ETag cannot be matched
(servers answer 412 forever): then the text is read again just before an unconditional PUT.

Companion events (`link_placement: companion`) are resources of their own, written whole with
`ics_companion`'s text: a new one by a PUT with `If-None-Match: *` (never over another), one
found by its UID (a calendar-query) replaced with `If-Match`. They are never reported as
events, so syncd's prep event is never taken for a booking.
"""

from __future__ import annotations

import json
import logging
import math
import shlex
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from icalendar import Calendar

from syncd.calendars.caldav_http import CALDAV, DAV, DavClient, Entry, href_in, multistatus, normal_href
from syncd.calendars.ics_annotate import Placement
from syncd.calendars.ics_companion import companion_text, companion_uid, is_companion, shows
from syncd.calendars.ics_events import (
    PARSE_ERRORS,
    cancelled_stub,
    expand,
    find_occurrence,
    load_calendar,
    started_before,
    to_event,
    uid_of,
)
from syncd.calendars.ics_write import annotated_text, client_scheduled
from syncd.calendars.limits import HORIZON, REREAD_AFTER
from syncd.config import CaldavCalendarConfig, CoachConfig, Settings
from syncd.errors import (
    AuthError,
    BadEvent,
    ConfigError,
    CursorExpired,
    EventGone,
    NotPermitted,
    PreconditionFailed,
    ReadOnlyEvent,
    Rejected,
    Unavailable,
)
from syncd.model import Annotation, CalendarEvent, ChangeSet, Companion
from syncd.text import error_line, one_line

log = logging.getLogger(__name__)

CURSOR_VERSION = 1
_SYNC_ROUNDS = 20  # truncated sync answers followed in one pass (the rest comes next pass)
_ICS = {"Content-Type": "text/calendar; charset=utf-8"}

_PROPFIND_SELF = b"""<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop>
<d:resourcetype/><d:current-user-principal/><c:calendar-home-set/><d:displayname/>
</d:prop></d:propfind>"""
_PROPFIND_HOME = b"""<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop>
<d:resourcetype/><d:displayname/><c:supported-calendar-component-set/>
</d:prop></d:propfind>"""
_PROPFIND_ETAGS = b"""<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:resourcetype/><d:sync-token/></d:prop></d:propfind>"""


def _sync_body(token: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:">'
        f"<d:sync-token>{escape(token)}</d:sync-token><d:sync-level>1</d:sync-level>"
        "<d:prop><d:getetag/></d:prop></d:sync-collection>"
    ).encode()


def _multiget_body(hrefs: Iterable[str]) -> bytes:
    listed = "".join(f"<d:href>{escape(href)}</d:href>" for href in hrefs)
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
        f"<d:prop><d:getetag/><c:calendar-data/></d:prop>{listed}</c:calendar-multiget>"
    ).encode()


def _uid_query_body(uid: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
        '<d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR">'
        '<c:comp-filter name="VEVENT"><c:prop-filter name="UID">'
        f'<c:text-match collation="i;octet">{escape(uid)}</c:text-match>'
        "</c:prop-filter></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"
    ).encode()


@dataclass(frozen=True)
class _Item:
    """What the cursor remembers of one calendar object resource."""

    etag: str
    ids: tuple[str, ...] = ()
    reach: int | None = None


@dataclass(frozen=True)
class _Cursor:
    calendar: str
    token: str
    items: dict[str, _Item]


class CaldavCalendar:
    """A `CalendarSource` on one CalDAV calendar; see the module doc.

    `url` is the server or the calendar; `name` the calendar's display name ("" for the first
    calendar of events). `coach_addresses`, `coach_timezone`, `link_placement` and `horizon`
    mean what they mean for the vdir source; `clock` gives now.
    """

    # A cancelled event stays on the calendar (struck through) and may be written.
    annotates_cancelled = True

    def __init__(
        self,
        client: DavClient,
        url: str,
        *,
        name: str = "",
        coach_addresses: Iterable[str] = frozenset(),
        coach_timezone: str = "UTC",
        link_placement: Placement = "description",
        horizon: timedelta = HORIZON,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.url = url
        self.name = name
        self.coach_addresses = frozenset(address.lower() for address in coach_addresses)
        self.zone = ZoneInfo(coach_timezone)
        self.link_placement: Placement = link_placement
        self.horizon = horizon
        self._clock = clock
        self._calendar: str | None = None  # the calendar's URL, once discovered
        self._index: dict[str, str] = {}  # event id -> href, as of the last changes()

    # --- discovery ----------------------------------------------------------------------------

    def calendar_url(self) -> str:
        """The calendar's collection URL (discovered once per source)."""
        if self._calendar is None:
            self._calendar = self._discover()
        return self._calendar

    def _discover(self) -> str:
        entry = self._propfind(self.url, _PROPFIND_SELF, depth="0")
        if entry is not None and _is_calendar(entry):
            return self.url if self.url.endswith("/") else self.url + "/"
        home = href_in(entry.props.get(f"{CALDAV}calendar-home-set")) if entry else None
        if home is None:
            principal = href_in(entry.props.get(f"{DAV}current-user-principal")) if entry else None
            if principal is None:
                known = self._propfind(_join(self.url, "/.well-known/caldav"), _PROPFIND_SELF, depth="0")
                principal = href_in(known.props.get(f"{DAV}current-user-principal")) if known else None
            if principal is None:
                raise ConfigError(
                    f"CalDAV URL {self.url}: no calendar, principal or calendar home found there"
                )
            found = self._propfind(_join(self.url, principal), _PROPFIND_SELF, depth="0")
            home = href_in(found.props.get(f"{CALDAV}calendar-home-set")) if found else None
            if home is None:
                raise ConfigError(f"CalDAV URL {self.url}: the principal names no calendar home")
        return self._choose(_join(self.url, home))

    def _choose(self, home: str) -> str:
        response = self.client.request("PROPFIND", home, _PROPFIND_HOME, {"Depth": "1"})
        calendars = sorted(
            (entry for entry in multistatus(response.body, response.url) if _is_calendar(entry)),
            key=lambda entry: entry.href,
        )
        events = [entry for entry in calendars if _holds_events(entry)]
        names = {entry.href: _text(entry.props.get(f"{DAV}displayname")) for entry in events}
        if self.name:
            chosen = [
                entry for entry in events if self.name in (names[entry.href], _last_segment(entry.href))
            ]
            if not chosen:
                known = ", ".join(repr(name or _last_segment(href)) for href, name in names.items()) or "none"
                raise ConfigError(f"CalDAV calendar {self.name!r} not found at {home} (calendars: {known})")
            return _join(home, chosen[0].href)
        if not events:
            raise ConfigError(f"CalDAV calendar home {home} holds no calendar of events")
        return _join(home, events[0].href)

    def _propfind(self, url: str, body: bytes, *, depth: str) -> Entry | None:
        try:
            response = self.client.request("PROPFIND", url, body, {"Depth": depth})
        except (EventGone, NotPermitted, Rejected):
            return None  # not a DAV resource: the caller tries the next way
        entries = multistatus(response.body, response.url)
        return entries[0] if entries else None

    # --- reading ------------------------------------------------------------------------------

    def changes(self, cursor: str | None, since: datetime) -> ChangeSet:
        """Events of the resources changed since `cursor` (every event ending after `since`
        when None): see the module doc. Deleted resources and instances give cancelled stubs.
        Raises `CursorExpired` for a cursor made for another calendar or version, and
        `Unavailable` when the calendar is gone from its URL (moved or deleted on the server):
        the discovery is then forgotten, so the next pass looks for the calendar again."""
        calendar = self.calendar_url()
        try:
            return self._changes(calendar, cursor, since)
        except EventGone:
            # Every request here is on the collection, so a 404 means the calendar itself.
            self._calendar = None
            raise Unavailable(
                f"CalDAV calendar {calendar} is no longer there (moved or deleted on the server); "
                "looking for it again next pass"
            ) from None

    def _changes(self, calendar: str, cursor: str | None, since: datetime) -> ChangeSet:
        previous = None if cursor is None else self._decode(cursor, calendar)
        window = (since, max(since, self._clock()) + self.horizon)
        old = previous.items if previous else {}
        etags, token = self._changed_etags(calendar, previous)
        items = dict(old)
        fetch = {
            href
            for href, etag in etags.items()
            if etag is not None and (href not in old or old[href].etag != etag or not etag)
        }
        extended = {
            href
            for href, item in old.items()
            # Still there (a listing names every href, a sync report only the changed ones).
            if href not in fetch and etags.get(href, item.etag) is not None and _due(item, window)
        }
        events: list[CalendarEvent] = []
        gone: list[str] = []  # ids no longer on the server, unless another href holds them now
        for href, etag in etags.items():
            if etag is None and href in items:
                gone += items.pop(href).ids
        for href, (etag, text) in self._fetch(calendar, sorted(fetch | extended)).items():
            before = old.get(href)
            found = self._read(href, text, etag, window)
            if found is None:  # unreadable: kept as it was, not fetched again until it changes
                items[href] = replace(before or _Item(""), etag=etag)
                continue
            items[href], read = found
            if previous is None:  # a first sync needs only what is still ahead, nothing cancelled
                events += [e for e in read if not e.cancelled and e.end is not None and e.end > since]
            elif href in extended and before is not None:
                events += [e for e in read if e.id not in before.ids]
            else:
                # An instance of a moved series lives on under its new id; one that slid out
                # of the window behind `since` was not cancelled.
                kept = {e.id for e in read} | {e.moved_from for e in read}
                dropped = [i for i in (before.ids if before else ()) if i not in kept]
                gone += [i for i in dropped if not started_before(i, since, self.zone)]
                events += read
        held = {event_id for item in items.values() for event_id in item.ids}
        events += [cancelled_stub(event_id) for event_id in dict.fromkeys(gone) if event_id not in held]
        self._index = {event_id: href for href, item in items.items() for event_id in item.ids}
        return ChangeSet(events, self._encode(_Cursor(calendar, token, items)))

    def _changed_etags(self, calendar: str, previous: _Cursor | None) -> tuple[dict[str, str | None], str]:
        """The hrefs that may have changed, each with its ETag (None: deleted), and the token
        for next time. By sync report when the server keeps the token, else by listing."""
        token = previous.token if previous else ""
        if previous is None or token:
            changes: dict[str, str | None] = {}
            try:
                for _ in range(_SYNC_ROUNDS):
                    response = self.client.request("REPORT", calendar, _sync_body(token), {"Depth": "1"})
                    more, token, truncated = _sync_changes(response.body, response.url, calendar)
                    changes.update(more)
                    if not truncated:
                        return changes, token
                # Still truncated: the rest comes with this token next pass.
                return changes, token
            except (NotPermitted, Rejected, PreconditionFailed, EventGone) as exc:
                log.info(
                    "%s",
                    error_line(f"CalDAV calendar {calendar}: sync token refused ({exc}); listing instead"),
                )
        response = self.client.request("PROPFIND", calendar, _PROPFIND_ETAGS, {"Depth": "1"})
        listed: dict[str, str | None] = {}
        new_token = ""
        for entry in multistatus(response.body, response.url):
            if entry.href == normal_href(calendar, calendar):
                new_token = _text(entry.props.get(f"{DAV}sync-token"))
            elif not _is_collection(entry):
                listed[entry.href] = _text(entry.props.get(f"{DAV}getetag"))
        if previous is not None:
            listed.update({href: None for href in previous.items if href not in listed})
        return listed, new_token

    def _fetch(self, calendar: str, hrefs: list[str]) -> dict[str, tuple[str, str]]:
        """`href -> (etag, text)` of the resources named, in one calendar-multiget."""
        if not hrefs:
            return {}
        response = self.client.request("REPORT", calendar, _multiget_body(hrefs), {"Depth": "1"})
        fetched: dict[str, tuple[str, str]] = {}
        for entry in multistatus(response.body, response.url):
            data = entry.props.get(f"{CALDAV}calendar-data")
            if data is not None and data.text:
                fetched[entry.href] = (_text(entry.props.get(f"{DAV}getetag")), data.text)
        return fetched

    def _read(
        self, href: str, text: str, etag: str, window: tuple[datetime, datetime]
    ) -> tuple[_Item, list[CalendarEvent]] | None:
        try:
            found = expand(load_calendar(text), window, self.zone)
        except (BadEvent, *PARSE_ERRORS) as exc:
            log.warning("%s", error_line(f"skipping CalDAV event {href}: {exc}"))
            return None
        events = [to_event(o, etag=etag, coach_addresses=self.coach_addresses) for o in found.occurrences]
        events = [e for e in events if not is_companion(e.id)]  # syncd's own prep event: never a booking
        reach = _seconds(window[1]) if found.continues else None
        return _Item(etag, tuple(dict.fromkeys(e.id for e in events)), reach), events

    def get(self, event_id: str) -> CalendarEvent | None:
        """The event as the server has it now; None when it no longer exists."""
        found = self._load(event_id)
        if found is None:
            return None
        _href, _text_read, etag, calendar = found
        occurrence = find_occurrence(calendar, event_id, self.zone)
        if occurrence is None:
            return None
        return to_event(occurrence, etag=etag, coach_addresses=self.coach_addresses)

    def _load(self, event_id: str) -> tuple[str, str, str, Calendar] | None:
        """`(href, text, etag, parsed)` of the resource holding `event_id`; None when gone."""
        href = self._href(event_id)
        if href is None:
            return None
        try:
            response = self.client.request("GET", _join(self.calendar_url(), href), expect=(200,))
        except EventGone:
            return None
        text = response.body.decode("utf-8", errors="replace")
        try:
            calendar = load_calendar(text)
        except (BadEvent, *PARSE_ERRORS) as exc:
            raise Rejected(f"CalDAV event {href}: {one_line(str(exc), 160)}") from None
        return href, text, response.headers.get("etag", ""), calendar

    def _href(self, event_id: str) -> str | None:
        if event_id in self._index:
            return self._index[event_id]
        return self._href_of_uid(uid_of(event_id))

    def _href_of_uid(self, uid: str) -> str | None:
        calendar = self.calendar_url()
        response = self.client.request("REPORT", calendar, _uid_query_body(uid), {"Depth": "1"})
        hrefs = [
            entry.href for entry in multistatus(response.body, response.url) if entry.status in (None, 200)
        ]
        return hrefs[0] if hrefs else None

    # --- writing ------------------------------------------------------------------------------

    def annotate(self, event: CalendarEvent, annotation: Annotation) -> None:
        """Write `annotation` into the event on the server (see the module doc). Raises
        `EventGone` when it no longer exists, `ReadOnlyEvent` when the server refuses the
        write (403), `PreconditionFailed` when it changed under syncd twice in a row."""
        for attempt in (1, 2):
            found = self._load(event.id)
            if found is None:
                raise EventGone(f"CalDAV event {one_line(event.id, 120)} no longer exists")
            href, text, etag, calendar = found
            occurrence = find_occurrence(calendar, event.id, self.zone)
            if occurrence is None:
                raise EventGone(f"CalDAV event {one_line(event.id, 120)} no longer exists in {href}")
            written = annotated_text(
                text,
                calendar,
                occurrence,
                annotation,
                placement=self.link_placement,
                zone=self.zone,
                where=f"CalDAV event {href}",
            )
            if written == text or _same_calendar(written, calendar):
                return  # servers that re-serialise (Radicale) reorder lines: compare parsed too
            headers = dict(_ICS)
            if etag and not etag.startswith("W/"):
                headers["If-Match"] = etag
            elif attempt == 1:
                continue  # nothing to match on: read once more, right before the write
            try:
                self.client.request(
                    "PUT", _join(self.calendar_url(), href), client_scheduled(written).encode(), headers
                )
                return
            except PreconditionFailed:
                if attempt == 2:
                    raise
            except NotPermitted as exc:
                raise ReadOnlyEvent(f"CalDAV event {href} may not be written: {exc}") from None

    # --- companion events ---------------------------------------------------------------------

    def put_companion(self, companion: Companion) -> None:
        """Write the booking's prep event (`CompanionCalendar`): a new resource that replaces
        nothing, or the one holding its UID brought up to it; nothing when it already is."""
        uid = companion_uid(companion.booking_id)
        data = companion_text(companion, self._clock()).encode("utf-8")
        for attempt in (1, 2):
            href = self._href_of_uid(uid)
            headers = dict(_ICS)
            if href is None:
                href = normal_href(self.calendar_url(), f"{uid}.ics")
                headers["If-None-Match"] = "*"
            else:
                response = self._get_companion(href)
                if response is not None and shows(response[0], companion):
                    return
                if response is not None and response[1] and not response[1].startswith("W/"):
                    headers["If-Match"] = response[1]
            try:
                self.client.request("PUT", _join(self.calendar_url(), href), data, headers)
                return
            except PreconditionFailed:  # made or changed meanwhile: look again, once
                if attempt == 2:
                    raise

    def drop_companion(self, booking_id: str) -> None:
        """Delete the booking's prep event; nothing when there is none."""
        href = self._href_of_uid(companion_uid(booking_id))
        if href is None:
            return
        try:
            self.client.request("DELETE", _join(self.calendar_url(), href))
        except EventGone:
            return

    def _get_companion(self, href: str) -> tuple[str, str] | None:
        """(text, etag) of a prep event's resource; None when it is gone."""
        try:
            response = self.client.request("GET", _join(self.calendar_url(), href), expect=(200,))
        except EventGone:
            return None
        return response.body.decode("utf-8", errors="replace"), response.headers.get("etag", "")

    # --- cursor -------------------------------------------------------------------------------

    def _encode(self, cursor: _Cursor) -> str:
        items = {href: [i.etag, list(i.ids), i.reach] for href, i in sorted(cursor.items.items())}
        return json.dumps(
            {"v": CURSOR_VERSION, "cal": cursor.calendar, "token": cursor.token, "items": items},
            separators=(",", ":"),
        )

    def _decode(self, cursor: str, calendar: str) -> _Cursor:
        try:
            data: Any = json.loads(cursor)
            if data["v"] != CURSOR_VERSION or data["cal"] != calendar:
                raise ValueError("made by another version or for another calendar")
            items = {
                str(href): _Item(str(etag), tuple(str(i) for i in ids), None if reach is None else int(reach))
                for href, (etag, ids, reach) in data["items"].items()
            }
            return _Cursor(calendar, str(data["token"]), items)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise CursorExpired(f"CalDAV cursor for {calendar} cannot be used ({exc})") from None


def from_config(section: CaldavCalendarConfig, coach: CoachConfig, settings: Settings) -> CaldavCalendar:
    """The CalDAV calendar a coach's config section describes (the registry's factory)."""
    client = DavClient(section.username, read_password(section))
    return CaldavCalendar(
        client,
        section.url,
        name=section.calendar,
        coach_addresses=coach.addresses,
        coach_timezone=coach.timezone,
        link_placement=section.link_placement,
        horizon=settings.horizon,
    )


def read_password(section: CaldavCalendarConfig) -> str:
    """The password from `password_file` (its first line) or `password_command` (the first
    line it prints). Raises `AuthError` naming the key, never showing the password."""
    if section.password_file is not None:
        try:
            text = section.password_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AuthError(f"calendar.password_file {section.password_file} cannot be read: {exc}") from None
    else:
        command = section.password_command or ""
        try:
            done = subprocess.run(
                shlex.split(command), capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            raise AuthError(f"calendar.password_command failed to run: {one_line(str(exc), 160)}") from None
        if done.returncode != 0:
            raise AuthError(f"calendar.password_command exited with status {done.returncode}")
        text = done.stdout
    password = text.splitlines()[0] if text.strip() else ""
    if not password:
        raise AuthError("calendar.password_file / password_command gave an empty password")
    return password


# --- helpers ----------------------------------------------------------------------------------


def _sync_changes(body: bytes, base: str, calendar: str) -> tuple[dict[str, str | None], str, bool]:
    """`href -> etag` (None: deleted) of a sync-collection answer, its new token, and whether
    the server cut the answer short (RFC 6578 section 3.6: 507 on the collection itself)."""
    changes: dict[str, str | None] = {}
    own = normal_href(calendar, calendar)
    truncated = False
    for entry in multistatus(body, base):
        if entry.href == own:
            truncated = entry.status == 507
            continue
        if entry.status in (404, 410):
            changes[entry.href] = None
        elif not _is_collection(entry):
            changes[entry.href] = _text(entry.props.get(f"{DAV}getetag"))
    root = ET.fromstring(body)  # noqa: S314 -- parsed already by multistatus; see there
    return changes, (root.findtext(f"{DAV}sync-token") or "").strip(), truncated


def _same_calendar(text: str, calendar: Calendar) -> bool:
    """Whether `text` says what `calendar` says, whatever the order of its lines."""
    try:
        return bool(load_calendar(text) == calendar)
    except (BadEvent, *PARSE_ERRORS):
        return False


def _is_calendar(entry: Entry) -> bool:
    kind = entry.props.get(f"{DAV}resourcetype")
    return kind is not None and kind.find(f"{CALDAV}calendar") is not None


def _is_collection(entry: Entry) -> bool:
    kind = entry.props.get(f"{DAV}resourcetype")
    return kind is not None and kind.find(f"{DAV}collection") is not None


def _holds_events(entry: Entry) -> bool:
    supported = entry.props.get(f"{CALDAV}supported-calendar-component-set")
    if supported is None or len(supported) == 0:
        return True  # not said: any component
    return any(comp.get("name", "").upper() == "VEVENT" for comp in supported)


def _text(element: Any) -> str:
    return str(element.text or "").strip() if element is not None else ""


def _join(base: str, href: str) -> str:
    return urljoin(base, href)


def _last_segment(href: str) -> str:
    return href.rstrip("/").rsplit("/", 1)[-1]


def _due(item: _Item, window: tuple[datetime, datetime]) -> bool:
    """Whether an unchanged item's series must be expanded again over the moved window."""
    return item.reach is not None and _seconds(window[1]) - item.reach > REREAD_AFTER.total_seconds()


def _seconds(moment: datetime) -> int:
    return math.ceil(moment.timestamp())
