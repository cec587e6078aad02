"""`syncd status | head -3` and the like: a reader that goes away early is no error."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support import Workspace


@pytest.mark.slow
@pytest.mark.parametrize("command", ["status", "check-config"])
def test_output_into_a_closed_pipe_exits_0_without_a_traceback(tmp_path: Path, command: str) -> None:
    ws = Workspace(tmp_path)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (`head -3`) has already gone
    try:
        result = subprocess.run(
            ws.command(command),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            env=ws.full_env(),
            check=False,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert "Exception ignored" not in result.stderr, result.stderr
