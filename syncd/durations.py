"""Durations as people write them in the config: 30s, 15m, 2h, 7d (also combined: 1h30m)."""

from __future__ import annotations

import math
import re
from datetime import timedelta

_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+)\s*([smhdw])")
_WHOLE = re.compile(r"^\s*(?:\d+\s*[smhdw]\s*)+$")
# Ten years: longer than any delay, look-back or interval means anything, and short enough that
# `now` plus or minus it stays a valid date (a larger one crashed a pass with OverflowError).
LONGEST = timedelta(days=3650)


def parse_duration(text: object) -> timedelta:
    """Parse `30s`, `15m`, `2h`, `7d`, `1w`, `1h30m` or a number of seconds.

    Raises ValueError with a message fit for the user.
    """
    if isinstance(text, timedelta):
        return text
    if isinstance(text, bool) or (isinstance(text, float) and math.isnan(text)):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"negative duration: {text!r}")
        return _at_most_longest(text, float(text))
    if not isinstance(text, str) or not _WHOLE.match(text.lower()):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15m, 2h, 7d)")
    seconds = sum(int(amount) * _SECONDS[unit] for amount, unit in _PART.findall(text.lower()))
    return _at_most_longest(text, seconds)


def _at_most_longest(text: object, seconds: float) -> timedelta:
    # Compared as a number first: timedelta itself overflows on the huge ones.
    if not seconds <= LONGEST.total_seconds():
        raise ValueError(f"too long: {text!r} (at most {format_duration(LONGEST)})")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest exact spelling of `delta` in the config's units (e.g. `1h30m`)."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)
