"""Durations as people write them in the config: 30s, 15m, 2h, 7d (also combined: 1h30m)."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PART = re.compile(r"(\d+)\s*([smhdw])")
_WHOLE = re.compile(r"^\s*(?:\d+\s*[smhdw]\s*)+$")


def parse_duration(text: object) -> timedelta:
    """Parse `30s`, `15m`, `2h`, `7d`, `1w`, `1h30m` or a number of seconds.

    Raises ValueError with a message fit for the user.
    """
    if isinstance(text, timedelta):
        return text
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"negative duration: {text!r}")
        return timedelta(seconds=text)
    if not isinstance(text, str) or not _WHOLE.match(text.lower()):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15m, 2h, 7d)")
    parts = {_UNITS[unit]: 0 for unit in _UNITS}
    for amount, unit in _PART.findall(text.lower()):
        parts[_UNITS[unit]] += int(amount)
    return timedelta(**parts)


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
