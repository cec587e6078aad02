"""Benchmark: one coach on Google Calendar (the local fake), Markdown notes, Maildir drafts.

    .venv/bin/python bench/google_pass.py [--bookings 200] [--others 100] [--page-size 50]

Starts the fake Google API (tests.fakegoogle) in this process, seeds the coach's calendar with
intro bookings spread over the coming weeks (a tenth of them already over, so their follow-ups
are due) plus other events, paged `--page-size` to a page, then runs `syncd once` three times
in a child process, as a coach would:

1. the first pass: full sync, a note, a patch and (for ended sessions) a draft per booking;
2. the pass after it: the incremental sync returns syncd's own patches, which it recognises;
3. a pass with nothing new.

For each it prints the requests the fake received, the wall time of the command, the time
inside `main()` (start-up excluded) and the peak RSS of the process.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import PassResult, print_table, run_once

from syncd.google.auth import SCOPE_CALENDAR_EVENTS
from tests.fakegoogle import FakeGoogle
from tests.fakegoogle.helpers import COACH, booking

CONFIG = """\
state_dir: state
lookback: 2d
google:
  client_secrets: client.json
  token: google-token.json
  token_uri: {token_uri}
  api_endpoint: {api_endpoint}
coaches:
  - name: Casey Coach
    email: {coach}
    timezone: Europe/Berlin
    pricing_url: https://coach.example.com/pricing
    calendar: {{type: google}}
    notes: {{type: markdown, path: notes}}
    drafts: {{type: maildir, path: Mail/Drafts, delay: 15m}}
"""


def seed(fake: FakeGoogle, bookings: int, others: int) -> None:
    """`bookings` intro sessions (every tenth already over) and `others` ordinary events."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for n in range(bookings):
        start = now - timedelta(hours=3) if n % 10 == 0 else now + timedelta(hours=2 + 3 * n)
        event = booking(f"intro{n:05d}", start)
        event["summary"] = f"Intro session: Client {n:05d}"
        event["attendees"][1] = {"email": f"client{n:05d}@client.test", "displayName": f"Client {n:05d}"}
        fake.calendar.put_event(event)
    for n in range(others):
        event = booking(f"other{n:05d}", now + timedelta(hours=1 + 5 * n))
        event["summary"] = f"Team standup {n}"
        fake.calendar.put_event(event)


def write_workspace(root: Path, fake: FakeGoogle) -> Path:
    for sub in ("notes", "Mail", "state"):
        (root / sub).mkdir()
    token = fake.oauth.token_info([SCOPE_CALENDAR_EVENTS])
    (root / "google-token.json").write_text(json.dumps(token), encoding="utf-8")
    config = root / "syncd.yaml"
    text = CONFIG.format(token_uri=fake.token_uri, api_endpoint=fake.api_endpoint, coach=COACH)
    config.write_text(text, encoding="utf-8")
    return config


def measure(fake: FakeGoogle, config: Path, root: Path) -> tuple[PassResult, str]:
    """One pass, and the requests the fake received during it (e.g. `GET 4, PATCH 220`)."""
    fake.clear_log()
    result = run_once(config, root)
    if result.exit_code != 0:
        raise SystemExit(f"syncd once exited {result.exit_code}:\n{result.log}")
    counts = collections.Counter(request.method for request in fake.requests)
    total = sum(counts.values())
    return result, f"{total} ({', '.join(f'{m} {c}' for m, c in sorted(counts.items()))})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--others", type=int, default=100)
    parser.add_argument("--page-size", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp, FakeGoogle() as fake:
        root = Path(tmp)
        fake.calendar.page_size = args.page_size
        seed(fake, args.bookings, args.others)
        config = write_workspace(root, fake)
        rows = []
        for label in ("first pass", "after own writes", "no change"):
            result, requests = measure(fake, config, root)
            notes = len(list((root / "notes").rglob("*.md")))
            rows.append(
                [
                    label,
                    requests,
                    f"{result.wall_seconds:.2f}",
                    f"{result.main_seconds:.2f}",
                    f"{result.peak_rss_mib:.0f}",
                    str(notes),
                ]
            )
        print(
            f"Google Calendar (fake): {args.bookings} bookings + {args.others} other events, "
            f"pages of {args.page_size}; Markdown notes; Maildir drafts."
        )
        headers = ["pass", "requests", "wall s", "main() s", "peak RSS MiB", "notes"]
        print_table(headers, rows)


if __name__ == "__main__":
    main()
