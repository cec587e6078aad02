"""The client's zone as booking tools write it (Calendly, Cal.com, Google appointment pages,
Outlook): IANA names, display names, fixed offsets and `(GMT+hh:mm) City` forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncd.client_zones import client_zone, zone_key

SUMMER = datetime(2026, 7, 1, 12, tzinfo=UTC)
WINTER = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("Europe/London", "Europe/London"),  # Cal.com
        ("europe/london", "Europe/London"),
        ("America/New York", "America/New_York"),
        ("Central European Time", "Europe/Berlin"),  # Calendly
        ("Eastern Time - US & Canada", "America/New_York"),
        ("Pacific Time (US & Canada)", "America/Los_Angeles"),
        ("Mountain Time - Arizona", "America/Phoenix"),
        ("UK, Ireland, Lisbon Time", "Europe/London"),
        ("Eastern Daylight Time", "America/New_York"),
        ("India Standard Time", "Asia/Kolkata"),
        ("Australian Eastern Standard Time", "Australia/Sydney"),
        ("AEST", "Australia/Sydney"),
        ("EST", "America/New_York"),  # what people mean by it, daylight saving included
        ("W. Europe Standard Time", "Europe/Berlin"),  # Outlook's Windows name
        ("(GMT+01:00) Amsterdam, Berlin", "Europe/Amsterdam"),  # the first city that is a zone
        ("(GMT+01:00) Central European Time - Berlin", "Europe/Berlin"),  # Google appointment pages
        ("(UTC-05:00) Eastern Time (US & Canada)", "America/New_York"),  # Microsoft Bookings
        ("(GMT+05:45) Kathmandu", "Asia/Kathmandu"),
        ("(GMT) Casablanca", "Africa/Casablanca"),
        ("Sydney, Melbourne Time", "Australia/Sydney"),
        ("Berlin", "Europe/Berlin"),
    ],
)
def test_names_booking_tools_write_map_to_a_zone(written: str, key: str) -> None:
    zone = client_zone(written)
    assert zone is not None and zone_key(zone) == key


@pytest.mark.parametrize(
    ("written", "hours"),
    [
        ("GMT-05:00", -5),
        ("UTC+5:30", 5.5),
        ("UTC +0530", 5.5),
        ("+01:00", 1),
        ("UTC \u22123", -3),  # a typographic minus
        ("(GMT+03:00) Nowhere Land", 3),  # no known city or name: the offset it gives
    ],
)
def test_fixed_offsets_are_taken_at_their_word(written: str, hours: float) -> None:
    zone = client_zone(written)
    assert zone is not None and zone_key(zone) == ""
    assert zone.utcoffset(SUMMER) == zone.utcoffset(WINTER) == timedelta(hours=hours)


def test_a_display_name_follows_daylight_saving() -> None:
    zone = client_zone("Eastern Time - US & Canada")
    assert zone is not None
    assert (zone.utcoffset(SUMMER), zone.utcoffset(WINTER)) == (timedelta(hours=-4), timedelta(hours=-5))


def test_zero_offsets_and_plain_gmt_are_utc() -> None:
    for written in ("GMT", "UTC", "GMT+00:00", "(GMT+00:00) Nowhere"):
        zone = client_zone(written)
        assert zone is not None and zone_key(zone) == "UTC", written


@pytest.mark.parametrize(
    "written", ["", "   ", "Mars time", "Not/AZone", "UTC+25:00", "GMT+05:75", "soon-ish"]
)
def test_what_names_no_zone_gives_none(written: str) -> None:
    assert client_zone(written) is None
