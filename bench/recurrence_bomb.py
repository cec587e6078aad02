"""Benchmark: one pass of `syncd once` with a recurrence bomb beside one ordinary booking.

    .venv/bin/python bench/recurrence_bomb.py [--only NAME ...]

Each case gets a throw-away workspace (vdir + Markdown + Maildir) holding an intro booking
that ended two hours ago (the canary: it needs a note, a link and a draft) and one series built
to be expensive: an endless daily series from 1900, a COUNT in the millions, BY* lists that
multiply instances, thousands of RDATEs, EXDATEs or overrides. Prints the wall time of the
pass, the time inside `main()`, the notes made for the series and whether the canary came
through; figures, not asserts (the bounds are asserted in tests/test_recurrence_bombs.py).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import print_table, run_once

from tests.support import Workspace
from tests.test_recurrence_bombs import BOMB, CANARY, bomb_ics, now, override, stamp

_HOURS = ",".join(str(hour) for hour in range(24))
_MINUTES = ",".join(str(minute) for minute in range(60))
_FROM_1900 = datetime(1900, 1, 1, 10, 0, tzinfo=UTC)


def _rule(rule: str) -> Callable[[], str]:
    return lambda: bomb_ics(_FROM_1900, [f"RRULE:{rule}"])


def _rdates() -> str:
    first = now().replace(hour=10, minute=0) - timedelta(days=8000)
    dates = [first + timedelta(days=2 * day) for day in range(5000)]
    return bomb_ics(
        first, [f"RDATE:{','.join(stamp(d) for d in dates[i : i + 50])}" for i in range(0, 5000, 50)]
    )


def _exdates() -> str:
    today = now().replace(hour=10, minute=0)
    days = [_FROM_1900 + timedelta(days=day) for day in range((today - _FROM_1900).days)]
    lines = [f"EXDATE:{','.join(stamp(d) for d in days[i : i + 50])}" for i in range(0, len(days), 50)]
    return bomb_ics(_FROM_1900, ["RRULE:FREQ=DAILY;INTERVAL=2", *lines])


def _overrides(count: int) -> Callable[[], str]:
    def build() -> str:
        today = now().replace(hour=10, minute=0)
        flood = [
            override(today - timedelta(days=d), today - timedelta(days=d))
            for d in range(10, 10 + 2 * count, 2)
        ]
        return bomb_ics(_FROM_1900, ["RRULE:FREQ=DAILY;INTERVAL=2"], flood)

    return build


CASES: dict[str, Callable[[], str]] = {
    "daily-from-1900": _rule("FREQ=DAILY"),
    "every-2nd-day-from-1900": _rule("FREQ=DAILY;INTERVAL=2"),
    "count-5000000": _rule("FREQ=DAILY;INTERVAL=2;COUNT=5000000"),
    "until-9999": _rule("FREQ=DAILY;INTERVAL=2;UNTIL=99991231T235959Z"),
    "hourly": _rule("FREQ=HOURLY"),
    "minutely": _rule("FREQ=MINUTELY"),
    "every-minute-by-lists": _rule(
        f"FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR={_HOURS};BYMINUTE={_MINUTES}"
    ),
    "count-uneven-by-lists": _rule(
        f"FREQ=DAILY;COUNT=5000000;BYMONTH=1,2,3,4,5,6,7,8,9,10,11,12;BYHOUR={_HOURS}"
    ),
    "bysetpos": _rule(f"FREQ=MONTHLY;BYMONTHDAY=1,2,3;BYHOUR={_HOURS};BYMINUTE={_MINUTES};BYSETPOS=1,2,3,4"),
    "30-february": _rule("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"),
    "5000-rdates": _rdates,
    "exdate-per-day": _exdates,
    "200-overrides": _overrides(200),
    "3000-overrides": _overrides(3000),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="run only these cases")
    args = parser.parse_args()
    rows = []
    for name in args.only or CASES:
        with tempfile.TemporaryDirectory(prefix="syncd-bomb-") as folder:
            ws = Workspace(Path(folder))
            ws.put("canary", "Intro session", now() - timedelta(hours=2), client=CANARY)
            text = CASES[name]()
            (ws.calendar / "bomb.ics").write_bytes(text.encode())
            result = run_once(ws.config, ws.root)
            notes = sum(1 for note in ws.notes() if BOMB[0] in note.name)
            canary = any(CANARY[0] in note.name for note in ws.notes()) and any(
                CANARY[1] in str(draft["To"]) for draft in ws.drafts_parsed()
            )
            warnings = sum(1 for line in result.log.splitlines() if " WARNING " in line)
            rows.append(
                [
                    name,
                    f"{len(text) / 1024:.0f}",
                    f"{result.wall_seconds:.2f}",
                    f"{result.main_seconds:.2f}",
                    str(notes),
                    str(warnings),
                    "yes" if canary and result.exit_code == 0 else "NO",
                ]
            )
    print_table(["case", "file KiB", "wall s", "main() s", "bomb notes", "warnings", "canary ok"], rows)


if __name__ == "__main__":
    main()
