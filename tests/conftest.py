"""Suite-wide pytest set-up: the slow tests (real processes) are started first, and test
folders live on tmpfs when the machine has one.

Under pytest-xdist (`-n 2 --dist worksteal`, pyproject's addopts) the slow ones, each many
seconds of one worker's time, are handed out first, so the many short ones fill the gaps
instead of one worker being busy with a long test at the end.
"""

from __future__ import annotations

import compileall
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_server import PostgresServer, start_server


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Without pytest-xdist (a venv installed before it joined the test extra, or
    `-p no:xdist`), take its options from addopts and run in one process instead of refusing."""
    if not pluginmanager.hasplugin("xdist"):
        group = parser.getgroup("xdist", "pytest-xdist is not installed: its options are ignored")
        group.addoption("--numprocesses", help="ignored without pytest-xdist")
        group.addoption("--dist", help="ignored without pytest-xdist")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests first, each group in its collected order (a stable sort)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_configure(config: pytest.Config) -> None:
    """Bytecode for syncd and the tests, written once before any process starts: with
    PYTHONDONTWRITEBYTECODE set (as some shells and CI set it), every `python -m syncd` a test
    starts compiled the whole package from source again (4 s of the suite's wall time here).

    Test folders (tmp_path) on tmpfs where there is one: syncd fsyncs every note, draft,
    event and state commit, and on a disk those waits were a good part of the suite's time.
    An explicit PYTEST_DEBUG_TEMPROOT (pytest's own setting for this) or --basetemp wins."""
    if not hasattr(config, "workerinput"):  # the controller, before the workers start
        repo = Path(__file__).resolve().parents[1]
        for package in ("syncd", "tests"):
            compileall.compile_dir(repo / package, quiet=2)
    shm = Path("/dev/shm")
    if "PYTEST_DEBUG_TEMPROOT" not in os.environ and shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(shm)


_RECORDERS: list[tuple[str, list[str]]] = []  # (folder, the .ics files opened in it)


def _record_opens(event: str, args: tuple[object, ...]) -> None:
    if event != "open" or not _RECORDERS or not isinstance(args[0], str | os.PathLike):
        return
    path = os.fspath(args[0])
    for folder, found in _RECORDERS:
        if isinstance(path, str) and path.startswith(folder) and path.endswith(".ics"):
            found.append(path)


sys.addaudithook(_record_opens)  # audit hooks cannot be removed: it records only inside `opened`


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[list[str]]:
    """The .ics files in tmp_path opened while the test runs (seen by an audit hook, so
    nothing in syncd is patched)."""
    recorder: tuple[str, list[str]] = (str(tmp_path), [])
    _RECORDERS.append(recorder)
    yield recorder[1]
    _RECORDERS.remove(recorder)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this session (per xdist worker), started on first use and
    stopped at the end; skipped only when no PostgreSQL server is installed at all."""
    server = start_server()
    if server is None:
        pytest.skip(
            "no PostgreSQL server installed (initdb/postgres not found); .ci/install-postgres.sh installs it"
        )
    yield server
    server.stop()
