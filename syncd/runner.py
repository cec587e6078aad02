"""One pass over every coach, as `syncd once` and `syncd demo` run it, and the exit codes the
command line returns; both import it, so neither imports the other."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

from syncd.config import Settings
from syncd.health import from_report, save_health

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_AUTH = 3


def run_once(settings: Settings, *, dry_run: bool = False) -> int:
    """One pass over every coach; non-zero only when credentials are the problem."""
    # Imported here: the engine pulls in every backend's module, which `--help` does not need.
    from syncd.engine import health_replica, open_engine

    engine = open_engine(settings, dry_run=dry_run)
    try:
        report = engine.run_pass(datetime.now(UTC), dry_run=dry_run)
        if not dry_run:
            save_health(engine.state, replace(from_report(report, None), replica=health_replica(settings)))
    finally:
        engine.close()
    what = "dry run finished, nothing changed; it would have done" if dry_run else "pass finished"
    logging.getLogger("syncd").info("%s: %s", what, report.summary())
    return EXIT_AUTH if report.auth_failed else EXIT_OK
