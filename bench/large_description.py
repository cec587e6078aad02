"""Benchmark: one intro booking whose description is megabytes long (a pasted CV, a bot).

    .venv/bin/python bench/large_description.py [--sizes 0.01,1,2.5,8]

For each size (MB of description, under the vdir's 10 MB file limit) it writes one booking
into a fresh vdir and runs `syncd once` in a child process: the note keeps only the first
5000 characters of each answer, so the pass should cost little more than parsing the file.
Prints the wall time, the time inside `main()` and the peak RSS of each run.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import print_table, run_once
from local_pass import CONFIG

from tests.support import event_ics

SENTENCE = "I want to grow into engineering leadership and manage a career change at scale. "


def measure(megabytes: float) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp:
        root = Path(tmp)
        for sub in ("calendar", "notes", "Mail", "state"):
            (root / sub).mkdir()
        answer = SENTENCE * max(1, int(megabytes * 1_000_000 / len(SENTENCE)))
        start = datetime.now(UTC) + timedelta(days=1)
        text = event_ics("big", "Intro session", start, description=f"Challenge: {answer}")
        (root / "calendar" / "big.ics").write_text(text, encoding="utf-8")
        config = root / "syncd.yaml"
        config.write_text(CONFIG, encoding="utf-8")
        result = run_once(config, root)
        if result.exit_code != 0:
            raise SystemExit(f"syncd once exited {result.exit_code}:\n{result.log}")
        return [
            f"{len(text) / 1_000_000:.2f}",
            f"{result.wall_seconds:.2f}",
            f"{result.main_seconds:.2f}",
            f"{result.peak_rss_mib:.0f}",
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0.01,1,2.5,8", help="MB of description, comma-separated")
    args = parser.parse_args()
    rows = [measure(float(size)) for size in args.sizes.split(",")]
    print("vdir: one intro booking with a long description; Markdown notes; Maildir drafts.")
    print_table(["event file MB", "wall s", "main() s", "peak RSS MiB"], rows)


if __name__ == "__main__":
    main()
