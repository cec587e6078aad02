"""`syncd doctor`: the state records syncd cannot read, and setting them aside.

The daemon skips such a row (one log line per process) and goes on with the others; this
command lists them and, with `--quarantine`, moves them to the state's quarantine table,
where they are kept as they were for someone to look at, and no longer counted as bad.
"""

from __future__ import annotations

from datetime import UTC, datetime

from syncd.config import Settings
from syncd.runner import EXIT_FAILED, EXIT_OK
from syncd.state import open_state
from syncd.text import counted


def run_doctor(settings: Settings, *, quarantine: bool = False) -> int:
    """Print every bookings row that cannot be read; with `quarantine`, move them out of the
    way. Exits 1 when bad rows are left in place, so a script can tell."""
    # Listing only reads: a scratch copy leaves the daemon's database untouched.
    state = open_state(settings, scratch=not quarantine)
    try:
        bad = state.quarantine(datetime.now(UTC)) if quarantine else state.bad_rows()
        kept = state.quarantined()
    finally:
        state.close()
    for row in bad:
        print(row.describe())
    if not bad:
        print(f"{state.where}: every booking record can be read.")
    elif quarantine:
        print(f"{counted(len(bad), 'record')} moved to the quarantine table.")
    else:
        print(f"{counted(len(bad), 'record')} cannot be read; `syncd doctor --quarantine` sets them aside.")
    if kept:
        print(
            f"The quarantine table holds {counted(kept, 'record')} (table `quarantine` in the state database)."
        )
    return EXIT_FAILED if bad and not quarantine else EXIT_OK
