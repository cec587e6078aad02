"""What `concurrency:` buys: N coaches on the fake Google server, every calendar request
delayed as a real network delays it, one pass run by a pool of 1 thread and of more.

Each coach has one upcoming booking on a calendar of their own; per concurrency, a fresh
workspace gets its first pass (a list and a patch per coach) and then a pass with no change
(one list per coach: the idle cost the daemon pays every poll interval).

    .venv/bin/python bench/concurrency.py --coaches 50 --latency 0.08 --concurrency 1 8
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from common import print_table, run_once  # bench/ is on sys.path when run as a script

from tests.fakegoogle import FakeGoogle
from tests.test_concurrency import book_each, google_config


def measure(fake: FakeGoogle, coaches: int, concurrency: int, latency: float) -> list[str]:
    root = Path(tempfile.mkdtemp(prefix="syncd-bench-"))
    try:
        config = google_config(root, fake, coaches=coaches, concurrency=concurrency)
        book_each(fake, coaches)
        fake.slow(r"/calendars/", latency, times=10**9)
        first = run_once(config, root)
        fake.clear_log()
        idle = run_once(config, root)
        requests = len(fake.requests_to(r"/events"))
        if first.exit_code or idle.exit_code:
            raise SystemExit(f"syncd failed:\n{first.log}\n{idle.log}")
        return [
            str(concurrency),
            f"{first.wall_seconds:.2f}",
            f"{idle.wall_seconds:.2f}",
            f"{idle.main_seconds:.2f}",
            str(requests),
            f"{max(first.peak_rss_mib, idle.peak_rss_mib):.0f}",
        ]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coaches", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.08, help="seconds added to every calendar request")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    rows = []
    for concurrency in args.concurrency:
        with FakeGoogle() as fake:
            rows.append(measure(fake, args.coaches, concurrency, args.latency))
    print(f"{args.coaches} coaches, {args.latency * 1000:.0f} ms per calendar request")
    print_table(
        [
            "concurrency",
            "first pass wall s",
            "idle pass wall s",
            "idle main() s",
            "idle requests",
            "peak RSS MiB",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
