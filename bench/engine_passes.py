"""The daemon's side of `bench/coaches.py`: one Engine kept open over several passes.

    python bench/engine_passes.py CONFIG ROOT [--profile DIR]

Opens syncd's engine as `syncd run` does (the state, then each coach's backends on first use)
and runs one pass for every line `pass` read from stdin, answering each with one JSON line on
stdout: the pass's wall and CPU seconds (this process only, `getrusage`, so a fake server in
the parent is not counted), the peak RSS so far (`VmHWM`: see `common.peak_rss_mib`), the files under ROOT it opened for reading
and wrote (an audit hook, nothing patched), the state rows it changed and the pass's summary.
`quit` (or the end of stdin) closes the engine. With `--profile DIR` every pass is profiled
into `DIR/pass-N.prof` (cProfile; then the CPU figures include the profiler's cost); with
`--memory N`, the N source lines holding most memory after each pass go to stderr
(tracemalloc, which slows the passes several times).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import resource
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import peak_rss_mib
from probe import _is_write, _under


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _state_changes(engine: Any) -> int:
    """Rows the SQLite state changed so far (a benchmark may look inside; -1 when not SQLite)."""
    db = getattr(engine.state, "_db", None)
    return int(getattr(db, "total_changes", -1))


def _print_memory(lines: int) -> None:
    snapshot = tracemalloc.take_snapshot()
    stats = snapshot.statistics("lineno")
    total = sum(stat.size for stat in stats)
    peak = tracemalloc.get_traced_memory()[1]
    print(f"traced: {total / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB", file=sys.stderr)
    for stat in stats[:lines]:
        print(f"  {stat.size / 2**20:7.2f} MiB  {stat.traceback}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("root", type=Path)
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--memory", type=int, default=0)
    args = parser.parse_args()
    root = str(args.root.resolve())
    counts = {"ics_read": 0, "written": 0}

    def audit(event: str, hook_args: tuple[Any, ...]) -> None:
        if event in ("os.rename", "os.link") and _under(hook_args[1], root):
            counts["written"] += 1
        elif event == "open" and _under(hook_args[0], root):
            if not _is_write(hook_args[1], hook_args[2]):
                counts["ics_read"] += str(hook_args[0]).endswith(".ics")
            elif "/.syncd-" not in str(hook_args[0]):
                counts["written"] += 1

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.memory:
        tracemalloc.start(1)
    from syncd.config import load_settings
    from syncd.engine import open_engine

    engine = open_engine(load_settings(args.config))
    sys.addaudithook(audit)
    for passes, line in enumerate(sys.stdin, start=1):
        if line.strip() != "pass":
            break
        before = dict(counts)
        changes = _state_changes(engine)
        profiler = cProfile.Profile() if args.profile else None
        cpu, wall = _cpu(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        report = engine.run_pass(datetime.now(UTC))
        if profiler is not None:
            profiler.disable()
        cpu, wall = _cpu() - cpu, time.perf_counter() - wall
        if profiler is not None and args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
            profiler.dump_stats(args.profile / f"pass-{passes}.prof")
        result = {
            "wall": wall,
            "cpu": cpu,
            "rss_mib": peak_rss_mib(),
            "ics_read": counts["ics_read"] - before["ics_read"],
            "written": counts["written"] - before["written"],
            "state_changes": _state_changes(engine) - changes,
            "summary": report.summary(),
        }
        if args.memory:
            _print_memory(args.memory)
        print(json.dumps(result), flush=True)
    engine.close()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.fspath(Path(__file__).resolve().parents[1]))
    sys.exit(main())
