"""What both benchmarks share: running one `syncd` pass in a child process and measuring it.

Importing this module puts the repository root on `sys.path`, so the benchmarks (run as
`python bench/NAME.py`) can import `tests.*` helpers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).resolve().with_name("probe.py")
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@dataclass(frozen=True)
class PassResult:
    """One `syncd once` run: wall time, time inside `main()`, peak RSS, files touched, log,
    and the CPU time of the whole child process (user + system, start-up included)."""

    exit_code: int
    wall_seconds: float
    main_seconds: float
    peak_rss_mib: float
    reads: list[str]
    writes: list[str]
    log: str
    cpu_seconds: float = 0.0

    def files_read(self, suffix: str) -> int:
        """Distinct files ending in `suffix` opened for reading."""
        return len({path for path in self.reads if path.endswith(suffix)})

    def opens(self, suffix: str) -> int:
        """Times files ending in `suffix` were opened for reading (a file read twice counts 2)."""
        return sum(1 for path in self.reads if path.endswith(suffix))

    def files_written(self, suffix: str) -> int:
        """Distinct files ending in `suffix` written (or renamed into place)."""
        return len({path for path in self.writes if path.endswith(suffix)})


def peak_rss_mib() -> float:
    """This process's peak RSS since it started its program: `VmHWM`, not `ru_maxrss`, which
    on Linux keeps the high-water mark of the process before `exec`, i.e. of the benchmark
    that forked it (with the fake Google and its 100 000 events, hundreds of MiB)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_once(config: Path, root: Path) -> PassResult:
    """Run `syncd --config CONFIG once` in a child process; watch files under `root`."""
    report = root / "probe-report.json"
    log = root / "probe.log"
    command = [sys.executable, str(PROBE), str(report), str(root), "--", "--config", str(config), "once"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    with log.open("w", encoding="utf-8") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=sink, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped above; tell Popen
    data = json.loads(report.read_text(encoding="utf-8"))
    return PassResult(
        exit_code=process.returncode,
        wall_seconds=wall,
        main_seconds=float(data["seconds"]),
        # The child's own high-water mark (see `peak_rss_mib`); ru_maxrss where there is none.
        peak_rss_mib=float(data.get("peak_rss_mib") or usage.ru_maxrss / 1024),
        reads=list(data["reads"]),
        writes=list(data["writes"]),
        log=log.read_text(encoding="utf-8"),
        cpu_seconds=usage.ru_utime + usage.ru_stime,
    )


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """A plain aligned table on stdout."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
