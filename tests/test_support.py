"""The test harness itself: `Workspace.run` runs syncd in this process as cleanly as a new
process would, call after call."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import Workspace, subcommand


def test_in_process_runs_log_each_line_once_and_leave_the_root_logger_as_it_was(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = (root.handlers[:], root.level)
    ws = Workspace(tmp_path)
    ws.put("b1", "Intro session", datetime.now(UTC) + timedelta(days=1))
    for _ in range(3):
        result = ws.run("once")
        assert result.stderr.count("pass finished") == 1, result.stderr
    assert (root.handlers, root.level) == before


def test_the_workspace_environment_applies_to_the_call_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SYNCD_* of the test run are hidden from syncd, the workspace's own are seen, and both
    are as they were afterwards."""
    monkeypatch.setenv("SYNCD_LOOKBACK", "not a duration")  # would break the config if seen
    ws = Workspace(tmp_path)
    assert ws.run("check-config").returncode == 0
    ws.env["SYNCD_LOOKBAK"] = "1d"
    assert "SYNCD_LOOKBAK" in ws.run("check-config", check=False).stderr
    assert os.environ["SYNCD_LOOKBACK"] == "not a duration" and "SYNCD_LOOKBAK" not in os.environ


def test_usage_errors_and_version_come_back_as_a_process_would_give_them(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    usage = ws.run("no-such-command", check=False)
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    version = ws.run("--version")
    assert version.returncode == 0 and version.stdout.startswith("syncd ")


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (("run",), "run"),
        (("--config", "run", "once"), "once"),
        (("-v", "status", "--all"), "status"),
        ((), None),
    ],
)
def test_the_command_is_told_apart_from_option_values(args: tuple[str, ...], command: str | None) -> None:
    """Only `syncd run` (a daemon) needs a real process; a config file named "run" does not."""
    assert subcommand(args) == command
