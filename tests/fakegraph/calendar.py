"""The fake's Outlook calendar: events, series expanded to occurrences, calendarView delta.

Every write bumps a change counter; an event, a series master or an exception remembers the
counter of its last change, a deletion leaves a tombstone. A delta token is the counter and
the window it was issued for (plus a generation: `expire_delta_tokens` makes every earlier
token answer 410 SyncStateNotFound). Pages follow `Prefer: odata.maxpagesize`.

Shape checks, as real Graph refuses them: query options on delta, unknown or read-only
properties in a write, extended property ids not of the form `String {GUID} Name X`, a
`$filter` or `$expand` the fake does not know (a real server would answer something else).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from dateutil.rrule import rrulestr

from .server import FakeRequest, FakeResponse, GraphError

if TYPE_CHECKING:
    from .server import FakeGraph

SCOPE = "Calendars.ReadWrite"
PRIMARY = "AAMkADprimary"
CALENDARS = [
    {"id": PRIMARY, "name": "Calendar", "isDefaultCalendar": True},
    {"id": "AAMkADbookings", "name": "Bookings", "isDefaultCalendar": False},
]
WRITABLE = {
    "subject",
    "body",
    "start",
    "end",
    "isAllDay",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "categories",
    "showAs",
    "singleValueExtendedProperties",
    "attendees",
    "location",
    "sensitivity",
    "importance",
    "transactionId",
    "isCancelled",  # not writable on real Graph; allowed for the tests' own seeding only
}
PROP_ID = re.compile(
    r"^String \{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\} Name \w+$"
)
EXPAND = re.compile(r"^singleValueExtendedProperties\(\$filter=(?P<ids>.+)\)$")
EXPAND_ID = re.compile(r"id eq '([^']+)'")
FILTER = re.compile(
    r"^singleValueExtendedProperties/Any\(ep: ep/id eq '(?P<id>[^']+)' and ep/value eq '(?P<value>(?:[^']|'')*)'\)$"
)
DELTA_FORBIDDEN = ("$select", "$expand", "$filter", "$orderby", "$search", "$top")
TIME = "%Y-%m-%dT%H:%M:%S.0000000"


def graph_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime(TIME), "timeZone": "UTC"}


def parse_time(value: Any) -> datetime:
    if not isinstance(value, dict) or not value.get("dateTime") or not value.get("timeZone"):
        raise GraphError(400, "ErrorInvalidRequest", "start and end need dateTime and timeZone.")
    if value["timeZone"] != "UTC":
        raise GraphError(400, "ErrorInvalidRequest", "the fake takes times in UTC only.")
    return datetime.fromisoformat(str(value["dateTime"])[:19]).replace(tzinfo=UTC)


def _encode(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def _decode(token: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        raise GraphError(400, "ErrorInvalidUrlQuery", "The delta token is malformed.") from None
    return dict(data)


class FakeOutlookCalendar:
    """Events of the signed-in mailbox. Stored items are singles and series masters, in UTC,
    in Graph's shape plus private keys: `_seq`, `_calendar`, `_props` (extended properties by
    id), `_rrule` (a master's RRULE), `_exceptions` (original start -> changed fields)."""

    def __init__(self, fake: FakeGraph, *, routes: bool = True) -> None:
        self.fake = fake
        self.reset()
        if not routes:  # another account's calendar: reached through the routes of the first
            return
        me = r"/me(?:/calendars/(?P<cal>[^/]+))?"
        fake.route("GET", me + r"/calendarView/delta", self._delta, SCOPE)
        fake.route("GET", r"/me/calendars", self._calendars, SCOPE)
        fake.route("GET", me + r"/events", self._list, SCOPE)
        fake.route("POST", me + r"/events", self._create, SCOPE)
        fake.route("GET", r"/me/events/(?P<id>[^/]+)", self._get, SCOPE)
        fake.route("PATCH", r"/me/events/(?P<id>[^/]+)", self._patch, SCOPE)
        fake.route("DELETE", r"/me/events/(?P<id>[^/]+)", self._delete, SCOPE)

    def reset(self) -> None:
        self.seq = 0
        self.generation = 0
        self.items: dict[str, dict[str, Any]] = {}
        self.tombstones: dict[str, dict[str, Any]] = {}  # id -> the deleted item (with its _seq)
        self.owner = "casey@coach.example"

    # --- seeding, as the coach's other tools would -------------------------------------------

    def put(self, item: dict[str, Any], *, calendar: str = PRIMARY, rrule: str = "") -> str:
        """Create or replace an event (`item` in Graph's shape, `id` optional); returns its id."""
        with self.fake.lock:
            event_id = str(item.get("id") or "AAMkEv" + secrets.token_hex(6))
            old = self.items.get(event_id)
            stored = {k: v for k, v in item.items() if not k.startswith("_")}
            stored.setdefault("isCancelled", False)
            stored.setdefault("isAllDay", False)
            stored.setdefault("isReminderOn", True)
            stored.setdefault("reminderMinutesBeforeStart", 15)
            stored.setdefault("body", {"contentType": "text", "content": ""})
            stored.setdefault("attendees", [])
            stored.setdefault("categories", [])
            stored.setdefault("organizer", {"emailAddress": {"name": "Casey Coach", "address": self.owner}})
            stored["isOrganizer"] = stored["organizer"]["emailAddress"]["address"].lower() == self.owner
            stored["id"] = event_id
            stored["type"] = "seriesMaster" if rrule else "singleInstance"
            stored["_calendar"] = calendar
            stored["_rrule"] = rrule
            stored["_props"] = dict(old["_props"]) if old else {}
            stored["_exceptions"] = {}
            self.items[event_id] = stored
            self._touch(stored)
            self.tombstones.pop(event_id, None)
            return event_id

    def remove(self, event_id: str) -> None:
        with self.fake.lock:
            master, start = self._split(event_id)
            if start is None:
                item = self.items.pop(event_id)
                self.seq += 1
                item["_seq"] = self.seq
                self.tombstones[event_id] = item
            else:
                self._exception(master, start)["_deleted"] = True
                self._touch(self.items[master], exception=start)

    def expire_delta_tokens(self) -> None:
        """Every delta token and nextLink issued so far answers 410 (the server evicted it)."""
        with self.fake.lock:
            self.generation += 1

    def instance(self, event_id: str) -> dict[str, Any]:
        """An event or occurrence as Graph would give it, with every extended property."""
        with self.fake.lock:
            found = self._find(event_id)
            if found is None:
                raise KeyError(event_id)
            return self._public(found, all_props=True)

    def live(self) -> list[dict[str, Any]]:
        """Every stored single event and series master (not occurrences)."""
        with self.fake.lock:
            return [self._public(item, all_props=True) for item in self.items.values()]

    # --- the model ------------------------------------------------------------------------------

    def _touch(self, item: dict[str, Any], exception: str | None = None) -> None:
        self.seq += 1
        target = item if exception is None else item["_exceptions"][exception]
        target["_seq"] = self.seq
        tag = secrets.token_hex(4)
        target["changeKey"] = tag
        target["@odata.etag"] = f'W/"{tag}"'

    def _exception(self, master: str, start: str) -> dict[str, Any]:
        return self.items[master]["_exceptions"].setdefault(start, {"_seq": 0})

    @staticmethod
    def _split(event_id: str) -> tuple[str, str | None]:
        master, _, stamp = event_id.partition("_occ_")
        return master, (stamp or None)

    def _occurrences(
        self, master: dict[str, Any], start: datetime, end: datetime
    ) -> Iterator[dict[str, Any]]:
        first = parse_time(master["start"])
        length = parse_time(master["end"]) - first
        rule = rrulestr(master["_rrule"], dtstart=first)
        for moment in rule.between(start - length, end, inc=False):
            stamp = moment.strftime("%Y%m%dT%H%M%SZ")
            occurrence = self._occurrence(master, stamp, moment, length)
            if occurrence is not None:
                yield occurrence

    def _occurrence(
        self, master: dict[str, Any], stamp: str, moment: datetime, length: timedelta
    ) -> dict[str, Any] | None:
        changes = master["_exceptions"].get(stamp, {})
        if changes.get("_deleted"):
            return None
        item = {k: copy.deepcopy(v) for k, v in master.items() if k not in ("_exceptions", "_rrule")}
        item.update({"start": graph_time(moment), "end": graph_time(moment + length)})
        item.update({k: copy.deepcopy(v) for k, v in changes.items() if k != "_propsdelta"})
        item["_props"] = {**master["_props"], **changes.get("_propsdelta", {})}
        item["id"] = f"{master['id']}_occ_{stamp}"
        item["type"] = "exception" if len(changes) > 1 else "occurrence"
        item["seriesMasterId"] = master["id"]
        item["originalStart"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        item["_seq"] = max(master["_seq"], changes.get("_seq", 0))
        return item

    def _find(self, event_id: str) -> dict[str, Any] | None:
        master_id, stamp = self._split(event_id)
        master = self.items.get(master_id)
        if master is None:
            return None
        if stamp is None:
            return master
        moment = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return self._occurrence(
            master, stamp, moment, parse_time(master["end"]) - parse_time(master["start"])
        )

    def _view(self, calendar: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The instances overlapping [start, end): singles and occurrences, not masters."""
        found = []
        for item in self.items.values():
            if item["_calendar"] != calendar:
                continue
            if item["_rrule"]:
                found.extend(self._occurrences(item, start, end))
            elif parse_time(item["start"]) < end and parse_time(item["end"]) > start:
                found.append(item)
        return found

    def _removed_since(
        self, calendar: str, since: int, upto: int, start: datetime, end: datetime
    ) -> list[str]:
        removed = []
        for event_id, item in self.tombstones.items():
            if item["_calendar"] != calendar or not since < item["_seq"] <= upto:
                continue
            if item["_rrule"]:
                removed += [o["id"] for o in self._occurrences({**item, "_exceptions": {}}, start, end)]
            else:
                removed.append(event_id)
        for master in self.items.values():
            for stamp, changes in master["_exceptions"].items():
                if (
                    changes.get("_deleted")
                    and since < changes["_seq"] <= upto
                    and master["_calendar"] == calendar
                ):
                    removed.append(f"{master['id']}_occ_{stamp}")
        return removed

    def _public(
        self, item: dict[str, Any], prop_ids: set[str] | None = None, all_props: bool = False
    ) -> dict[str, Any]:
        shown = {k: copy.deepcopy(v) for k, v in item.items() if not k.startswith("_")}
        props = item.get("_props", {})
        if all_props or prop_ids:
            chosen = [(k, v) for k, v in props.items() if all_props or k.lower() in (prop_ids or set())]
            if chosen:
                shown["singleValueExtendedProperties"] = [{"id": k, "value": v} for k, v in chosen]
        shown.setdefault("originalStartTimeZone", "UTC")
        return shown

    # --- handlers -------------------------------------------------------------------------------

    def _calendar_of(self, request: FakeRequest) -> str:
        calendar = (request.match["cal"] if request.match else None) or PRIMARY
        if calendar not in {c["id"] for c in CALENDARS}:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return calendar

    def _delta(self, request: FakeRequest) -> FakeResponse:
        for option in DELTA_FORBIDDEN:
            if option in request.query:
                raise GraphError(
                    400, "ErrorInvalidUrlQueryFilter", f"{option} is not supported on delta queries."
                )
        calendar = self._calendar_of(request)
        page_size = _max_page_size(request.headers.get("Prefer", ""))
        if request.arg("$deltatoken"):
            state = _decode(str(request.arg("$deltatoken")))
            state["offset"], state["from"] = 0, state.pop("seq")
            state["to"] = self.seq
        elif request.arg("$skiptoken"):
            state = _decode(str(request.arg("$skiptoken")))
        else:
            start, end = request.arg("startDateTime"), request.arg("endDateTime")
            if not start or not end:
                raise GraphError(400, "ErrorInvalidParameter", "startDateTime and endDateTime are required.")
            state = {
                "start": start,
                "end": end,
                "from": 0,
                "to": self.seq,
                "offset": 0,
                "gen": self.generation,
            }
        if state.get("gen") != self.generation or state.get("cal", calendar) != calendar:
            raise GraphError(
                410, "SyncStateNotFound", "The sync state generation is not found. Please resync."
            )
        state["cal"] = calendar
        window = (_iso(state["start"]), _iso(state["end"]))
        changed = [
            _as_delta(self._public(i))
            for i in self._view(calendar, *window)
            if state["from"] < i["_seq"] <= state["to"]
        ]
        changed.sort(key=lambda i: (i["start"]["dateTime"], i["id"]))
        removed = [
            {"id": r, "@removed": {"reason": "deleted"}}
            for r in self._removed_since(calendar, state["from"], state["to"], *window)
        ]
        everything = changed + removed
        page = everything[state["offset"] : state["offset"] + page_size]
        base = self.fake.url + request.path
        body: dict[str, Any] = {"value": page}
        if state["offset"] + page_size < len(everything):
            following = {**state, "offset": state["offset"] + page_size}
            body["@odata.nextLink"] = base + "?" + urlencode({"$skiptoken": _encode(following)})
        else:
            done = {k: state[k] for k in ("start", "end", "gen", "cal")} | {"seq": state["to"]}
            body["@odata.deltaLink"] = base + "?" + urlencode({"$deltatoken": _encode(done)})
        return FakeResponse(200, body)

    def _calendars(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(200, {"value": copy.deepcopy(CALENDARS)})

    def _list(self, request: FakeRequest) -> FakeResponse:
        calendar = self._calendar_of(request)
        text = request.arg("$filter") or ""
        match = FILTER.match(text)
        if not match:
            raise GraphError(400, "BadRequest", f"the fake does not know this $filter: {text!r}")
        prop_ids = self._expanded(request)
        wanted_id, value = match["id"].lower(), match["value"].replace("''", "'")
        found = [
            self._public(item, prop_ids)
            for item in self.items.values()
            if item["_calendar"] == calendar
            and any(k.lower() == wanted_id and v == value for k, v in item["_props"].items())
        ]
        return FakeResponse(200, {"value": found})

    def _expanded(self, request: FakeRequest) -> set[str]:
        text = request.arg("$expand")
        if text is None:
            return set()
        match = EXPAND.match(text)
        if not match:
            raise GraphError(400, "BadRequest", f"the fake does not know this $expand: {text!r}")
        ids = EXPAND_ID.findall(match["ids"])
        for prop in ids:
            if not PROP_ID.match(prop):
                raise GraphError(
                    400, "ErrorInvalidExtendedPropertyValue", f"bad extended property id {prop!r}"
                )
        return {i.lower() for i in ids}

    def _get(self, request: FakeRequest) -> FakeResponse:
        assert request.match is not None
        found = self._find(request.match["id"])
        if found is None:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return FakeResponse(200, self._public(found, self._expanded(request)))

    def _create(self, request: FakeRequest) -> FakeResponse:
        body = self._checked_body(request.json(), creating=True)
        props = {p["id"]: p["value"] for p in body.pop("singleValueExtendedProperties", [])}
        event_id = self.put(body, calendar=self._calendar_of(request))
        self.items[event_id]["_props"] = props
        return FakeResponse(201, self._public(self.items[event_id], all_props=True))

    def _patch(self, request: FakeRequest) -> FakeResponse:
        assert request.match is not None
        event_id = request.match["id"]
        found = self._find(event_id)
        if found is None:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        wanted = request.headers.get("If-Match")
        if wanted is not None and wanted != found["@odata.etag"]:
            raise GraphError(
                412,
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
            )
        body = self._checked_body(request.json(), creating=False)
        props = {p["id"]: p["value"] for p in body.pop("singleValueExtendedProperties", [])}
        master_id, stamp = self._split(event_id)
        master = self.items[master_id]
        if stamp is None:
            master.update(body)
            master["_props"].update(props)
            self._touch(master)
        else:
            changes = self._exception(master_id, stamp)
            changes.update(body)
            changes.setdefault("_propsdelta", {}).update(props)
            self._touch(master, exception=stamp)
        updated = self._find(event_id)
        assert updated is not None
        return FakeResponse(200, self._public(updated))

    def _delete(self, request: FakeRequest) -> FakeResponse:
        assert request.match is not None
        if self._find(request.match["id"]) is None:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        self.remove(request.match["id"])
        return FakeResponse(204)

    def _checked_body(self, body: Any, *, creating: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        unknown = set(body) - WRITABLE
        if unknown:
            raise GraphError(
                400,
                "RequestBodyRead",
                f"The property '{sorted(unknown)[0]}' does not exist on type 'microsoft.graph.event' or is read-only.",
            )
        if creating and not {"subject", "start", "end"} <= set(body):
            raise GraphError(400, "ErrorInvalidRequest", "an event needs subject, start and end.")
        for key in ("start", "end"):
            if key in body:
                parse_time(body[key])
        content = body.get("body")
        if content is not None and (
            not isinstance(content, dict) or content.get("contentType") not in ("text", "html")
        ):
            raise GraphError(400, "RequestBodyRead", "body needs contentType text or html.")
        if "reminderMinutesBeforeStart" in body and not isinstance(body["reminderMinutesBeforeStart"], int):
            raise GraphError(400, "RequestBodyRead", "reminderMinutesBeforeStart must be an integer.")
        for prop in body.get("singleValueExtendedProperties", []):
            if (
                not isinstance(prop, dict)
                or set(prop) != {"id", "value"}
                or not PROP_ID.match(str(prop["id"]))
            ):
                raise GraphError(400, "ErrorInvalidExtendedPropertyValue", f"bad extended property {prop!r}")
            if not isinstance(prop["value"], str):
                raise GraphError(
                    400, "ErrorInvalidExtendedPropertyValue", "extended property values are strings here."
                )
        return dict(body)


# What real Graph's delta gives of a plain occurrence of a series (microsoft-graph-docs
# #22197): no subject, body, attendees or organizer; the client reads them from the master.
PARTIAL_OCCURRENCE = ("@odata.etag", "id", "seriesMasterId", "type", "start", "end")


def _as_delta(item: dict[str, Any]) -> dict[str, Any]:
    if item.get("type") != "occurrence":
        return item
    return {key: item[key] for key in PARTIAL_OCCURRENCE if key in item}


def _max_page_size(prefer: str) -> int:
    match = re.search(r"odata\.maxpagesize=(\d+)", prefer)
    return int(match[1]) if match else 10


def _iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
