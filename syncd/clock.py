"""The time a daemon pass runs at: the wall clock, unless it ran ahead of the time that passed.

A pass acts on the time it is handed, and some of what it does cannot be undone: a follow-up
more than `max_lateness` overdue is recorded as skipped for good. A wall clock set wrongly
forward (a bad NTP answer, a clock off by days at boot, an operator's typo) and corrected
minutes later would, if believed, skip every pending follow-up. So each reading is checked
against a clock nobody sets: the time elapsed since the last trusted reading.

- In line with the elapsed time (within `TOLERANCE`): trusted.
- Behind it (the clock stepped back): trusted at once. Going back only makes things wait; it
  is also what the correction of a bad forward jump looks like. (A DST change is no step at
  all: the pass works in UTC.)
- Ahead of it (a forward jump): not trusted yet. The pass gets the last trusted time plus the
  elapsed time until the wall clock has stayed ahead for `confirm`; then the jump was real (a
  clock that was slow, fixed) and is trusted from then on.

Elapsed time is read from CLOCK_BOOTTIME where there is one: unlike CLOCK_MONOTONIC it keeps
counting while the machine sleeps, so the hours a laptop spent suspended are not a "jump".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from syncd.durations import format_duration

log = logging.getLogger("syncd")

# Wall and elapsed time may differ by this much without anything being said or done (NTP's
# slewing, a pass's own length between two readings are far below it).
TOLERANCE = timedelta(seconds=30)


def _elapsed_seconds() -> float:
    clock_id = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(clock_id) if clock_id is not None else time.monotonic()


def _rounded(delta: timedelta) -> timedelta:
    """`delta` to the nearest minute (second, when shorter), as a step is spoken of."""
    unit = timedelta(minutes=1) if delta >= timedelta(minutes=1) else timedelta(seconds=1)
    return unit * round(delta / unit)


def _wall() -> datetime:
    return datetime.now(UTC)


class TrustedClock:
    """Call `now()` for the time a pass should run at; see the module docstring."""

    def __init__(
        self,
        confirm: timedelta,
        wall: Callable[[], datetime] = _wall,
        elapsed: Callable[[], float] = _elapsed_seconds,
    ) -> None:
        self.confirm = confirm
        self._wall = wall
        self._elapsed = elapsed
        self._anchor: tuple[datetime, float] | None = None  # last trusted time, elapsed then
        self._ahead_since: float | None = None  # elapsed time when the wall first ran ahead

    def now(self) -> datetime:
        """The wall clock's time (aware UTC) when it can be trusted, else the last trusted
        time plus the time elapsed since."""
        wall, elapsed = self._wall(), self._elapsed()
        if self._anchor is None:
            return self._trust(wall, elapsed)
        trusted, then = self._anchor
        expected = trusted + timedelta(seconds=elapsed - then)
        ahead = wall - expected
        if ahead <= TOLERANCE:
            if self._ahead_since is not None:
                log.info("the wall clock is back in line with the time elapsed; trusting it again")
            elif ahead < -TOLERANCE:
                log.info("the wall clock stepped back %s; passes go on", format_duration(_rounded(-ahead)))
            return self._trust(wall, elapsed)
        if self._ahead_since is None:
            self._ahead_since = elapsed
            log.warning(
                "the wall clock jumped %s ahead of the time elapsed; passes keep the elapsed time "
                "(no follow-up is skipped as overdue for it) unless the jump holds for %s",
                format_duration(_rounded(ahead)),
                format_duration(self.confirm),
            )
        if elapsed - self._ahead_since >= self.confirm.total_seconds():
            log.warning(
                "the wall clock's jump of %s held for %s; trusting it",
                format_duration(_rounded(ahead)),
                format_duration(self.confirm),
            )
            return self._trust(wall, elapsed)
        return expected

    def _trust(self, wall: datetime, elapsed: float) -> datetime:
        self._anchor = (wall, elapsed)
        self._ahead_since = None
        return wall
