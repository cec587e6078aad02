"""Benchmark: one coach on Outlook (the local fake Graph), Markdown notes, Outlook drafts.

    .venv/bin/python bench/outlook_pass.py [--bookings 200] [--others 100]

Starts the fake sign-in service and Graph (tests.fakegraph, over TLS) in this process, signs
in with `syncd auth microsoft` (device code, approved at once by the fake), seeds the coach's
calendar with intro bookings spread over the coming weeks (a tenth of them already over, so
their follow-ups are due) plus other events, then runs `syncd once` three times in a child
process, as a coach would:

1. the first pass: the delta round, a read with the extended properties, a patch and (for
   ended sessions) a draft per booking;
2. the pass after it: the delta returns syncd's own patches, which it recognises;
3. a pass with nothing new.

For each it prints the requests Graph received (sign-in requests apart), the wall time, the
time inside `main()` and the peak RSS of the process.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import PassResult, print_table, run_once

from tests.fakegraph import FakeGraph
from tests.fakegraph.fixtures import COACH, write_workspace
from tests.outlook_support import graph_time, person
from tests.support import run_in_process


def seed(fake: FakeGraph, bookings: int, others: int) -> None:
    """`bookings` intro sessions (every tenth already over) and `others` ordinary events."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    fake.outlook.owner = COACH
    for n in range(bookings + others):
        booked = n < bookings
        start = now - timedelta(hours=3) if booked and n % 10 == 0 else now + timedelta(hours=2 + 3 * n)
        fake.outlook.put(
            {
                "subject": f"Intro session: Client {n:05d}" if booked else f"Team standup {n}",
                "body": {
                    "contentType": "html",
                    "content": "<html><body><p>Challenge: delegation</p></body></html>",
                },
                "start": graph_time(start),
                "end": graph_time(start + timedelta(minutes=30)),
                "attendees": [person(f"client{n:05d}@client.test", f"Client {n:05d}", "accepted")],
                "originalStartTimeZone": "W. Europe Standard Time",
            }
        )


def measure(fake: FakeGraph, config: Path, root: Path) -> tuple[PassResult, str]:
    """One pass, and the Graph requests during it (e.g. `401 (GET 201, PATCH 200)`)."""
    fake.clear_log()
    result = run_once(config, root)
    if result.exit_code != 0:
        raise SystemExit(f"syncd once exited {result.exit_code}:\n{result.log}")
    counts = collections.Counter(request.method for request in fake.graph_requests())
    total = sum(counts.values())
    sign_in = len(fake.requests) - total
    return result, f"{total} ({', '.join(f'{m} {c}' for m, c in sorted(counts.items()))}); sign-in {sign_in}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--others", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp, FakeGraph() as fake, fake.ca_env():
        root = Path(tmp)
        config = write_workspace(root, fake)
        signed = run_in_process(["--config", str(config), "auth", "microsoft"], {})
        if signed.returncode != 0:
            raise SystemExit(signed.stderr)
        seed(fake, args.bookings, args.others)
        rows = []
        for label in ("first pass", "after own writes", "no change"):
            result, requests = measure(fake, config, root)
            notes = len(list((root / "notes").rglob("*.md")))
            row = [label, requests, f"{result.wall_seconds:.2f}", f"{result.main_seconds:.2f}"]
            rows.append([*row, f"{result.peak_rss_mib:.0f}", str(notes), str(len(fake.mail.messages))])
        print(
            f"Outlook (fake Graph): {args.bookings} bookings + {args.others} other events, "
            "delta pages of 200; Markdown notes; Outlook drafts."
        )
        headers = ["pass", "Graph requests", "wall s", "main() s", "peak RSS MiB", "notes", "drafts"]
        print_table(headers, rows)


if __name__ == "__main__":
    main()
