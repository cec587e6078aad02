"""The one module that writes times for people and for logs: the same day spelt the same way
everywhere, in the zone asked for, and zones without an abbreviation shown as UTC offsets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from syncd.timefmt import (
    EN_DASH,
    format_clock,
    format_date,
    format_day,
    format_log_time,
    format_moment,
    format_short_day,
    format_span,
    zone_label,
)

BERLIN = ZoneInfo("Europe/Berlin")
MOMENT = datetime(2026, 12, 1, 13, 5, tzinfo=UTC)  # 14:05 in Berlin


def test_a_moment_for_people_has_the_day_unpadded_and_the_zones_abbreviation() -> None:
    assert format_moment(MOMENT, BERLIN) == "Tue 1 Dec 2026, 14:05 CET"
    assert format_day(MOMENT.astimezone(BERLIN)) == "Tue 1 Dec 2026"
    assert format_short_day(MOMENT) == "Tue 1 Dec"
    assert format_clock(MOMENT, BERLIN) == "14:05 CET"


def test_the_date_is_the_day_in_the_zone_asked_for() -> None:
    late = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    assert format_date(late, BERLIN) == "2026-12-02"
    assert format_date(late, UTC) == "2026-12-01"


def test_a_zone_whose_abbreviation_is_an_offset_reads_as_utc_plus_offset() -> None:
    """Sao Paulo's abbreviation is "-03"; a fixed offset from a booking is "UTC+05:30"."""
    assert format_moment(MOMENT, ZoneInfo("America/Sao_Paulo")) == "Tue 1 Dec 2026, 10:05 UTC-03"
    india = timezone(timedelta(hours=5, minutes=30))
    assert zone_label(MOMENT.astimezone(india)) == "UTC+05:30"
    assert format_log_time(MOMENT, ZoneInfo("America/Sao_Paulo")) == "2026-12-01 10:05 UTC-03"


def test_a_span_shows_both_ends_in_full_across_a_change_of_offset() -> None:
    """The night clocks go back in Berlin: 02:30 CEST to 02:15 CET is not "02:30-02:15"."""
    start = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    span = format_span(start, start + timedelta(minutes=45), BERLIN)
    assert span == f"Sun 25 Oct 2026, 02:30 CEST {EN_DASH} Sun 25 Oct 2026, 02:15 CET"
    same = format_span(MOMENT, MOMENT + timedelta(minutes=30), BERLIN)
    assert same == f"Tue 1 Dec 2026, 14:05{EN_DASH}14:35 CET"


def test_log_time_is_iso_like_in_the_zone_asked_for() -> None:
    """Log lines, `syncd status` and the health text sort and grep: year first, 24h clock."""
    assert format_log_time(MOMENT, BERLIN) == "2026-12-01 14:05 CET"
    assert format_log_time(MOMENT, UTC) == "2026-12-01 13:05 UTC"
