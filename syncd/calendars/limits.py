"""Bounds every calendar source keeps to, so one recurring series cannot flood a pass.

A booking calendar may hold a "recurrence bomb" (an open daily or hourly series): each instance
would become a note, an event write and a draft, and every other booking waits meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

SERIES_INSTANCES = 50  # instances of one series taken per read; the earliest in the window
HORIZON = timedelta(days=60)  # how far ahead series are read: the config's `horizon` default
# How far `now + horizon` may move past the end an unchanged series was expanded to before it
# is read again: about once a day, not every pass.
REREAD_AFTER = timedelta(days=1)


def past_the_cap(
    series_of: Mapping[int, str], start_of: Callable[[int], Any], cap: int
) -> tuple[set[int], dict[str, int]]:
    """Of the items indexed in `series_of` (index -> its series), the indexes past the earliest
    `cap` of each series by `start_of`, and for each series cut, how many it had."""
    by_series: dict[str, list[int]] = {}
    for index, series in series_of.items():
        by_series.setdefault(series, []).append(index)
    past: set[int] = set()
    capped: dict[str, int] = {}
    for series, indexes in by_series.items():
        if len(indexes) > cap:
            capped[series] = len(indexes)
            past.update(sorted(indexes, key=start_of)[cap:])
    return past, capped
