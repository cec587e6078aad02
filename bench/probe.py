"""Run syncd's command line in this process and record what it did, for the benchmarks.

    python bench/probe.py REPORT.json ROOT -- --config FILE once

Runs `syncd.cli.main()` with the arguments after `--`, counting the files under ROOT that the
pass opens for reading and the files it writes (through an audit hook, so nothing in syncd is
patched; a write is a file opened for writing or a temp file renamed into place), and writes a
JSON report:
`{"exit": int, "seconds": float, "reads": [paths], "writes": [paths], "peak_rss_mib": float}`
where `seconds` is the time spent in `main()` alone (interpreter start-up excluded) and
`peak_rss_mib` the process's own peak RSS (`VmHWM`). The parent measures wall time and
peak memory (`os.wait4`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR


def _is_write(mode: Any, flags: Any) -> bool:
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _under(path: Any, root: str) -> bool:
    return isinstance(path, str | os.PathLike) and os.fspath(path).startswith(root)


def _peak() -> float:
    """Peak RSS of this program in MiB (`VmHWM`: see `common.peak_rss_mib`); 0 when unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main(argv: list[str]) -> int:
    """Run syncd with `argv[2:]` (after `--`), report to `argv[0]`, watch files under `argv[1]`."""
    report_path, root = Path(argv[0]), str(Path(argv[1]).resolve())
    syncd_args = argv[3:] if argv[2:3] == ["--"] else argv[2:]
    reads: list[str] = []
    writes: list[str] = []

    def audit(event: str, args: tuple[Any, ...]) -> None:
        # syncd writes through a temp file renamed (or linked) into place: count the target.
        if event in ("os.rename", "os.link") and _under(args[1], root):
            writes.append(str(args[1]))
        elif event == "open" and _under(args[0], root):
            is_temp = "/.syncd-" in str(args[0])
            if not _is_write(args[1], args[2]):
                reads.append(str(args[0]))
            elif not is_temp:
                writes.append(str(args[0]))

    sys.addaudithook(audit)
    from syncd.cli import main as syncd_main

    started = time.perf_counter()
    code = syncd_main(syncd_args)
    seconds = time.perf_counter() - started
    report = {"exit": code, "seconds": seconds, "reads": reads, "writes": writes, "peak_rss_mib": _peak()}
    report_path.write_text(json.dumps(report), encoding="utf-8")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
