"""Time zones by IANA name, looked up the one way every module needs."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def find_zone(name: str) -> ZoneInfo | None:
    """The zone called `name`, or None when there is none.

    `ZoneInfo` refuses a bad name with three unrelated errors: `ZoneInfoNotFoundError`, a
    `ValueError` for a malformed key ("", "../x") and an `OSError` for a folder of the zone
    database ("Europe"). A caller that misses one turns a typo into a traceback.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def zone_or_utc(name: str) -> ZoneInfo:
    """The zone called `name`, else UTC: a bad zone in an event or a note must not stop a pass."""
    return find_zone(name) or ZoneInfo("UTC")
