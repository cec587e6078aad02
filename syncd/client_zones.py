"""The client's time zone as booking tools write it, read as a zone syncd can render in.

Booking pages rarely write IANA names. Understood, in this order:

- IANA names, in any case (`Europe/London`, `america/new_york`; Cal.com);
- common North American, European, Indian and Australian display names and abbreviations
  (`Eastern Time - US & Canada`, `Pacific Time (US & Canada)`, `Central European Time`,
  `India Standard Time`, `AEST`; Calendly, Outlook) and Windows zone names;
- fixed offsets: `UTC+5:30`, `GMT-05:00`, `+01:00`;
- the parenthesised offset forms `(GMT+01:00) Amsterdam, Berlin` and
  `(GMT+01:00) Central European Time - Berlin` (Calendly, Google appointment pages, Windows):
  by the first city that is the last part of a zone name (Amsterdam -> Europe/Amsterdam),
  else by a display name above, else as the fixed offset;
- a city alone (`Berlin`, `Lisbon time`), by the same rule.

A display name with daylight saving maps to a city zone, so summer times come out right; a
bare offset is taken at its word. Pure: no clock, no files of syncd's own.
"""

from __future__ import annotations

import functools
import re
from datetime import timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, available_timezones

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from syncd.zones import find_zone

_OFFSET = r"([+\-\u2212])\s*(\d{1,2})(?::?(\d{2}))?"
_FIXED = re.compile(rf"^(?:(?:UTC|GMT)\s*)?{_OFFSET}$", re.IGNORECASE)
_PARENTHESISED = re.compile(rf"^\(\s*(?:UTC|GMT)\s*(?:{_OFFSET})?\s*\)\s*(.*)$", re.IGNORECASE)
_PARTS = re.compile(r"\s*(?:,|;|/|\s-\s|\s\u2013\s)\s*")
_REGION = re.compile(
    r"\s*(?:\(\s*US\s*(?:&|and)\s*Canada\s*\)|-\s*US\s*(?:&|and)\s*Canada)\s*$", re.IGNORECASE
)
# Zone name areas that are aliases (US/Eastern) or not places at all: never matched by city.
_NOT_CITIES = ("Etc/", "US/", "Canada/", "Brazil/", "Chile/", "Mexico/", "SystemV/", "posix/", "right/")
_MAX_OFFSET = timedelta(hours=14)

_EASTERN, _CENTRAL, _MOUNTAIN = "America/New_York", "America/Chicago", "America/Denver"
_PACIFIC, _CET, _AU_EAST = "America/Los_Angeles", "Europe/Berlin", "Australia/Sydney"

# Display names and abbreviations, lower case, "time" words as booking tools vary them.
_NAMES = {
    **dict.fromkeys(("eastern", "et", "est", "edt", "us eastern"), _EASTERN),
    **dict.fromkeys(("central", "ct", "cst", "cdt", "us central"), _CENTRAL),
    **dict.fromkeys(("mountain", "mt", "mst", "mdt", "us mountain"), _MOUNTAIN),
    **dict.fromkeys(("pacific", "pt", "pst", "pdt", "us pacific"), _PACIFIC),
    **dict.fromkeys(("arizona", "mountain - arizona", "arizona, yukon"), "America/Phoenix"),
    **dict.fromkeys(("alaska", "akst", "akdt"), "America/Anchorage"),
    **dict.fromkeys(("hawaii", "hawaii-aleutian", "hst"), "Pacific/Honolulu"),
    **dict.fromkeys(("atlantic", "atlantic - canada", "ast", "adt"), "America/Halifax"),
    **dict.fromkeys(("newfoundland", "nst", "ndt"), "America/St_Johns"),
    **dict.fromkeys(("utc", "gmt", "z", "coordinated universal", "universal", "greenwich mean"), "UTC"),
    **dict.fromkeys(("uk", "british", "british summer", "bst", "uk, ireland, lisbon"), "Europe/London"),
    **dict.fromkeys(("irish", "irish standard"), "Europe/Dublin"),
    **dict.fromkeys(("western european", "western european summer", "wet", "west"), "Europe/Lisbon"),
    **dict.fromkeys(("central european", "central european summer", "cet", "cest", "mez", "mesz"), _CET),
    **dict.fromkeys(("eastern european", "eastern european summer", "eet", "eest"), "Europe/Athens"),
    **dict.fromkeys(("moscow", "msk"), "Europe/Moscow"),
    **dict.fromkeys(("india", "indian", "india standard", "indian standard", "ist"), "Asia/Kolkata"),
    **dict.fromkeys(("india, sri lanka",), "Asia/Kolkata"),
    **dict.fromkeys(("australian eastern", "australian eastern daylight", "aest", "aedt"), _AU_EAST),
    **dict.fromkeys(("australian eastern standard", "aet"), _AU_EAST),
    **dict.fromkeys(
        ("australian central", "australian central daylight", "acst", "acdt"), "Australia/Adelaide"
    ),
    **dict.fromkeys(("australian central standard",), "Australia/Adelaide"),
    **dict.fromkeys(("australian western", "australian western standard", "awst"), "Australia/Perth"),
    **dict.fromkeys(("queensland",), "Australia/Brisbane"),
}
# "Eastern Standard Time" and the like: the generic name with the season dropped.
_SEASON = re.compile(r"\s+(?:standard|daylight|summer)$")


