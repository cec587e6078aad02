"""Pytest fixtures and config helpers for tests against the fake Graph.

from tests.fakegraph.fixtures import graph  # noqa: F401 (a fixture)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .login import CLIENT_ID
from .server import FakeGraph

COACH = "casey@coach.example"


@pytest.fixture(scope="module", name="graph_server")
def graph_server_fixture() -> Iterator[FakeGraph]:
    """One started fake per test module (TLS set-up costs a little); trusted via REQUESTS_CA_BUNDLE."""
    with FakeGraph() as fake, fake.ca_env():
        yield fake


@pytest.fixture(name="graph")
def graph_fixture(graph_server: FakeGraph) -> FakeGraph:
    """The module's fake, emptied for this test (events, drafts, faults, log)."""
    graph_server.reset()
    graph_server.login.next_pending, graph_server.login.next_outcome = 0, "approve"
    graph_server.login.granted = None
    return graph_server


def microsoft_section(fake: FakeGraph, token_cache: str = "microsoft-token.json") -> str:
    """The `microsoft:` section pointing syncd at the fake."""
    return (
        "microsoft:\n"
        f"  client_id: {CLIENT_ID}\n"
        f"  token_cache: {token_cache}\n"
        f"  authority: {fake.authority}\n"
        f"  graph_endpoint: {fake.graph_endpoint}\n"
    )


def outlook_config(
    fake: FakeGraph,
    *,
    calendar: str = "{type: outlook}",
    notes: str = "{type: markdown, path: notes}",
    drafts: str = "{type: outlook, delay: 15m}",
    extra: str = "",
) -> str:
    """A whole config for one Outlook coach (folders relative to the config file)."""
    return (
        "state_dir: state\npoll_interval: 1s\nlookback: 2d\n"
        + microsoft_section(fake)
        + f"""coaches:
  - name: Casey Coach
    email: {COACH}
    timezone: Europe/Berlin
    pricing_url: https://coach.example.com/pricing
    specialties: [engineering leadership]
    calendar: {calendar}
    notes: {notes}
    drafts: {drafts}
    reminder: 5m
{extra}"""
    )


def write_workspace(root: Path, fake: FakeGraph, **options: str) -> Path:
    """Folders and config for an Outlook coach under `root`; returns the config path."""
    for sub in ("notes", "state", "Mail"):
        (root / sub).mkdir(exist_ok=True)
    config = root / "syncd.yaml"
    config.write_text(outlook_config(fake, **options), encoding="utf-8")
    return config