def client_zone(value: str) -> tzinfo | None:
    """The zone a booking answer like `Eastern Time - US & Canada` names; None when the
    answer is empty or names no zone syncd knows (see the module docstring for the forms)."""
    text = " ".join(value.replace("\u2212", "-").split())
    if not text:
        return None
    parenthesised = _PARENTHESISED.match(text)
    if parenthesised:
        sign, hours, minutes, rest = parenthesised.groups()
        named = _by_city(rest) or _named(rest)
        return named or (_offset(sign, hours, minutes) if sign else ZoneInfo("UTC"))
    fixed = _FIXED.match(text)
    if fixed:
        return _offset(*fixed.groups())
    return _named(text) or _by_city(text)


def zone_key(zone: tzinfo) -> str:
    """The IANA name of `zone`, or "" for a fixed offset."""
    return zone.key if isinstance(zone, ZoneInfo) else ""


def _offset(sign: str, hours: str, minutes: str | None) -> tzinfo | None:
    delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
    if delta > _MAX_OFFSET or int(minutes or 0) >= 60:
        return None
    if not delta:
        return ZoneInfo("UTC")
    return timezone(-delta if sign in "-\u2212" else delta)


def _named(text: str) -> ZoneInfo | None:
    """A zone by its IANA, display or Windows name."""
    key = _by_name(_REGION.sub("", text))
    key = key or _iana_keys().get(text.replace(" ", "_").lower()) or _windows_keys().get(text.lower())
    return find_zone(key) if key else None


def _by_name(text: str) -> str | None:
    name = _without_time(text)
    return _NAMES.get(name) or _NAMES.get(_SEASON.sub("", name))


def _by_city(text: str) -> ZoneInfo | None:
    cities = _city_keys()
    for part in _PARTS.split(_REGION.sub("", text)):
        key = cities.get(_without_time(part).replace(" ", "_"))
        if key:
            return find_zone(key)
    return None


def _without_time(text: str) -> str:
    """`text` in lower case without the word "time": booking tools add it or not."""
    return " ".join(re.sub(r"\btime\b", " ", text.lower()).split()).replace(" ,", ",")


@functools.cache
def _iana_keys() -> dict[str, str]:
    return {key.lower(): key for key in available_timezones()}


@functools.cache
def _city_keys() -> dict[str, str]:
    """Each zone's last part ("new_york") to its name; the first in sorted order when two
    zones share a city (America/Argentina/Buenos_Aires and its old alias)."""
    cities: dict[str, str] = {}
    for key in sorted(available_timezones()):
        if "/" in key and not key.startswith(_NOT_CITIES):
            cities.setdefault(key.rsplit("/", 1)[1].lower(), key)
    return cities


@functools.cache
def _windows_keys() -> dict[str, str]:
    return {name.lower(): key for name, key in WINDOWS_TO_OLSON.items()}
